"""Make the figures of docs/mesh/raster.md (run from the repository root).

    OMP_NUM_THREADS=1 python docs/mesh/make_figures.py

- ``modes.png``: the Utah teapot at 128 px: soft RGB (σ = 1e-4 and 1e-3), soft alpha, hard RGB,
  face ids, depth, and the ``nmr`` gradient of a silhouette loss w.r.t. screen motion.
- ``families.png``: the embedded procedural families, parts in distinct colours (hard mode, lit).
- ``fit.png``: silhouette fitting of a blob at 64 px: targets on held-out views, the template, the
  fit after 25 / 50 / 100 steps, and the IoU per step in the caption printed by the script.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from traingen.mesh.builtin import load_mesh  # noqa: E402
from traingen.mesh.fit import FitConfig, fit_silhouettes, hard_iou, target_views  # noqa: E402
from traingen.mesh.procedural import FAMILIES  # noqa: E402
from traingen.mesh.raster import Attributes, Lighting, RasterSettings, rasterize  # noqa: E402
from traingen.render.camera import Camera  # noqa: E402
from traingen.report.grid import make_grid, save_png  # noqa: E402

HERE = Path(__file__).parent
PALETTE = np.array([[0.85, 0.35, 0.25], [0.25, 0.55, 0.85], [0.35, 0.75, 0.35], [0.9, 0.75, 0.2],
                    [0.6, 0.4, 0.8]])
LIGHT = Lighting(ambient=0.45, directional=0.55, direction=(-0.4, -0.3, -1.0))


def _img(t: torch.Tensor) -> np.ndarray:
    return t.detach().permute(1, 2, 0).clamp(0, 1).numpy()


def _part_colours(mesh) -> torch.Tensor:
    """Vertex colours from the part of each vertex (vertices are not shared across parts)."""
    c = np.ones((mesh.n_vertices, 3))
    for k in range(len(mesh.part_names)):
        c[np.unique(mesh.faces[mesh.face_parts == k])] = PALETTE[k % len(PALETTE)]
    return torch.tensor(c, dtype=torch.float32)


def modes_figure() -> None:
    m = load_mesh("builtin:mesh/teapot")
    cam = Camera.orbit(9.0, 30, 25, target=tuple(m.bounds().mean(0)), width=128, height=128, fov_y_deg=40)
    v = torch.tensor(m.vertices, dtype=torch.float32, requires_grad=True)
    f = torch.tensor(m.faces)
    attrs = Attributes(vertex_colors=_part_colours(m))
    bg = RasterSettings(background=(1.0, 1.0, 1.0))
    soft = rasterize(v, f, cam, attributes=attrs, lighting=LIGHT, settings=bg)
    blur = rasterize(v, f, cam, attributes=attrs, lighting=LIGHT,
                     settings=RasterSettings(sigma=1e-3, gamma=1e-2, background=(1.0, 1.0, 1.0)))
    hard = rasterize(v, f, cam, mode="hard", attributes=attrs, lighting=LIGHT, settings=bg)
    ids = hard.face_id[0].numpy()
    rng = np.random.default_rng(0)
    lut = rng.uniform(0.2, 1.0, (m.n_faces + 1, 3))
    lut[-1] = 1.0
    face_img = lut[ids]
    d = hard.depth[0].numpy()
    dn = np.where(ids >= 0, (d - d[ids >= 0].min()) / (np.ptp(d[ids >= 0]) + 1e-9), 1.0)
    # nmr: gradient of a silhouette loss (target: the teapot shifted right) w.r.t. the screen vertices.
    shifted = rasterize(v.detach() + torch.tensor([0.0, 0.3, 0.0]), f, cam, mode="hard").alpha.detach()
    nmr = rasterize(v, f, cam, mode="nmr")
    ((nmr.alpha - shifted) ** 2).sum().backward()
    g = v.grad.norm(dim=1).numpy()
    vis = np.zeros((128, 128, 3)) + 1.0
    uv, _ = cam.project(m.vertices)
    keep = (g > 0) & (uv[:, 0] >= 0) & (uv[:, 0] < 128) & (uv[:, 1] >= 0) & (uv[:, 1] < 128)
    gi = g[keep] / g[keep].max()
    for (x, y), s in zip(uv[keep].astype(int), gi, strict=True):
        vis[y, x] = [1 - s ** 0.5, 1 - s ** 0.5, 1.0]
    vis = np.where((hard.alpha[0, 0].numpy() > 0)[..., None] & (vis == 1.0).all(-1, keepdims=True), 0.85, vis)
    grid = make_grid([[_img(soft.rgb[0]), _img(blur.rgb[0]), soft.alpha[0, 0].detach().numpy(),
                       _img(hard.rgb[0])], [face_img, np.repeat(dn[..., None], 3, -1), vis,
                                            np.abs(soft.alpha[0, 0].detach().numpy() - hard.alpha[0, 0].numpy())]])
    save_png(HERE / "modes.png", grid)


def families_figure() -> None:
    cells = []
    for name in FAMILIES:
        row = []
        for k in (None, 1, 2):
            m = load_mesh(f"builtin:mesh/{name}" + ("" if k is None else f"/{k}")).normalized(1.0)
            cam = Camera.orbit(3.2, 35, 25, width=96, height=96, fov_y_deg=45)
            out = rasterize(torch.tensor(m.vertices, dtype=torch.float32), torch.tensor(m.faces), cam, mode="hard",
                            attributes=Attributes(vertex_colors=_part_colours(m)), lighting=LIGHT,
                            settings=RasterSettings(background=(1.0, 1.0, 1.0)))
            row.append(_img(out.rgb[0]))
        cells.append(row)
    m = load_mesh("builtin:mesh/teapot-hi").normalized(1.0)
    cam = Camera.orbit(3.0, 35, 25, width=96, height=96, fov_y_deg=45)
    tp = rasterize(torch.tensor(m.vertices, dtype=torch.float32), torch.tensor(m.faces), cam, mode="hard",
                   attributes=Attributes(vertex_colors=_part_colours(m)), lighting=LIGHT,
                   settings=RasterSettings(background=(1.0, 1.0, 1.0)))
    flat = [c for r in cells for c in r] + [_img(tp.rgb[0])]
    rows = [flat[i:i + 7] for i in range(0, len(flat), 7)]
    rows[-1] += [np.ones((96, 96, 3))] * (7 - len(rows[-1]))
    save_png(HERE / "families.png", make_grid(rows))


def fit_figure() -> list[float]:
    target = load_mesh("builtin:mesh/blob/1")
    held = target_views(target, FitConfig(views=6, elevation=10.0), offset_deg=17.0)
    rows = [list(held[1][:, 0].numpy())]
    ious = []
    cfg = FitConfig()
    snaps = {}
    res = fit_silhouettes(target_views(target, cfg), cfg)
    for steps in (25, 50):
        snaps[steps] = fit_silhouettes(target_views(target, cfg), FitConfig(steps=steps)).mesh
    snaps[100] = res.mesh
    for steps in (25, 50, 100):
        m = snaps[steps]
        out = rasterize(torch.tensor(m.vertices, dtype=torch.float32), torch.tensor(m.faces), held[0],
                        mode="hard", lighting=LIGHT, settings=RasterSettings(background=(1.0, 1.0, 1.0)))
        rows.append([_img(x) for x in out.rgb])
        ious.append(hard_iou(m, *held))
    save_png(HERE / "fit.png", make_grid(rows))
    print("soft IoU per step (train views):", " ".join(f"{x:.3f}" for x in res.ious[::10]))
    return ious


if __name__ == "__main__":
    t0 = time.perf_counter()
    modes_figure()
    t1 = time.perf_counter()
    families_figure()
    t2 = time.perf_counter()
    ious = fit_figure()
    t3 = time.perf_counter()
    print(f"modes.png {t1 - t0:.1f} s, families.png {t2 - t1:.1f} s, fit.png {t3 - t2:.1f} s; "
          f"held-out IoU after 25/50/100 steps: {', '.join(f'{x:.3f}' for x in ious)}; "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
