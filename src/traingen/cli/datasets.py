"""``traingen datasets``: list the embedded datasets, export any source to a format."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..core.errors import TraingenError
from .common import Json, Quiet, emit, fail, progress

app = typer.Typer(help="Embedded datasets: list them, export them (or any source) to a format.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)


@app.command("list")
def list_cmd(as_json: Json = False) -> None:
    """List the embedded datasets: size, image shape, classes, splits and licence."""
    from ..data.builtin import DATASETS

    rows = []
    for name, info in DATASETS.items():
        rows.append({"name": name, "size": info.size, "image_shape": info.image_shape,
                     "classes": len(info.classes), "splits": dict(info.splits), "items": list(info.items),
                     "origin": info.origin, "licence": info.licence, "description": info.description})
    if as_json:
        emit({"datasets": rows}, as_json=True, quiet=False)
        return
    for r in rows:
        splits = " / ".join(f"{k} {v}" for k, v in r["splits"].items()) or "items: " + ", ".join(r["items"])
        typer.echo(f"{r['name']:<9} {r['size']:>5}  {r['image_shape']:<13} {splits}")
        typer.echo(f"{'':<9} {r['description']}; {r['origin']}")
        typer.echo(f"{'':<9} licence: {r['licence']}")


def _address(name: str, split: str | None) -> str:
    """An embedded dataset's name means ``builtin:NAME``; ``--split`` appends ``@split``."""
    from ..data.builtin import DATASETS

    spec = f"builtin:{name}" if name in DATASETS else name
    if split is not None:
        if not spec.startswith("builtin:"):
            raise typer.BadParameter("--split applies to embedded datasets only", param_hint="--split")
        if "@" in spec:
            raise typer.BadParameter(f"{name!r} already names a split", param_hint="--split")
        spec = f"{spec}@{split}"
    return spec


@app.command("export")
def export_cmd(
    name: Annotated[str, typer.Argument(help="Embedded dataset (mnist5k, digits, ...) or any source address.")],
    out: Annotated[Path, typer.Argument(help="Output folder.")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="imagefolder, coco or webdataset.")] = "imagefolder",
    split: Annotated[str | None, typer.Option("--split", help="train or test (embedded datasets).")] = None,
    shard_size: Annotated[int, typer.Option("--shard-size", min=1, help="Samples per shard.")] = 1000,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Worker processes.")] = 1,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace a different earlier output.")] = False,
    as_json: Json = False,
    quiet: Quiet = False,
) -> None:
    """Export an embedded dataset (or any source) to ImageFolder, COCO or WebDataset, shard by shard."""
    from ..data.export import export_source
    from ..data.shards import WRITERS
    from ..data.sources import open_source

    if fmt not in WRITERS:
        raise typer.BadParameter(f"unknown format {fmt!r}; known: {', '.join(WRITERS.names())}",
                                 param_hint="--format")
    spec = _address(name, split)
    try:
        source = open_source(spec)
        with progress(len(source), f"export {source.name}", quiet=quiet or as_json) as advance:
            result = export_source(source, out, fmt=fmt, shard_size=shard_size, workers=workers,
                                   overwrite=overwrite, on_shard=advance)
    except TraingenError as e:
        fail(e)
    summary = {"source": source.name, "out": str(result.out_dir), "format": result.format, "total": result.total,
               "shards": result.shards, "written": result.written, "skipped": result.skipped,
               "manifest": str(result.manifest)}
    emit(summary, as_json=as_json, quiet=quiet,
         human=f"wrote {result.total} samples of {source.name} to {result.out_dir} ({fmt}, {result.shards} shards, "
               f"{result.skipped} already done)")
