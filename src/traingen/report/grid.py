"""Sample grids: originals beside their augmentations, as one uint8 RGB image."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..core.errors import DataError


def _to_rgb_uint8(img: np.ndarray) -> np.ndarray:
    a = np.asarray(img)
    if a.dtype.kind == "f":
        a = np.clip(a * 255.0 + 0.5, 0, 255).astype(np.uint8)
    elif a.dtype == np.uint16:
        a = (a >> 8).astype(np.uint8)
    elif a.dtype != np.uint8:
        a = np.clip(a, 0, 255).astype(np.uint8)
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    elif a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    elif a.shape[2] >= 3:
        a = a[:, :, :3]
    else:
        a = np.concatenate([a, a[:, :, :1]], axis=2)[:, :, :3]
    return a


def make_grid(rows: Sequence[Sequence[np.ndarray]], *, cell: int | None = None, pad: int = 2,
              background: int = 255) -> np.ndarray:
    """Tile ``rows`` of images into one RGB uint8 image; every cell is resized to ``cell`` pixels.

    Args:
        rows: a list of rows, each a list of HxW or HxWxC images (uint8 or float in [0, 1]).
        cell: side of a square cell (default: the largest image side); nearest-neighbour scaling keeps
            small digits crisp.
        pad: pixels between cells.
        background: grey level of the padding.

    Returns:
        The grid as an HxWx3 uint8 array.
    """
    if not rows or not any(len(r) for r in rows):
        raise DataError("nothing to put in the grid", field="rows")
    import cv2

    if cell is None:
        cell = max(max(im.shape[0], im.shape[1]) for r in rows for im in r)
    ncols = max(len(r) for r in rows)
    h = len(rows) * cell + (len(rows) + 1) * pad
    w = ncols * cell + (ncols + 1) * pad
    grid = np.full((h, w, 3), background, np.uint8)
    for i, row in enumerate(rows):
        for j, img in enumerate(row):
            rgb = _to_rgb_uint8(img)
            scale = cell / max(rgb.shape[0], rgb.shape[1])
            nh, nw = max(1, round(rgb.shape[0] * scale)), max(1, round(rgb.shape[1] * scale))
            interp = cv2.INTER_NEAREST if scale >= 1 else cv2.INTER_AREA
            rgb = cv2.resize(rgb, (nw, nh), interpolation=interp)
            y = pad + i * (cell + pad) + (cell - nh) // 2
            x = pad + j * (cell + pad) + (cell - nw) // 2
            grid[y : y + nh, x : x + nw] = rgb
    return grid


def comparison_grid(originals: Sequence[np.ndarray], augmented: Sequence[Sequence[np.ndarray]],
                    *, cell: int | None = None) -> np.ndarray:
    """One row per original: the original first, then its augmentations."""
    if len(originals) != len(augmented):
        raise DataError(f"{len(originals)} originals but {len(augmented)} rows of augmentations", field="augmented")
    return make_grid([[o, *a] for o, a in zip(originals, augmented, strict=True)], cell=cell)


def save_png(path: str | Path, image: np.ndarray) -> Path:
    """Write an RGB uint8 image as PNG atomically (temp name, then rename)."""
    import cv2

    from ..core.atomic import atomic_write_bytes

    path = Path(path)
    ok, buf = cv2.imencode(".png", cv2.cvtColor(_to_rgb_uint8(image), cv2.COLOR_RGB2BGR))
    if not ok:
        raise DataError("PNG encoding failed", where=str(path))
    atomic_write_bytes(path, buf.tobytes())
    return path
