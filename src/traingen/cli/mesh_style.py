"""``traingen mesh style`` and ``traingen mesh reconstruct train|predict`` (registered by :mod:`.mesh`).

Torch is imported inside the command functions only, so ``traingen --help`` stays light.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ..core.errors import TraingenError
from .common import Device, Json, Quiet, Seed, emit, fail, progress, resolve_device


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str))
    tmp.replace(path)


def _style_images(style_image: str, styles: str | None) -> list:
    from .texture import load_images

    if styles:
        return load_images(styles, what="styles")
    return load_images(style_image, what="style_image", first_only=True)


def style_cmd(
    mesh: Annotated[str, typer.Argument(help="A mesh file or builtin:mesh/NAME.")],
    style_image: Annotated[str, typer.Argument(help="Style image: file or address (builtin:textures/brick); "
                                                    "ignored with --dream.")],
    out: Annotated[Path, typer.Argument(help="Output folder: mesh.obj/.mtl/.png, turntable.png, result.json.")],
    steps: Annotated[int, typer.Option("--steps", min=1, help="Optimisation steps.")] = 50,
    size: Annotated[int, typer.Option("--size", min=8, help="Render size in pixels.")] = 64,
    texture: Annotated[str, typer.Option("--texture", help="cubes (Kato's T³) or uv (needs mesh UVs).")] = "cubes",
    vertices: Annotated[bool, typer.Option("--vertices", help="Optimise the vertices too.")] = False,
    backbone: Annotated[str, typer.Option("--backbone", help="random-multiscale or vgg19.")] = "random-multiscale",
    weights: Annotated[str | None, typer.Option("--weights", help="vgg19 weight file.")] = None,
    dream_flag: Annotated[bool, typer.Option("--dream", help="3D DeepDream instead of style transfer.")] = False,
    network: Annotated[str, typer.Option("--network", help="--dream network: random-multiscale, "
                                                           "mnist5k-classifier, digits-classifier.")] = "random-multiscale",
    layer: Annotated[str, typer.Option("--layer", help="--dream layer (kN, or relu0..relu3).")] = "k11",
    n: Annotated[int, typer.Option("--n", min=1, help="Stylised variants to write (variant_K/).")] = 1,
    styles: Annotated[str | None, typer.Option("--styles", help="Folder or address of style images, "
                                                                "cycled over the variants.")] = None,
    config: Annotated[Path | None, typer.Option("--config", help="YAML StyleConfig (DreamConfig with --dream), "
                                                                 "version: 1; replaces the options above.")] = None,
    seed: Seed = 0,
    device: Device = "cpu",
    as_json: Json = False,
    quiet: Quiet = False,
) -> None:
    """2D→3D style transfer (Kato et al.): texture (and vertices) optimised for a style's Gram statistics."""
    from dataclasses import asdict

    from ..core.seeding import derive_seed
    from ..mesh.builtin import load_mesh
    from ..mesh.dream import DreamConfig, dream
    from ..mesh.io import save_mesh
    from ..mesh.style import StyleConfig, stylize, turntable
    from ..report.grid import make_grid, save_png

    if resolve_device(device) != "cpu":
        typer.echo("note: mesh style runs on the CPU in this release", err=True)
    try:
        m = load_mesh(mesh)
        images = [] if dream_flag else _style_images(style_image, styles)
        if config is not None:
            from ..core.config import from_dict, load_yaml

            raw = {k: v for k, v in load_yaml(config).items() if k != "version"}
            cfg = from_dict(DreamConfig if dream_flag else StyleConfig, raw, where=str(config))
            steps = cfg.steps
        elif dream_flag:
            cfg = DreamConfig(steps=steps, size=size, network=network, layer=layer)
        else:
            cfg = StyleConfig(steps=steps, size=size, texture=texture, vertices=vertices, backbone=backbone,
                              weights=weights)
        out.mkdir(parents=True, exist_ok=True)
        variants = []
        rows = [turntable(m, 8, size)]
        with progress(steps * n, "mesh style", quiet=quiet or as_json) as advance:
            for k in range(n):
                s = seed if n == 1 else derive_seed(seed, "variant", k)
                if dream_flag:
                    res = dream(m, cfg, s, on_step=lambda *_: advance(1))
                else:
                    res = stylize(m, images[k % len(images)], cfg, s, on_step=lambda *_: advance(1))
                folder = out if n == 1 else out / f"variant_{k}"
                res.mesh.meta = {}
                res.mesh.name = "stylised"
                path = save_mesh(res.mesh, folder / "mesh.obj")
                rows.append(turntable(res.mesh, 8, size))
                variants.append({"mesh": str(path), "seed": s, "loss": res.losses, "style_loss": res.style_losses,
                                 "style_index": None if dream_flag else k % len(images)})
        save_png(out / "turntable.png", make_grid(rows))
    except TraingenError as e:
        fail(e)
    result = {"mesh": mesh, "style_image": None if dream_flag else (styles or style_image), "out": str(out),
              "mode": "dream" if dream_flag else "style", "config": asdict(cfg), "seed": seed, "variants": variants,
              "loss": variants[0]["loss"]}
    _write_json(out / "result.json", result)
    emit(result if as_json else {}, as_json=as_json, quiet=quiet,
         human=f"mesh style {mesh}: loss {variants[0]['loss'][0]:.4g} -> {variants[0]['loss'][-1]:.4g}, "
               f"{n} variant(s) -> {out}")


def register(mesh_app: typer.Typer, reconstruct_app: typer.Typer) -> None:
    """Add ``style`` to ``traingen mesh`` and ``train``/``predict`` to ``traingen mesh reconstruct``."""
    mesh_app.command("style")(style_cmd)
    from . import mesh_recon

    reconstruct_app.command("train")(mesh_recon.train_cmd)
    reconstruct_app.command("predict")(mesh_recon.predict_cmd)
