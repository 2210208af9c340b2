"""Cutout: square holes filled with a constant, their centres uniform over the image.

Targets: image (always), mask (if ``mask_fill`` is set), keypoints (turned invisible inside a hole
if ``hide_keypoints``). Boxes, instance masks and the label are left untouched: the object is
still there, only partly hidden, which is the point of the method.

As in the paper, a hole's centre is uniform over the whole image, so holes near the border are
partly outside it (the paper found this important: some samples keep the whole image).

References:
    DeVries, Taylor. "Improved Regularization of Convolutional Neural Networks with Cutout",
    arXiv:1708.04552, 2017.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.errors import ConfigError
from ..core.seeding import Rng
from .base import TRANSFORMS, PixelTransform, check_number, check_size


def hole_boxes(centres: list[tuple[int, int]], size: int, h: int, w: int) -> list[tuple[int, int, int, int]]:
    """The clipped pixel rectangles ``(x0, y0, x1, y1)`` of square holes of side ``size`` centred on
    the pixels ``(cx, cy)`` (rows ``cy - size // 2`` up to ``cy - size // 2 + size``, exclusive)."""
    half = size // 2
    out = []
    for cx, cy in centres:
        x0, y0 = cx - half, cy - half
        out.append((max(0, x0), max(0, y0), min(w, x0 + size), min(h, y0 + size)))
    return out


def cutout(image: np.ndarray, rects: list[tuple[int, int, int, int]], fill: float) -> np.ndarray:
    """A copy of ``image`` with every rectangle set to ``fill``."""
    out = image.copy()
    for x0, y0, x1, y1 in rects:
        out[y0:y1, x0:x1] = fill
    return out


@TRANSFORMS.register("cutout")
@dataclass
class Cutout(PixelTransform):
    """Erase ``holes`` squares of side ``size`` whose centres are uniform over the image.

    Args:
        holes: number of holes (they may overlap).
        size: side of each hole in pixels (the paper: 16 on CIFAR-10, 8 on CIFAR-100, 20 on SVHN,
            32 on STL-10).
        fill: image value inside the holes, in the image's units (0..255 for uint8, 0..1 float).
        mask_fill: class written into the mask inside the holes; None leaves the mask untouched.
        hide_keypoints: turn keypoints inside a hole invisible.
        p: probability of cutting holes.

    Targets:
        image; mask if ``mask_fill`` is not None; keypoint_visible if ``hide_keypoints``.

    Returns:
        The targets with holes; boxes and instance masks unchanged.

    Example:
        >>> Compose([Cutout(holes=1, size=8)])(image=digit28, seed=0)

    References:
        DeVries & Taylor, arXiv:1708.04552, 2017.
    """

    holes: int = 1
    size: int = 16
    fill: float = 0.0
    mask_fill: int | None = None
    hide_keypoints: bool = False
    p: float = 1.0

    targets = ("image", "mask", "keypoint_visible")

    def __post_init__(self) -> None:
        check_size(self, "holes")
        check_size(self, "size")
        check_number(self, "fill")
        if self.mask_fill is not None and (isinstance(self.mask_fill, bool) or not isinstance(self.mask_fill, int)):
            raise ConfigError(f"expected an integer or null, got {self.mask_fill!r}", where="Cutout",
                              field="mask_fill")
        self._check_p()

    def make_params(self, rng: Rng, h: int, w: int) -> dict[str, Any]:
        if not rng.bernoulli(self.p):
            return {"applied": False}
        centres = [(rng.integers(0, w), rng.integers(0, h)) for _ in range(self.holes)]
        return {"applied": True, "centres": centres}

    def apply(self, targets: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        if not params["applied"]:
            return targets
        image = targets["image"]
        h, w = image.shape[:2]
        rects = hole_boxes(params["centres"], self.size, h, w)
        out = dict(targets)
        out["image"] = cutout(image, rects, self.fill)
        if self.mask_fill is not None and targets.get("mask") is not None:
            out["mask"] = cutout(targets["mask"], rects, self.mask_fill)
        kps = targets.get("keypoints")
        if self.hide_keypoints and kps is not None and len(kps):
            hidden = np.zeros(len(kps), bool)
            for x0, y0, x1, y1 in rects:
                hidden |= (kps[:, 0] >= x0) & (kps[:, 0] < x1) & (kps[:, 1] >= y0) & (kps[:, 1] < y1)
            out["keypoint_visible"] = targets["keypoint_visible"] & ~hidden
        return out
