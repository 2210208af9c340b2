"""``traingen quickstart``: the few-label main job on embedded data (what ``make demo`` runs)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import Json, Quiet, Workers, emit, progress


def quickstart_cmd(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("quickstart-out"),
    seeds: Annotated[str, typer.Option("--seeds", help="Training seeds, comma-separated.")] = "0,1,2",
    per_class: Annotated[int, typer.Option("--per-class", min=1, help="Labelled images per class.")] = 50,
    augmented: Annotated[int, typer.Option("--augmented", min=1, help="Augmented images per seed in arms b and c.")] = 3000,
    gan: Annotated[int, typer.Option("--gan", min=1, help="GAN candidates before the filter (arm c).")] = 1000,
    budget: Annotated[int, typer.Option("--budget", min=1, help="Image passes per training run.")] = 21000,
    test_limit: Annotated[int | None, typer.Option("--test-limit", min=1, help="Use N test images (quick checks).")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an OUT holding other sizes.")] = False,
    workers: Workers = 2,
    as_json: Json = False,
    quiet: Quiet = False,
) -> None:
    """Few-label mnist5k: train on (a) real, (b) + augmented, (c) + filtered GAN; print the table, write the report."""
    from ..pipeline.quickstart import QuickstartConfig, run_quickstart

    try:
        seed_list = tuple(int(s) for s in seeds.split(",") if s.strip())
    except ValueError as e:
        raise typer.BadParameter(f"--seeds must be integers separated by commas, got {seeds!r}") from e
    cfg = QuickstartConfig(per_class=per_class, augmented=augmented, gan_candidates=gan, seeds=seed_list,
                           budget=budget, test_limit=test_limit, workers=workers)
    with progress(3 * len(seed_list), "training", quiet=quiet or as_json) as advance:
        res = run_quickstart(out, cfg, overwrite=overwrite, progress=advance)
    result = {"out": str(res.out), "report": str(res.report), "data": str(res.run_dir / "data"),
              "arms": [{"name": a.name, "mean": a.mean, "std": a.std, "per_seed": a.per_seed, "real": a.real,
                        "augmented": a.augmented, "gan_kept": a.gan} for a in res.arms],
              "seconds": {k: round(v, 3) for k, v in res.seconds.items()}}
    emit(result, as_json=as_json, quiet=quiet, human=f"{res.table}\n  report  {res.report}")
