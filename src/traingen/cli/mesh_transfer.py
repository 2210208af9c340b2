"""``traingen mesh texture-transfer``: texture from photos onto a part-labelled model collection.

Registered on ``traingen mesh`` by :func:`register` (one line in ``cli/mesh.py``); torch is imported
inside the command.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..core.errors import ConfigError, DataError, TraingenError
from .common import Device, Json, Quiet, Seed, emit, fail, progress


def _load_photo(spec: str, size: int):
    import cv2
    import numpy as np

    if spec.startswith("builtin:"):
        from ..data import open_source

        img = open_source(spec)[0].image
    else:
        from ..data.imageio import read_image

        img = read_image(spec)
    img = np.asarray(img)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, 2)
    img = img[..., :3].astype(np.float32) / (65535.0 if img.dtype == np.uint16 else 255.0)
    k = size / max(img.shape[:2])
    if k < 1:
        img = cv2.resize(img, (round(img.shape[1] * k), round(img.shape[0] * k)), interpolation=cv2.INTER_AREA)
    return np.clip(img, 0, 1), k


def _collection(spec: str, members: int):
    from ..mesh.builtin import load_mesh
    from ..mesh.procedural import FAMILIES

    items = [s for s in spec.split(",") if s]
    if len(items) == 1 and items[0].startswith("builtin:mesh/") and items[0].split("/", 1)[1] in FAMILIES:
        return [load_mesh(f"{items[0]}/{k}") for k in range(members)], [f"{items[0]}/{k}" for k in range(members)]
    return [load_mesh(s) for s in items], items


def texture_transfer_cmd(
    photos: Annotated[str, typer.Argument(help="Photo(s), comma-separated: files or builtin:photos/NAME.")],
    collection: Annotated[str, typer.Argument(help="builtin:mesh/FAMILY (its first --members members) or "
                                                   "comma-separated mesh files with UVs and part labels.")],
    out: Annotated[Path, typer.Argument(help="Output folder: model_K.obj/.mtl/.png, photos.png, result.json.")],
    masks: Annotated[str | None, typer.Option("--mask", help="Mask image(s), comma-separated, one per photo "
                                                             "(default: GrabCut on --box).")] = None,
    box: Annotated[str | None, typer.Option("--box", help="x0,y0,x1,y1 GrabCut box in the original photo "
                                                          "(default: the photo less a 5 %% border).")] = None,
    members: Annotated[int, typer.Option("--members", min=1, help="Family members in the collection.")] = 4,
    size: Annotated[int, typer.Option("--size", min=16, help="Photos are resized to this longest side.")] = 128,
    steps: Annotated[int, typer.Option("--steps", min=0, help="Pose refinement steps per start.")] = 40,
    texture_size: Annotated[int, typer.Option("--texture-size", min=8, help="Texels per part chart side.")] = 64,
    fov: Annotated[float, typer.Option("--fov", help="The photos' vertical field of view (degrees).")] = 40.0,
    config: Annotated[Path | None, typer.Option("--config", help="YAML PoseConfig fields (version: 1).")] = None,
    seed: Seed = 0,
    device: Device = "cpu",
    as_json: Json = False,
    quiet: Quiet = False,
) -> None:
    """Wang et al. 2016: align each photo to the collection, remove the light, back-project into the
    parts' canonical UVs, complete, and transfer onto every model at constant texel density."""
    import json
    import time
    from dataclasses import asdict

    import numpy as np

    from ..core.config import from_dict, load_yaml
    from ..data.imageio import read_image
    from ..mesh.io import save_mesh
    from ..mesh.texture_pose import PoseConfig
    from ..mesh.texture_transfer import Photo, TransferConfig, render_textured, transfer_texture
    from ..report.grid import make_grid, save_png
    from .common import resolve_device

    if resolve_device(device) != "cpu":
        typer.echo("note: texture-transfer runs on the CPU in this release", err=True)
    t0 = time.time()
    try:
        raw = load_yaml(config) if config is not None else {}
        raw = {k: v for k, v in raw.items() if k != "version"}
        raw.setdefault("steps", steps)
        raw.setdefault("fov_y_deg", fov)
        pose_cfg = from_dict(PoseConfig, raw, where=str(config) if config else "texture-transfer")
        cfg = TransferConfig(pose=pose_cfg, texture_size=texture_size)
        specs = [s for s in photos.split(",") if s]
        mask_specs = [s for s in masks.split(",") if s] if masks else []
        if mask_specs and len(mask_specs) != len(specs):
            raise ConfigError(f"{len(mask_specs)} masks for {len(specs)} photos", where="texture-transfer",
                              field="mask")
        items = []
        for k, spec in enumerate(specs):
            img, scale = _load_photo(spec, size)
            m, b = None, None
            if mask_specs:
                import cv2

                m = np.asarray(read_image(mask_specs[k]), np.float32)
                m = m.mean(-1) if m.ndim == 3 else m
                m = cv2.resize((m > 0).astype(np.float32), img.shape[1::-1], interpolation=cv2.INTER_NEAREST)
            elif box:
                vals = [float(x) for x in box.split(",")]
                if len(vals) != 4:
                    raise ConfigError(f"--box needs x0,y0,x1,y1, got {box!r}", where="texture-transfer", field="box")
                b = tuple(int(round(v * min(scale, 1.0))) for v in vals)
            items.append(Photo(img, m, b, name=spec))
        models, names = _collection(collection, members)
        stages = 3 + len(items)
        with progress(stages, "texture-transfer", quiet=quiet or as_json) as advance:
            res = transfer_texture(items, models, cfg, seed=seed, on_stage=lambda _s: advance(1))
        out.mkdir(parents=True, exist_ok=True)
        paths = [str(save_mesh(m, out / f"model_{k}.obj")) for k, m in enumerate(res.textured)]
    except (TraingenError, ValueError) as e:
        fail(e if isinstance(e, TraingenError) else DataError(str(e), where="texture-transfer"))
    rows = [[p.image, np.repeat(r.mask[..., None], 3, 2), r.albedo, r.rerender] for p, r in zip(items, res.photos,
                                                                                                   strict=True)]
    save_png(out / "photos.png", make_grid(rows))
    from ..render.camera import Camera

    strip = []
    for m in res.textured:
        c = m.bounds().mean(0)
        rad = float(np.linalg.norm(m.vertices - c, axis=1).max())
        strip.append([render_textured(m, Camera.orbit(3.2 * rad, az, 20.0, target=tuple(c), width=96, height=96,
                                                      fov_y_deg=40.0)) for az in (0, 90, 180, 270)])
    save_png(out / "turntable.png", make_grid(strip))
    result = {"photos": specs, "collection": names, "out": str(out), "config": asdict(cfg), "seed": seed,
              "source_model": res.source_index, "models": paths, "seconds": round(time.time() - t0, 2),
              "per_photo": [{"photo": r.name, "model": r.alignment.model_index, "iou": r.alignment.iou,
                             "grid_iou": r.alignment.grid_iou, "pose": r.alignment.pose.to_dict(),
                             "light": r.light.to_dict(), "rerender_psnr": r.rerender_psnr,
                             "loss": r.alignment.losses} for r in res.photos],
              "observed_fraction": {res.textured[res.source_index].part_names[p]: float(o.mean())
                                    for p, o in res.observed.items()},
              "texel_density": [{k: list(v) for k, v in d.items()} for d in res.densities]}
    tmp = out / ".result.json.tmp"
    tmp.write_text(json.dumps(result, indent=2))
    tmp.replace(out / "result.json")
    best = res.photos[0]
    emit(result if as_json else {}, as_json=as_json, quiet=quiet,
         human=f"texture-transfer: {len(items)} photo(s) -> model {res.source_index} (IoU {best.alignment.iou:.3f}, "
               f"re-render {best.rerender_psnr:.1f} dB), {len(paths)} textured models -> {out}")


def register(mesh_app: typer.Typer) -> None:
    """Add ``texture-transfer`` to ``traingen mesh``."""
    mesh_app.command("texture-transfer")(texture_transfer_cmd)
