"""``traingen mesh detail-transfer``: displacement detail from a detailed source onto a plain target.

Registered on ``traingen mesh`` by :func:`register` (one line in ``cli/mesh.py``); numpy/scipy/xatlas are
imported inside the command. Outputs in OUT: ``displacement.png`` (16-bit, ``value = offset + scale ·
pixel / 65535``, both in ``result.json``), ``normal.png`` (object-space, ``(n + 1) / 2``), ``detailed.obj``
(subdivided, displaced, atlas UVs) and ``result.json`` (resolved config, learned weights, seconds).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..core.errors import DataError, TraingenError
from .common import Device, Json, Quiet, Seed, emit, fail, progress


def save_outputs(res, out: Path) -> dict:
    """Write the displacement PNG (16-bit), the normal map and the displaced OBJ; return their paths and the
    displacement PNG's ``offset``/``scale``."""
    import numpy as np

    from ..core.atomic import atomic_write_bytes
    from ..data.imageio import encode_png
    from ..mesh.io import save_mesh

    out.mkdir(parents=True, exist_ok=True)
    d = res.displacement
    lo, hi = float(d.min()), float(d.max())
    scale = hi - lo if hi > lo else 1.0
    img16 = np.round((d - lo) / scale * 65535).astype(np.uint16)
    png = encode_png(img16, where=str(out / "displacement.png"))
    atomic_write_bytes(out / "displacement.png", png)
    nrm = np.round((res.normal_map + 1) / 2 * 255).astype(np.uint8)
    nrm[~res.mask] = 0
    npng = encode_png(nrm, where=str(out / "normal.png"))
    atomic_write_bytes(out / "normal.png", npng)
    obj = save_mesh(res.mesh, out / "detailed.obj")
    return {"displacement_png": str(out / "displacement.png"), "normal_png": str(out / "normal.png"),
            "mesh": str(obj), "displacement_offset": lo, "displacement_scale": scale}


def detail_transfer_cmd(
    source: Annotated[str, typer.Argument(help="Detailed source mesh: a file or builtin:mesh/NAME.")],
    target: Annotated[str, typer.Argument(help="Plain target mesh: a file or builtin:mesh/NAME.")],
    out: Annotated[Path, typer.Argument(help="Output folder: displacement.png, normal.png, detailed.obj, "
                                             "result.json.")],
    size: Annotated[int, typer.Option("--size", min=8, help="Finest texel map side (divisible by 2^(levels-1)).")]
    = 128,
    steps: Annotated[int, typer.Option("--steps", min=0, help="Coherence passes per pyramid level.")] = 2,
    levels: Annotated[int, typer.Option("--levels", min=1, help="Pyramid levels.")] = 3,
    weights: Annotated[str, typer.Option("--weights", help="learned | equal | none (feature-free).")] = "learned",
    subdivisions: Annotated[int, typer.Option("--subdivisions", min=0, max=3, help="Midpoint subdivisions of "
                                                                                   "the output mesh.")] = 1,
    config: Annotated[Path | None, typer.Option("--config", help="YAML DetailConfig fields (version: 1).")] = None,
    seed: Seed = 0,
    device: Device = "cpu",
    as_json: Json = False,
    quiet: Quiet = False,
) -> None:
    """Berkiten et al. 2017: learn feature weights on the source's detail, synthesise the target's
    displacement in its xatlas atlas, and write the displaced, subdivided target."""
    import json
    import time
    from dataclasses import asdict

    from ..core.config import from_dict, load_yaml
    from ..mesh.builtin import load_mesh
    from ..mesh.detail_transfer import DetailConfig, transfer_detail
    from .common import resolve_device

    if resolve_device(device) != "cpu":
        typer.echo("note: detail-transfer runs on the CPU (numpy/scipy) in this release", err=True)
    t0 = time.time()
    try:
        raw = load_yaml(config) if config is not None else {}
        raw = {k: v for k, v in raw.items() if k != "version"}
        for k, v in (("size", size), ("passes", steps), ("levels", levels), ("weights", weights),
                     ("subdivisions", subdivisions)):
            raw.setdefault(k, v)
        cfg = from_dict(DetailConfig, raw, where=str(config) if config else "detail-transfer")
        src, tgt = load_mesh(source), load_mesh(target)
        with progress(5, "detail-transfer", quiet=quiet or as_json) as advance:
            res = transfer_detail(src, tgt, cfg, seed=seed, on_stage=lambda _s: advance(1))
            paths = save_outputs(res, out)
            advance(1)
    except (TraingenError, ValueError) as e:
        fail(e if isinstance(e, TraingenError) else DataError(str(e), where="detail-transfer"))
    result = {"source": source, "target": target, "out": str(out), "seed": seed, "config": asdict(cfg),
              "weights": res.weights, "raw_weights": res.raw_weights, "texels": int(res.mask.sum()), "charts": res.target.atlas.n_charts,
              "faces": int(res.mesh.n_faces), **paths, "seconds": round(time.time() - t0, 2)}
    tmp = out / ".result.json.tmp"
    tmp.write_text(json.dumps(result, indent=2))
    tmp.replace(out / "result.json")
    top = max(res.weights, key=res.weights.get) if res.weights else "none"
    emit(result if as_json else {}, as_json=as_json, quiet=quiet,
         human=f"detail-transfer: {source} -> {target}: {result['texels']} texels, top feature {top}, "
               f"{result['faces']} faces -> {out}")


def register(mesh_app: typer.Typer) -> None:
    """Add ``detail-transfer`` to ``traingen mesh``."""
    mesh_app.command("detail-transfer")(detail_transfer_cmd)
