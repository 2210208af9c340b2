"""``traingen mesh reconstruct train|predict``: Kato's single-image reconstruction network.

Registered on the ``reconstruct`` group by :func:`traingen.cli.mesh_style.register`; torch is
imported inside the commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..core.errors import TraingenError
from .common import Json, Quiet, Seed, emit, fail, progress


def train_cmd(
    out: Annotated[Path, typer.Argument(help="Run folder: checkpoint.*, result.json (a rerun resumes).")],
    config: Annotated[Path | None, typer.Option("--config", help="YAML ReconConfig (version: 1).")] = None,
    steps: Annotated[int | None, typer.Option("--steps", min=1, help="Training steps (overrides config).")] = None,
    size: Annotated[int | None, typer.Option("--size", min=8, help="Silhouette size (overrides config).")] = None,
    seed: Seed = 0,
    as_json: Json = False,
    quiet: Quiet = False,
) -> None:
    """Train the reconstruction network on silhouettes of the procedural collection (two-view IoU + smoothness)."""
    import json
    from dataclasses import asdict

    from ..core.config import from_dict, load_yaml
    from ..mesh.recon_net import ReconConfig, train

    try:
        raw = load_yaml(config) if config is not None else {}
        raw = {k: v for k, v in raw.items() if k != "version"}
        if steps is not None:
            raw["steps"] = steps
        if size is not None:
            raw["size"] = size
        raw.setdefault("seed", seed)
        cfg = from_dict(ReconConfig, raw) if raw else ReconConfig(seed=seed)
        with progress(cfg.steps, "reconstruct train", quiet=quiet or as_json) as advance:
            run = train(cfg, out, on_step=lambda *_: advance(1))
    except TraingenError as e:
        fail(e)
    result = {"out": str(out), "config": asdict(cfg), "steps": run.step, "loss": run.losses}
    tmp = out / ".result.json.tmp"
    tmp.write_text(json.dumps(result, indent=2))
    tmp.replace(out / "result.json")
    emit(result if as_json else {}, as_json=as_json, quiet=quiet,
         human=f"trained {run.step} steps: loss {run.losses[0]:.3f} -> {run.losses[-1]:.3f} -> {out}")


def predict_cmd(
    run: Annotated[Path, typer.Argument(help="Run folder written by 'reconstruct train'.")],
    image: Annotated[str, typer.Argument(help="Silhouette or mask image (non-zero = object), or "
                                              "builtin:mesh/NAME to predict from its rendered view 0.")],
    out: Annotated[Path, typer.Argument(help="Output .obj path.")],
    as_json: Json = False,
    quiet: Quiet = False,
) -> None:
    """Predict a mesh from one silhouette with a trained network; writes OUT (.obj)."""
    import numpy as np

    from ..mesh.io import save_mesh
    from ..mesh.recon_net import load_model, predict, render_collection

    try:
        net, cfg = load_model(run)
        if image.startswith("builtin:mesh/"):
            from ..mesh.builtin import load_mesh

            sil = render_collection([load_mesh(image).normalized(1.0)], cfg)[0, 0, 0].numpy()
        else:
            import cv2

            from ..data.imageio import read_image

            img = np.asarray(read_image(image)).astype(np.float32)
            img = img.max(axis=2) if img.ndim == 3 else img
            sil = (cv2.resize(img, (cfg.size, cfg.size), interpolation=cv2.INTER_AREA) > 0).astype(np.float32)
        mesh = predict(net, sil)
        path = save_mesh(mesh, out)
    except TraingenError as e:
        fail(e)
    result = {"run": str(run), "image": image, "out": str(path), "vertices": mesh.n_vertices,
              "faces": mesh.n_faces}
    emit(result if as_json else {}, as_json=as_json, quiet=quiet, human=f"predicted {mesh.n_faces} faces -> {path}")
