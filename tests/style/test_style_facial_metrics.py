"""The numbers of a facial texture transfer (sharpness, structure SSIM, texture shift) against direct formulas."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from scipy import ndimage

from traingen.core.errors import DataError
from traingen.style.face_metrics import (
    chroma_noise,
    chroma_noise_ratio,
    laplacian_variance,
    luma,
    sharpness_ratio,
    structure_ssim,
    texture_shift,
    texture_statistics,
    transfer_report,
)


def _image(seed: int, h: int = 40, w: int = 48) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = cv2.GaussianBlur(rng.uniform(0, 255, (h, w, 3)), (0, 0), 2.0)
    return np.clip(base + rng.normal(0, 12, (h, w, 3)), 0, 255).astype(np.uint8)


def _mask(h: int = 40, w: int = 48) -> np.ndarray:
    m = np.zeros((h, w), np.uint8)
    m[8:32, 10:38] = 1
    m[14:18, 14:20] = 3
    m[20:26, 22:26] = 4
    m[27:30, 18:30] = 5
    return m


def test_laplacian_variance_matches_a_float64_convolution():
    img = _image(0)
    y = img.astype(np.float64) @ [0.299, 0.587, 0.114]
    lap = ndimage.convolve(y, np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], float), mode="mirror")
    region = _mask() > 0
    assert laplacian_variance(img, region) == pytest.approx(float(lap[region].var()), rel=1e-9)


def test_sharpness_ratio_is_one_on_the_content_and_falls_with_blur():
    img, m = _image(1), _mask()
    assert sharpness_ratio(img, img, m) == pytest.approx(1.0)
    blurred = cv2.GaussianBlur(img, (0, 0), 1.5)
    assert sharpness_ratio(blurred, img, m) < 0.2


def test_chroma_noise_against_a_direct_formula_and_coloured_noise():
    img, m = cv2.GaussianBlur(_image(7), (0, 0), 2.0), _mask()  # smooth: little chroma high-pass of its own
    ycc = cv2.cvtColor(img, cv2.COLOR_RGB2YCrCb).astype(np.float64)
    hp = ycc - np.stack([ndimage.gaussian_filter(ycc[..., i], 1.5, truncate=4.0, mode="mirror") for i in range(3)], -1)
    region = m > 0
    assert chroma_noise(img, region) == pytest.approx(float(hp[..., 1:][region].std()), rel=1e-6)
    assert chroma_noise_ratio(img, img, m) == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    fringes = np.clip(img + rng.normal(0, 10, img.shape) * [1, -1, 0.5], 0, 255).astype(np.uint8)
    assert chroma_noise_ratio(fringes, img, m) > 1.5


def test_structure_ssim_matches_the_ssim_formula():
    a, b = _image(2), _image(3)
    m = _mask()
    ya, yb = luma(a), luma(b)

    def g(x):  # scikit-image's window: Gaussian sigma 1.5, truncated at 3.5 sigma, reflected border
        return ndimage.gaussian_filter(x, 1.5, truncate=3.5, mode="reflect")

    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mx, my = g(ya), g(yb)
    vx, vy, cxy = g(ya * ya) - mx * mx, g(yb * yb) - my * my, g(ya * yb) - mx * my
    smap = (2 * mx * my + c1) * (2 * cxy + c2) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    region = np.isin(m, (3, 4, 5))
    assert structure_ssim(a, b, m) == pytest.approx(float(smap[region].mean()), abs=1e-6)
    assert structure_ssim(a, a, m) == pytest.approx(1.0)


def test_texture_statistics_and_shift():
    img, m = _image(4), _mask()
    st = texture_statistics(img, m == 1)
    assert st["lbp"].shape == (10,) and st["lbp"].sum() == pytest.approx(1.0)
    lab = cv2.cvtColor(img.astype(np.float32) / 255, cv2.COLOR_RGB2LAB)
    np.testing.assert_allclose(st["colour_lab"], lab[m == 1].mean(0), rtol=1e-5)
    style = _image(5)
    same = texture_shift(img, img, style, m, m, size=32)
    assert all(v["moved"] == 0 for v in same.values())
    # the output IS the style (same face box): every statistic has moved all the way
    full = texture_shift(style, img, style, m, m, size=32)
    assert all(v["moved"] == pytest.approx(1.0) for v in full.values())
    rep = transfer_report(img, img, style, m, m, size=32)
    assert rep["sharpness_ratio"] == 1.0 and rep["structure_ssim"] == 1.0 and rep["face_ssim"] == 1.0


def test_metrics_name_bad_inputs():
    img, m = _image(6), _mask()
    with pytest.raises(DataError, match="does not match"):
        sharpness_ratio(img, img, m[:-1])
    with pytest.raises(DataError, match="no pixel"):
        structure_ssim(img, img, np.zeros_like(m))
    with pytest.raises(DataError, match="differ in size"):
        transfer_report(img[:-1], img, img, m, m)
