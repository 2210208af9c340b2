"""``traingen mesh``: the embedded meshes and the differentiable-rasterizer tools."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..core.errors import TraingenError
from .common import Device, Json, Quiet, Seed, emit, fail
from .mesh_detail import register as register_detail
from .mesh_style import register as register_style
from .mesh_transfer import register as register_transfer

app = typer.Typer(help="3D meshes: list the embedded ones (procedural families, the Utah teapot).",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)


@app.command("list")
def list_cmd(as_json: Json = False) -> None:
    """List the embedded meshes (address them as builtin:mesh/NAME, family members as NAME/K)."""
    from ..mesh.builtin import describe

    rows = describe()
    if as_json:
        emit({"meshes": rows}, as_json=True, quiet=False)
        return
    for r in rows:
        name = r["name"] + ("/K" if r["family"] else "")
        typer.echo(f"{name:<16} {r['faces']:>6} faces  parts: {', '.join(r['parts'])}")
        typer.echo(f"{'':<16} {r['description']}")


@app.command("info")
def info_cmd(
    mesh: Annotated[str, typer.Argument(help="A mesh file or builtin:mesh/NAME.")],
    as_json: Json = False,
    quiet: Quiet = False,
) -> None:
    """Print a mesh's size, bounds, parts and whether it has UVs and a texture."""
    from ..mesh.builtin import load_mesh

    try:
        m = load_mesh(mesh)
    except TraingenError as e:
        fail(e)
    _, counts = m.welded().edges_unique()
    result = {"mesh": mesh, "name": m.name, "vertices": m.n_vertices, "faces": m.n_faces,
              "bounds": m.bounds().round(6).tolist(), "parts": list(m.part_names), "uv": m.uv is not None,
              "texture": m.texture is not None, "boundary_edges": int((counts == 1).sum()),
              "non_manifold_edges": int((counts > 2).sum())}
    emit(result, as_json=as_json, quiet=quiet,
         human=f"{m.name}: {m.n_vertices} vertices, {m.n_faces} faces, parts {list(m.part_names)}, "
               f"uv {result['uv']}, texture {result['texture']}")


reconstruct_app = typer.Typer(help="Mesh reconstruction through the differentiable rasterizer.",
                              no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
app.add_typer(reconstruct_app, name="reconstruct")
register_style(app, reconstruct_app)  # mesh style, reconstruct train|predict (cli/mesh_style.py)
register_transfer(app)  # mesh texture-transfer (cli/mesh_transfer.py)
register_detail(app)  # mesh detail-transfer (cli/mesh_detail.py)


@reconstruct_app.command("fit")
def fit_cmd(
    target: Annotated[str, typer.Argument(help="Mesh whose silhouettes are fitted (file or builtin:mesh/NAME).")],
    out: Annotated[Path, typer.Argument(help="Output folder: fit.obj, result.json, fit.png.")],
    steps: Annotated[int, typer.Option("--steps", min=1, help="Optimisation steps.")] = 100,
    size: Annotated[int, typer.Option("--size", min=8, help="Render size in pixels.")] = 64,
    views: Annotated[int, typer.Option("--views", min=1, help="Known training views on a ring.")] = 12,
    seed: Seed = 0,
    device: Device = "cpu",
    as_json: Json = False,
    quiet: Quiet = False,
) -> None:
    """Deform an icosphere to the target's silhouettes (soft IoU + Laplacian + flatten, Soft Rasterizer)."""
    import json

    from ..mesh.builtin import load_mesh
    from ..mesh.fit import FitConfig, fit_silhouettes, hard_iou, target_views
    from ..mesh.io import save_mesh
    from ..report.grid import make_grid, save_png
    from .common import progress, resolve_device

    if resolve_device(device) != "cpu":
        typer.echo("note: fit runs on the CPU in this release", err=True)
    try:
        mesh = load_mesh(target)
        cfg = FitConfig(steps=steps, size=size, views=views, seed=seed)
        train = target_views(mesh, cfg)
        held = target_views(mesh, FitConfig(size=size, views=6, elevation=10.0), offset_deg=17.0)
        with progress(steps, "fit", quiet=quiet or as_json) as advance:
            res = fit_silhouettes(train, cfg, on_step=lambda *_: advance(1))
        out.mkdir(parents=True, exist_ok=True)
        save_mesh(res.mesh, out / "fit.obj")
    except TraingenError as e:
        fail(e)
    from dataclasses import asdict

    import torch

    from ..mesh.raster import rasterize

    fitted = rasterize(torch.tensor(res.mesh.vertices, dtype=torch.float32), torch.tensor(res.mesh.faces),
                       held[0], mode="hard").alpha[:, 0].numpy()
    save_png(out / "fit.png", make_grid([list(held[1][:, 0].numpy()), list(fitted)]))
    result = {"target": target, "out": str(out), "config": asdict(cfg), "loss": res.losses, "soft_iou": res.ious,
              "train_hard_iou": hard_iou(res.mesh, *train), "heldout_hard_iou": hard_iou(res.mesh, *held)}
    tmp = out / ".result.json.tmp"
    tmp.write_text(json.dumps(result, indent=2))
    tmp.replace(out / "result.json")
    emit(result if as_json else {}, as_json=as_json, quiet=quiet,
         human=f"fit {target}: held-out IoU {result['heldout_hard_iou']:.3f} after {steps} steps -> {out}")
