"""TextureGAN's pure tensor operations: Lab colour, erosion, patch centres, pasted texture inputs, patch crops.

* **Lab.** :func:`rgb_to_lab` / :func:`lab_to_rgb` are the CIE 1976 L*a*b* transform of sRGB under the
  D65 white (the constants scikit-image uses), differentiable, on N×3×H×W tensors.
  :func:`normalize_lab` maps L ∈ [0, 100] to [-1, 1] (``L / 50 - 1``) and a, b to ``a / 110``, ``b / 110``
  (sRGB's gamut lies within ±110), so a Tanh generator covers every sRGB colour.
* **Eroded masks and patch centres.** Patches (the pasted input patches and the loss patches) are
  centred on pixels of the object mask eroded by a square of side ``erode`` (min-pooling), whose square
  of side ``size`` also lies inside the image. :func:`sample_centres` draws one centre per image
  uniformly among those pixels from a ``torch.Generator``; an image with none falls back to the plain
  mask, then to the image centre.
* **Inputs.** :func:`paste_patches` builds the generator's 5-channel input: the sketch (1: white
  background, -1 on lines), the texture image blank (0) outside the pasted squares (3), and the patch
  mask (1 inside the squares, -1 outside).

A patch of side ``s`` centred on pixel ``(cy, cx)`` covers rows ``cy - s // 2 .. cy - s // 2 + s - 1``
(columns alike).

Example:
    >>> lab = normalize_lab(rgb_to_lab(rgb01))                    # N×3×H×W in about [-1, 1]
    >>> cy, cx = sample_centres(erode_mask(mask, 9), 16, generator=g)
    >>> patches = crop_patches(lab[:, :1], cy, cx, 16)            # N×1×16×16

References:
    Xian et al. "TextureGAN: Controlling Deep Image Synthesis with Texture Patches", CVPR 2018
    (arXiv 1706.02823), §3 (input, Lab, local patches in the eroded segmentation).
    CIE 15:2004 Colorimetry (L*a*b*); IEC 61966-2-1 (sRGB).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from ..core.errors import DataError

#: sRGB (linear) -> XYZ, D65 (the matrix scikit-image uses).
RGB_TO_XYZ = ((0.412453, 0.357580, 0.180423), (0.212671, 0.715160, 0.072169), (0.019334, 0.119193, 0.950227))
WHITE_D65 = (0.95047, 1.0, 1.08883)
AB_SCALE = 110.0
_EPS = 0.008856
_KAPPA = 7.787


def _matrix(rows, like: torch.Tensor) -> torch.Tensor:
    return torch.tensor(rows, dtype=like.dtype, device=like.device)


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """sRGB in [0, 1] (N×3×H×W) -> L*a*b* (L in [0, 100]); differentiable."""
    if rgb.dim() != 4 or rgb.shape[1] != 3:
        raise DataError(f"expected N×3×H×W RGB, got {tuple(rgb.shape)}", field="rgb")
    c = rgb.clamp(0.0, 1.0)
    lin = torch.where(c > 0.04045, ((c + 0.055) / 1.055).clamp_min(1e-12) ** 2.4, c / 12.92)
    xyz = torch.einsum("ij,njhw->nihw", _matrix(RGB_TO_XYZ, rgb), lin)
    xyz = xyz / _matrix(WHITE_D65, rgb).view(1, 3, 1, 1)
    f = torch.where(xyz > _EPS, xyz.clamp_min(_EPS) ** (1.0 / 3.0), _KAPPA * xyz + 16.0 / 116.0)
    L = 116.0 * f[:, 1:2] - 16.0
    a = 500.0 * (f[:, 0:1] - f[:, 1:2])
    b = 200.0 * (f[:, 1:2] - f[:, 2:3])
    return torch.cat([L, a, b], 1)


def lab_to_rgb(lab: torch.Tensor) -> torch.Tensor:
    """L*a*b* (N×3×H×W) -> sRGB clipped to [0, 1]; differentiable inside the gamut."""
    if lab.dim() != 4 or lab.shape[1] != 3:
        raise DataError(f"expected N×3×H×W Lab, got {tuple(lab.shape)}", field="lab")
    fy = (lab[:, 0:1] + 16.0) / 116.0
    fx = fy + lab[:, 1:2] / 500.0
    fz = (fy - lab[:, 2:3] / 200.0).clamp_min(0.0)  # z < 0 is outside every gamut (scikit-image clips too)
    f = torch.cat([fx, fy, fz], 1)
    xyz = torch.where(f ** 3 > _EPS, f ** 3, (f - 16.0 / 116.0) / _KAPPA)
    xyz = xyz * _matrix(WHITE_D65, lab).view(1, 3, 1, 1)
    inv = torch.linalg.inv(_matrix(RGB_TO_XYZ, lab).double()).to(lab.dtype)
    lin = torch.einsum("ij,njhw->nihw", inv, xyz)
    rgb = torch.where(lin > 0.0031308, 1.055 * lin.clamp_min(1e-12) ** (1.0 / 2.4) - 0.055, 12.92 * lin)
    return rgb.clamp(0.0, 1.0)


def normalize_lab(lab: torch.Tensor) -> torch.Tensor:
    """Lab -> the network's range: ``(L / 50 - 1, a / 110, b / 110)``."""
    return torch.cat([lab[:, :1] / 50.0 - 1.0, lab[:, 1:] / AB_SCALE], 1)


def denormalize_lab(x: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`normalize_lab`."""
    return torch.cat([(x[:, :1] + 1.0) * 50.0, x[:, 1:] * AB_SCALE], 1)


def rgb_to_nlab(rgb_pm1: torch.Tensor) -> torch.Tensor:
    """RGB in [-1, 1] (the translation data's range) -> normalised Lab."""
    return normalize_lab(rgb_to_lab((rgb_pm1 + 1.0) * 0.5))


def nlab_to_rgb(x: torch.Tensor) -> torch.Tensor:
    """Normalised Lab -> RGB in [0, 1]."""
    return lab_to_rgb(denormalize_lab(x))


def erode_mask(mask: torch.Tensor, size: int) -> torch.Tensor:
    """Binary erosion of N×1×H×W masks by a ``size``×``size`` square (outside the image counts as background).

    ``size`` 1 (or less) returns the mask unchanged. Even sizes erode ``size // 2`` up/left and
    ``size // 2 - 1`` down/right.
    """
    m = (mask > 0.5).to(torch.float32)
    if size <= 1:
        return m
    lo, hi = size // 2, size - 1 - size // 2
    padded = F.pad(1.0 - m, (lo, hi, lo, hi), value=1.0)
    return 1.0 - F.max_pool2d(padded, size, stride=1)


def _valid_centres(mask: torch.Tensor, size: int) -> torch.Tensor:
    """``mask`` (N×1×H×W, 0/1) restricted to centres whose ``size`` square stays inside the image."""
    h, w = mask.shape[-2:]
    half = size // 2
    keep = torch.zeros_like(mask, dtype=torch.bool)
    keep[..., half:h - (size - half) + 1, half:w - (size - half) + 1] = True
    return (mask > 0.5) & keep


def sample_centres(eroded: torch.Tensor, size: int, *, generator: torch.Generator,
                   fallback: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """One patch centre per image, uniform over the eroded mask's pixels whose patch fits the image.

    Args:
        eroded: N×1×H×W eroded object masks.
        size: patch side (the square must lie inside the image).
        generator: the only source of randomness (one ``torch.rand`` of N values).
        fallback: masks used for images whose eroded mask holds no valid centre (e.g. the plain mask);
            when that is empty too the centre of the image is used.

    Returns:
        ``(cy, cx)`` int64 tensors of length N.
    """
    n, _, h, w = eroded.shape
    if size > min(h, w):
        raise DataError(f"patch size {size} exceeds the image ({h}x{w})", field="patch_size")
    u = torch.rand(n, generator=generator, device=generator.device).to(eroded.device)
    valid = _valid_centres(eroded, size).reshape(n, -1)
    if fallback is not None:
        fb = _valid_centres(fallback, size).reshape(n, -1)
        valid = torch.where(valid.any(1, keepdim=True), valid, fb)
    counts = valid.sum(1)
    # the k-th valid pixel (k = floor(u · count)) via the running count of valid pixels
    k = torch.minimum((u * counts).floor().long(), (counts - 1).clamp_min(0))
    rank = valid.long().cumsum(1) - 1
    hit = valid & (rank == k[:, None])
    flat = hit.float().argmax(1)
    centre = torch.full_like(flat, (h // 2) * w + w // 2)
    flat = torch.where(counts > 0, flat, centre)
    return flat // w, flat % w


def square_masks(cy: torch.Tensor, cx: torch.Tensor, sizes: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """N×1×H×W float masks of the squares of side ``sizes[i]`` centred on ``(cy[i], cx[i])`` (clipped)."""
    ys = torch.arange(h, device=cy.device).view(1, h, 1)
    xs = torch.arange(w, device=cy.device).view(1, 1, w)
    y0 = (cy - sizes // 2).view(-1, 1, 1)
    x0 = (cx - sizes // 2).view(-1, 1, 1)
    s = sizes.view(-1, 1, 1)
    inside = (ys >= y0) & (ys < y0 + s) & (xs >= x0) & (xs < x0 + s)
    return inside.unsqueeze(1).to(torch.float32)


def paste_patches(sketch: torch.Tensor, texture: torch.Tensor, patch_mask: torch.Tensor) -> torch.Tensor:
    """The generator input ``[sketch, texture · patch, patch mask]`` (N×5×H×W).

    Args:
        sketch: N×1×H×W, 1 on the background and -1 on lines.
        texture: N×3×H×W normalised Lab of the texture source (the target image or an external texture).
        patch_mask: N×1×H×W in {0, 1}: where texture patches are pasted.

    Returns:
        N×5×H×W: texture blank (0) outside the patches, mask channel 1 inside and -1 outside.
    """
    return torch.cat([sketch, texture * patch_mask, patch_mask * 2.0 - 1.0], 1)


def crop_patches(x: torch.Tensor, cy: torch.Tensor, cx: torch.Tensor, size: int) -> torch.Tensor:
    """N×C×size×size crops of ``x`` centred on ``(cy, cx)`` (the squares must lie inside the image);
    differentiable with respect to ``x``."""
    n, c, h, w = x.shape
    y0 = (cy - size // 2).clamp(0, h - size)
    x0 = (cx - size // 2).clamp(0, w - size)
    ar = torch.arange(size, device=x.device)
    rows = (y0.view(n, 1) + ar).view(n, 1, size, 1).expand(n, c, size, w)
    out = torch.gather(x, 2, rows)
    cols = (x0.view(n, 1) + ar).view(n, 1, 1, size).expand(n, c, size, size)
    return torch.gather(out, 3, cols)
