"""Paired/unpaired readers and the embedded translation datasets."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from traingen.core.errors import DataError
from traingen.data import DATASETS, open_source
from traingen.data.dem2relief import hillshade
from traingen.data.fonts2mnist import mnist_normalise
from traingen.data.imageio import encode_png
from traingen.data.paired import join_pair, open_paired, split_pair
from traingen.data.stereo_depth import disparity_u8
from traingen.data.unpaired import open_unpaired


def test_translation_builtins_are_registered():
    for name in ("edges2photos", "dem2relief", "stereo-depth2rgb", "fonts2mnist", "digits2mnist"):
        assert name in DATASETS


def test_mnist_normalisation_box_and_centre_of_mass():
    img = np.zeros((100, 60), np.float32)
    img[10:90, 5:25] = 1.0  # a tall bar, off-centre
    img[80:90, 5:55] = 1.0  # and a foot, so the mass is not symmetric
    out = mnist_normalise(img)
    assert out.shape == (28, 28) and out.dtype == np.uint8
    ys, xs = np.nonzero(out > 25)
    assert max(ys.max() - ys.min() + 1, xs.max() - xs.min() + 1) in (20, 21, 22)  # 20 px box (+ blur)
    cy, cx = ndimage.center_of_mass(out.astype(np.float64))
    assert abs(cy + 0.5 - 14) < 0.5 and abs(cx + 0.5 - 14) < 0.5


def test_digits2mnist_split_and_look():
    src = open_source("builtin:digits2mnist@train")
    assert len(src) == 1438
    s = src[0]
    assert s.image.shape == (28, 28) and s.image.max() == 255 and s.image[:3].max() < 40


def test_paired_builtins_are_side_by_side_pairs():
    edges = open_source("builtin:edges2photos@train")
    assert len(edges) == 224
    a, b = split_pair(edges[0].image)
    assert a.shape == b.shape == (128, 128, 3)
    assert set(np.unique(a)) <= {0, 255} and (a == 0).mean() < 0.5  # black edges on white
    stereo = open_source("builtin:stereo-depth2rgb")
    a, b = split_pair(stereo[0].image)
    assert a.shape == (64, 64, 3) and (a[..., 0] == a[..., 1]).all()


def test_hillshade_against_a_float64_plane_formula():
    # A plane z = p*x + q*y (x east = columns, y north = -rows): the Lambertian shading of its normal.
    p, q = 0.3, -0.5
    rows, cols = np.mgrid[0:20, 0:20].astype(np.float64)
    z = p * cols + q * (-rows)
    az, alt = np.radians(315.0), np.radians(45.0)
    n = np.array([-p, -q, 1.0]) / np.sqrt(p * p + q * q + 1)
    sun = np.array([np.sin(az) * np.cos(alt), np.cos(az) * np.cos(alt), np.sin(alt)])
    shade = hillshade(z)
    assert np.allclose(shade[2:-2, 2:-2], max(0.0, float(n @ sun)), atol=1e-12)


def test_disparity_scaling_marks_invalid_zero():
    d = np.array([[np.inf, 10.0], [20.0, -1.0]])
    assert disparity_u8(d).tolist() == [[0, 128], [255, 0]]


def _png(path, arr):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encode_png(arr))


def test_paired_folder_and_unpaired_layouts(tmp_path):
    a = np.full((8, 8, 3), 10, np.uint8)
    b = np.full((8, 8), 200, np.uint8)
    _png(tmp_path / "p" / "A" / "x1.png", a)
    _png(tmp_path / "p" / "B" / "x1.png", b)
    src = open_paired(tmp_path / "p")
    pa, pb = split_pair(src[0].image)
    assert (pa == 10).all() and (pb == 200).all() and pb.shape == (8, 8, 3)
    _png(tmp_path / "p" / "B" / "x2.png", b)
    with pytest.raises(DataError, match="only one of A/ and B/"):
        open_paired(tmp_path / "p")
    _png(tmp_path / "u" / "trainA" / "1.png", a)
    _png(tmp_path / "u" / "trainB" / "1.png", b)
    _png(tmp_path / "u" / "trainB" / "2.png", b)
    sa, sb = open_unpaired(tmp_path / "u")
    assert (len(sa), len(sb)) == (1, 2)
    with pytest.raises(DataError, match="testA"):
        open_unpaired(tmp_path / "u", split="test")
    with pytest.raises(DataError, match="even"):
        split_pair(np.zeros((4, 5), np.uint8))
    with pytest.raises(DataError, match="must match"):
        join_pair(np.zeros((4, 4)), np.zeros((5, 4)))


def test_render_labels_to_rgb_encoding():
    from traingen.data.render_mask2rgb import labels_to_rgb

    mask = np.array([[0, 1], [2, 3]])
    depth = np.array([[0.0, 2.0], [4.0, 3.0]])
    a = labels_to_rgb(mask, depth, 3)
    assert a[..., 0].tolist() == [[0, 63], [126, 189]] and (a[..., 0] == a[..., 1]).all()
    assert a[..., 2].tolist() == [[0, 255], [0, 128]]  # nearest valid 255, farthest 0, no hit 0


@pytest.mark.slow
def test_render_mask2rgb_pairs():
    src = open_source("builtin:render-mask2rgb@train")
    assert len(src) == 400
    a, b = split_pair(src[0].image)
    assert a.shape == b.shape == (64, 64, 3)
