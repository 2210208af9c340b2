"""``traingen texture SRC OUT`` (synthesise textures) and ``traingen eval texture EXEMPLAR IMAGES...``.

SRC is an image file or a source address whose first item is the exemplar (``builtin:textures/brick``);
``--item N`` picks another item. OUT is a folder that gets ``texture_000.png`` ... and ``result.json``
(the resolved config, the loss per step and the time of each texture). Texture i >= 1 uses the seed
``derive_seed(seed, i)``; texture 0 uses ``--seed`` itself, so it equals the Python API's
``synthesize(..., seed=S)``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from .common import Device, Json, Quiet, Seed, Workers, emit, progress, resolve_device

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def load_images(addr: str, *, what: str, first_only: bool = False, item: int = 0) -> list[Any]:
    """Images of an image file, a folder or source address (all items, or item ``item`` only)."""
    from ..core.errors import DataError
    from ..data import open_source
    from ..data.imageio import read_image

    p = Path(addr)
    if p.suffix.lower() in IMAGE_SUFFIXES:
        if not p.is_file():
            raise DataError("no such image file", where=addr, field=what)
        return [read_image(p)]
    src = open_source(addr)
    if len(src) == 0:
        raise DataError(f"the {what} source holds no image", where=addr, field=what)
    if first_only:
        if not 0 <= item < len(src):
            raise DataError(f"--item {item} is out of range (the source has {len(src)} items)", where=addr,
                            field="item")
        return [src[item].image]
    return [src[i].image for i in range(len(src))]


def method_options(config: Path | None, overrides: dict[str, Any]) -> dict[str, Any]:
    """A method's settings: the YAML ``config`` (``version: 1``, dropped) updated by the options given (not None).

    Shared by ``traingen texture`` and ``traingen style``.
    """
    from ..core.config import load_yaml

    opts: dict[str, Any] = {}
    if config is not None:
        opts = dict(load_yaml(config))
        opts.pop("version", None)
    opts.update({k: v for k, v in overrides.items() if v is not None})
    return opts


def texture_cmd(
    src: Annotated[str, typer.Argument(help="Exemplar: image file or source address (builtin:textures/brick).")],
    out: Annotated[Path, typer.Argument(help="Output folder (texture_000.png ..., result.json).")],
    method: Annotated[str, typer.Option("--method", "-m", help="gatys, multiscale, expansion, quilting.")] = "gatys",
    size: Annotated[int | None, typer.Option("--size", min=16, help="Output side in pixels.")] = None,
    steps: Annotated[int | None, typer.Option("--steps", min=1, help="L-BFGS evaluations / training steps.")] = None,
    n: Annotated[int, typer.Option("--n", min=1, help="Number of textures.")] = 1,
    backbone: Annotated[str | None, typer.Option("--backbone", help="random-multiscale or vgg19.")] = None,
    weights: Annotated[str | None, typer.Option("--weights", help="VGG19 weight file (--backbone vgg19).")] = None,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="YAML of the method's settings (version: 1).")] = None,
    item: Annotated[int, typer.Option("--item", min=0, help="Which item of SRC is the exemplar.")] = 0,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace textures already in OUT.")] = False,
    seed: Seed = 0,
    workers: Workers = 1,
    device: Device = "cpu",
    as_json: Json = False,
    quiet: Quiet = False,
) -> None:
    """Synthesise N textures like the exemplar SRC with --method into OUT."""
    from ..core.config import to_dict
    from ..core.errors import OutputError
    from ..core.seeding import derive_seed
    from ..data.cache import atomic_write_bytes
    from ..data.imageio import encode_png
    from ..texture.base import build_config, get_method

    dev = resolve_device(device)
    m = get_method(method)
    opts = method_options(config, {"size": size, "steps": steps, "backbone": backbone, "weights": weights})
    if method == "quilting" and (backbone or weights):
        raise typer.BadParameter("--backbone/--weights do not apply to quilting")
    cfg = build_config(method, opts)
    exemplar = load_images(src, what="exemplar", first_only=True, item=item)[0]
    out.mkdir(parents=True, exist_ok=True)
    names = [f"texture_{i:03d}.png" for i in range(n)]
    if not overwrite and any((out / nm).exists() for nm in names):
        raise OutputError("OUT already holds textures; pass --overwrite to replace them", where=str(out), field="out")
    total_steps = n * max(1, getattr(cfg, "steps", 1))
    records = []
    with progress(total_steps if method != "quilting" else n, f"texture {method}", quiet=quiet or as_json) as advance:
        for i, name in enumerate(names):
            s = seed if i == 0 else derive_seed(seed, i)
            last = [0]

            def hook(step: int, loss: float, last=last) -> None:
                advance(step - last[0])
                last[0] = step

            res = m.run(exemplar, cfg, seed=s, device=dev, progress=hook)
            atomic_write_bytes(out / name, encode_png(res.image, where=str(out / name)))
            records.append({"file": name, "seed": s, "seconds": round(res.seconds, 3), "losses": res.losses,
                            "info": {k: v for k, v in res.info.items() if k != "config"}})
    result = {"method": method, "source": src, "item": item, "config": to_dict(cfg), "seed": seed, "n": n,
              "device": dev, "workers": 1, "textures": records,
              "seconds": round(sum(r["seconds"] for r in records), 3)}
    atomic_write_bytes(out / "result.json", json.dumps(result, indent=1, default=str).encode())
    brief = {k: v for k, v in result.items() if k != "textures"}
    brief["files"] = [str(out / nm) for nm in names]
    emit(brief, as_json=as_json, quiet=quiet,
         human=f"wrote {n} {method} texture(s) to {out} ({result['seconds']:.1f} s)")


def eval_texture_cmd(
    exemplar: Annotated[str, typer.Argument(help="Exemplar: image file or source address.")],
    images: Annotated[list[str], typer.Argument(help="Textures to score: image files, folders or sources.")],
    threshold: Annotated[float | None, typer.Option("--threshold", help="Also list the textures scoring >= this.")] = None,
    levels: Annotated[int, typer.Option("--levels", min=1, max=6, help="Wavelet levels.")] = 3,
    item: Annotated[int, typer.Option("--item", min=0, help="Which item of EXEMPLAR to use.")] = 0,
    as_json: Json = False,
    quiet: Quiet = False,
) -> None:
    """Reduced-reference texture quality (arXiv 1804.08020) of IMAGES against EXEMPLAR: 1 = every attribute matches."""
    from ..metrics.texture_quality import TextureQualityConfig, texture_features, texture_quality

    cfg = TextureQualityConfig(levels=levels)
    ref = texture_features(load_images(exemplar, what="exemplar", first_only=True, item=item)[0], cfg)
    rows = []
    for addr in images:
        imgs = load_images(addr, what="images")
        for j, img in enumerate(imgs):
            label = addr if len(imgs) == 1 else f"{addr}[{j}]"
            rows.append({"image": label, "score": round(texture_quality(ref, img), 6)})
    result: dict[str, Any] = {"metric": "texture-quality", "exemplar": exemplar, "levels": levels, "scores": rows,
                              "mean": round(sum(r["score"] for r in rows) / len(rows), 6)}
    if threshold is not None:
        result["threshold"] = threshold
        result["kept"] = [r["image"] for r in sorted(rows, key=lambda r: -r["score"]) if r["score"] >= threshold]
    human = "\n".join(f"{r['score']:.4f}  {r['image']}" for r in rows) + f"\nmean {result['mean']:.4f}"
    if threshold is not None:
        human += f"\nkept {len(result['kept'])} of {len(rows)} at >= {threshold}"
    emit(result, as_json=as_json, quiet=quiet, human=human)
