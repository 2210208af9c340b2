"""``traingen train gan``: train a GAN from a recipe (``recipes/gan-<model>-<data>.yaml``).

Runs alone (``traingen train gan --config ... --out RUN``) or under torchrun for several GPUs or
nodes (``torchrun --nproc_per_node 4 -m traingen.cli.main train gan ...``): the trainer finds the
process group in the environment, and only rank 0 writes and prints.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from . import translate as translate_cli
from .common import Device, Json, Quiet, emit, progress_enabled

app = typer.Typer(help="Train generative models (GANs) on a dataset.", no_args_is_help=True)

SeedOverride = Annotated[int | None, typer.Option("--seed", help="Override the recipe's seed.")]


@contextmanager
def loss_progress(total: int, start: int, *, quiet: bool) -> Iterator[Any]:
    """A rich progress bar with the latest losses on stderr (terminal only); yields ``on_step``."""
    if not progress_enabled(quiet):
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("train"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  TextColumn("{task.fields[losses]}"), console=Console(stderr=True)) as bar:
        task = bar.add_task("train", total=total, completed=start, losses="")

        def on_step(step: int, total: int, logs: dict[str, float]) -> None:
            shown = " ".join(f"{k}={logs[k]:.3f}" for k in ("d_loss", "g_loss") if k in logs)
            bar.update(task, completed=step, losses=shown)

        yield on_step


app.command("translate")(translate_cli.train_translate_cmd)


@app.command("gan")
def gan_cmd(
    out: Annotated[Path, typer.Option("--out", "-o", help="Run folder (checkpoints, config.yaml, metrics.jsonl).")],
    config: Annotated[Path | None, typer.Option(
        "--config", "-c", help="Recipe YAML (recipes/gan-<model>-<data>.yaml); optional with --resume.")] = None,
    steps: Annotated[int | None, typer.Option("--steps", min=0, help="Total generator steps (overrides the recipe).")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue RUN from its latest checkpoint, exactly.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Delete an earlier run in RUN first.")] = False,
    seed: SeedOverride = None,
    device: Device = "",
    as_json: Json = False,
    quiet: Quiet = False,
) -> None:
    """Train the GAN a recipe describes, with checkpoints, logs and an EMA of the generator."""
    from ..core.errors import ConfigError
    from ..gan.train_config import load_train_config, read_run_config, resolved
    from ..gan.trainer import latest_checkpoint, train

    if resume and overwrite:
        raise typer.BadParameter("--resume and --overwrite exclude each other")
    overrides: dict[str, Any] = {"steps": steps, "seed": seed, "device": device or None}
    if config is not None:
        cfg = load_train_config(config, **overrides)
    elif resume:
        import dataclasses

        cfg = read_run_config(out)
        cfg = resolved(dataclasses.replace(cfg, **{k: v for k, v in overrides.items() if v is not None}))
    else:
        raise ConfigError("--config is required (or --resume to continue a run)", field="--config")
    rank0 = int(os.environ.get("RANK", "0")) == 0
    start = 0
    if resume and (ckpt := latest_checkpoint(out)) is not None:
        start = int(ckpt.name.split("-")[-1])
    with loss_progress(cfg.steps, start, quiet=quiet or as_json or not rank0) as on_step:
        res = train(cfg, out, resume=resume, overwrite=overwrite, on_step=on_step)
    if not rank0:
        return
    for note in res.notices:
        if not quiet:
            typer.secho(f"note: {note}", err=True, fg="yellow")
    result = {
        "run": str(res.run_dir), "model": cfg.model, "step": res.step, "steps_run": res.steps_run,
        "checkpoint": str(res.checkpoint) if res.checkpoint else None, "seconds": round(res.seconds, 3),
        "sec_per_step": round(res.sec_per_step, 5) if res.sec_per_step else None, "losses": res.losses,
        "world_size": res.world_size, "notices": res.notices,
    }
    losses = ", ".join(f"{k} {res.losses[k]:.3f}" for k in ("d_loss", "g_loss") if k in res.losses)
    human = (f"trained {cfg.model} to step {res.step} ({res.steps_run} steps, {res.seconds:.1f} s"
             + (f", {losses}" if losses else "") + f"); checkpoint {res.checkpoint}")
    emit(result, as_json=as_json, quiet=quiet, human=human)
