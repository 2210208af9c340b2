"""Resize methods of the feature networks against torch-fidelity, PIL and a float64 numpy formula."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from traingen.core.errors import ConfigError
from traingen.features.resize import RESIZE_METHODS, resize_images, tf1_bilinear, tf1_source_coords


def tf1_reference(img: np.ndarray, oh: int, ow: int) -> np.ndarray:
    """TF1 resize_bilinear (align_corners=False, no half-pixel centres) of an H×W image, float64 loops."""
    h, w = img.shape
    out = np.empty((oh, ow))
    for i in range(oh):
        sy = i * (h / oh)
        y0 = min(int(np.floor(sy)), h - 1)
        y1, fy = min(y0 + 1, h - 1), sy - y0
        for j in range(ow):
            sx = j * (w / ow)
            x0 = min(int(np.floor(sx)), w - 1)
            x1, fx = min(x0 + 1, w - 1), sx - x0
            top = img[y0, x0] + (img[y0, x1] - img[y0, x0]) * fx
            bot = img[y1, x0] + (img[y1, x1] - img[y1, x0]) * fx
            out[i, j] = top + (bot - top) * fy
    return out


@pytest.fixture(scope="module")
def batch():
    rng = np.random.default_rng(0)
    return torch.from_numpy(rng.integers(0, 256, (2, 3, 32, 24)).astype(np.float32))


@pytest.mark.parametrize("size", [(299, 299), (17, 40), (32, 24), (5, 7)])
def test_tf1_bilinear_matches_torch_fidelity(batch, size):
    from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x

    ref = interpolate_bilinear_2d_like_tensorflow1x(batch, size=size, align_corners=False)
    ours = tf1_bilinear(batch, size)
    assert ours.shape == ref.shape
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-4)


@pytest.mark.parametrize("size", [(41, 29), (13, 9)])
def test_tf1_bilinear_matches_float64_formula(batch, size):
    ours = tf1_bilinear(batch.double(), size)[1, 2].numpy()
    ref = tf1_reference(batch[1, 2].double().numpy(), *size)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-3)  # coordinates are float32, as in TF


def test_tf1_coordinates_have_no_half_pixel_offset():
    lo, hi, frac = tf1_source_coords(2, 4)
    assert lo.tolist() == [0, 0, 1, 1] and hi.tolist() == [1, 1, 1, 1]
    assert frac.tolist() == [0.0, 0.5, 0.0, 0.5]


def test_tf1_bilinear_is_differentiable(batch):
    x = batch[:1].clone().requires_grad_(True)
    tf1_bilinear(x, (50, 50)).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_pil_bicubic_matches_pil_float_planes(batch):
    from PIL import Image

    ours = resize_images(batch, (47, 35), "pil-bicubic")
    plane = batch[0, 1].numpy()
    ref = np.asarray(Image.fromarray(plane, mode="F").resize((35, 47), resample=Image.BICUBIC))
    np.testing.assert_allclose(ours[0, 1].numpy(), np.clip(ref, 0, 255), atol=1e-4)
    assert float(ours.min()) >= 0.0 and float(ours.max()) <= 255.0


def test_antialias_differs_from_tf1_on_upscaling(structured_image):
    # FACTS: TF1 bilinear vs torch antialias at 32 -> 299 differ by several grey levels on average.
    small = torch.from_numpy(structured_image[:32, :32]).permute(2, 0, 1)[None].float()
    a = resize_images(small, (299, 299), "tf1-bilinear")
    b = resize_images(small, (299, 299), "torch-bilinear-antialias")
    diff = (a - b).abs()
    assert diff.mean() > 1.0 and diff.max() > 20.0


def test_constant_images_stay_constant():
    x = torch.full((1, 3, 20, 30), 77.0)
    for name in RESIZE_METHODS:
        torch.testing.assert_close(resize_images(x, (64, 48), name), torch.full((1, 3, 64, 48), 77.0))


def test_unknown_method_names_the_known_ones():
    with pytest.raises(ConfigError, match="tf1-bilinear"):
        resize_images(torch.zeros(1, 1, 4, 4), (8, 8), "nearest")
