"""Rotation about the canvas centre by a random angle.

Targets: image, mask, instance_mask, boxes, keypoints. Positive angles turn counter-clockwise as
displayed; the canvas size is kept, corners that come from outside the image get the fill value.
A box after rotation is the box of its four rotated corners.

References:
    Simard, Steinkraus, Platt. "Best Practices for Convolutional Neural Networks Applied to Visual
    Document Analysis", ICDAR 2003 (affine distortions as augmentation).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.seeding import Rng
from .base import TRANSFORMS, GeometricTransform, check_range
from .geometry import rotation


@TRANSFORMS.register("rotate")
@dataclass
class Rotate(GeometricTransform):
    """Rotate about the centre ``(W/2, H/2)`` by an angle uniform in ``±degrees`` or ``[low, high]``.

    Args:
        degrees: a non-negative number ``d`` (angle in ``[-d, d]``) or a ``(low, high)`` pair.
        p: probability of rotating.

    Targets:
        image, mask, instance_mask, boxes, keypoints.

    Returns:
        The rotated targets on the same canvas.

    Example:
        >>> Compose([Rotate(30)])(image=img, boxes=boxes, box_labels=labels, seed=0)

    References:
        Simard et al., ICDAR 2003.
    """

    degrees: float | tuple[float, float] = 30.0
    p: float = 1.0

    def __post_init__(self) -> None:
        self._lo, self._hi = check_range(self, "degrees", symmetric=True)
        self._check_p()

    def make_params(self, rng: Rng, h: int, w: int) -> dict[str, Any]:
        if not rng.bernoulli(self.p):
            return {"applied": False}
        return {"applied": True, "angle": rng.uniform(self._lo, self._hi)}

    def matrix(self, params: dict[str, Any], h: int, w: int) -> tuple[np.ndarray | None, tuple[int, int]]:
        if not params["applied"]:
            return None, (h, w)
        return rotation(params["angle"], w / 2.0, h / 2.0), (h, w)
