"""``traingen list``: print every registry and its names."""

from __future__ import annotations

from typing import Annotated

import typer

from .common import Json, emit


def list_cmd(
    registry: Annotated[str | None, typer.Argument(help="Only this registry (e.g. augment).")] = None,
    as_json: Json = False,
) -> None:
    """List the registered components (transforms, mixers, datasets, formats, ...)."""
    from ..registries import all_registries

    regs = all_registries()
    if registry is not None:
        if registry not in regs:
            raise typer.BadParameter(f"unknown registry {registry!r}; known: {', '.join(regs)}")
        regs = {registry: regs[registry]}
    result = {name: reg.names() for name, reg in regs.items()}
    if as_json:
        emit(result, as_json=True, quiet=False)
        return
    for name, reg in regs.items():
        typer.echo(f"{name}: {reg.description}" if reg.description else f"{name}:")
        for key in reg.names():
            typer.echo(f"  {key}")
