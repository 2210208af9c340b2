"""``traingen render OUT``: render randomized 3D scenes into an exactly annotated dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import Device, Json, Quiet, Seed, Verbose, Workers, emit, progress, resolve_device


def render_cmd(
    out: Annotated[Path, typer.Argument(help="Output folder.")],
    scene: Annotated[Path | None, typer.Option("--scene", "-s", help="Scene YAML (default: built-in classes, "
                                               "the paper's ranges).")] = None,
    n: Annotated[int, typer.Option("--n", "-n", min=1, help="Number of images.")] = 100,
    fmt: Annotated[str, typer.Option("--format", "-f", help="coco, kitti or webdataset (or imagefolder).")] = "coco",
    shard_size: Annotated[int, typer.Option("--shard-size", min=1, help="Images per shard.")] = 64,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an OUT that holds another run.")] = False,
    seed: Seed = 0,
    workers: Workers = 1,
    device: Device = "cpu",
    as_json: Json = False,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Render N randomized scenes (domain randomization, Tremblay et al. 2018) with masks, boxes and depth."""
    from ..render.job import run_render

    # The EGL context picks the GPU driver when one is present; the flag is validated for uniformity.
    resolve_device(device)
    with progress(n, "render", quiet=quiet or as_json) as advance:
        res = run_render(out, n=n, scene=scene, seed=seed, fmt=fmt, workers=workers, shard_size=shard_size,
                         overwrite=overwrite, progress=advance)
    result = {"out": str(res.out), "manifest": str(res.manifest), "images": res.total, "shards": res.shards,
              "shards_skipped": res.skipped, "format": res.format, "seconds": round(res.seconds, 3),
              "scene": str(scene) if scene else "default"}
    human = f"rendered {res.total} images in {res.shards} shards to {res.out} ({res.seconds:.1f} s)"
    if verbose and res.skipped:
        human += f"; {res.skipped} shards were already done"
    emit(result, as_json=as_json, quiet=quiet, human=human)
