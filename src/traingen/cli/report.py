"""``traingen report RUN``: (re)write the static HTML report of a run folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import Json, Quiet, emit


def report_cmd(
    run_dir: Annotated[Path, typer.Argument(help="A run folder written by traingen run or quickstart.")],
    as_json: Json = False,
    quiet: Quiet = False,
) -> None:
    """Write RUN/report.html: recipe, counts, sample grids, metrics, plots, time per stage."""
    from ..report.run_report import write_report

    path = write_report(run_dir)
    emit({"report": str(path)}, as_json=as_json, quiet=quiet, human=f"report  {path}")
