"""``traingen run RECIPE --out RUN``: a recipe from source to dataset, metrics and report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import Device, Json, Quiet, emit, progress, resolve_device


def run_cmd(
    recipe: Annotated[str, typer.Argument(help="Recipe YAML (a path or a shipped recipe's file name).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Run folder (a rerun resumes it).")],
    workers: Annotated[int | None, typer.Option("--workers", min=1, help="Workers (overrides the recipe; "
                                                "the output does not depend on it).")] = None,
    engine: Annotated[str | None, typer.Option("--engine", help="local or ray (overrides the recipe).")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Run seed (overrides the recipe).")] = None,
    ray_address: Annotated[str | None, typer.Option("--ray-address", help="Join this Ray cluster.")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Start over in a RUN of another recipe.")] = False,
    no_report: Annotated[bool, typer.Option("--no-report", help="Skip RUN/report.html.")] = False,
    device: Device = "cpu",
    as_json: Json = False,
    quiet: Quiet = False,
) -> None:
    """Run a recipe: validate it, write the shards (resumable), evaluate, write the report."""
    from ..pipeline.run import prepare, run

    resolve_device(device)
    if engine is not None and engine not in ("local", "ray"):
        raise typer.BadParameter(f"--engine must be local or ray, got {engine!r}")
    total = prepare(recipe, out, workers=workers, engine=engine, seed=seed).job.total if not (quiet or as_json) \
        else None
    with progress(total, "run", quiet=quiet or as_json) as advance:
        res = run(recipe, out, workers=workers, engine=engine, seed=seed, ray_address=ray_address,
                  overwrite=overwrite, report=False if no_report else None, progress=advance)
    result = {"out": str(res.out), "total": res.manifest.get("total"), "counts": res.counts, "shards": res.shards,
              "shards_run": res.shards_run, "shards_skipped": res.shards_skipped, "metrics": res.metrics,
              "paths": {k: str(v) for k, v in res.paths.items()},
              "seconds": {k: round(v, 3) for k, v in res.seconds.items()}}
    human = (f"run: {result['total']} samples in {res.paths['data']} ({res.shards_run} shards written, "
             f"{res.shards_skipped} skipped)\n  report  {res.paths['report']}")
    emit(result, as_json=as_json, quiet=quiet, human=human)
