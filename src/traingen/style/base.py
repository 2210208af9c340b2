"""Shared pieces of the style-transfer methods: the registry, image conversion, the result type, L-BFGS.

Every method takes a content image and a style image (numpy HWC/HW uint8 or float in [0, 1], or torch
CHW/NCHW float in [0, 1]) and returns a :class:`StyleResult` holding the restyled image as HWC uint8
and the loss history. Methods are registered in :data:`METHODS` under kebab-case keys (``gatys``,
``adain``, ``arbitrary``, ``sanet``, ``photo``, ``facial``) so the CLI and the dataset operation
(:mod:`traingen.style.restyle`) look them up by name.

Example:
    >>> from traingen.style import base
    >>> x = base.to_tensor(np.zeros((32, 48, 3), np.uint8))   # 1×3×32×48 float in [0, 1]
    >>> base.to_uint8(x).shape
    (32, 48, 3)

References:
    Liu & Nocedal, "On the limited memory BFGS method for large scale optimization", Math. Prog. 1989
    (the optimiser Gatys et al. use for image optimisation).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core.errors import DataError
from ..core.registry import Registry

#: Style-transfer methods by name; each entry is a class with ``Config`` and ``__call__(content, style, ...)``.
METHODS = Registry("style", "style transfer methods (traingen style --method)")


@dataclass
class StyleResult:
    """The output of one style transfer.

    Args:
        image: HxWx3 uint8, the restyled content image.
        losses: loss value per optimiser evaluation (optimisation methods) or the final losses.
        seconds: wall time of the transfer.
        method: registry key of the method.
        info: backbone, weights provenance, evaluations, config.
    """

    image: np.ndarray
    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0
    method: str = ""
    info: dict[str, Any] = field(default_factory=dict)


def to_tensor(img: Any, *, where: str | None = None, field: str = "image", device: str = "cpu"):
    """A 1×3×H×W float32 tensor in [0, 1] from numpy HW/HWC (uint8 or float) or torch CHW/NCHW.

    Grey images are repeated to 3 channels; an alpha channel is dropped (style is about colour and
    texture; the alpha plane is not restyled).

    Raises:
        DataError: not an image (wrong rank, channel count, dtype, empty, non-finite, out of [0, 1]).
    """
    import torch

    if isinstance(img, torch.Tensor):
        t = img.detach().float()
        if t.ndim == 3:
            t = t[None]
        if t.ndim != 4 or t.shape[0] != 1:
            raise DataError(f"expected a CHW or 1xCxHxW tensor, got shape {tuple(img.shape)}", where=where, field=field)
    else:
        a = np.asarray(img)
        if a.ndim == 2:
            a = a[:, :, None]
        if a.ndim != 3 or a.shape[2] not in (1, 3, 4):
            raise DataError(f"expected HxW or HxWx1/3/4, got shape {a.shape}", where=where, field=field)
        if a.dtype == np.uint8:
            a = a.astype(np.float32) / 255.0
        elif a.dtype == np.uint16:
            a = a.astype(np.float32) / 65535.0
        elif np.issubdtype(a.dtype, np.floating):
            a = a.astype(np.float32)
        else:
            raise DataError(f"expected uint8, uint16 or float pixels, got {a.dtype}", where=where, field=field)
        t = torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))[None]
    if t.shape[1] == 4:
        t = t[:, :3]
    if t.shape[1] == 1:
        t = t.repeat(1, 3, 1, 1)
    if t.shape[1] != 3:
        raise DataError(f"expected 1, 3 or 4 channels, got {t.shape[1]}", where=where, field=field)
    if t.shape[2] < 8 or t.shape[3] < 8:
        raise DataError(f"image of {t.shape[2]}x{t.shape[3]} is too small (at least 8x8)", where=where, field=field)
    if not torch.isfinite(t).all():
        raise DataError("image holds NaN or infinite values", where=where, field=field)
    if t.min() < 0 or t.max() > 1:
        raise DataError(f"float pixels must be in [0, 1], got [{t.min():.3g}, {t.max():.3g}]", where=where,
                        field=field)
    return t.contiguous().to(device)


def to_uint8(t) -> np.ndarray:
    """HxWx3 uint8 from a 1×3×H×W (or 3×H×W) float tensor; values are clamped to [0, 1] and rounded."""
    x = t.detach().float().cpu()
    if x.ndim == 4:
        x = x[0]
    return (x.clamp(0, 1).permute(1, 2, 0).numpy() * 255.0 + 0.5).astype(np.uint8)


def resize_long(t, size: int | None):
    """Resize a 1×C×H×W tensor so that its longer side is ``size`` (aspect kept; None keeps it)."""
    import torch.nn.functional as F

    if size is None:
        return t
    h, w = t.shape[-2:]
    s = size / max(h, w)
    if s == 1:
        return t
    hw = (max(8, round(h * s)), max(8, round(w * s)))
    return F.interpolate(t, size=hw, mode="bilinear", align_corners=False, antialias=s < 1).clamp(0, 1)


def resize_mask(mask: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of an HxW integer label map to ``hw`` (pixel centres, DESIGN §3)."""
    h, w = mask.shape
    ys = np.minimum(((np.arange(hw[0]) + 0.5) * h / hw[0]).astype(np.int64), h - 1)
    xs = np.minimum(((np.arange(hw[1]) + 0.5) * w / hw[1]).astype(np.int64), w - 1)
    return mask[ys[:, None], xs[None, :]]


@dataclass
class LbfgsTrace:
    """What :func:`run_lbfgs` did: the loss at every evaluation and the number of evaluations."""

    losses: list[float]
    evaluations: int
    seconds: float


def run_lbfgs(x, loss_fn: Callable[[Any], Any], evaluations: int, *, history: int = 50) -> LbfgsTrace:
    """Minimise ``loss_fn(x)`` over the pixels of ``x`` (in place) with at most ``evaluations`` loss calls.

    Args:
        x: a leaf tensor with ``requires_grad=True`` (the image being optimised).
        loss_fn: returns a scalar loss tensor for ``x``.
        evaluations: budget of loss + gradient evaluations (Gatys et al. count these, not iterations).
        history: L-BFGS memory.

    Returns:
        LbfgsTrace with the loss after each evaluation.
    """
    import torch

    if evaluations < 1:
        raise DataError(f"evaluations must be >= 1, got {evaluations}", field="evaluations")
    opt = torch.optim.LBFGS([x], lr=1.0, max_iter=evaluations, max_eval=evaluations, history_size=history,
                            tolerance_grad=0.0, tolerance_change=0.0, line_search_fn="strong_wolfe")
    losses: list[float] = []
    t0 = time.perf_counter()

    def closure():
        opt.zero_grad()
        loss = loss_fn(x)
        loss.backward()
        losses.append(float(loss.detach()))
        return loss

    opt.step(closure)
    return LbfgsTrace(losses, len(losses), time.perf_counter() - t0)


def get_method(name: str) -> Any:
    """The method class registered as ``name`` (imports every method module first)."""
    from . import adain, arbitrary, facial, gatys, photo, sanet  # noqa: F401  (fill the registry)

    return METHODS.get(name)
