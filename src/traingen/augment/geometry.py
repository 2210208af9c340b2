"""Fused affine geometry: matrices, their fusion, and the warps of every target.

Coordinate convention (DESIGN §3): coordinates are continuous, pixel ``i`` covers ``[i, i + 1)`` and
its centre is ``i + 0.5``. A horizontal flip maps ``x -> W - x`` for boxes and keypoints alike. A
traingen matrix ``M`` (3x3, float64) maps input coordinates to output coordinates. OpenCV puts pixel
centres on integers, so the matrix handed to ``cv2.warpAffine`` is ``T(-0.5) · M · T(+0.5)``
(:func:`to_opencv`).

A run of geometric transforms is fused into one matrix (:func:`fuse`) and every target is warped
once from the original: the intermediate canvases are unbounded, only the final canvas decides
what is visible. A fused matrix that is an exact integer axis-aligned map (flips, integer crops,
their combinations) is applied by slicing, which is exact and much faster than a warp.

References:
    Hartley, Zisserman. "Multiple View Geometry in Computer Vision", 2nd ed., 2004, ch. 2
    (homogeneous coordinates and the composition of affine maps).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

from ..core.errors import ConfigError

INTERPOLATIONS = {
    "nearest": cv2.INTER_NEAREST,
    "bilinear": cv2.INTER_LINEAR,
    "bicubic": cv2.INTER_CUBIC,
    "lanczos": cv2.INTER_LANCZOS4,
}

_HALF = np.array([[1.0, 0.0, 0.5], [0.0, 1.0, 0.5], [0.0, 0.0, 1.0]])
_MINUS_HALF = np.array([[1.0, 0.0, -0.5], [0.0, 1.0, -0.5], [0.0, 0.0, 1.0]])


def translation(tx: float, ty: float) -> np.ndarray:
    """The 3x3 matrix of ``(x, y) -> (x + tx, y + ty)``."""
    return np.array([[1.0, 0.0, tx], [0.0, 1.0, ty], [0.0, 0.0, 1.0]])


def scaling(sx: float, sy: float, cx: float = 0.0, cy: float = 0.0) -> np.ndarray:
    """Scale by ``(sx, sy)`` about ``(cx, cy)``."""
    return np.array([[sx, 0.0, cx - sx * cx], [0.0, sy, cy - sy * cy], [0.0, 0.0, 1.0]])


def rotation(degrees: float, cx: float, cy: float) -> np.ndarray:
    """Rotate by ``degrees`` about ``(cx, cy)``; positive is counter-clockwise as displayed (y down)."""
    a = np.deg2rad(degrees)
    c, s = np.cos(a), np.sin(a)
    # y points down, so a counter-clockwise turn on screen is (x, y) -> (c x + s y, -s x + c y).
    return np.array([[c, s, cx - c * cx - s * cy], [-s, c, cy + s * cx - c * cy], [0.0, 0.0, 1.0]])


def to_opencv(m: np.ndarray) -> np.ndarray:
    """The 2x3 matrix for ``cv2.warpAffine`` (pixel centres on integers) of a traingen matrix."""
    return (_MINUS_HALF @ m @ _HALF)[:2]


def fuse(transforms: Sequence[Any], rng: Any, h: int, w: int,
         params_out: list | None = None) -> tuple[np.ndarray, tuple[int, int]]:
    """Fuse a run of geometric transforms into one matrix and the final canvas.

    Args:
        transforms: geometric transforms (objects with ``make_params`` and ``matrix``).
        rng: a :class:`traingen.core.seeding.Rng`; each transform draws from it in order.
        h, w: the input canvas.
        params_out: if given, each transform's params dict is appended to it.

    Returns:
        ``(M, (out_h, out_w))`` with ``M`` the product ``M_n · ... · M_1``.
    """
    m = np.eye(3)
    for t in transforms:
        params = t.make_params(rng, h, w)
        if params_out is not None:
            params_out.append(params)
        mi, (h, w) = t.matrix(params, h, w)
        if mi is not None:
            m = mi @ m  # a new array: the matrices that transforms return are never modified
    return m, (h, w)


# ---------------------------------------------------------------------------------------------
# Exact axis-aligned maps


def axis_aligned(m: np.ndarray) -> tuple[int, int, int, int] | None:
    """``(sx, tx, sy, ty)`` if ``M`` is ``x -> sx x + tx``, ``y -> sy y + ty`` with ``sx, sy = ±1``
    and integer ``tx, ty`` (then every output pixel is exactly one input pixel); else None."""
    (a, b, tx), (c, d, ty) = m[:2].tolist()  # Python floats: much cheaper to test than numpy scalars
    if b != 0.0 or c != 0.0 or (a != 1.0 and a != -1.0) or (d != 1.0 and d != -1.0):
        return None
    if not (tx.is_integer() and ty.is_integer()):
        return None
    return int(a), int(tx), int(d), int(ty)


def _axis_source(s: int, t: int, n_in: int, n_out: int) -> tuple[int, int, int, int]:
    """For ``out = s * in + t`` along one axis: the output range ``[o0, o1)`` that has a source
    pixel, and the first source index and its step."""
    # Output pixel j (centre j + 0.5) comes from input coordinate (j + 0.5 - t) / s, i.e. pixel
    # j - t when s = 1 and t - 1 - j when s = -1.
    if s == 1:
        o0, o1 = max(0, t), min(n_out, n_in + t)
        return o0, o1, o0 - t, 1
    o0, o1 = max(0, t - n_in), min(n_out, t)
    return o0, o1, t - 1 - o0, -1


def slice_map(arr: np.ndarray, aa: tuple[int, int, int, int], out_hw: tuple[int, int], fill: Any) -> np.ndarray:
    """Apply an axis-aligned integer map by slicing; uncovered output pixels get ``fill``.

    A crop that lies inside the input comes back as a view of it (no copy, as numpy slicing and
    albumentations do): copy it before writing into it in place. Everything else is a new array.
    """
    sx, tx, sy, ty = aa
    h, w = arr.shape[:2]
    oh, ow = out_hw
    x0, x1, sx0, stepx = _axis_source(sx, tx, w, ow)
    y0, y1, sy0, stepy = _axis_source(sy, ty, h, oh)
    if x1 <= x0 or y1 <= y0:
        out = np.empty((oh, ow) + arr.shape[2:], arr.dtype)
        out[...] = fill
        return out
    # Take the source window with positive steps, then reverse the flipped axes: cv2.flip is
    # several times faster than numpy's copy of a negative-stride view.
    xa = sx0 if stepx == 1 else sx0 - (x1 - x0) + 1
    ya = sy0 if stepy == 1 else sy0 - (y1 - y0) + 1
    if ya == 0 and xa == 0 and y1 - y0 == h and x1 - x0 == w:
        src = arr  # the whole input (a flip): no view to build
    else:
        src = arr[ya:ya + (y1 - y0), xa:xa + (x1 - x0)]
    if stepx == -1 or stepy == -1:
        src = _reverse(src, stepx == -1, stepy == -1)
    if x0 == 0 and y0 == 0 and x1 == ow and y1 == oh:
        if src is arr:
            return arr.copy()  # the identity map: never hand back the input itself
        # A crop inside the input is returned as a view, as numpy slicing (and albumentations)
        # do: no pixel is copied. Nothing in a pipeline writes into its input in place.
        return src
    out = np.empty((oh, ow) + arr.shape[2:], arr.dtype)
    out[...] = fill
    out[y0:y1, x0:x1] = src
    return out


def flip_image(image: np.ndarray, horizontal: bool, vertical: bool) -> np.ndarray:
    """``image`` mirrored left-right and/or top-bottom: the bytes of its warp by the flip matrix.

    Returns a new array, except for more than 512 channels (a reversed view).
    """
    if not (horizontal or vertical):
        return image.copy()
    if image.dtype in _CV_FLIP_DTYPES and (image.ndim == 2 or image.shape[2] <= 512):
        # cv2.flip, not numpy's copy of a reversed view: for a vertical flip of the 512² bench photos
        # that copy ran at half cv2.flip's speed (7,954 vs 15,012 img/s), for a horizontal one far slower.
        out = cv2.flip(image, (-1 if vertical else 1) if horizontal else 0)
        return out if out.ndim == image.ndim else out.reshape(image.shape)  # cv2 drops a channel axis of 1
    return _reverse(image, horizontal, vertical)


def resize_image(window: np.ndarray, out_hw: tuple[int, int], interpolation: str = "bilinear") -> np.ndarray:
    """``window`` (an image or a view of a crop of it) resized onto ``out_hw``: the bytes of the
    warp of that window by its positive axis-aligned scaling (see :func:`warp_image`)."""
    try:
        flag = INTERPOLATIONS[interpolation]
    except KeyError:
        raise ConfigError(f"unknown interpolation {interpolation!r}; known: {', '.join(INTERPOLATIONS)}",
                          field="interpolation") from None
    return _resize(window, out_hw, flag)


_CV_FLIP_DTYPES = {np.dtype(t) for t in (np.uint8, np.int8, np.uint16, np.int16, np.int32, np.float32, np.float64)}


def _reverse(a: np.ndarray, rev_x: bool, rev_y: bool) -> np.ndarray:
    if not (rev_x or rev_y):
        return a
    if a.dtype in _CV_FLIP_DTYPES and (a.ndim == 2 or a.shape[2] <= 512):
        out = cv2.flip(a, -1 if (rev_x and rev_y) else (1 if rev_x else 0))
        return out if out.shape == a.shape else out.reshape(a.shape)
    return a[::-1 if rev_y else 1, ::-1 if rev_x else 1]


# ---------------------------------------------------------------------------------------------
# Warps of each target


def warp_image(image: np.ndarray, m: np.ndarray, out_hw: tuple[int, int], *, interpolation: str = "bilinear",
               fill: float = 0.0) -> np.ndarray:
    """Warp an HxW or HxWxC image (any channel count, uint8/uint16/float32/float64) by ``M``.

    Args:
        image: the input image.
        m: 3x3 traingen matrix (input -> output coordinates).
        out_hw: the output canvas ``(out_h, out_w)``.
        interpolation: ``nearest``, ``bilinear``, ``bicubic`` or ``lanczos``.
        fill: value of the pixels that come from outside the input.

    Returns:
        The warped image, same dtype and channel count.
    """
    aa = axis_aligned(m)
    if aa is not None:
        return slice_map(image, aa, out_hw, fill)
    try:
        flag = INTERPOLATIONS[interpolation]
    except KeyError:
        raise ConfigError(f"unknown interpolation {interpolation!r}; known: {', '.join(INTERPOLATIONS)}",
                          field="interpolation") from None
    window = resize_window(m, image.shape[:2], out_hw)
    if window is not None:
        x0, y0, x1, y1 = window
        return _resize(image[y0:y1, x0:x1], out_hw, flag)
    return _warp(image, to_opencv(m), out_hw, flag, fill)


def resize_window(m: np.ndarray, in_hw: tuple[int, int], out_hw: tuple[int, int]) -> tuple[int, int, int, int] | None:
    """The integer source window ``(x0, y0, x1, y1)`` inside the image if ``M`` maps it onto the whole
    output canvas by a positive axis-aligned scaling (resize, resized crops); else None."""
    (a, b, tx), (c, d, ty) = m[:2].tolist()
    if b != 0.0 or c != 0.0 or a <= 0.0 or d <= 0.0:
        return None
    oh, ow = out_hw
    x0, y0 = -tx / a, -ty / d
    x1, y1 = (ow - tx) / a, (oh - ty) / d
    r = [round(v) for v in (x0, y0, x1, y1)]
    if any(abs(v - q) > 1e-9 for v, q in zip((x0, y0, x1, y1), r, strict=True)):
        return None
    if r[0] < 0 or r[1] < 0 or r[2] > in_hw[1] or r[3] > in_hw[0]:
        return None
    return r[0], r[1], r[2], r[3]


def _resize(window: np.ndarray, out_hw: tuple[int, int], flag: int) -> np.ndarray:
    """``cv2.resize`` of a window: its sample positions ``(j + 0.5) · scale - 0.5`` are our convention;
    unlike a constant-border warp it does not blend the fill into the edge pixels, and it is about
    twice as fast."""
    oh, ow = out_hw
    if window.ndim == 3 and window.shape[2] > 4:
        out = np.empty((oh, ow, window.shape[2]), window.dtype)
        for c0 in range(0, window.shape[2], 4):
            out[:, :, c0:c0 + 4] = _resize(window[:, :, c0:c0 + 4], out_hw, flag)
        return out
    out = cv2.resize(window, (ow, oh), interpolation=flag)  # OpenCV reads a row-strided view as is
    if window.ndim == 3 and out.ndim == 2:
        out = out[:, :, None]
    return out


def _warp(image: np.ndarray, m23: np.ndarray, out_hw: tuple[int, int], flag: int, fill: float) -> np.ndarray:
    oh, ow = out_hw
    size = (ow, oh)
    if image.ndim == 2 or image.shape[2] <= 4:
        border = (fill,) * 4
        out = cv2.warpAffine(image, m23, size, flags=flag, borderMode=cv2.BORDER_CONSTANT, borderValue=border)
        if image.ndim == 3 and out.ndim == 2:  # OpenCV drops a trailing channel axis of 1
            out = out[:, :, None]
        return out
    # OpenCV warps at most 4 channels at a time: warp in chunks of <= 4 into one output.
    c = image.shape[2]
    out = np.empty((oh, ow, c), image.dtype)
    for c0 in range(0, c, 4):
        chunk = np.ascontiguousarray(image[:, :, c0:c0 + 4])
        out[:, :, c0:c0 + 4] = _warp(chunk, m23, out_hw, flag, fill)
    return out


def warp_mask(mask: np.ndarray, m: np.ndarray, out_hw: tuple[int, int], *, fill: int = 0) -> np.ndarray:
    """Warp an HxW integer mask with nearest-neighbour sampling; the dtype is kept.

    OpenCV warps uint8, uint16 and int16 only: other integer masks travel as uint16 when their values
    fit, else as float64 (exact for integers below 2**53).
    """
    aa = axis_aligned(m)
    if aa is not None:
        return slice_map(mask, aa, out_hw, fill)
    dtype = mask.dtype
    if dtype in (np.uint8, np.uint16, np.int16):
        work, wfill = mask, fill
    else:
        lo, hi = (int(mask.min()), int(mask.max())) if mask.size else (0, 0)
        if 0 <= lo and hi <= 65535 and 0 <= fill <= 65535:
            work = mask.astype(np.uint16)
        else:
            work = mask.astype(np.float64)
        wfill = fill
    out = cv2.warpAffine(work, to_opencv(m), (out_hw[1], out_hw[0]), flags=cv2.INTER_NEAREST,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=(wfill,) * 4)
    return out if out.dtype == dtype else out.astype(dtype)


def transform_points(points: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Apply ``M`` to an Nx2 array of points (float64 result)."""
    p = np.asarray(points, np.float64)
    return p @ m[:2, :2].T + m[:2, 2]


def warp_keypoints(keypoints: np.ndarray, visible: np.ndarray, m: np.ndarray,
                   out_hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Move Kx2 keypoints by ``M``; a point outside ``[0, W) x [0, H)`` keeps its slot, turns invisible.

    Returns:
        ``(keypoints float32 Kx2, visible bool K)``.
    """
    if len(keypoints) == 0:
        return np.zeros((0, 2), np.float32), np.zeros(0, bool)
    p = transform_points(keypoints, m)
    oh, ow = out_hw
    inside = (p[:, 0] >= 0) & (p[:, 0] < ow) & (p[:, 1] >= 0) & (p[:, 1] < oh)
    return p.astype(np.float32), np.asarray(visible, bool) & inside


def warp_boxes(boxes: np.ndarray, m: np.ndarray, out_hw: tuple[int, int], *,
               min_visibility: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Move Nx4 xyxy boxes by ``M``: the box of the four moved corners, clipped to the canvas.

    A box is dropped when its clipped area is 0 or its visible fraction (clipped area / unclipped
    area) is below ``min_visibility``.

    Returns:
        ``(boxes float32 Mx4, keep)`` where ``keep`` is the boolean mask of kept input boxes (use it on
        the labels and instance ids).
    """
    n = len(boxes)
    if n == 0:
        return np.zeros((0, 4), np.float32), np.zeros(0, bool)
    b = np.asarray(boxes, np.float64)
    corners = np.stack([b[:, [0, 1]], b[:, [2, 1]], b[:, [0, 3]], b[:, [2, 3]]], axis=1).reshape(-1, 2)
    p = transform_points(corners, m).reshape(n, 4, 2)
    lo, hi = p.min(axis=1), p.max(axis=1)
    full = (hi[:, 0] - lo[:, 0]) * (hi[:, 1] - lo[:, 1])
    oh, ow = out_hw
    x0 = np.clip(lo[:, 0], 0, ow)
    y0 = np.clip(lo[:, 1], 0, oh)
    x1 = np.clip(hi[:, 0], 0, ow)
    y1 = np.clip(hi[:, 1], 0, oh)
    area = (x1 - x0) * (y1 - y0)
    keep = area > 0
    if min_visibility > 0:
        keep &= area >= min_visibility * np.where(full > 0, full, 1.0)
    out = np.stack([x0, y0, x1, y1], axis=1)[keep].astype(np.float32)
    return out, keep


def relabel_instances(instance_mask: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Renumber an instance mask after boxes were dropped: ``i + 1`` stays the object of ``boxes[i]``."""
    if keep.all():
        return instance_mask
    lut = np.zeros(max(int(instance_mask.max()) + 1, len(keep) + 1), np.int64)
    kept = np.flatnonzero(keep)
    lut[kept + 1] = np.arange(1, len(kept) + 1)
    return lut[np.clip(instance_mask, 0, None)].astype(instance_mask.dtype)
