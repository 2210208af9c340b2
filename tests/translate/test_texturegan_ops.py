"""TextureGAN's tensor operations against independent references: Lab vs scikit-image, erosion vs OpenCV,
patch centres inside the eroded mask, crops vs numpy slicing, the 5-channel input."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from skimage import color

from traingen.core.errors import DataError
from traingen.translate import texturegan_ops as ops


def _rgb_samples(n: int = 4000) -> np.ndarray:
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (n, 3))
    corners = np.array([[i >> 2 & 1, i >> 1 & 1, i & 1] for i in range(8)], float)  # the gamut's extremes
    return np.concatenate([x, corners, [[0.02, 0.03, 0.01], [0.5, 0.5, 0.5]]])  # + the linear (dark) segment


def _as_image(rgb: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(rgb.T.reshape(1, 3, -1, 1).copy())


def test_rgb_to_lab_matches_skimage_and_round_trips():
    rgb = _rgb_samples()
    ours = ops.rgb_to_lab(_as_image(rgb)).reshape(3, -1).T.numpy()
    ref = color.rgb2lab(rgb.reshape(-1, 1, 3)).reshape(-1, 3)
    assert np.abs(ours - ref).max() < 1e-6  # float64 input: the same formula, independently written
    back = ops.lab_to_rgb(_as_image(ref)).reshape(3, -1).T.numpy()
    ref_back = color.lab2rgb(ref.reshape(-1, 1, 3)).reshape(-1, 3)
    assert np.abs(back - ref_back).max() < 1e-6
    assert np.abs(back - rgb).max() < 1e-6
    # float32 (what the networks use) stays within a fraction of a grey level
    ours32 = ops.rgb_to_lab(_as_image(rgb).float()).reshape(3, -1).T.numpy()
    assert np.abs(ours32 - ref).max() < 1e-3
    rt32 = ops.nlab_to_rgb(ops.rgb_to_nlab(_as_image(rgb).float() * 2 - 1)).reshape(3, -1).T.numpy()
    assert np.abs(rt32 - rgb).max() < 1e-4


def test_normalised_lab_of_the_srgb_gamut_fits_a_tanh():
    n = ops.rgb_to_nlab(_as_image(_rgb_samples()) * 2 - 1)
    assert n.abs().max() <= 1.0
    white = ops.rgb_to_nlab(torch.ones(1, 3, 1, 1))
    assert torch.allclose(white.flatten(), torch.tensor([1.0, 0.0, 0.0], dtype=white.dtype), atol=1e-4)


def test_lab_is_differentiable_everywhere_in_the_gamut():
    x = torch.tensor(_rgb_samples(200)).T.reshape(1, 3, -1, 1).clone().requires_grad_(True)
    ops.lab_to_rgb(ops.rgb_to_lab(x)).sum().backward()
    assert torch.isfinite(x.grad).all()


@pytest.mark.parametrize("size", [1, 3, 5, 8])
def test_erode_mask_equals_opencv(size):
    rng = np.random.default_rng(size)
    m = (cv2.GaussianBlur(rng.uniform(0, 1, (40, 48)), (0, 0), 3) > 0.5).astype(np.uint8)
    m[:, :6] = 1  # an object touching the border: outside the image counts as background
    ours = ops.erode_mask(torch.from_numpy(m).float()[None, None], size)[0, 0].numpy().astype(np.uint8)
    k = np.ones((size, size), np.uint8)
    anchor = (size // 2, size // 2)
    ref = cv2.erode(m, k, anchor=anchor, borderType=cv2.BORDER_CONSTANT, borderValue=0)
    assert np.array_equal(ours, ref)
    assert ours.sum() < m.sum() or size == 1


def test_patch_centres_lie_inside_the_eroded_mask_and_the_patch_fits():
    h = w = 32
    mask = torch.zeros(3, 1, h, w)
    mask[0, 0, 4:20, 6:30] = 1
    mask[1, 0, 20:32, 0:12] = 1          # touches the border: centres must keep the patch inside
    mask[2, 0, 10:13, 10:13] = 1         # too thin: erosion empties it -> fallback to the mask
    eroded = ops.erode_mask(mask, 5)
    assert eroded[2].sum() == 0
    g = torch.Generator().manual_seed(0)
    size = 8
    seen = set()
    for _ in range(200):
        cy, cx = ops.sample_centres(eroded, size, generator=g, fallback=mask)
        for i in range(2):
            y, x = int(cy[i]), int(cx[i])
            assert eroded[i, 0, y, x] == 1
            assert y - size // 2 >= 0 and y - size // 2 + size <= h
            assert x - size // 2 >= 0 and x - size // 2 + size <= w
            seen.add((i, y, x))
        assert mask[2, 0, int(cy[2]), int(cx[2])] == 1
    # uniform over the valid pixels: image 0 has 12×20 eroded pixels, all with room for the patch
    valid0 = int(ops._valid_centres(eroded[:1], size).sum())
    assert len([s for s in seen if s[0] == 0]) > 0.5 * valid0
    # an empty mask falls back to the image centre
    cy, cx = ops.sample_centres(torch.zeros(1, 1, h, w), size, generator=g)
    assert (int(cy), int(cx)) == (h // 2, w // 2)
    with pytest.raises(DataError, match="exceeds"):
        ops.sample_centres(eroded, 40, generator=g)


def test_crop_patches_equal_slicing_and_carry_gradients():
    x = torch.randn(3, 2, 20, 24, requires_grad=True)
    cy, cx = torch.tensor([5, 10, 14]), torch.tensor([4, 12, 19])
    p = ops.crop_patches(x, cy, cx, 8)
    for i in range(3):
        y0, x0 = int(cy[i]) - 4, int(cx[i]) - 4
        assert torch.equal(p[i], x[i, :, y0:y0 + 8, x0:x0 + 8])
    p.sum().backward()
    assert x.grad.sum() == 3 * 2 * 64


def test_paste_patches_builds_the_five_channel_input():
    sketch = torch.ones(2, 1, 16, 16)
    sketch[:, :, 3, :] = -1
    texture = torch.rand(2, 3, 16, 16) * 2 - 1
    pm = ops.square_masks(torch.tensor([8, 4]), torch.tensor([8, 5]), torch.tensor([6, 4]), 16, 16)
    assert pm[0].sum() == 36 and pm[1].sum() == 16
    assert pm[1, 0, 2:6, 3:7].sum() == 16  # centre (4, 5), side 4 -> rows 2..5, columns 3..6
    x = ops.paste_patches(sketch, texture, pm)
    assert x.shape == (2, 5, 16, 16)
    assert torch.equal(x[:, :1], sketch)
    assert torch.equal(x[:, 1:4][pm.expand(-1, 3, -1, -1) > 0], texture[pm.expand(-1, 3, -1, -1) > 0])
    assert (x[:, 1:4][pm.expand(-1, 3, -1, -1) == 0] == 0).all()
    assert set(x[:, 4].unique().tolist()) == {-1.0, 1.0}


def test_object_iou_of_the_usefulness_measure():
    from traingen.translate.texturegan_eval import object_iou

    rgb = torch.ones(2, 3, 16, 16)
    rgb[:, :, 4:12, 4:12] = torch.tensor([0.2, 0.5, 0.9]).view(1, 3, 1, 1)
    rgb[1, :, 4:12, 8:12] = 0.97  # near-white (ΔE < 10 from white): counted as background
    mask = torch.zeros(2, 1, 16, 16)
    mask[:, :, 4:12, 4:12] = 1
    assert object_iou(rgb, mask).tolist() == pytest.approx([1.0, 0.5])
