"""Resize to a fixed size.

Targets: image, mask, instance_mask, boxes, keypoints. Coordinates scale by ``width / W`` and
``height / H`` (pixel edges map to pixel edges: ``x -> x · width / W``). Fused with the other
geometric steps, a resize costs nothing extra: the one warp samples the output grid directly.

References:
    Szeliski. "Computer Vision: Algorithms and Applications", 2nd ed., 2022, §3.5.1 (interpolation
    and decimation).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.seeding import Rng
from .base import TRANSFORMS, GeometricTransform, check_size
from .geometry import resize_image, scaling


@TRANSFORMS.register("resize")
@dataclass
class Resize(GeometricTransform):
    """Resize the canvas to ``height x width`` (aspect ratio not kept).

    Args:
        height, width: output size in pixels.
        p: probability; when skipped the targets (and canvas size) are unchanged.

    Targets:
        image, mask, instance_mask, boxes, keypoints.

    Returns:
        Targets on a ``height x width`` canvas (bilinear image, nearest masks by default).

    Example:
        >>> Compose([Resize(32, 32)])(image=digit28)["image"].shape
        (32, 32)

    References:
        Szeliski 2022, §3.5.1.
    """

    height: int = 224
    width: int = 224
    p: float = 1.0

    def __post_init__(self) -> None:
        check_size(self, "height")
        check_size(self, "width")
        self._check_p()

    def make_params(self, rng: Rng, h: int, w: int) -> dict[str, Any]:
        return {"applied": rng.bernoulli(self.p)}

    def matrix(self, params: dict[str, Any], h: int, w: int) -> tuple[np.ndarray | None, tuple[int, int]]:
        if not params["applied"] or (h == self.height and w == self.width):
            return None, (h, w)
        return scaling(self.width / w, self.height / h), (self.height, self.width)

    def apply_image(self, image: np.ndarray, params: dict[str, Any], *, interpolation: str,
                    fill: float) -> np.ndarray:
        h, w = image.shape[:2]
        if not params["applied"] or (h == self.height and w == self.width):
            return image
        return resize_image(image, (self.height, self.width), interpolation)
