"""Inception-style random resized crop: a random area and aspect ratio, resized to a fixed size.

Targets: image, mask, instance_mask, boxes, keypoints. The crop window covers a fraction of the
canvas area drawn uniformly in ``scale`` and has an aspect ratio (width / height) drawn
log-uniformly in ``ratio``; it is then resized to ``height x width``. Up to ten draws are tried;
if none fits, the largest centred window whose ratio is clamped into ``ratio`` is used.

References:
    Szegedy et al. "Going Deeper with Convolutions", CVPR 2015, §6 (patches of 8%–100% of the image
    area with aspect ratio in [3/4, 4/3]).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.errors import ConfigError
from ..core.seeding import Rng
from .base import TRANSFORMS, GeometricTransform, check_range, check_size
from .geometry import resize_image

_ATTEMPTS = 10


def sample_window(rng: Rng, h: int, w: int, scale: tuple[float, float],
                  ratio: tuple[float, float]) -> tuple[int, int, int, int]:
    """``(x0, y0, cw, ch)`` of an Inception-style crop window inside an ``h x w`` canvas."""
    area = h * w
    log_lo, log_hi = math.log(ratio[0]), math.log(ratio[1])
    for _ in range(_ATTEMPTS):
        target = area * rng.uniform(scale[0], scale[1])
        aspect = math.exp(rng.uniform(log_lo, log_hi))
        cw = int(round(math.sqrt(target * aspect)))
        ch = int(round(math.sqrt(target / aspect)))
        if 0 < cw <= w and 0 < ch <= h:
            return rng.integers(0, w - cw + 1), rng.integers(0, h - ch + 1), cw, ch
    # No draw fitted (extreme ratios on a thin canvas): the whole canvas, ratio clamped, centred.
    in_ratio = w / h
    if in_ratio < ratio[0]:
        cw, ch = w, max(1, int(round(w / ratio[0])))
    elif in_ratio > ratio[1]:
        ch, cw = h, max(1, int(round(h * ratio[1])))
    else:
        cw, ch = w, h
    return (w - cw) // 2, (h - ch) // 2, cw, ch


@TRANSFORMS.register("random-resized-crop")
@dataclass
class RandomResizedCrop(GeometricTransform):
    """Crop a random window (area fraction in ``scale``, aspect ratio in ``ratio``), resize it.

    Args:
        height, width: output size in pixels.
        scale: ``(low, high)`` fraction of the canvas area, in (0, 1].
        ratio: ``(low, high)`` aspect ratio width / height, > 0.
        p: probability; when skipped the targets (and canvas size) are unchanged.

    Targets:
        image, mask, instance_mask, boxes, keypoints.

    Returns:
        Targets on a ``height x width`` canvas.

    Example:
        >>> Compose([RandomResizedCrop(224, 224)])(image=photo, seed=0)["image"].shape[:2]
        (224, 224)

    References:
        Szegedy et al., CVPR 2015.
    """

    height: int = 224
    width: int = 224
    scale: tuple[float, float] = (0.08, 1.0)
    ratio: tuple[float, float] = (3 / 4, 4 / 3)
    p: float = 1.0

    def __post_init__(self) -> None:
        check_size(self, "height")
        check_size(self, "width")
        lo, hi = check_range(self, "scale", low=0.0, low_open=True)
        if hi > 1.0:
            raise ConfigError(f"expected area fractions in (0, 1], got {self.scale!r}", where="RandomResizedCrop",
                              field="scale")
        check_range(self, "ratio", low=0.0, low_open=True)
        self._check_p()

    def make_params(self, rng: Rng, h: int, w: int) -> dict[str, Any]:
        if not rng.bernoulli(self.p):
            return {"applied": False}
        x0, y0, cw, ch = sample_window(rng, h, w, self.scale, self.ratio)
        return {"applied": True, "x0": x0, "y0": y0, "cw": cw, "ch": ch}

    def matrix(self, params: dict[str, Any], h: int, w: int) -> tuple[np.ndarray | None, tuple[int, int]]:
        if not params["applied"]:
            return None, (h, w)
        sx, sy = self.width / params["cw"], self.height / params["ch"]
        # scaling(sx, sy) @ translation(-x0, -y0), written out: one array instead of three.
        m = np.array([[sx, 0.0, -params["x0"] * sx], [0.0, sy, -params["y0"] * sy], [0.0, 0.0, 1.0]])
        return m, (self.height, self.width)

    def apply_image(self, image: np.ndarray, params: dict[str, Any], *, interpolation: str,
                    fill: float) -> np.ndarray | None:
        if not params["applied"]:
            return image
        x0, y0, cw, ch = params["x0"], params["y0"], params["cw"], params["ch"]
        if cw == self.width and ch == self.height:
            return None  # a crop without scaling: the warp slices it (a view), no resize
        return resize_image(image[y0:y0 + ch, x0:x0 + cw], (self.height, self.width), interpolation)
