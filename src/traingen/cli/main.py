"""Entry point of the ``traingen`` command: wires the verb modules, prints errors as one line."""

from __future__ import annotations

from typing import Annotated

import typer

from .. import __version__
from ..core.errors import TraingenError
from . import augment, datasets, eval, list_cmd, quickstart, sample, train, weights
from . import mesh as mesh_cli
from . import render as render_cli
from . import report as report_cli
from . import run as run_cli
from . import style as style_cli
from . import texture as texture_cli
from . import translate as translate_cli

app = typer.Typer(
    name="traingen",
    help="Generate training data for deep learning, and measure whether it helps.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"traingen {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """traingen: augment, synthesize, translate, restyle and render training data."""


app.command("list")(list_cmd.list_cmd)
app.add_typer(datasets.app, name="datasets")
app.command("augment")(augment.augment_cmd)
app.command("quickstart")(quickstart.quickstart_cmd)
app.add_typer(eval.app, name="eval")
app.add_typer(weights.app, name="weights")
app.add_typer(train.app, name="train")
app.command("sample")(sample.sample_cmd)
app.command("translate")(translate_cli.translate_cmd)
app.command("render")(render_cli.render_cmd)
app.command("run")(run_cli.run_cmd)
app.command("report")(report_cli.report_cmd)
app.command("style")(style_cli.style_cmd)
train.app.command("style")(style_cli.train_style_cmd)
app.command("texture")(texture_cli.texture_cmd)
app.add_typer(mesh_cli.app, name="mesh")


def main() -> None:
    try:
        app()
    except TraingenError as e:
        typer.secho(f"error: {e}", err=True, fg="red")
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
