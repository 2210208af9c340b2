"""``traingen eval is|fid|kid|pr|cas``: judge generated data with numbers."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

import typer

from .common import Device, Json, Quiet, Seed, emit, progress, resolve_device
from .texture import eval_texture_cmd

app = typer.Typer(help="Evaluate generated data: IS, FID, KID, precision/recall, density/coverage, CAS.",
                  no_args_is_help=True)
app.command("texture")(eval_texture_cmd)

Features = Annotated[str, typer.Option("--features", help="Feature network (traingen list features).")]
Weights = Annotated[str | None, typer.Option("--weights", help="Weight file for the feature network.")]
Limit = Annotated[int | None, typer.Option("--limit", min=1, help="Use only N images of each set.")]
BatchSize = Annotated[int, typer.Option("--batch-size", min=1, help="Images per feature batch.")]
NoCache = Annotated[bool, typer.Option("--no-cache", help="Do not read or write the feature cache.")]


def _plain(result: Any) -> dict[str, Any]:
    if hasattr(result, "to_dict"):
        return result.to_dict()
    if dataclasses.is_dataclass(result) and not isinstance(result, type):
        return dataclasses.asdict(result)
    return dict(result)


def _print_table(title: str, result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_header=True)
    table.add_column("field")
    table.add_column("value")
    for key, value in result.items():
        if isinstance(value, dict):
            for k2, v2 in value.items():
                table.add_row(f"{key}.{k2}", _fmt(v2))
        elif isinstance(value, (list, tuple)) and len(value) > 8:
            table.add_row(key, f"[{len(value)} values]")
        else:
            table.add_row(key, _fmt(value))
    Console().print(table)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def _run(metric: str, fake: str, real: str | None, *, features: str, weights: str | None, device: str,
         batch_size: int, seed: int, limit: int | None, no_cache: bool, as_json: bool, quiet: bool,
         **options: Any) -> None:
    from ..metrics.evaluate import evaluate

    dev = resolve_device(device)
    with progress(None, f"{metric}: features", quiet=quiet or as_json) as advance:
        result = evaluate(metric, fake, real, features=features, weights=weights, device=dev,
                          batch_size=batch_size, seed=seed, limit=limit, cache=not no_cache,
                          progress=advance, **options)
    plain = _plain(result)
    if as_json:
        emit(plain, as_json=True, quiet=quiet)
    elif not quiet:
        _print_table(f"{metric.upper()} of {fake}" + (f" vs {real}" if real else ""), plain)


@app.command("is")
def is_cmd(
    images: Annotated[str, typer.Argument(help="Generated images: folder, shards or builtin:NAME.")],
    features: Features = "inception-v3-fid",
    splits: Annotated[int, typer.Option("--splits", min=1, help="Splits of the compat protocol.")] = 10,
    weights: Weights = None,
    limit: Limit = None,
    batch_size: BatchSize = 64,
    no_cache: NoCache = False,
    seed: Seed = 0,
    device: Device = "cpu",
    as_json: Json = False,
    quiet: Quiet = False,
) -> None:
    """Inception Score (compat protocol and exact full-sample value)."""
    _run("is", images, None, features=features, weights=weights, device=device, batch_size=batch_size,
         seed=seed, limit=limit, no_cache=no_cache, as_json=as_json, quiet=quiet, splits=splits)


def _pair_command(metric: str, doc: str, default_features: str = "random-multiscale", **extra_opts: Any):
    def command(
        generated: Annotated[str, typer.Argument(help="Generated images: folder, shards or builtin:NAME.")],
        reference: Annotated[str, typer.Argument(help="Real reference images: folder, shards or builtin:NAME.")],
        features: Features = default_features,
        weights: Weights = None,
        limit: Limit = None,
        batch_size: BatchSize = 64,
        no_cache: NoCache = False,
        seed: Seed = 0,
        device: Device = "cpu",
        as_json: Json = False,
        quiet: Quiet = False,
        k: Annotated[int, typer.Option("--k", min=1, help="Neighbours (pr: 3, dc: 5 in the papers).")] = 3,
        subsets: Annotated[int, typer.Option("--subsets", min=1, help="Subsets (kid).")] = 100,
        subset_size: Annotated[int, typer.Option("--subset-size", min=2, help="Subset size (kid).")] = 1000,
    ) -> None:
        opts: dict[str, Any] = {}
        if metric in ("pr", "dc"):
            opts["k"] = k
        if metric == "kid":
            opts.update(subsets=subsets, subset_size=subset_size)
        _run(metric, generated, reference, features=features, weights=weights, device=device,
             batch_size=batch_size, seed=seed, limit=limit, no_cache=no_cache, as_json=as_json, quiet=quiet,
             **opts)

    command.__doc__ = doc
    return command


app.command("fid")(_pair_command("fid", "Fréchet distance between feature statistics of GENERATED and REFERENCE."))
app.command("kid")(_pair_command("kid", "Kernel Inception Distance (unbiased MMD², cubic kernel), mean and std."))
app.command("pr")(_pair_command("pr", "Precision and recall of GENERATED against REFERENCE (k-NN manifolds)."))
app.command("dc")(_pair_command("dc", "Density and coverage of GENERATED against REFERENCE (k-NN balls)."))


@app.command("cas")
def cas_cmd(
    generated: Annotated[str, typer.Argument(help="Generated labelled images: folder, shards or builtin:NAME.")],
    real_train: Annotated[str, typer.Option("--real-train", help="Real training images.")] = "builtin:mnist5k@train",
    real_test: Annotated[str, typer.Option("--real-test", help="Held-out real test images.")] = "builtin:mnist5k@test",
    n: Annotated[int | None, typer.Option("--n", min=1, help="Training images per arm (default: both sizes' min).")] = None,
    extra_n: Annotated[int | None, typer.Option("--extra-n", min=1, help="Also train on this many generated "
                                                 "images (e.g. 5000), reported beside.")] = None,
    epochs: Annotated[int | None, typer.Option("--epochs", min=1, help="Training epochs per arm.")] = None,
    seeds: Annotated[str, typer.Option("--seeds", help="Comma-separated seeds (mean over them).")] = "0,1,2",
    device: Device = "cpu",
    as_json: Json = False,
    quiet: Quiet = False,
) -> None:
    """Classification Accuracy Score: train on GENERATED, test on real; beside the same on real data."""
    from ..metrics.cas import classification_accuracy_score

    try:
        seed_list = tuple(int(s) for s in seeds.split(",") if s.strip())
    except ValueError:
        raise typer.BadParameter(f"--seeds must be comma-separated integers, got {seeds!r}") from None
    kwargs: dict[str, Any] = {"seeds": seed_list, "device": resolve_device(device)}
    if n is not None:
        kwargs["n"] = n
    if epochs is not None:
        kwargs["epochs"] = epochs
    if extra_n is not None:
        kwargs["extra_n"] = extra_n
    with progress(None, "cas: training", quiet=quiet or as_json) as advance:
        result = classification_accuracy_score(generated, real_train, real_test, progress=advance, **kwargs)
    plain = _plain(result)
    if as_json:
        emit(plain, as_json=True, quiet=quiet)
    elif not quiet:
        _print_table(f"CAS of {generated}", plain)
