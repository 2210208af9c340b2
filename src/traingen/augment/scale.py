"""Isotropic zoom about the canvas centre.

Targets: image, mask, instance_mask, boxes, keypoints. The canvas size is kept: a factor above 1
zooms in (the borders leave the canvas), below 1 zooms out (the borders get the fill value).

References:
    Simard, Steinkraus, Platt. "Best Practices for Convolutional Neural Networks Applied to Visual
    Document Analysis", ICDAR 2003 (affine distortions as augmentation).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.seeding import Rng
from .base import TRANSFORMS, GeometricTransform, check_number
from .geometry import scaling


@TRANSFORMS.register("scale")
@dataclass
class Scale(GeometricTransform):
    """Scale about the centre ``(W/2, H/2)`` by a factor uniform in ``[low, high]``.

    Args:
        low: smallest factor (> 0).
        high: largest factor (>= low).
        p: probability of scaling.

    Targets:
        image, mask, instance_mask, boxes, keypoints.

    Returns:
        The scaled targets on the same canvas.

    Example:
        >>> Compose([Scale(0.8, 1.2)])(image=img, keypoints=kps, seed=3)

    References:
        Simard et al., ICDAR 2003.
    """

    low: float = 0.8
    high: float = 1.2
    p: float = 1.0

    def __post_init__(self) -> None:
        check_number(self, "low", low=0.0, low_open=True)
        check_number(self, "high", low=self.low)
        self._check_p()

    def make_params(self, rng: Rng, h: int, w: int) -> dict[str, Any]:
        if not rng.bernoulli(self.p):
            return {"applied": False}
        return {"applied": True, "factor": rng.uniform(self.low, self.high)}

    def matrix(self, params: dict[str, Any], h: int, w: int) -> tuple[np.ndarray | None, tuple[int, int]]:
        if not params["applied"]:
            return None, (h, w)
        s = params["factor"]
        return scaling(s, s, w / 2.0, h / 2.0), (h, w)
