"""The data model: one training example and the checks that keep its targets consistent.

Coordinates are continuous with pixel ``i`` covering ``[i, i + 1)``; boxes are ``xyxy`` pixels,
keypoints ``(x, y)`` pixels. Colour is RGB. Float images are in [0, 1].
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import DataError, TargetError

#: Target names a transform may receive and return, in a fixed order.
TARGET_KEYS = ("image", "mask", "instance_mask", "boxes", "box_labels", "keypoints", "keypoint_visible", "label")


@dataclass
class Sample:
    """One training example.

    Args:
        image: HxW or HxWxC, uint8 or float32 in [0, 1] (numpy), or CHW torch.
        mask: HxW integer class map.
        instance_mask: HxW integer map, 0 = background, ``i + 1`` = the object of ``boxes[i]``.
        boxes: Nx4 float32, xyxy pixels.
        box_labels: N int64.
        keypoints: Kx2 float32 (x, y) pixels.
        keypoint_visible: K bool; a point that leaves the image keeps its slot and turns invisible.
        label: int class index, or a float soft vector after mixing.
        meta: source, seed, technique, params.
    """

    image: Any
    mask: np.ndarray | None = None
    instance_mask: np.ndarray | None = None
    boxes: np.ndarray | None = None
    box_labels: np.ndarray | None = None
    keypoints: np.ndarray | None = None
    keypoint_visible: np.ndarray | None = None
    label: Any = None
    meta: dict[str, Any] = field(default_factory=dict)

    def targets(self) -> dict[str, Any]:
        """The non-None targets as a dict (no ``meta``)."""
        return {k: getattr(self, k) for k in TARGET_KEYS if getattr(self, k) is not None}

    def replace(self, **changes: Any) -> Sample:
        return dataclasses.replace(self, **changes)

    @property
    def height(self) -> int:
        return image_hw(self.image)[0]

    @property
    def width(self) -> int:
        return image_hw(self.image)[1]


def image_hw(image: Any) -> tuple[int, int]:
    """(H, W) of an HxW / HxWxC numpy image or a CHW torch tensor."""
    if isinstance(image, np.ndarray):
        return int(image.shape[0]), int(image.shape[1])
    shape = tuple(image.shape)
    return int(shape[-2]), int(shape[-1])


def check_image(image: Any, *, where: str | None = None, field: str = "image") -> np.ndarray:
    """Validate a numpy image: 2-D or 3-D, non-empty, uint8/uint16/float32/float64, finite."""
    if not isinstance(image, np.ndarray):
        raise DataError(f"expected a numpy array, got {type(image).__name__}", where=where, field=field)
    if image.ndim not in (2, 3):
        raise DataError(f"expected HxW or HxWxC, got shape {image.shape}", where=where, field=field)
    if image.size == 0 or image.shape[0] == 0 or image.shape[1] == 0:
        raise DataError(f"empty image of shape {image.shape}", where=where, field=field)
    if image.ndim == 3 and image.shape[2] == 0:
        raise DataError(f"image has 0 channels (shape {image.shape})", where=where, field=field)
    if image.dtype not in (np.uint8, np.uint16, np.float32, np.float64):
        raise DataError(
            f"unsupported dtype {image.dtype}; expected uint8, uint16, float32 or float64", where=where, field=field
        )
    if image.dtype.kind == "f" and not np.isfinite(image).all():
        raise DataError("image holds NaN or infinite values", where=where, field=field)
    return image


def check_mask(mask: Any, hw: tuple[int, int], *, where: str | None = None, field: str = "mask") -> np.ndarray:
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise TargetError(f"expected an HxW mask, got shape {mask.shape}", where=where, field=field)
    if tuple(mask.shape) != tuple(hw):
        raise TargetError(f"mask shape {mask.shape} does not match image {hw}", where=where, field=field)
    if mask.dtype.kind not in "iub":
        raise TargetError(f"mask must hold integers, got {mask.dtype}", where=where, field=field)
    return mask


def check_boxes(
    boxes: Any, hw: tuple[int, int] | None = None, *, where: str | None = None, field: str = "boxes", inside: bool = False
) -> np.ndarray:
    """Validate Nx4 xyxy boxes: finite, ``x1 >= x0`` and ``y1 >= y0``; inside the image if asked."""
    arr = np.asarray(boxes, dtype=np.float64)
    if arr.size == 0:
        return np.zeros((0, 4), np.float32)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise TargetError(f"expected Nx4 boxes (x0, y0, x1, y1), got shape {arr.shape}", where=where, field=field)
    bad = ~np.isfinite(arr).all(axis=1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise TargetError(f"box {i} holds NaN or infinity: {arr[i].tolist()}", where=where, field=field)
    bad = (arr[:, 2] < arr[:, 0]) | (arr[:, 3] < arr[:, 1])
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise TargetError(f"box {i} has x1 < x0 or y1 < y0: {arr[i].tolist()}", where=where, field=field)
    if inside and hw is not None:
        h, w = hw
        out = (arr[:, 0] < 0) | (arr[:, 1] < 0) | (arr[:, 2] > w) | (arr[:, 3] > h)
        if out.any():
            i = int(np.flatnonzero(out)[0])
            raise TargetError(f"box {i} {arr[i].tolist()} lies outside the {w}x{h} image", where=where, field=field)
    return arr.astype(np.float32)


def check_keypoints(kps: Any, *, where: str | None = None, field: str = "keypoints") -> np.ndarray:
    arr = np.asarray(kps, dtype=np.float64)
    if arr.size == 0:
        return np.zeros((0, 2), np.float32)
    if arr.ndim != 2 or arr.shape[1] < 2:
        raise TargetError(f"expected Kx2 keypoints (x, y), got shape {arr.shape}", where=where, field=field)
    if not np.isfinite(arr[:, :2]).all():
        raise TargetError("keypoints hold NaN or infinity", where=where, field=field)
    return arr[:, :2].astype(np.float32)


def check_labels(labels: Any, n: int, *, where: str | None = None, field: str = "box_labels") -> np.ndarray:
    arr = np.asarray(labels)
    if arr.ndim != 1 or len(arr) != n:
        raise TargetError(f"expected {n} labels, got shape {arr.shape}", where=where, field=field)
    return arr
