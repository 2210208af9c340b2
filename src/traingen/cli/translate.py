"""``traingen train translate`` (pix2pix / CycleGAN training) and ``traingen translate RUN SRC OUT``.

Both set ``OMP_WAIT_POLICY=PASSIVE`` and the thread count before torch loads: on a loaded 2-core
machine PyTorch's default OpenMP spin-wait made one pix2pix step 90× slower. Every timing they print
carries the load average.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from .common import Device, Json, Quiet, Seed, emit, progress_enabled

Threads = Annotated[int | None, typer.Option("--threads", min=0, help="CPU threads for torch (0: all cores).")]


def set_wait_policy() -> tuple[str | None, list[str]]:
    """Set ``OMP_WAIT_POLICY=PASSIVE`` (unless the user set a policy) if torch has not loaded yet.

    Returns:
        The policy torch runs with (``None``: OpenMP's default, spin-waiting) and notices (torch was already
        imported without a policy, so it could not change).
    """
    if "torch" in sys.modules:
        policy = os.environ.get("OMP_WAIT_POLICY")
        if policy is None:
            return None, ["torch was already loaded: OMP_WAIT_POLICY could not be set (set it in the environment)"]
        return policy, []
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    return os.environ["OMP_WAIT_POLICY"], []


def set_threads(threads: int) -> tuple[str | None, list[str]]:
    """:func:`set_wait_policy`, then ``threads`` torch threads (0: leave torch's default).

    Returns:
        What :func:`set_wait_policy` returns.
    """
    policy, notes = set_wait_policy()
    if threads > 0:
        os.environ["OMP_NUM_THREADS"] = str(threads)
    import torch

    if threads > 0:
        torch.set_num_threads(threads)
    return policy, notes


def train_translate_cmd(
    out: Annotated[Path, typer.Option("--out", "-o", help="Run folder (checkpoints, config.yaml, metrics.jsonl).")],
    config: Annotated[Path | None, typer.Option(
        "--config", "-c", help="Recipe YAML (recipes/translate-<model>-<task>.yaml); optional with --resume.")] = None,
    steps: Annotated[int | None, typer.Option("--steps", min=0, help="Total steps (overrides the recipe).")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue RUN from its latest checkpoint, exactly.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Delete an earlier run in RUN first.")] = False,
    seed: Annotated[int | None, typer.Option("--seed", help="Override the recipe's seed.")] = None,
    threads: Threads = None,
    device: Device = "",
    as_json: Json = False,
    quiet: Quiet = False,
) -> None:
    """Train pix2pix, CycleGAN, TextureGAN or SIMS from a recipe, with exact resume, NaN stop and logged load average."""
    import dataclasses

    from ..core.errors import ConfigError
    from ..translate.config import load_translate_config, read_run_config, resolved

    policy, notes = set_wait_policy()  # before the config loads torch
    overrides: dict[str, Any] = {"steps": steps, "seed": seed, "device": device or None, "threads": threads}
    if resume and overwrite:
        raise typer.BadParameter("--resume and --overwrite exclude each other")
    if config is not None:
        cfg = load_translate_config(config, **overrides)
    elif resume:
        cfg = read_run_config(out)
        cfg = resolved(dataclasses.replace(cfg, **{k: v for k, v in overrides.items() if v is not None}))
    else:
        raise ConfigError("--config is required (or --resume to continue a run)", field="--config")
    set_threads(cfg.threads)
    from ..translate.trainer import train_translation

    with _progress(cfg.steps, quiet=quiet or as_json) as on_step:
        res = train_translation(cfg, out, resume=resume, overwrite=overwrite, on_step=on_step)
    notes += res.notices
    if not quiet and not as_json:
        for note in notes:
            typer.secho(f"note: {note}", err=True, fg="yellow")
    import torch

    load = [round(x, 2) for x in res.loadavg]
    result = {"run": str(res.run_dir), "model": cfg.model, "step": res.step, "steps_run": res.steps_run,
              "checkpoint": str(res.checkpoint) if res.checkpoint else None, "seconds": round(res.seconds, 3),
              "sec_per_step": round(res.sec_per_step, 5) if res.sec_per_step else None, "losses": res.losses,
              "loadavg": load, "threads": torch.get_num_threads(),
              "omp_wait_policy": policy, "notices": notes}
    per = f", {1000 * res.sec_per_step:.0f} ms/step" if res.sec_per_step else ""
    emit(result, as_json=as_json, quiet=quiet,
         human=f"trained {cfg.model} to step {res.step} ({res.steps_run} steps, {res.seconds:.1f} s{per}, "
               f"load {load[0]:.2f}, {torch.get_num_threads()} threads); checkpoint {res.checkpoint}")


class _progress:
    def __init__(self, total: int, *, quiet: bool):
        self.total, self.quiet, self.bar = total, quiet, None

    def __enter__(self):
        if not progress_enabled(self.quiet):
            return None
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.bar = Progress(TextColumn("train"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                            TextColumn("{task.fields[losses]}"), console=Console(stderr=True))
        self.bar.__enter__()
        task = self.bar.add_task("train", total=self.total, losses="")

        def on_step(step: int, total: int, logs: dict[str, float]) -> None:
            shown = " ".join(f"{k}={logs[k]:.3f}" for k in ("d_loss", "g_loss") if k in logs)
            self.bar.update(task, completed=step, losses=shown)

        return on_step

    def __exit__(self, *exc: Any) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)


def translate_cmd(
    run: Annotated[Path, typer.Argument(help="A translation run folder (traingen train translate --out RUN).")],
    src: Annotated[str, typer.Argument(help="Source: builtin:NAME[@split], a folder, COCO json or shards.")],
    out: Annotated[Path, typer.Argument(help="Output folder.")],
    direction: Annotated[str, typer.Option("--direction", help="AtoB or BtoA (CycleGAN).")] = "AtoB",
    fmt: Annotated[str, typer.Option("--format", help="imagefolder, coco or webdataset.")] = "imagefolder",
    eval_mode: Annotated[bool | None, typer.Option(
        "--eval/--train-mode", help="Inference mode; default: the model's (pix2pix keeps dropout).")] = None,
    filter_classifier: Annotated[str | None, typer.Option(
        "--filter-classifier", help="Drop translations this classifier does not give the source label: a "
                                    "shipped classifier, a weight file, or 'semantic' (the run's frozen source "
                                    "classifier).")] = None,
    pairs: Annotated[bool, typer.Option("--pairs", help="SRC holds A|B pairs: translate the A half.")] = False,
    limit: Annotated[int, typer.Option("--limit", min=0, help="Only the first N samples (0: all).")] = 0,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace a different earlier output.")] = False,
    seed: Seed = 0,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Accepted for the common interface; "
                                         "translation runs in one process.")] = 1,
    threads: Threads = 0,
    device: Device = "cpu",
    as_json: Json = False,
    quiet: Quiet = False,
) -> None:
    """Translate a whole labelled dataset, keeping labels, masks and boxes."""
    if direction not in ("AtoB", "BtoA"):
        raise typer.BadParameter(f"--direction must be AtoB or BtoA, got {direction!r}")
    policy, notes = set_threads(threads or 0)
    from ..translate.export import translate_dataset

    res = translate_dataset(run, src, out, direction=direction, fmt=fmt, seed=seed, eval_mode=eval_mode,
                            filter_classifier=filter_classifier, pairs=pairs, overwrite=overwrite,
                            device=device, limit=limit)
    res["loadavg"] = [round(x, 2) for x in os.getloadavg()]
    res["omp_wait_policy"], res["notices"] = policy, notes
    rej = f", {res['rejected']} rejected by the label filter" if filter_classifier else ""
    emit(res, as_json=as_json, quiet=quiet,
         human=f"translated {res['count']} samples ({direction}) into {out}: {res['written']} written{rej} "
               f"in {res['seconds']:.1f} s (load {res['loadavg'][0]:.2f})")
