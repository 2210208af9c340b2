"""Resizing images for feature networks: the method is part of the metric.

A metric computed through Inception at 299² depends on how the images reached 299². The TF reference
code (and every number published with it) used TF1's ``tf.image.resize_bilinear`` without half-pixel
centres and without antialiasing; ``torch.nn.functional.interpolate`` does something else. On 32 -> 299
upscaling the two differ by 7.3 grey levels on average (46 at most), enough to move FID. So the method
is chosen explicitly and recorded in every result's provenance:

- ``tf1-bilinear``: TF1 ``resize_bilinear(align_corners=False)``: source coordinate ``dst · in/out``
  (no half-pixel offset), the upper neighbour clamped to the border. Matches the reference numbers.
- ``pil-bicubic``: PIL's bicubic filter on float32 planes (antialiased when shrinking), as clean-fid
  recommends. Not differentiable (numpy round trip).
- ``torch-bilinear-antialias``: ``F.interpolate(mode="bilinear", antialias=True, align_corners=False)``,
  half-pixel centres; differentiable and fast on GPU.

All take and return float N×C×H×W tensors in the 0..255 range (no clipping except ``pil-bicubic``,
which clips to 0..255 as clean-fid does, since bicubic overshoots).

Example:
    >>> y = resize_images(x.float(), (299, 299), "tf1-bilinear")

References:
    Parmar, Zhang, Zhu, "On Aliased Resizing and Surprising Subtleties in GAN Evaluation", CVPR 2022.
    TensorFlow 1.x ``tensorflow/core/kernels/resize_bilinear_op.cc`` and ``image_resizer_state.h``
    (legacy, non-half-pixel scaler).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..core.errors import ConfigError


def _size(size: tuple[int, int] | int) -> tuple[int, int]:
    if isinstance(size, int):
        return (size, size)
    h, w = (int(v) for v in size)
    if h < 1 or w < 1:
        raise ConfigError(f"output size must be positive, got {size}", field="input_size")
    return h, w


def tf1_source_coords(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """TF1 legacy bilinear sampling for one axis: (lower index, upper index, fraction), float64.

    Output pixel ``d`` reads source coordinate ``d · in/out`` (no half-pixel offset, no antialias).

    Example:
        >>> lo, hi, frac = tf1_source_coords(2, 4)   # coords 0, .5, 1, 1.5
        >>> lo.tolist(), hi.tolist(), frac.tolist()
        ([0, 0, 1, 1], [1, 1, 1, 1], [0.0, 0.5, 0.0, 0.5])
    """
    scale = in_size / out_size
    # TF computes the coordinate in float32; doing the same keeps us within float32 rounding of it.
    src = np.arange(out_size, dtype=np.float32) * np.float32(scale)
    lo = np.floor(src).astype(np.int64)
    lo = np.minimum(lo, in_size - 1)
    hi = np.minimum(lo + 1, in_size - 1)
    frac = (src - lo).astype(np.float64)
    return lo, hi, frac


def tf1_bilinear(x: Any, size: tuple[int, int] | int) -> Any:
    """TF1 ``resize_bilinear`` (align_corners=False, half_pixel_centers=False) of a float N×C×H×W tensor.

    Args:
        x: float tensor N×C×H×W (any range; traingen passes 0..255).
        size: output (H, W) or one int for a square.

    Returns:
        float tensor N×C×H'×W', same dtype and device; differentiable.
    """
    import torch

    oh, ow = _size(size)
    ylo, yhi, fy = tf1_source_coords(x.shape[-2], oh)
    xlo, xhi, fx = tf1_source_coords(x.shape[-1], ow)
    dev = x.device

    def idx(a: np.ndarray):
        return torch.from_numpy(a).to(dev)

    fx_t = torch.from_numpy(fx).to(dev, x.dtype).view(1, 1, 1, ow)
    fy_t = torch.from_numpy(fy).to(dev, x.dtype).view(1, 1, oh, 1)
    top = x.index_select(-2, idx(ylo))
    bot = x.index_select(-2, idx(yhi))
    # Interpolate along x first, then y: the order TF uses (top, bottom rows, then lerp between them).
    top = top.index_select(-1, idx(xlo)) + (top.index_select(-1, idx(xhi)) - top.index_select(-1, idx(xlo))) * fx_t
    bot = bot.index_select(-1, idx(xlo)) + (bot.index_select(-1, idx(xhi)) - bot.index_select(-1, idx(xlo))) * fx_t
    return top + (bot - top) * fy_t


def pil_bicubic(x: Any, size: tuple[int, int] | int) -> Any:
    """PIL bicubic resize of each float32 plane (clean-fid's choice), clipped to 0..255.

    Args:
        x: float tensor N×C×H×W in 0..255.
        size: output (H, W) or one int.

    Returns:
        float32 tensor N×C×H'×W' on ``x``'s device (not differentiable).
    """
    import torch
    from PIL import Image

    oh, ow = _size(size)
    arr = x.detach().to("cpu", torch.float32).numpy()
    out = np.empty(arr.shape[:2] + (oh, ow), np.float32)
    for n in range(arr.shape[0]):
        for c in range(arr.shape[1]):
            plane = Image.fromarray(np.ascontiguousarray(arr[n, c]), mode="F")
            out[n, c] = np.asarray(plane.resize((ow, oh), resample=Image.BICUBIC))
    np.clip(out, 0.0, 255.0, out=out)
    return torch.from_numpy(out).to(x.device)


def torch_bilinear_antialias(x: Any, size: tuple[int, int] | int) -> Any:
    """``F.interpolate`` bilinear with antialias and half-pixel centres; differentiable.

    Args:
        x: float tensor N×C×H×W.
        size: output (H, W) or one int.

    Returns:
        float tensor N×C×H'×W'.
    """
    import torch.nn.functional as F

    return F.interpolate(x, size=_size(size), mode="bilinear", align_corners=False, antialias=True)


#: Resize methods by name; each maps (float N×C×H×W tensor, (H, W)) -> resized tensor.
RESIZE_METHODS: dict[str, Callable[[Any, tuple[int, int]], Any]] = {
    "tf1-bilinear": tf1_bilinear,
    "pil-bicubic": pil_bicubic,
    "torch-bilinear-antialias": torch_bilinear_antialias,
}


def resize_images(x: Any, size: tuple[int, int] | int, method: str) -> Any:
    """Resize a float N×C×H×W tensor with the named method (see :data:`RESIZE_METHODS`).

    Example:
        >>> resize_images(torch.zeros(1, 3, 32, 32), (299, 299), "pil-bicubic").shape
        torch.Size([1, 3, 299, 299])
    """
    try:
        fn = RESIZE_METHODS[method]
    except KeyError:
        raise ConfigError(f"unknown resize method {method!r}; known: {', '.join(RESIZE_METHODS)}",
                          field="resize") from None
    return fn(x, _size(size))
