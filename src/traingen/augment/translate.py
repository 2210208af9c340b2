"""Random shift by a fraction of the canvas.

Targets: image, mask, instance_mask, boxes, keypoints. The canvas size is kept; what leaves it is
lost (boxes are clipped or dropped, keypoints turn invisible) and what comes in gets the fill value.

References:
    Simard, Steinkraus, Platt. "Best Practices for Convolutional Neural Networks Applied to Visual
    Document Analysis", ICDAR 2003 (affine distortions as augmentation).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.errors import ConfigError
from ..core.seeding import Rng
from .base import TRANSFORMS, GeometricTransform
from .geometry import translation


@TRANSFORMS.register("translate")
@dataclass
class Translate(GeometricTransform):
    """Shift by ``dx`` uniform in ``±fx·W`` and ``dy`` uniform in ``±fy·H``.

    Args:
        fraction: ``f`` (the same for both axes) or an ``(fx, fy)`` pair, each in [0, 1].
        p: probability of shifting.

    Targets:
        image, mask, instance_mask, boxes, keypoints.

    Returns:
        The shifted targets on the same canvas.

    Example:
        >>> Compose([Translate((0.1, 0.05))])(image=img, mask=mask, seed=1)

    References:
        Simard et al., ICDAR 2003.
    """

    fraction: float | tuple[float, float] = 0.1
    p: float = 1.0

    def __post_init__(self) -> None:
        f = self.fraction
        if isinstance(f, (int, float)) and not isinstance(f, bool):
            pair: tuple = (f, f)
        elif isinstance(f, (list, tuple)) and len(f) == 2:
            pair = tuple(f)
            self.fraction = pair
        else:
            raise ConfigError(f"expected a number or an (fx, fy) pair, got {f!r}", where="Translate",
                              field="fraction")
        for v in pair:
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 <= v <= 1.0:
                raise ConfigError(f"expected fractions in [0, 1], got {f!r}", where="Translate", field="fraction")
        self._fx, self._fy = float(pair[0]), float(pair[1])
        self._check_p()

    def make_params(self, rng: Rng, h: int, w: int) -> dict[str, Any]:
        if not rng.bernoulli(self.p):
            return {"applied": False}
        dx = rng.uniform(-self._fx, self._fx) * w
        dy = rng.uniform(-self._fy, self._fy) * h
        return {"applied": True, "dx": dx, "dy": dy}

    def matrix(self, params: dict[str, Any], h: int, w: int) -> tuple[np.ndarray | None, tuple[int, int]]:
        if not params["applied"]:
            return None, (h, w)
        return translation(params["dx"], params["dy"]), (h, w)
