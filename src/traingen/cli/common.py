"""Options and output helpers shared by every verb (DESIGN §9)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, TypeVar

import typer

from ..core.errors import TraingenError

T = TypeVar("T")

Seed = Annotated[int, typer.Option("--seed", help="Run seed: the same seed gives the same bytes.")]
Workers = Annotated[int, typer.Option("--workers", min=1, help="Worker processes (output does not depend on it).")]
Device = Annotated[str, typer.Option("--device", help="cpu, cuda or auto.")]
Json = Annotated[bool, typer.Option("--json", help="Print a machine-readable result on stdout.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors (and --json).")]
Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Print more detail.")]


def progress_enabled(quiet: bool = False) -> bool:
    """Progress bars show on a terminal only, and never when ``CI`` is set."""
    return not quiet and sys.stderr.isatty() and not os.environ.get("CI")


@contextmanager
def progress(total: int | None, description: str, *, quiet: bool = False) -> Iterator[Any]:
    """A rich progress bar on stderr, or a no-op object off a terminal. Yields ``advance(n)``."""
    if not progress_enabled(quiet):
        yield lambda n=1: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        console=Console(stderr=True), transient=False,
    ) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n=1: bar.advance(task, n)


def track(items: Iterable[T], total: int, description: str, *, quiet: bool = False) -> Iterator[T]:
    with progress(total, description, quiet=quiet) as advance:
        for item in items:
            yield item
            advance(1)


def resolve_device(device: str) -> str:
    if device not in ("cpu", "cuda", "auto") and not device.startswith("cuda:"):
        raise typer.BadParameter(f"--device must be cpu, cuda or auto, got {device!r}")
    if device == "auto":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def emit(result: dict[str, Any], *, as_json: bool, quiet: bool, human: str | None = None) -> None:
    """Print the result: JSON on stdout with --json, else a human line unless --quiet."""
    if as_json:
        typer.echo(json.dumps(result, indent=2, sort_keys=True, default=str))
    elif not quiet and human:
        typer.echo(human)


def fail(err: TraingenError) -> None:
    typer.secho(f"error: {err}", err=True, fg="red")
    raise typer.Exit(2)
