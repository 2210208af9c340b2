"""Texture synthesis methods: loss reduction, not-a-copy, determinism, quilting internals, errors.

References: brute-force formulas written here (SSD by loops, DP cut by enumerating paths), OpenCV's
matchTemplate for the copy check.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import skimage.data

from traingen.core.errors import ConfigError, DataError
from traingen.texture import synthesize
from traingen.texture.base import max_patch_ncc
from traingen.texture.quilting import largest_copied_region, min_error_cut, quilt, ssd_map


@pytest.fixture(scope="module")
def brick():
    return skimage.data.brick()[:96, :96]


@pytest.fixture(scope="module")
def gatys48(brick):
    return synthesize("gatys", brick, size=48, steps=50, seed=0)


def test_gatys_reduces_loss_5x_in_50_evaluations(gatys48):
    assert len(gatys48.losses) <= 50
    assert gatys48.losses[0] / min(gatys48.losses) >= 5.0
    assert gatys48.image.shape == (48, 48) and gatys48.image.dtype == np.uint8


def test_gatys_output_is_not_a_copy(gatys48, brick):
    assert max_patch_ncc(gatys48.image, brick, patch=32, stride=8) < 0.95


def test_gatys_is_deterministic(brick):
    a = synthesize("gatys", brick, size=32, steps=5, seed=3)
    b = synthesize("gatys", brick, size=32, steps=5, seed=3)
    c = synthesize("gatys", brick, size=32, steps=5, seed=4)
    assert np.array_equal(a.image, b.image) and a.losses == b.losses
    assert not np.array_equal(a.image, c.image)


def test_multiscale_reduces_loss_per_stage_and_is_not_a_copy(brick):
    res = synthesize("multiscale", brick, size=64, steps=24, levels=2, seed=0)
    assert [s["size"] for s in res.info["stages"]] == [32, 64]
    assert res.losses[0] / res.info["stages"][0]["last_loss"] >= 5.0
    assert all(s["last_loss"] < s["first_loss"] for s in res.info["stages"])
    assert max_patch_ncc(res.image, brick, patch=32, stride=16) < 0.95


def test_expansion_trains_and_grows(brick):
    kw = dict(size=48, steps=3, crop=16, batch=2, channels=4, blocks=1, taps=("k3", "k7"))
    a = synthesize("expansion", brick, seed=0, **kw)
    b = synthesize("expansion", brick, seed=0, **kw)
    assert a.image.shape == (48, 48) and len(a.losses) == 3
    assert np.array_equal(a.image, b.image) and a.losses == b.losses
    assert np.isfinite(a.losses).all()


def test_expansion_generator_doubles_size():
    import torch

    from traingen.texture.expansion import build_generator, init_weights

    g = build_generator(3, 4, 1)
    init_weights(g, torch.Generator().manual_seed(0))
    assert g(torch.rand(1, 3, 20, 28)).shape == (1, 3, 40, 56)


def test_ssd_map_matches_loops():
    rng = np.random.default_rng(0)
    ex = rng.random((9, 10, 2))
    t = rng.random((4, 4, 2))
    m = np.zeros((4, 4), np.float32)
    m[:, :2] = 1
    got = ssd_map(ex, t, m)
    ref = np.array([[(((ex[i:i + 4, j:j + 4] - t) ** 2) * m[..., None]).sum() for j in range(7)] for i in range(6)])
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4)


def test_min_error_cut_is_optimal():
    err = np.random.default_rng(1).random((4, 3))
    best = min(
        (sum(err[i, p[i]] for i in range(4)), p)
        for p in itertools.product(range(3), repeat=4)
        if all(abs(p[i] - p[i - 1]) <= 1 for i in range(1, 4))
    )
    path = min_error_cut(err)
    assert sum(err[i, path[i]] for i in range(4)) == pytest.approx(best[0])


def test_quilting_copies_blocks_and_reports_the_largest_region(brick):
    ex = brick.astype(np.float64)[..., None] / 255
    img, src = quilt(ex, 64, 16, 3, 0.1, np.random.default_rng(0))
    assert (src >= 0).all()
    np.testing.assert_array_equal(img[..., 0], ex[src[..., 0], src[..., 1], 0])  # every pixel is an exemplar pixel
    reg = largest_copied_region(src)
    y0, x0, y1, x1 = reg["bbox"]
    dy, dx = reg["offset"]
    assert reg["area"] >= 16 * 16 // 2
    assert reg["area"] <= (y1 - y0) * (x1 - x0)
    yy, xx = np.mgrid[y0:y1, x0:x1]
    same = (src[y0:y1, x0:x1, 0] == yy + dy) & (src[y0:y1, x0:x1, 1] == xx + dx)
    assert same.sum() == reg["area"]  # the region's pixels all come from one offset
    res = synthesize("quilting", brick, size=64, block=16, seed=0)
    assert max_patch_ncc(res.image, brick, patch=16, stride=8) > 0.99  # quilting copies by design
    assert res.info["largest_copied_region"]["area"] > 0


def test_bad_inputs_raise_clear_errors(brick):
    with pytest.raises(Exception, match="texture"):
        synthesize("nope", brick)
    with pytest.raises(ConfigError, match="size"):
        synthesize("gatys", brick, size=4)
    with pytest.raises(ConfigError, match="no option"):
        synthesize("quilting", brick, levels=3)
    with pytest.raises(DataError, match="too small"):
        synthesize("gatys", np.zeros((4, 4), np.uint8), size=16, steps=1)
    with pytest.raises(DataError, match="smaller than a block"):
        synthesize("quilting", brick[:20, :20], size=32, block=24)
    with pytest.raises(DataError, match="expected"):
        synthesize("gatys", np.zeros((8, 8, 8)), size=16, steps=1)
    with pytest.raises(ConfigError, match="multiple"):
        synthesize("multiscale", brick, size=36, levels=4)


def test_expansion_compared_with_bilinear_and_quilting(brick):
    import cv2
    import torch

    from traingen.texture.expansion import build_generator, compare_with_baselines, init_weights

    g = build_generator(1, 4, 1)
    init_weights(g, torch.Generator().manual_seed(0))
    out = compare_with_baselines(brick, 24, g, seed=0)
    assert set(out) == {"input", "bilinear", "quilting", "expansion"}
    crop = brick[36:60, 36:60]
    assert np.array_equal(out["input"], crop)
    ref = cv2.resize(crop, (48, 48), interpolation=cv2.INTER_LINEAR)  # independent bilinear (half-pixel)
    assert np.abs(out["bilinear"].astype(int) - ref.astype(int)).max() <= 1
    assert out["quilting"].shape == out["expansion"].shape == (48, 48)
