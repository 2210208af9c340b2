"""``traingen augment SRC OUT``: augment a dataset into a new one."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import Device, Json, Quiet, Seed, Verbose, Workers, emit, progress, resolve_device


def augment_cmd(
    src: Annotated[str, typer.Argument(help="builtin:NAME[@train|@test], a folder, a COCO json or shards.")],
    out: Annotated[Path, typer.Argument(help="Output folder.")],
    pipeline: Annotated[
        Path | None, typer.Option("--pipeline", "-p", help="Pipeline YAML (default: recipes/augment-light.yaml).")
    ] = None,
    copies: Annotated[int, typer.Option("--copies", "-n", min=1, help="Augmented copies per source image.")] = 1,
    fmt: Annotated[str, typer.Option("--format", "-f", help="imagefolder, coco or webdataset.")] = "imagefolder",
    shard_size: Annotated[int, typer.Option("--shard-size", min=1, help="Samples per shard.")] = 256,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Use only N source items, evenly spread over the source.")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an OUT that holds another job.")] = False,
    seed: Seed = 0,
    workers: Workers = 1,
    device: Device = "cpu",
    as_json: Json = False,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Augment SRC with a pipeline and write COPIES augmented samples per item to OUT."""
    from ..core.config import load_yaml
    from ..pipeline.augment_job import run_augment
    from ..recipes import recipe_path

    resolve_device(device)  # per-sample augmentation runs on the CPU; the flag is validated for uniformity
    pipe_path = pipeline if pipeline is not None else recipe_path("augment-light.yaml")
    pipe_dict = load_yaml(pipe_path)
    from ..data import open_source

    source = open_source(src)
    total = (min(limit, len(source)) if limit else len(source)) * copies
    with progress(total, "augment", quiet=quiet or as_json) as advance:
        res = run_augment(src, pipe_dict, out, copies=copies, seed=seed, fmt=fmt, workers=workers,
                          shard_size=shard_size, limit=limit, overwrite=overwrite, progress=advance,
                          opened=source)
    result = {
        "out": str(res.out), "manifest": str(res.manifest), "samples": res.total, "shards": res.shards,
        "shards_skipped": res.skipped, "format": res.format, "seconds": round(res.seconds, 3),
        "pipeline": str(pipe_path),
    }
    human = f"wrote {res.total} samples in {res.shards} shards to {res.out} ({res.seconds:.1f} s)"
    if verbose and res.skipped:
        human += f"; {res.skipped} shards were already done"
    emit(result, as_json=as_json, quiet=quiet, human=human)
