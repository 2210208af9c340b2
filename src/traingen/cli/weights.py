"""``traingen weights``: which weight files the feature networks found (parses and calls, nothing more)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import Json, emit

app = typer.Typer(help="Weight files of the feature networks: where they are looked for, what was found.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)


@app.callback()
def _weights() -> None:
    """Weight files of the feature networks (never downloaded: see docs/features.md)."""


@app.command("check")
def check_cmd(
    weights: Annotated[Path | None, typer.Option("--weights", help="A weight file or folder to check too.")] = None,
    as_json: Json = False,
) -> None:
    """List each feature network, the files it accepts, where it looked and what it found (sha256 checked)."""
    from ..features.weights import check_all

    rows = check_all(weights)
    if as_json:
        emit({"extractors": rows}, as_json=True, quiet=False)
        return
    for r in rows:
        if not r["needs_file"]:
            detail = r.get("error") or f"{r['kind']} weights, no file needed ({r['weights']})"
            typer.echo(f"{r['extractor']:<26} {r['status']:<9} {detail}")
            continue
        typer.echo(f"{r['extractor']:<26} {r['status']:<9} {r['description']}")
        typer.echo(f"{'':<26} accepts: {', '.join(r['accepts'])}")
        for place in r["looked_in"]:
            typer.echo(f"{'':<26} looked in {place}")
        for f in r["found"]:
            typer.echo(f"{'':<26} found {f['path']}  sha256 {f['sha256'][:8]} {f['status']}")
    missing = [r["extractor"] for r in rows if r["status"] != "ok"]
    if missing:
        typer.echo(f"\n{len(missing)} network(s) without usable weights: {', '.join(missing)}. "
                   "Offline alternatives: random-multiscale, mnist5k-classifier, digits-classifier.")
