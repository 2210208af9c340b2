"""Draw a sample's targets on its image: boxes as rectangles, masks as a colour overlay.

Boxes follow the pixel convention of DESIGN §3 (xyxy, pixel i covers [i, i+1)): the rectangle's
last pixel column is ``ceil(x1) - 1``. Class-map and instance masks share one palette; value 0 is
left uncoloured.

Example:
    >>> rgb = draw_targets(sample)          # HxWx3 uint8, the input left untouched
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .grid import _to_rgb_uint8

#: Colour of mask value / box label v: PALETTE[v % len(PALETTE)] (RGB).
PALETTE = np.array([(230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48),
                    (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60), (0, 128, 128)], np.uint8)


def overlay_mask(rgb: np.ndarray, mask: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """Blend a colour per non-zero mask value into ``rgb`` (a new array)."""
    m = np.asarray(mask)
    if m.ndim == 3:
        m = m[..., 0]
    out = rgb.astype(np.float32)
    nz = m > 0
    if nz.any():
        colours = PALETTE[(m[nz].astype(np.int64) - 1) % len(PALETTE)].astype(np.float32)
        out[nz] = (1 - alpha) * out[nz] + alpha * colours
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def draw_boxes(rgb: np.ndarray, boxes: np.ndarray, labels: Any = None) -> np.ndarray:
    """Rectangles for xyxy ``boxes`` (pixel-edge coordinates) on a copy of ``rgb``."""
    import cv2

    out = np.ascontiguousarray(rgb.copy())
    lab = None if labels is None else np.asarray(labels).reshape(-1)
    for i, (x0, y0, x1, y1) in enumerate(np.asarray(boxes, np.float64).reshape(-1, 4)):
        c = PALETTE[int(lab[i]) % len(PALETTE)] if lab is not None and i < len(lab) else PALETTE[i % len(PALETTE)]
        p0 = (int(math.floor(x0)), int(math.floor(y0)))
        p1 = (max(p0[0], int(math.ceil(x1)) - 1), max(p0[1], int(math.ceil(y1)) - 1))
        cv2.rectangle(out, p0, p1, tuple(int(v) for v in c), 1)
    return out


def draw_targets(sample: Any) -> np.ndarray:
    """RGB uint8 picture of a :class:`~traingen.core.Sample` with its masks and boxes drawn."""
    img = sample.image
    if hasattr(img, "detach"):  # a CHW torch tensor
        img = img.detach().cpu().numpy().transpose(1, 2, 0)
    rgb = _to_rgb_uint8(np.asarray(img))
    for m in (getattr(sample, "mask", None), getattr(sample, "instance_mask", None)):
        if m is not None:
            rgb = overlay_mask(rgb, m)
    if getattr(sample, "boxes", None) is not None and len(sample.boxes):
        rgb = draw_boxes(rgb, sample.boxes, getattr(sample, "box_labels", None))
    return rgb
