"""Cutout on a batch: erase square holes at per-image random positions.

Each image gets ``holes`` rectangles of ``size`` pixels whose centres are uniform over the image;
a hole near the border is clipped, so it may be partial (the paper's choice: it found that letting
holes fall partly outside the image matters). Labels are unchanged (returned one-hot for a uniform
API with the mixers); masks keep their classes unless ``mask_fill`` names a class (e.g. an ignore
index) for the erased pixels; boxes and keypoints are unchanged (an erased object is still there,
only occluded).

The per-sample transform of the same technique is ``cutout`` in the ``augment`` registry; this is
the batch version (``augment.batch`` registry).

References:
    DeVries, Taylor. "Improved Regularization of Convolutional Neural Networks with Cutout",
    arXiv:1708.04552, 2017.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ...core.errors import ConfigError
from .base import BatchMixer, MixResult, Targets, np_rng, params_dict
from .registry import MIXERS


@dataclass
class CutoutParams:
    """One Cutout draw: ``rects`` N x holes x 4 ``(x0, y0, x1, y1)`` ints, clipped to the image."""

    rects: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        return params_dict(self)


def make_cutout_params(rng: np.random.Generator, n: int, h: int, w: int, holes: int, size: tuple[int, int]
                       ) -> CutoutParams:
    sh, sw = size
    cy = rng.integers(0, h, size=(n, holes))
    cx = rng.integers(0, w, size=(n, holes))
    # As in the authors' code: [c - s // 2, c + s // 2) clipped; an odd size loses its last pixel there,
    # so use size - size // 2 on the far side to keep the requested size away from the borders.
    rects = np.stack([
        np.clip(cx - sw // 2, 0, w), np.clip(cy - sh // 2, 0, h),
        np.clip(cx + (sw - sw // 2), 0, w), np.clip(cy + (sh - sh // 2), 0, h),
    ], axis=-1)
    return CutoutParams(rects=rects.astype(np.int64))


def hole_mask(rects: np.ndarray, h: int, w: int, device: Any) -> Any:
    """N x H x W bool: True where any hole covers the pixel."""
    import torch

    r = torch.as_tensor(rects, device=device)  # N x holes x 4
    ys = torch.arange(h, device=device)[None, None, :, None]
    xs = torch.arange(w, device=device)[None, None, None, :]
    cover = ((ys >= r[..., 1, None, None]) & (ys < r[..., 3, None, None])
             & (xs >= r[..., 0, None, None]) & (xs < r[..., 2, None, None]))
    return cover.any(dim=1)


def cutout(t: Targets, params: CutoutParams, fill: float = 0.0, mask_fill: int | None = None) -> MixResult:
    """Apply a Cutout draw to validated targets (the pure function behind :class:`Cutout`)."""
    import torch

    if params.rects.ndim != 3 or params.rects.shape[0] != t.n:
        raise ConfigError(f"params are for a batch of {params.rects.shape[0]}, not {t.n}", where="Cutout",
                          field="params")
    height, width = t.hw
    cover = hole_mask(params.rects, height, width, t.images.device)
    fill_t = torch.tensor(fill, dtype=t.images.dtype, device=t.images.device)
    images = torch.where(cover[:, None], fill_t, t.images)
    masks = t.masks
    if masks is not None and mask_fill is not None:
        masks = torch.where(cover, torch.tensor(mask_fill, dtype=masks.dtype, device=masks.device), masks)
    res = MixResult(images=images, labels=t.labels, masks=masks, params=params)
    if t.boxes is not None:
        res.boxes, res.box_labels = list(t.boxes), list(t.box_labels)
        res.box_weights = [torch.ones(b.shape[0], dtype=t.images.dtype, device=b.device) for b in t.boxes]
    if t.keypoints is not None:
        res.keypoints, res.keypoint_visible = list(t.keypoints), list(t.keypoint_visible)
    return res


@MIXERS.register("cutout")
@dataclass
class Cutout(BatchMixer):
    """Cutout of a batch (DeVries & Taylor 2017).

    Args:
        holes: rectangles per image.
        size: hole side in pixels, or ``(height, width)``; the paper uses 16 on CIFAR-10.
        fill: value written into the holes (0 = black, as in the paper on normalised inputs' zero).
        mask_fill: class written into the masks under the holes, or None to keep them.

    Targets:
        images (holes filled), labels (unchanged, one-hot), masks (``mask_fill`` option), boxes and
        keypoints (unchanged).

    Returns:
        :class:`MixResult` with :class:`CutoutParams` in ``params``.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> out = Cutout(holes=1, size=16)(images, labels, num_classes=10, generator=g)

    References:
        DeVries, Taylor, arXiv:1708.04552.
    """

    holes: int = 1
    size: int | tuple[int, int] = 16
    fill: float = 0.0
    mask_fill: int | None = None

    def __post_init__(self) -> None:
        if isinstance(self.holes, bool) or not isinstance(self.holes, int) or self.holes < 1:
            raise ConfigError(f"expected an integer >= 1, got {self.holes!r}", where="Cutout", field="holes")
        size = (self.size, self.size) if isinstance(self.size, int) else tuple(self.size)
        if len(size) != 2 or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in size):
            raise ConfigError(f"expected a positive int or (height, width), got {self.size!r}", where="Cutout",
                              field="size")
        if not 0.0 <= float(self.fill) <= 1.0:
            raise ConfigError(f"expected a value in [0, 1], got {self.fill!r}", where="Cutout", field="fill")
        self._size = size

    def make_params(self, n: int, h: int, w: int, generator: Any) -> CutoutParams:
        return make_cutout_params(np_rng(generator, "Cutout"), n, h, w, self.holes, self._size)

    def _apply(self, t: Targets, params: CutoutParams) -> MixResult:
        return cutout(t, params, self.fill, self.mask_fill)
