"""Make the figures of docs/mesh/style.md and docs/mesh/reconstruct.md (run from the repository root).

    OMP_NUM_THREADS=1 python docs/mesh/make_style_figures.py [style|dream|camera|recon ...]

- ``style.png``: the Utah teapot before / after 2D→3D style transfer (UV texture, 96 px, 50 steps,
  style ``builtin:photos/flower``), 8 azimuths, with the style image at the left of the second row.
- ``dream.png``: a blob before / after 3D DeepDream (random-multiscale ``k11``, 64 px, 50 steps).
- ``camera_fit.png``: camera recovery from one teapot silhouette: target, best grid start, result.
- ``recon.png``: the network of ``recipes/mesh-reconstruct.yaml`` trained 400 steps: input silhouettes of
  held-out procedural objects, and the predicted meshes from the input view and from 90° and 180° away.

Each part prints its wall time and the numbers the docs quote.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from traingen.data import open_source  # noqa: E402
from traingen.mesh.builtin import load_mesh  # noqa: E402
from traingen.report.grid import make_grid, save_png  # noqa: E402

HERE = Path(__file__).parent


def style_figure() -> None:
    from traingen.mesh.style import StyleConfig, heldout_style_loss, style_image_tensor, stylize, turntable

    img = open_source("builtin:photos/flower")[0].image
    mesh = load_mesh("builtin:mesh/teapot")
    cfg = StyleConfig(steps=50, size=96, texture="uv", uv_size=128)
    t = time.time()
    res = stylize(mesh, img, cfg, seed=0)
    wall = time.time() - t
    before = heldout_style_loss(stylize(mesh, img, StyleConfig(steps=0, size=96, texture="uv")).mesh, img, cfg)
    after = heldout_style_loss(res.mesh, img, cfg)
    thumb = style_image_tensor(img, 128)[0].permute(1, 2, 0).numpy()
    rows = [[np.ones((128, 128, 3))] + turntable(mesh, 8, 128), [thumb] + turntable(res.mesh, 8, 128)]
    save_png(HERE / "style.png", make_grid(rows))
    print(f"style: {wall:.1f} s for 50 steps; loss {res.losses[0]:.3g} -> {res.losses[-1]:.3g}; held-out "
          f"random-multiscale (seed 12345) style loss {before:.3g} -> {after:.3g} ({before / after:.1f}x)")


def dream_figure() -> None:
    from traingen.mesh.dream import DreamConfig, dream, mean_activation
    from traingen.mesh.style import turntable

    mesh = load_mesh("builtin:mesh/blob/1")
    cfg = DreamConfig(steps=50, size=64)
    t = time.time()
    res = dream(mesh, cfg, seed=0)
    wall = time.time() - t
    base = dream(mesh, DreamConfig(steps=1, size=64, lr_texture=0.0, lr_vertices=0.0)).mesh
    print(f"dream: {wall:.1f} s for 50 steps; mean squared k11 activation on held-out views "
          f"{mean_activation(base, cfg):.4f} -> {mean_activation(res.mesh, cfg):.4f}")
    save_png(HERE / "dream.png", make_grid([turntable(base, 6, 96), turntable(res.mesh, 6, 96)]))


def camera_figure() -> None:
    from traingen.mesh.camera_fit import CameraFitConfig, recover_camera, silhouette, view_angle_error

    mesh = load_mesh("builtin:mesh/teapot").normalized(1.0)
    cfg = CameraFitConfig(size=64)
    rows = []
    for truth in ((37.0, 22.0, 3.0), (200.0, 41.0, 3.2), (305.0, -12.0, 2.9)):
        t = time.time()
        target = silhouette(mesh, *truth, cfg)
        fit = recover_camera(mesh, target, cfg)
        start = silhouette(mesh, fit.starts[0][0], fit.starts[0][1], cfg.distance, cfg)
        got = silhouette(mesh, fit.azimuth, fit.elevation, fit.distance, cfg)
        err = view_angle_error(truth[0], truth[1], fit.azimuth, fit.elevation)
        print(f"camera {truth}: {time.time() - t:.1f} s; recovered ({fit.azimuth:.1f}, {fit.elevation:.1f}, "
              f"{fit.distance:.2f}), view error {err:.2f} deg, hard IoU {fit.iou:.3f}; soft IoU per 10 steps "
              f"{[round(x, 3) for x in fit.ious[::10]]}")
        rows.append([target, start, got, np.abs(target - got)])
    save_png(HERE / "camera_fit.png", make_grid(rows))


def recon_figure() -> None:
    from traingen.core.config import from_dict, load_yaml
    from traingen.mesh.raster import rasterize
    from traingen.mesh.recon_net import (
        ReconConfig,
        collection_meshes,
        predict,
        render_collection,
        train,
        view_cameras,
    )
    from traingen.mesh.style import turntable

    raw = {k: v for k, v in load_yaml(Path("recipes/mesh-reconstruct.yaml")).items() if k != "version"}
    raw["steps"] = 400  # the recipe's 50 steps give one mean shape for every input; 400 separate them
    cfg = from_dict(ReconConfig, raw)
    t = time.time()
    run = train(cfg)
    print(f"recon: {time.time() - t:.1f} s for {cfg.steps} steps; loss first 5 "
          f"{np.mean(run.losses[:5]):.3f}, last 5 {np.mean(run.losses[-5:]):.3f}")
    held = collection_meshes(ReconConfig(**{**raw, "objects": 5}), offset=1000)  # not in training
    sil = render_collection(held, cfg)
    rows, ious = [], []
    cams = view_cameras(cfg)
    for k in range(len(held)):
        pred = predict(run.model, sil[k, 0, 0].numpy())
        a = rasterize(torch.tensor(pred.vertices, dtype=torch.float32), torch.tensor(pred.faces), cams,
                      mode="hard").alpha > 0.5
        tt = sil[k] > 0.5
        ious.append(float((a & tt).sum() / (a | tt).sum()))
        views = turntable(pred, 4, cfg.size)
        rows.append([sil[k, 0, 0].numpy(), views[0], views[1], views[2]])
    print(f"recon: hard IoU over the 24 views of 5 held-out objects {np.round(ious, 3).tolist()}")
    save_png(HERE / "recon.png", make_grid(rows))


if __name__ == "__main__":
    parts = sys.argv[1:] or ["style", "dream", "camera", "recon"]
    for p in parts:
        {"style": style_figure, "dream": dream_figure, "camera": camera_figure, "recon": recon_figure}[p]()
