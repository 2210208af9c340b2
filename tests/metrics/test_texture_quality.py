"""Reduced-reference texture quality (traingen.metrics.texture_quality).

Monotonicity under controlled degradations on embedded photo textures (scikit-image grass and gravel),
and the attribute building blocks against brute-force formulas written here.
"""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data
from scipy import ndimage

from traingen.core.errors import ConfigError, DataError
from traingen.metrics.texture_quality import (
    TextureQualityConfig,
    autocorrelation,
    filter_textures,
    lbp_codes,
    texture_features,
    texture_quality,
)


@pytest.fixture(scope="module", params=["grass", "gravel"])
def crops(request):
    img = getattr(skimage.data, request.param)().astype(np.float64) / 255.0
    ex, test = img[:256, :256], img[256:, 256:]  # two disjoint crops of one texture
    return texture_features(ex), test


def shuffle_patches(img, p, seed=1):
    rng = np.random.default_rng(seed)
    blocks = [(i, j) for i in range(0, img.shape[0], p) for j in range(0, img.shape[1], p)]
    out = img.copy()
    for (i, j), k in zip(blocks, rng.permutation(len(blocks)), strict=True):
        a, b = blocks[k]
        out[i:i + p, j:j + p] = img[a:a + p, b:b + p]
    return out


def strictly_decreasing(xs):
    return all(a > b for a, b in zip(xs, xs[1:], strict=False))


def test_score_drops_monotonically_with_blur(crops):
    ref, test = crops
    scores = [texture_quality(ref, test)] + [texture_quality(ref, ndimage.gaussian_filter(test, s)) for s in (1, 2, 4)]
    assert strictly_decreasing(scores), scores


def test_score_drops_monotonically_with_noise(crops):
    ref, test = crops
    rng = np.random.default_rng(0)
    noise = rng.normal(size=test.shape)
    scores = [texture_quality(ref, test)]
    scores += [texture_quality(ref, np.clip(test + s * noise, 0, 1)) for s in (0.05, 0.1, 0.2)]
    assert strictly_decreasing(scores), scores


def test_score_drops_monotonically_with_patch_shuffling(crops):
    ref, test = crops
    scores = [texture_quality(ref, test)] + [texture_quality(ref, shuffle_patches(test, p)) for p in (32, 16, 8, 4)]
    assert strictly_decreasing(scores), scores


def test_identical_image_scores_one_and_other_texture_scores_lower():
    grass = skimage.data.grass()[:256, :256]
    assert texture_quality(grass, grass) == pytest.approx(1.0, abs=1e-12)
    other = texture_quality(grass, skimage.data.brick()[:256, :256])
    same = texture_quality(grass, skimage.data.grass()[256:, 256:])
    assert other < same - 0.05


def test_filter_textures_keeps_the_clean_ones():
    img = skimage.data.gravel().astype(np.float64) / 255
    ex, test = img[:256, :256], img[256:, 256:]
    cands = [ndimage.gaussian_filter(test, 3), test, np.clip(test + 0.2 * np.random.default_rng(0).normal(size=test.shape), 0, 1),
             img[256:, :256]]
    keep = filter_textures(ex, cands, keep=2)
    assert sorted(keep) == [1, 3]
    assert filter_textures(ex, cands, threshold=1.01) == []


def test_lbp_codes_match_a_loop():
    rng = np.random.default_rng(3)
    c = rng.integers(0, 4, size=(6, 7)).astype(float)
    got = lbp_codes(c)
    p = np.pad(c, 1, mode="edge")
    ring = [(-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1)]
    for i in range(6):
        for j in range(7):
            bits = [int(p[i + 1 + di, j + 1 + dj] >= c[i, j]) for di, dj in ring]
            u = sum(bits[k] != bits[k - 1] for k in range(8))
            assert got[i, j] == (sum(bits) if u <= 2 else 9)


def test_autocorrelation_matches_formula():
    x = np.random.default_rng(0).normal(size=(9, 11))
    z = x - x.mean()
    v = (z**2).mean()
    ref = [(z[:, 1:] * z[:, :-1]).mean() / v, (z[1:] * z[:-1]).mean() / v,
           (z[:, 2:] * z[:, :-2]).mean() / v, (z[2:] * z[:-2]).mean() / v]
    np.testing.assert_allclose(autocorrelation(x), ref, rtol=1e-6)


def test_bad_inputs():
    with pytest.raises(DataError, match="too small"):
        texture_quality(np.zeros((16, 16)), np.zeros((16, 16)))
    with pytest.raises(ConfigError, match="wavelet"):
        TextureQualityConfig(wavelet="nope")
    with pytest.raises(ConfigError, match="levels"):
        TextureQualityConfig(levels=0)
    with pytest.raises(ConfigError, match="threshold"):
        filter_textures(np.zeros((64, 64)), [np.zeros((64, 64))])
