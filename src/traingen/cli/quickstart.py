"""``traingen quickstart``: the main job on embedded data (what ``make demo`` runs)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import Device, Json, Quiet, Seed, Workers, emit, progress, resolve_device


def quickstart_cmd(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("quickstart-out"),
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Use only N images, evenly spread over the source.")] = None,
    copies: Annotated[int, typer.Option("--copies", "-n", min=1, help="Augmented copies per image.")] = 1,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an OUT holding another job.")] = False,
    seed: Seed = 0,
    workers: Workers = 1,
    device: Device = "cpu",
    as_json: Json = False,
    quiet: Quiet = False,
) -> None:
    """Export mnist5k, augment it, write a sample grid and an HTML page."""
    from ..pipeline.quickstart import run_quickstart

    resolve_device(device)
    total = (limit or 4000) * copies
    with progress(total, "quickstart", quiet=quiet or as_json) as advance:
        res = run_quickstart(out, seed=seed, workers=workers, copies=copies, limit=limit,
                             overwrite=overwrite, progress=advance)
    result = {
        "out": str(res.out), "export": str(res.export), "augmented": str(res.augmented),
        "grid": str(res.grid), "page": str(res.page), "samples": res.samples,
        "seconds": {k: round(v, 3) for k, v in res.seconds.items()},
    }
    human = (f"quickstart: {res.samples} augmented samples in {res.augmented}\n"
             f"  grid  {res.grid}\n  page  {res.page}")
    emit(result, as_json=as_json, quiet=quiet, human=human)
