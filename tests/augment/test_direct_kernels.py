"""Direct kernels of single geometric steps (``apply_image``) give the bytes of the fused warp.

A one-step pipeline on an image alone skips the matrix and calls ``cv2.flip`` / ``cv2.resize``
directly (the speed of the per-sample bench). These tests hold that shortcut to the general path:
the same draw, warped by its matrix through ``warp_image``, and, independently of our code, to
``cv2.warpAffine`` of the OpenCV matrix where the pixel grid makes both exact.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from traingen.augment import Compose, HorizontalFlip, RandomResizedCrop, Resize, VerticalFlip
from traingen.augment.geometry import to_opencv, warp_image
from traingen.core.seeding import Rng

SHAPES = [((37, 53, 3), np.uint8), ((40, 30, 1), np.uint8), ((31, 29), np.uint8), ((33, 35, 3), np.uint16),
          ((30, 34, 5), np.float32), ((28, 26, 2), np.float64), ((26, 27, 7), np.uint8)]


def image(shape, dtype, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "f":
        return rng.random(shape).astype(dtype)
    return rng.integers(0, np.iinfo(dtype).max + 1, shape, dtype=dtype)


STEPS = [HorizontalFlip(p=1.0), VerticalFlip(p=1.0), HorizontalFlip(p=0.5), Resize(20, 24), Resize(15, 53),
         RandomResizedCrop(16, 18), RandomResizedCrop(24, 24, scale=(0.5, 1.0), p=0.7),
         RandomResizedCrop(26, 26, scale=(1.0, 1.0), ratio=(1.0, 1.0))]


@pytest.mark.parametrize("step", STEPS, ids=lambda s: repr(s)[:40])
@pytest.mark.parametrize("interpolation", ["bilinear", "nearest", "bicubic"])
def test_apply_image_equals_warp_of_the_matrix(step, interpolation):
    for (shape, dtype) in SHAPES:
        img = image(shape, dtype)
        h, w = img.shape[:2]
        for seed in range(8):
            params = step.make_params(Rng(seed), h, w)
            direct = step.apply_image(img, params, interpolation=interpolation, fill=0.0)
            m, out_hw = step.matrix(params, h, w)
            if m is None:  # skipped: the input comes back as it is
                assert direct is img and out_hw == (h, w)
                continue
            ref = warp_image(img, m, out_hw, interpolation=interpolation)
            if direct is None:  # no kernel for this draw (an unscaled crop): the warp slices it
                assert params["cw"] == step.width and params["ch"] == step.height
                continue
            assert direct.dtype == img.dtype and direct.shape == ref.shape
            np.testing.assert_array_equal(direct, ref)


@pytest.mark.parametrize("step", STEPS[:5], ids=lambda s: repr(s)[:40])
def test_pipeline_shortcut_equals_the_general_path(step):
    """An image-only call (shortcut) and a call that also carries a mask (general path)."""
    img = image((37, 53, 3), np.uint8, 1)
    mask = np.zeros((37, 53), np.uint8)
    pipe = Compose([step])
    for seed in range(6):
        fast = pipe(image=img, seed=seed)["image"]
        general = pipe(image=img, mask=mask, seed=seed)["image"]
        np.testing.assert_array_equal(fast, general)
        assert fast is img or not np.shares_memory(fast, img)  # a new array unless skipped


def test_flips_against_numpy_and_their_draw_is_recorded():
    img = image((21, 34, 3), np.uint8, 2)
    np.testing.assert_array_equal(Compose([HorizontalFlip(p=1.0)])(image=img)["image"], img[:, ::-1])
    np.testing.assert_array_equal(Compose([VerticalFlip(p=1.0)])(image=img)["image"], img[::-1])
    out, params = Compose([HorizontalFlip(p=0.5)]).run({"image": img}, seed=5)
    assert params == [{"name": "horizontal-flip", "applied": params[0]["applied"]}]
    np.testing.assert_array_equal(out["image"], img[:, ::-1] if params[0]["applied"] else img)


def test_resize_kernels_against_opencv_warp_on_an_exact_grid():
    """A 2x upscale and a crop-resize sample pixel centres that ``cv2.warpAffine`` (an independent
    kernel) reaches exactly, so both agree to the grey level away from the border."""
    img = image((20, 24, 3), np.uint8, 3)
    out = Compose([Resize(40, 48)])(image=img)["image"]
    m = np.array([[2.0, 0, 0], [0, 2.0, 0], [0, 0, 1.0]])
    ref = cv2.warpAffine(img, to_opencv(m), (48, 40), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    diff = np.abs(out.astype(int) - ref.astype(int))[1:-1, 1:-1]
    assert diff.max() <= 1
    step = RandomResizedCrop(30, 30)
    params = step.make_params(Rng(4), 20, 24)
    got = step.apply_image(img, params, interpolation="bilinear", fill=0.0)
    x0, y0, cw, ch = params["x0"], params["y0"], params["cw"], params["ch"]
    ref = cv2.resize(np.ascontiguousarray(img[y0:y0 + ch, x0:x0 + cw]), (30, 30), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_array_equal(got, ref)
