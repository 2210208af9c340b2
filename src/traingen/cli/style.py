"""``traingen style CONTENT STYLE OUT`` (one image or a whole dataset) and ``traingen train style``.

One image: CONTENT is an image file, ``face:NAME`` (a shipped face with region masks) or a source
address holding one item (``builtin:photos/astronaut``); OUT is a ``.png`` path or a folder that gets
``stylized.png`` and ``result.json``. A dataset: CONTENT is a source address with several items (or
``--format`` is given): every item is restyled, labels, masks and boxes kept, and written as a dataset
in OUT (imagefolder, coco, webdataset). STYLE is an image file, ``face:NAME`` or a source address (a
dataset run draws one of its items per sample).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from .common import Device, Json, Quiet, Seed, Workers, emit, progress, resolve_device
from .texture import IMAGE_SUFFIXES, method_options


def _load(addr: str, what: str) -> tuple[Any, Any, int]:
    """(image, mask or None, item count) of an address; for a multi-item source, its first item."""
    from ..data import open_source
    from ..data.imageio import read_image

    if addr.startswith("face:"):
        from ..style.facial import load_face

        img, mask = load_face(addr[5:])
        return img, mask, 1
    p = Path(addr)
    if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file():
        return read_image(p), None, 1
    src = open_source(addr)
    if len(src) == 0:
        from ..core.errors import DataError

        raise DataError(f"the {what} source holds no image", where=addr, field=what)
    first = src[0]
    return first.image, first.mask, len(src)


def style_cmd(
    content: Annotated[str, typer.Argument(help="Image file, face:NAME, or a source address (dataset mode).")],
    style: Annotated[str, typer.Argument(help="Style image file, face:NAME or a source address.")],
    out: Annotated[Path, typer.Argument(help="Output .png, or folder (one image) / dataset folder.")],
    method: Annotated[str, typer.Option("--method", "-m", help="gatys, photo, facial, adain, arbitrary, sanet.")] = "gatys",
    config: Annotated[Path | None, typer.Option("--config", "-c", help="YAML of the method's settings (version: 1).")] = None,
    checkpoint: Annotated[str | None, typer.Option("--checkpoint", help="Trained run (adain, arbitrary, sanet).")] = None,
    size: Annotated[int | None, typer.Option("--size", min=8, help="Longer side of the transfer in pixels.")] = None,
    evaluations: Annotated[int | None, typer.Option("--evaluations", min=1, help="L-BFGS evaluations.")] = None,
    backbone: Annotated[str | None, typer.Option("--backbone", help="random-multiscale or vgg19.")] = None,
    weights: Annotated[str | None, typer.Option("--weights", help="VGG19 weight file (--backbone vgg19).")] = None,
    preserve_color: Annotated[str | None, typer.Option("--preserve-color", help="none, luminance, histogram.")] = None,
    content_mask: Annotated[Path | None, typer.Option("--content-mask", help="HxW label PNG (photo, facial).")] = None,
    style_mask: Annotated[Path | None, typer.Option("--style-mask", help="HxW label PNG (photo, facial).")] = None,
    fmt: Annotated[str | None, typer.Option("--format", "-f", help="Dataset mode: imagefolder, coco, webdataset.")] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Dataset mode: restyle N items, spread.")] = None,
    shard_size: Annotated[int, typer.Option("--shard-size", min=1, help="Dataset mode: samples per shard.")] = 64,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an OUT that holds another job.")] = False,
    seed: Seed = 0,
    workers: Workers = 1,
    device: Device = "cpu",
    as_json: Json = False,
    quiet: Quiet = False,
) -> None:
    """Restyle CONTENT with STYLE (one image, or every item of a dataset keeping its labels)."""
    from ..style.base import get_method

    dev = resolve_device(device)
    m = get_method(method)  # unknown method -> error listing the known ones
    overrides = {"evaluations": evaluations, "backbone": backbone, "weights": weights,
                 "preserve_color": preserve_color}
    if getattr(m, "trained", False):
        given = [f"--{k.replace('_', '-')}" for k, v in overrides.items() if v is not None]
        if given:
            raise typer.BadParameter(f"{', '.join(given)} apply to optimisation methods, not {method}")
        overrides = {}
    cfg = method_options(config, overrides)
    c_img, c_mask, n_items = _load(content, "content") if not (fmt or _is_multi(content)) else (None, None, 2)
    if n_items > 1 or fmt:
        from ..data import open_source
        from ..style.restyle import run_restyle

        total = len(open_source(content))
        total = min(limit, total) if limit else total
        with progress(total, f"style {method}", quiet=quiet or as_json) as advance:
            res = run_restyle(content, style, out, method=method, config=cfg, checkpoint=checkpoint, size=size,
                              seed=seed, fmt=fmt or "imagefolder", workers=workers, shard_size=shard_size,
                              limit=limit, overwrite=overwrite, progress=advance)
        result = {"out": str(res.out), "manifest": str(res.manifest), "samples": res.total, "shards": res.shards,
                  "shards_skipped": res.skipped, "format": res.format, "method": method,
                  "seconds": round(res.seconds, 3)}
        emit(result, as_json=as_json, quiet=quiet,
             human=f"restyled {res.total} samples with {method} into {res.out} ({res.seconds:.1f} s)")
        return
    _single(c_img, c_mask, content, style, out, method, cfg, checkpoint, size, content_mask, style_mask, seed, dev,
            as_json, quiet)


def _is_multi(addr: str) -> bool:
    if addr.startswith("face:") or Path(addr).suffix.lower() in IMAGE_SUFFIXES:
        return False
    from ..data import open_source

    return len(open_source(addr)) > 1


def _single(c_img, c_mask, content, style, out, method, cfg, checkpoint, size, content_mask, style_mask, seed, dev,
            as_json, quiet) -> None:
    from ..core.errors import DataError
    from ..data.cache import atomic_write_bytes
    from ..data.imageio import encode_png, read_image
    from ..style.train import method_runner

    s_img, s_mask, _ = _load(style, "style")
    if content_mask is not None:
        c_mask = read_image(content_mask, keep_uint16=True)
    if style_mask is not None:
        s_mask = read_image(style_mask, keep_uint16=True)
    for name, mk in (("content_mask", c_mask), ("style_mask", s_mask)):
        if mk is not None and getattr(mk, "ndim", 2) != 2:
            raise DataError(f"a mask must be a single-channel label image, got shape {mk.shape}", field=name)
    runner = method_runner(method, checkpoint=checkpoint, config=cfg, device=dev, size=size)
    kwargs = {}
    if method in ("photo", "facial") and c_mask is not None and s_mask is not None:
        kwargs = {"content_mask": c_mask, "style_mask": s_mask}
    res = runner(c_img, s_img, seed=seed, **kwargs)
    png = out if out.suffix.lower() == ".png" else out / "stylized.png"
    atomic_write_bytes(png, encode_png(res.image))
    info = {"out": str(png), "method": method, "content": content, "style": style, "seed": seed,
            "seconds": round(res.seconds, 3), "losses": [round(v, 6) for v in res.losses],
            "size": list(res.image.shape[:2]), **{k: v for k, v in res.info.items() if k != "config"},
            "config": res.info.get("config", cfg)}
    atomic_write_bytes(png.with_name(png.stem + ".json") if png.name != "stylized.png" else png.parent / "result.json",
                  json.dumps(info, indent=2, sort_keys=True, default=str).encode())
    emit(info, as_json=as_json, quiet=quiet, human=f"wrote {png} ({res.seconds:.1f} s, {method})")


def train_style_cmd(
    config: Annotated[Path, typer.Option("--config", "-c", help="Recipe YAML (recipes/style-<method>.yaml).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Run folder (model.safetensors/json); resumes.")],
    steps: Annotated[int | None, typer.Option("--steps", min=1, help="Override the recipe's steps.")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Override the recipe's seed.")] = None,
    device: Device = "cpu",
    as_json: Json = False,
    quiet: Quiet = False,
) -> None:
    """Train an encoder-decoder style network (adain, arbitrary, sanet) from a recipe."""
    from ..core.config import from_dict, load_yaml
    from ..style.train import TrainConfig, train_style

    if resolve_device(device) != "cpu":
        typer.secho("note: style training runs on the CPU in this release", err=True)
    data = dict(load_yaml(config))
    data.pop("version", None)
    if steps is not None:
        data["steps"] = steps
    if seed is not None:
        data["seed"] = seed
    cfg = from_dict(TrainConfig, data, where=str(config))
    with progress(cfg.steps, f"train {cfg.method}", quiet=quiet or as_json) as advance:
        res = train_style(cfg, out, progress=advance)
    result = {"checkpoint": str(res.checkpoint), "method": cfg.method, "steps": res.steps,
              "resumed_from": res.resumed_from, "first_loss": res.losses[0] if res.losses else None,
              "last_loss": res.losses[-1] if res.losses else None, "seconds": round(res.seconds, 3)}
    emit(result, as_json=as_json, quiet=quiet,
         human=f"trained {cfg.method} to step {res.steps} in {res.seconds:.1f} s -> {res.checkpoint}")
