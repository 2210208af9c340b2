"""Facial texture transfer with ``crop_to_face``: the transfer runs on the faces' bounding boxes and is pasted back.

Session 7 found that at 128 px a whole 512² photo leaves the face ~45 px wide and its region Grams turn into
colour noise; on face crops the noise goes (docs/style.md).
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from traingen.core.errors import DataError
from traingen.style.base import resize_mask
from traingen.style.facial import Facial, FacialConfig, face_box, load_face


def test_face_box_against_a_direct_computation():
    m = np.zeros((50, 80), np.uint8)
    m[10:20, 30:45] = 1
    m[22, 47] = 3
    assert face_box(m, 0.0) == (10, 23, 30, 48)
    # margin 0.5 of the longer side (18 px) = 9 px, clipped at the top border
    assert face_box(m, 0.5) == (1, 32, 21, 57)
    m2 = np.zeros((20, 20), np.uint8)
    m2[0:5, 15:20] = 2
    assert face_box(m2, 1.0) == (0, 10, 10, 20)
    with pytest.raises(DataError, match="no face pixels"):
        face_box(np.zeros((4, 4), np.uint8), 0.1)


def _chroma_noise(img: np.ndarray, mask: np.ndarray) -> float:
    y = cv2.cvtColor(img, cv2.COLOR_RGB2YCrCb).astype(np.float64)
    hp = y - cv2.GaussianBlur(y, (0, 0), 1.5)
    return float(hp[..., 1:][resize_mask(mask, img.shape[:2]) == 1].std())


def test_crop_to_face_pastes_back_at_full_size_and_removes_colour_noise():
    a, ma = load_face("astronaut")
    b, mb = load_face("grace_hopper")
    cfg = dict(size=64, evaluations=20, tv_weight=10.0, photo_weight=0.0)  # session 7's settings, pinned
    res = Facial(FacialConfig(crop_to_face=True, **cfg))(a, b, seed=0, content_mask=ma, style_mask=mb)
    assert res.image.shape == a.shape and res.image.dtype == np.uint8
    y0, y1, x0, x1 = res.info["face_box"]
    assert (y0, y1, x0, x1) == face_box(ma, 0.15)
    assert res.info["config"]["crop_to_face"] is True
    outside = np.ones(a.shape[:2], bool)
    outside[y0:y1, x0:x1] = False
    assert np.array_equal(res.image[outside], a[outside])  # untouched outside the face box
    face = ma == 1
    assert np.abs(res.image[face].astype(float) - a[face]).mean() > 2  # the skin did change
    # the colour noise, compared at the working resolution (the pasted result is upsampled, hence smooth): the
    # same transfer on the face boxes vs on the whole images, both at 64 px
    sy0, sy1, sx0, sx1 = res.info["style_box"]
    crop = Facial(FacialConfig(crop_to_face=False, **cfg))(a[y0:y1, x0:x1], b[sy0:sy1, sx0:sx1], seed=0, content_mask=ma[y0:y1, x0:x1],
                                       style_mask=mb[sy0:sy1, sx0:sx1])
    full = Facial(FacialConfig(crop_to_face=False, **cfg))(a, b, seed=0, content_mask=ma, style_mask=mb)
    n_crop, n_full = _chroma_noise(crop.image, ma[y0:y1, x0:x1]), _chroma_noise(full.image, ma)
    # measured: 64 px / 20 evaluations 2.89 vs 11.51; 128 px / 50 evaluations (docs) 1.92 vs 7.28
    assert n_crop < 0.5 * n_full, (n_crop, n_full)


def test_crop_to_face_checks_mask_sizes():
    a, ma = load_face("astronaut")
    b, mb = load_face("grace_hopper")
    with pytest.raises(DataError, match="does not match"):
        Facial(FacialConfig(size=16, evaluations=1, crop_to_face=True))(a, b, content_mask=ma[:-1], style_mask=mb)
