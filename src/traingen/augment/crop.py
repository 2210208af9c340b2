"""Random and centre crops to a fixed size.

Targets: image, mask, instance_mask, boxes, keypoints. The crop offset is an integer, so a crop
alone (or fused with flips) is a slice of the input: exact and cheap. A crop larger than the
current canvas is an error unless ``pad_if_needed`` (the crop is then centred on that axis and the
padding gets the fill value).

References:
    Krizhevsky, Sutskever, Hinton. "ImageNet Classification with Deep Convolutional Neural
    Networks", NeurIPS 2012 (random 224 crops of 256 images).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.errors import DataError
from ..core.seeding import Rng
from .base import TRANSFORMS, GeometricTransform, check_size
from .geometry import translation


def crop_origin(size: int, canvas: int, pad_if_needed: bool, rng: Rng | None, name: str, field: str) -> int:
    """The offset of a crop of ``size`` in ``canvas`` (random if ``rng`` is given, else centred)."""
    if size > canvas:
        if not pad_if_needed:
            raise DataError(f"crop {field} {size} is larger than the image's {canvas} (set pad_if_needed=True)",
                            where=name, field=field)
        # Centred padding: the offset is negative, the warp fills the rest.
        return -((size - canvas) // 2)
    if rng is None:
        return (canvas - size) // 2
    return rng.integers(0, canvas - size + 1)


@dataclass
class _WindowCrop(GeometricTransform):
    """A ``height x width`` window at an integer offset (the shared body of the two crops)."""

    height: int = 224
    width: int = 224
    pad_if_needed: bool = False
    p: float = 1.0

    def __post_init__(self) -> None:
        check_size(self, "height")
        check_size(self, "width")
        self._check_p()

    def _params(self, rng: Rng, h: int, w: int, *, centred: bool) -> dict[str, Any]:
        if not rng.bernoulli(self.p):
            return {"applied": False}
        name = type(self).__name__
        x0 = crop_origin(self.width, w, self.pad_if_needed, None if centred else rng, name, "width")
        y0 = crop_origin(self.height, h, self.pad_if_needed, None if centred else rng, name, "height")
        return {"applied": True, "x0": x0, "y0": y0}

    def matrix(self, params: dict[str, Any], h: int, w: int) -> tuple[np.ndarray | None, tuple[int, int]]:
        if not params["applied"]:
            return None, (h, w)
        return translation(-params["x0"], -params["y0"]), (self.height, self.width)


@TRANSFORMS.register("random-crop")
@dataclass
class RandomCrop(_WindowCrop):
    """Crop a ``height x width`` window at a uniformly random integer position.

    Args:
        height, width: output size in pixels.
        pad_if_needed: allow a crop larger than the image (padded with the fill value).
        p: probability of cropping; when skipped the targets are unchanged (and so is the canvas
            size: keep ``p=1`` where a fixed output size matters).

    Targets:
        image, mask, instance_mask, boxes, keypoints.

    Returns:
        Targets on a ``height x width`` canvas.

    Example:
        >>> Compose([RandomCrop(224, 224)])(image=img256, boxes=boxes, box_labels=labels)

    References:
        Krizhevsky et al., NeurIPS 2012.
    """

    def make_params(self, rng: Rng, h: int, w: int) -> dict[str, Any]:
        return self._params(rng, h, w, centred=False)


@TRANSFORMS.register("center-crop")
@dataclass
class CenterCrop(_WindowCrop):
    """Crop the central ``height x width`` window (offset ``floor((W - width) / 2)``).

    Args:
        height, width: output size in pixels.
        pad_if_needed: allow a crop larger than the image (padded with the fill value).
        p: probability of cropping; when skipped the targets (and canvas size) are unchanged.

    Targets:
        image, mask, instance_mask, boxes, keypoints.

    Returns:
        Targets on a ``height x width`` canvas.

    Example:
        >>> Compose([CenterCrop(24, 24)])(image=mnist_digit)

    References:
        Krizhevsky et al., NeurIPS 2012 (centre crops at test time).
    """

    def make_params(self, rng: Rng, h: int, w: int) -> dict[str, Any]:
        return self._params(rng, h, w, centred=True)
