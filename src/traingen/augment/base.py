"""Base classes of the per-sample transforms, their registry, and the checks of their inputs.

A transform is a dataclass whose fields are its typed config. Two kinds exist:

- :class:`GeometricTransform` moves pixels: it only says *where* they go. ``make_params(rng, h, w)``
  draws its random choices, ``matrix(params, h, w)`` turns them into a 3x3 float64 matrix (traingen
  convention: it maps continuous input pixel coordinates to output ones) and the output canvas. A
  ``Compose`` multiplies the matrices of consecutive geometric transforms and warps every target once.
- :class:`PixelTransform` changes values in place of the canvas (noise, cutout): ``make_params`` then
  ``apply(targets, params)``.

Targets travel as a plain dict with the keys of :data:`traingen.core.sample.TARGET_KEYS`.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import numpy as np

from ..core.errors import ConfigError, DataError, TargetError
from ..core.registry import Registry
from ..core.sample import check_boxes, check_image, check_keypoints, check_labels, check_mask
from ..core.seeding import Rng

#: Every per-sample transform, keyed by its kebab-case name.
TRANSFORMS = Registry("augment", "per-sample transforms")

_IDENTITY = np.eye(3)


def identity() -> np.ndarray:
    """A fresh 3x3 float64 identity matrix."""
    return _IDENTITY.copy()


class Transform:
    """Common part of all transforms: the probability ``p`` and the config round trip."""

    #: Registry key, set by ``@TRANSFORMS.register``.
    registry_name: ClassVar[str] = ""
    #: Which targets the transform may change (documentation and tests).
    targets: ClassVar[tuple[str, ...]] = ()

    def _check_p(self) -> None:
        check_probability(self, "p")

    def to_dict(self) -> dict[str, Any]:
        """The YAML-able config: ``{"name": key, field: value, ...}`` (tuples become lists)."""
        out: dict[str, Any] = {"name": self.registry_name}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            if not f.init:
                continue
            v = getattr(self, f.name)
            out[f.name] = list(v) if isinstance(v, tuple) else v
        return out


class GeometricTransform(Transform):
    """A transform that only maps coordinates; every target follows the same matrix.

    Subclasses implement :meth:`make_params` and :meth:`matrix`; :meth:`geometry` is the contract the
    batched backend relies on.
    """

    targets = ("image", "mask", "instance_mask", "boxes", "keypoints")

    def make_params(self, rng: Rng, h: int, w: int) -> dict[str, Any]:
        raise NotImplementedError

    def matrix(self, params: dict[str, Any], h: int, w: int) -> tuple[np.ndarray | None, tuple[int, int]]:
        """The matrix of ``params`` (None stands for the identity, so a skipped step costs nothing)."""
        raise NotImplementedError

    def apply_image(self, image: np.ndarray, params: dict[str, Any], *, interpolation: str,
                    fill: float) -> np.ndarray | None:
        """The image alone under ``params`` by a direct kernel, or None where there is none.

        A transform overrides this only where the kernel gives the same bytes as warping the image
        by ``matrix(params, h, w)`` (a flip is ``cv2.flip``, a resize ``cv2.resize``; tests hold the
        equality). ``Compose`` calls it for a geometric run of this one step on an image-only call:
        it skips the matrix algebra and the dispatch of the warp, most of the cost of a 20 µs flip.
        """
        return None

    def geometry(self, rng: Rng, h: int, w: int) -> tuple[np.ndarray, tuple[int, int]]:
        """Draw params from ``rng`` (including the ``p`` decision) and return ``(M, (out_h, out_w))``.

        ``M`` is a 3x3 float64 matrix mapping continuous input pixel coordinates (pixel ``i`` covers
        ``[i, i + 1)``) to output ones; the identity when the transform is not applied.
        """
        m, out_hw = self.matrix(self.make_params(rng, h, w), h, w)
        return (identity() if m is None else np.array(m, np.float64)), out_hw  # a fresh, writable copy


class PixelTransform(Transform):
    """A transform that changes values on the current canvas (its size and coordinates are kept)."""

    def make_params(self, rng: Rng, h: int, w: int) -> dict[str, Any]:
        raise NotImplementedError

    def apply(self, targets: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        """Return the targets after the transform; inputs are never modified in place."""
        raise NotImplementedError


# ---------------------------------------------------------------------------------------------
# Config checks (raise ConfigError naming the field)


def check_probability(obj: Any, name: str) -> None:
    v = getattr(obj, name)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 <= float(v) <= 1.0:
        raise ConfigError(f"expected a probability in [0, 1], got {v!r}", where=type(obj).__name__, field=name)
    setattr(obj, name, float(v))


def check_number(obj: Any, name: str, *, low: float | None = None, high: float | None = None,
                 low_open: bool = False) -> float:
    v = getattr(obj, name)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v):
        raise ConfigError(f"expected a finite number, got {v!r}", where=type(obj).__name__, field=name)
    if low is not None and (v < low or (low_open and v == low)):
        rel = ">" if low_open else ">="
        raise ConfigError(f"expected a value {rel} {low}, got {v!r}", where=type(obj).__name__, field=name)
    if high is not None and v > high:
        raise ConfigError(f"expected a value <= {high}, got {v!r}", where=type(obj).__name__, field=name)
    setattr(obj, name, float(v))
    return float(v)


def check_size(obj: Any, name: str) -> int:
    v = getattr(obj, name)
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v <= 0:
        raise ConfigError(f"expected a positive integer, got {v!r}", where=type(obj).__name__, field=name)
    setattr(obj, name, int(v))
    return int(v)


def check_range(obj: Any, name: str, *, low: float | None = None, symmetric: bool = False,
                low_open: bool = False) -> tuple[float, float]:
    """A ``(lo, hi)`` pair with ``lo <= hi``; a single number ``v`` means ``(-v, v)`` if ``symmetric``."""
    v = getattr(obj, name)
    where = type(obj).__name__
    if symmetric and isinstance(v, (int, float)) and not isinstance(v, bool):
        if v < 0:
            raise ConfigError(f"expected a non-negative number or a (low, high) pair, got {v!r}", where=where,
                              field=name)
        pair: Any = (-float(v), float(v))
    else:
        pair = v
    if not isinstance(pair, (list, tuple)) or len(pair) != 2 or any(
        isinstance(x, bool) or not isinstance(x, (int, float)) or not np.isfinite(x) for x in pair
    ):
        raise ConfigError(f"expected a (low, high) pair of numbers, got {v!r}", where=where, field=name)
    lo, hi = float(pair[0]), float(pair[1])
    if lo > hi:
        raise ConfigError(f"expected low <= high, got {v!r}", where=where, field=name)
    if low is not None and (lo < low or (low_open and lo == low)):
        rel = ">" if low_open else ">="
        raise ConfigError(f"expected values {rel} {low}, got {v!r}", where=where, field=name)
    if not symmetric or not isinstance(v, (int, float)):
        setattr(obj, name, (lo, hi))
    else:
        setattr(obj, name, float(v))
    return lo, hi


# ---------------------------------------------------------------------------------------------
# Target checks (raise DataError / TargetError naming the target)

#: Image dtypes the engine accepts (OpenCV warps all of them natively).
IMAGE_DTYPES = (np.uint8, np.uint16, np.float32, np.float64)


def check_targets(targets: dict[str, Any], where: str = "augment") -> dict[str, Any]:
    """Validate and normalise the targets of one sample; return a new dict.

    Boxes become float32 Nx4 and box labels a 1-D array of the same length; keypoints float32 Kx2
    with ``keypoint_visible`` (all True if not given).
    """
    if "image" not in targets or targets["image"] is None:
        raise DataError("no image given", where=where, field="image")
    image = targets["image"]
    if isinstance(image, np.ndarray) and image.ndim == 1:
        raise DataError(f"expected HxW or HxWxC, got a 1-D array of shape {image.shape}", where=where,
                        field="image")
    check_image(image, where=where)
    hw = image.shape[:2]
    out = dict(targets)
    for key in ("mask", "instance_mask"):
        if out.get(key) is not None:
            out[key] = check_mask(out[key], hw, where=where, field=key)
    boxes = out.get("boxes")
    if boxes is not None:
        b = check_boxes(boxes, where=where)
        labels = out.get("box_labels")
        if labels is None:
            labels = np.zeros(len(b), np.int64)
        else:
            labels = check_labels(labels, len(b), where=where)
        out["boxes"], out["box_labels"] = b, labels
    elif out.get("box_labels") is not None:
        raise TargetError("box_labels given without boxes", where=where, field="box_labels")
    kps = out.get("keypoints")
    if kps is not None:
        k = check_keypoints(kps, where=where)
        vis = out.get("keypoint_visible")
        if vis is None:
            vis = np.ones(len(k), bool)
        else:
            vis = np.asarray(vis, bool)
            if vis.shape != (len(k),):
                raise TargetError(f"expected {len(k)} visibility flags, got shape {vis.shape}", where=where,
                                  field="keypoint_visible")
        out["keypoints"], out["keypoint_visible"] = k, vis
    return out


def value_range(dtype: np.dtype) -> tuple[float, float]:
    """The value range of an image dtype: [0, 255] for uint8, [0, 65535] uint16, [0, 1] for floats."""
    if dtype == np.uint8:
        return 0.0, 255.0
    if dtype == np.uint16:
        return 0.0, 65535.0
    return 0.0, 1.0
