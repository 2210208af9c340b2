"""``traingen sample RUN``: generate a labelled dataset from a trained GAN run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import Device, Json, Quiet, Seed, emit, progress, resolve_device


def parse_classes(text: str | None, names: list[str]) -> list[int] | None:
    """``"1,3"`` or ``"face"`` -> class indices (integers, or class names of the run)."""
    if text is None:
        return None
    out = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        if part in names:
            out.append(names.index(part))
        elif part.lstrip("-").isdigit():
            out.append(int(part))
        else:
            raise typer.BadParameter(f"unknown class {part!r}; the run's classes: {', '.join(names) or '(none)'}",
                                     param_hint="--classes")
    if not out:
        raise typer.BadParameter("no class given", param_hint="--classes")
    return out


def sample_cmd(
    run: Annotated[Path, typer.Argument(help="A run folder written by `traingen train gan`.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")],
    n: Annotated[int | None, typer.Option("--n", min=1, help="Images in all, spread evenly over the classes.")] = None,
    per_class: Annotated[int | None, typer.Option("--per-class", min=1, help="Images of each class.")] = None,
    classes: Annotated[str | None, typer.Option("--classes", help="Only these classes: indices or names, '1,3'.")] = None,
    truncation: Annotated[float | None, typer.Option("--truncation", help="Resample latent values with |z| > T (T > 0).")] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="imagefolder or webdataset.")] = "imagefolder",
    filter_classifier: Annotated[str | None, typer.Option(
        "--filter-classifier", help="Keep only images this classifier (e.g. mnist5k-classifier) assigns to their class.")] = None,
    min_confidence: Annotated[float, typer.Option("--min-confidence", min=0.0, max=1.0,
                                                  help="Probability of the class a kept image needs.")] = 0.5,
    step: Annotated[int | None, typer.Option("--step", help="Checkpoint step (default: the latest).")] = None,
    no_ema: Annotated[bool, typer.Option("--no-ema", help="Sample the raw generator, not its EMA.")] = False,
    shard_size: Annotated[int, typer.Option("--shard-size", min=1, help="Images per shard.")] = 1000,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an OUT that holds another job.")] = False,
    seed: Seed = 0,
    device: Device = "cpu",
    as_json: Json = False,
    quiet: Quiet = False,
) -> None:
    """Generate N (or K per class) labelled images from RUN's EMA generator into OUT."""
    from ..gan.sample import run_classes, sample

    if (n is None) == (per_class is None):
        raise typer.BadParameter("give exactly one of --n and --per-class", param_hint="--n")
    dev = resolve_device(device)
    chosen = parse_classes(classes, run_classes(run))
    total = n if n is not None else per_class * (len(chosen) if chosen else max(len(run_classes(run)), 1))
    with progress(total, "sample", quiet=quiet or as_json) as advance:
        res = sample(run, out, n=n, per_class=per_class, classes=chosen, truncation=truncation, seed=seed, fmt=fmt,
                     classifier=filter_classifier, min_confidence=min_confidence, step=step, use_ema=not no_ema,
                     shard_size=shard_size, device=dev, overwrite=overwrite, progress=advance)
    result = {
        "out": str(res.out), "manifest": str(res.manifest), "format": res.format, "samples": res.n,
        "per_class": res.per_class, "candidates": res.candidates, "rejected": res.rejected,
        "rejected_per_class": res.rejected_per_class, "checkpoint": str(res.checkpoint),
        "checkpoint_sha256": res.checkpoint_sha256, "step": res.step, "ema": res.ema,
        "seconds": round(res.seconds, 3),
    }
    human = f"wrote {res.n} images to {res.out} from step {res.step} ({'EMA' if res.ema else 'raw'} generator"
    if filter_classifier:
        human += f"; {filter_classifier} rejected {res.rejected} of {res.candidates} candidates"
    emit(result, as_json=as_json, quiet=quiet, human=human + f", {res.seconds:.1f} s)")
