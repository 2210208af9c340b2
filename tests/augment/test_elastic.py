"""Elastic distortion (Simard et al. 2003) against independent references: scipy.ndimage for the field
smoothing and the bilinear warp, the moved image itself for keypoints and boxes."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from traingen.augment import Compose, Elastic
from traingen.augment.elastic import (
    displacement_field,
    elastic_boxes,
    elastic_points,
    elastic_warp,
    smooth_field,
)
from traingen.core.errors import ConfigError


@pytest.mark.parametrize("sigma", [4.0, 2.5, 1.3])
def test_smoothing_matches_scipy_gaussian_filter(sigma):
    raw = np.random.default_rng(1).uniform(-1, 1, (28, 31)).astype(np.float32)
    ours = smooth_field(raw, 34.0, sigma)
    ref = 34.0 * ndimage.gaussian_filter(raw.astype(np.float64), sigma, mode="mirror", truncate=4.0)
    np.testing.assert_allclose(ours, ref, atol=2e-4 * 34)
    # The field is not trivially small: Simard's parameters move pixels by about a pixel or more.
    assert np.abs(ours).max() > 0.5


def test_displacement_field_is_the_smoothed_uniform_draw():
    dx, dy = displacement_field(20, 24, 10.0, 3.0, seed=7)
    raw = np.random.default_rng(7).uniform(-1, 1, (2, 20, 24))
    np.testing.assert_allclose(dx, 10 * ndimage.gaussian_filter(raw[0], 3.0, mode="mirror"), atol=1e-4)
    np.testing.assert_allclose(dy, 10 * ndimage.gaussian_filter(raw[1], 3.0, mode="mirror"), atol=1e-4)


def _smooth_image(h=28, w=28):
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    return 0.5 + 0.4 * np.sin(x / 3.0) * np.cos(y / 4.0)


@pytest.mark.parametrize("fill", [0.0, 0.7])
def test_warp_matches_scipy_map_coordinates(fill):
    img = _smooth_image().astype(np.float32)
    dx, dy = displacement_field(28, 28, 34.0, 4.0, seed=3)
    ours = elastic_warp(img, dx, dy, fill=fill)
    y, x = np.mgrid[0:28, 0:28].astype(np.float64)
    ref = ndimage.map_coordinates(img.astype(np.float64), [y + dy, x + dx], order=1, mode="grid-constant", cval=fill)
    # OpenCV quantises the sampling position to 1/32 px: errors stay at gradient/64 (< 0.01 here).
    np.testing.assert_allclose(ours, ref, atol=0.01)
    assert np.abs(ours - img).max() > 0.1  # it did move pixels


def test_uint8_multichannel_and_mask():
    rng = np.random.default_rng(0)
    img = (255 * _smooth_image(24, 32)).astype(np.uint8)
    img7 = np.stack([img] * 7, axis=2)
    dx, dy = displacement_field(24, 32, 20.0, 4.0, seed=5)
    out = elastic_warp(img7, dx, dy)
    assert out.shape == img7.shape and out.dtype == np.uint8
    for c in range(7):  # every chunk of the >4-channel path gets the same warp
        np.testing.assert_array_equal(out[..., c], out[..., 0])
    y, x = np.mgrid[0:24, 0:32].astype(np.float64)
    ref = ndimage.map_coordinates(img.astype(np.float64), [y + dy, x + dx], order=1, mode="grid-constant")
    assert np.abs(out[..., 0].astype(np.float64) - ref).max() <= 3
    mask = rng.integers(0, 4, (24, 32)).astype(np.int32)
    wm = elastic_warp(mask, dx, dy, nearest=True)
    ref_m = ndimage.map_coordinates(mask, [y + dy, x + dx], order=0, mode="grid-constant")
    assert wm.dtype == np.int32
    assert np.mean(wm == ref_m) > 0.97  # nearest ties may round either way
    assert set(np.unique(wm)) <= set(range(4))


def _blob(h, w, cx, cy, s=0.7):
    y, x = np.mgrid[0:h, 0:w] + 0.5  # pixel centres in traingen coordinates
    return np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * s * s))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_keypoints_follow_the_image(seed):
    h, w = 40, 40
    dx, dy = displacement_field(h, w, 34.0, 4.0, seed=seed)
    pts = np.array([[12.3, 15.6], [25.5, 20.5], [20.0, 28.2]])
    moved = elastic_points(pts, dx, dy)
    for (qx, qy), (px, py) in zip(pts, moved, strict=True):
        out = elastic_warp(_blob(h, w, qx, qy).astype(np.float32), dx, dy)
        y, x = np.mgrid[0:h, 0:w] + 0.5
        cx, cy = (out * x).sum() / out.sum(), (out * y).sum() / out.sum()
        assert abs(cx - px) < 0.35 and abs(cy - py) < 0.35, (cx, cy, px, py)
    assert np.abs(moved - pts).max() > 0.5  # the points did move


def test_boxes_bound_the_moved_rectangle():
    h, w = 40, 40
    dx, dy = displacement_field(h, w, 34.0, 4.0, seed=4)
    box = np.array([[8, 10, 30, 26]], np.float32)
    rect = np.zeros((h, w), np.int32)
    rect[10:26, 8:30] = 1
    warped = elastic_warp(rect, dx, dy, nearest=True)
    ys, xs = np.nonzero(warped)
    ref = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
    ours = elastic_boxes(box, dx, dy)[0]
    assert np.abs(ours - ref).max() <= 1.0, (ours, ref)


def test_compose_moves_all_targets_and_p_zero_is_identity():
    img = (255 * _smooth_image()).astype(np.uint8)
    t = Elastic(34.0, 4.0)
    out = Compose([t])(image=img, keypoints=np.array([[14.0, 14.0]], np.float32), seed=2)
    assert out["image"].shape == img.shape and out["image"].tobytes() != img.tobytes()
    t.p = 0.0
    same = Compose([t])(image=img, seed=2)
    assert same["image"].tobytes() == img.tobytes()
    assert t.to_dict()["name"] == "elastic"


@pytest.mark.parametrize("kwargs,field", [({"sigma": 0.0}, "sigma"), ({"alpha": -1.0}, "alpha"),
                                          ({"mask_fill": 0.5}, "mask_fill"), ({"p": 2.0}, "p")])
def test_bad_config_names_the_field(kwargs, field):
    with pytest.raises(ConfigError) as e:
        Elastic(**kwargs)
    assert e.value.field == field
