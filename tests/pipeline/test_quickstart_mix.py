"""The quickstart's optional mixing of its augmentations (CutMix, RICAP, MixUp -> soft labels).

Each test image is one flat grey level that names its class, so the source of every output pixel can be read
off the output itself: the soft label of a CutMix or RICAP image must equal the area fraction of each class's
grey level, counted here pixel by pixel (independent of the mixers' parameters and area formulas).
"""

from __future__ import annotations

import numpy as np
import pytest

from traingen.core.errors import ConfigError
from traingen.pipeline.quickstart import QuickstartConfig, mix_augmented

N, K, H, W = 40, 10, 28, 24


def _flat_images() -> tuple[np.ndarray, np.ndarray]:
    labels = np.arange(N, dtype=np.int64) % K
    levels = (20 * (labels + 1)).astype(np.uint8)  # 20, 40, ..., 200: one grey level per class
    return np.broadcast_to(levels[:, None, None], (N, H, W)).copy(), labels


def _area_fractions(img: np.ndarray) -> np.ndarray:
    """Per class, the fraction of the image's pixels at that class's grey level."""
    return np.array([(img == 20 * (c + 1)).mean() for c in range(K)])


@pytest.mark.parametrize("mixer", ["cutmix", "ricap"])
def test_mixed_labels_are_the_area_of_each_source(mixer):
    x, y = _flat_images()
    xm, p = mix_augmented(x, y, mixer=mixer, fraction=0.5, seed=3)
    n = 20
    assert xm.shape == x.shape and xm.dtype == np.uint8 and p.shape == (N, K) and p.dtype == np.float32
    np.testing.assert_allclose(p.sum(1), 1.0, atol=1e-6)
    for i in range(n):
        np.testing.assert_allclose(p[i], _area_fractions(xm[i]), atol=1e-6, err_msg=f"image {i}")
    # the other half is untouched, with one-hot labels
    assert np.array_equal(xm[n:], x[n:])
    np.testing.assert_array_equal(p[n:], np.eye(K)[y[n:]])
    # mixing really happened
    assert sum(p[i].max() < 1 for i in range(n)) >= n // 2


def test_mixup_labels_are_the_blend_weights():
    x, y = _flat_images()
    xm, p = mix_augmented(x, y, mixer="mixup", fraction=1.0, seed=0)
    levels = 20.0 * (np.arange(K) + 1)
    blend = p.astype(np.float64) @ levels  # the grey level a lam-weighted blend must have
    np.testing.assert_allclose(xm[:, 0, 0].astype(np.float64), blend, atol=0.51)
    assert np.all(xm == xm[:, :1, :1])  # a blend of flat images stays flat


def test_same_seed_same_mix_and_small_fractions_do_nothing():
    x, y = _flat_images()
    a = mix_augmented(x, y, mixer="cutmix", fraction=1.0, seed=5)
    b = mix_augmented(x, y, mixer="cutmix", fraction=1.0, seed=5)
    c = mix_augmented(x, y, mixer="cutmix", fraction=1.0, seed=6)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])
    xm, p = mix_augmented(x, y, mixer="ricap", fraction=0.0, seed=0)
    assert np.array_equal(xm, x) and np.array_equal(p, np.eye(K, dtype=np.float32)[y])


def test_mixer_config_errors():
    with pytest.raises(ConfigError, match="mixer"):
        QuickstartConfig(mixer="cutout")
    with pytest.raises(ConfigError, match="mix_fraction"):
        QuickstartConfig(mixer="cutmix", mix_fraction=1.5)
    assert QuickstartConfig().mixer is None  # the documented run does not mix
