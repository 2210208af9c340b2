"""Figures of docs/render.md, made by the renderer itself.

    OMP_NUM_THREADS=1 python docs/render_figures.py          # writes docs/render/*.png

- ``render/grid.png``: rendered images of the default scene (seed 0) with their tight boxes and class
  names drawn, the instance mask, the class mask and the depth plane;
- ``render/shapes.png``: every built-in object class and distractor shape, rendered alone.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("LP_NUM_THREADS", "1")

import cv2
import numpy as np

from traingen.render.camera import Camera
from traingen.render.job import SceneRenderer
from traingen.render.primitives import BUILTIN_CLASSES, DISTRACTOR_TYPES
from traingen.render.scene import scene_from_dict
from traingen.report.grid import make_grid, save_png

OUT = Path(__file__).parent / "render"
PALETTE = np.array([[230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200], [245, 130, 48],
                    [145, 30, 180], [70, 240, 240], [240, 50, 230], [210, 245, 60], [250, 190, 212]], np.uint8)


def colour_ids(ids: np.ndarray) -> np.ndarray:
    out = PALETTE[(ids - 1) % len(PALETTE)]
    out[ids == 0] = 0
    return out


def colour_depth(depth: np.ndarray) -> np.ndarray:
    valid = depth > 0
    d = np.zeros(depth.shape, np.uint8)
    if valid.any():
        lo, hi = np.percentile(depth[valid], [1, 99])
        d[valid] = np.clip(255 - (depth[valid] - lo) / max(hi - lo, 1e-6) * 230, 25, 255).astype(np.uint8)
    return cv2.applyColorMap(d, cv2.COLORMAP_VIRIDIS)[..., ::-1] * valid[..., None]


def boxes_drawn(sample, classes: list[str]) -> np.ndarray:
    img = np.ascontiguousarray(sample.image.copy())
    for k, (box, lab) in enumerate(zip(sample.boxes, sample.box_labels, strict=True)):
        x0, y0, x1, y1 = (int(v) for v in box)
        col = tuple(int(c) for c in PALETTE[k % len(PALETTE)])
        cv2.rectangle(img, (x0, y0), (x1 - 1, y1 - 1), col, 1)
        cv2.putText(img, classes[int(lab)], (x0 + 1, max(8, y0 - 2)), cv2.FONT_HERSHEY_PLAIN, 0.7, col, 1,
                    cv2.LINE_AA)
    return img


def grid_figure(indices=(1, 5, 6, 12)) -> np.ndarray:
    cfg = scene_from_dict({"version": 1})
    r = SceneRenderer(cfg, seed=0)
    rows = []
    try:
        for i in indices:
            s = r.sample(i)
            rows.append([boxes_drawn(s, cfg.classes), colour_ids(s.instance_mask), colour_ids(s.mask),
                         colour_depth(s.meta["depth"])])
    finally:
        r.close()
    return make_grid(rows, cell=200)


def shapes_figure() -> np.ndarray:
    from traingen.render.gl import GLRenderer
    from traingen.render.scene import _resize

    names = list(BUILTIN_CLASSES) + list(DISTRACTOR_TYPES)
    gl = GLRenderer(128, 128)
    cells = []
    try:
        for name in names:
            mesh = (BUILTIN_CLASSES.get(name) or DISTRACTOR_TYPES[name])()
            mesh = _resize(mesh, 1.6)
            gl.add_mesh(name, mesh)
            cam = Camera.orbit(3.6, 35.0, 25.0, (0.0, 0.0, 0.45), fov_y_deg=40, width=128, height=128)
            f = gl.render(cam, [{"mesh": name, "model": np.eye(4), "id": 1, "tint": (0.9, 0.75, 0.5)}],
                          lights=np.array([[4.0, 2.0, 6.0, 1.0, 1.0, 1.0], [-3.0, -4.0, 3.0, 0.4, 0.4, 0.5]]),
                          ambient=(0.25, 0.25, 0.25))
            img = f.rgb.copy()
            img[f.ids == 0] = 245
            cv2.putText(img, name, (4, 122), cv2.FONT_HERSHEY_PLAIN, 0.8, (20, 20, 20), 1, cv2.LINE_AA)
            cells.append(img)
    finally:
        gl.release()
    per_row = 6
    return make_grid([cells[i:i + per_row] for i in range(0, len(cells), per_row)], cell=128)


def main() -> None:
    t0 = time.perf_counter()
    save_png(OUT / "grid.png", grid_figure())
    save_png(OUT / "shapes.png", shapes_figure())
    print(f"wrote {OUT}/grid.png and shapes.png in {time.perf_counter() - t0:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
