"""Generators shipped inside the package (``traingen/pipeline/weights/``) for the ``gan-sample`` step.

A shipped generator is two files: ``NAME.safetensors`` (the EMA generator's weights, float32) and
``NAME.json`` (its card: the training run's resolved config, the recipe that reproduces it, the data
it saw, the step, and the sha256 of the weight file). :func:`export_generator` writes both from a
``traingen train gan`` run; :func:`load_shipped_generator` rebuilds the model and checks the hash.

Shipped now: ``cdcgan-mnist5k-fewlabel`` -- a cDCGAN trained only on the 500 labelled digits of the
quickstart's few-label regime (recipe ``recipes/gan-cdcgan-mnist5k-fewlabel.yaml``).

Example:
    >>> gen = load_any_generator("cdcgan-mnist5k-fewlabel")
    >>> gen.model.config.num_classes, gen.sha256[:8]

    $ python -m traingen.pipeline.weights runs/cdcgan-fewlabel      # re-export after training
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.resources
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..core.errors import CheckpointError

WEIGHTS_DIR = "weights"
FEWLABEL_GAN = "cdcgan-mnist5k-fewlabel"


def weights_dir() -> Path:
    return Path(str(importlib.resources.files("traingen.pipeline").joinpath(WEIGHTS_DIR)))


def shipped_names() -> list[str]:
    d = weights_dir()
    return sorted(p.stem for p in d.glob("*.json")) if d.is_dir() else []


def load_shipped_generator(name: str, *, device: str = "cpu"):
    """Build the shipped generator ``name`` (a :class:`traingen.gan.sample.LoadedGenerator`).

    Raises:
        CheckpointError: unknown name, missing file, or a weight file whose sha256 differs from its card.
    """
    import torch
    from safetensors.torch import load_file

    from ..gan.sample import LoadedGenerator
    from ..gan.train_config import build_model, train_config_from_dict

    card_path = weights_dir() / f"{name}.json"
    st_path = weights_dir() / f"{name}.safetensors"
    if not card_path.is_file() or not st_path.is_file():
        raise CheckpointError(f"no shipped generator {name!r}; shipped: {', '.join(shipped_names()) or '(none)'}; "
                              "or give a 'traingen train gan' run folder", where=str(weights_dir()),
                              field="checkpoint")
    card = json.loads(card_path.read_text())
    sha = _sha256(st_path)
    if sha != card.get("sha256"):
        raise CheckpointError(f"sha256 {sha[:12]}... differs from the card's {str(card.get('sha256'))[:12]}...: "
                              "the file is damaged; reinstall traingen", where=str(st_path))
    cfg = train_config_from_dict(card["train_config"], where=str(card_path))
    model = build_model(cfg, generator=torch.Generator().manual_seed(0), where=str(card_path))
    model.G.load_state_dict(load_file(str(st_path), device=device))
    model.to(device).eval()
    model.G.requires_grad_(False)
    return LoadedGenerator(model, st_path, sha, int(card.get("step", 0)), True, list(card["classes"]))


def load_any_generator(checkpoint: str | os.PathLike, *, device: str = "cpu"):
    """A shipped generator by name, or the latest EMA checkpoint of a run folder."""
    if Path(checkpoint).is_dir():
        from ..gan.sample import load_generator

        return load_generator(checkpoint, device=device)
    return load_shipped_generator(str(checkpoint), device=device)


def export_generator(run_dir: str | os.PathLike, name: str = FEWLABEL_GAN, *, out_dir: str | os.PathLike | None = None,
                     recipe: str = "recipes/gan-cdcgan-mnist5k-fewlabel.yaml",
                     data: str = "the first 50 images of each class of builtin:mnist5k@train (500)",
                     extra: dict[str, Any] | None = None) -> Path:
    """Write ``NAME.safetensors`` (EMA generator) and ``NAME.json`` (card) from a GAN run; returns the card."""
    from safetensors.torch import save as st_save

    from ..core.config import to_dict
    from ..data.cache import atomic_write_bytes, atomic_write_json
    from ..gan.sample import load_generator
    from ..gan.train_config import read_run_config

    gen = load_generator(run_dir)
    tensors = {k: v.detach().cpu().float().contiguous() for k, v in gen.model.G.state_dict().items()}
    blob = st_save(tensors)
    out = Path(out_dir) if out_dir is not None else weights_dir()
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out / f"{name}.safetensors", blob)
    card = {
        "name": name,
        "sha256": hashlib.sha256(blob).hexdigest(),
        "bytes": len(blob),
        "parameters": int(sum(t.numel() for t in tensors.values())),
        "model": read_run_config(run_dir).model,
        # the run's config with steps = the exported step: training that many steps reproduces it
        "train_config": {**to_dict(read_run_config(run_dir)), "steps": gen.step},
        "step": gen.step,
        "ema": gen.ema,
        "classes": gen.classes,
        "source_checkpoint_sha256": gen.sha256,
        "recipe": recipe,
        "data": data,
        "reproduce": [
            "python -m traingen.pipeline.fewlabel runs/mnist5k-fewlabel500",
            f"traingen train gan --config {recipe} --out runs/cdcgan-fewlabel",
            "python -m traingen.pipeline.weights runs/cdcgan-fewlabel",
        ],
        "history": _history(Path(run_dir) / "metrics.jsonl", gen.step),
        **(extra or {}),
    }
    path = out / f"{name}.json"
    atomic_write_json(path, card)
    for p in (path, out / f"{name}.safetensors"):
        os.chmod(p, 0o644)
    return path


def _history(path: Path, last_step: int) -> dict[str, list[float]]:
    """The run's training curves (step, d_loss, g_loss) up to the exported step, for the report's plots."""
    rows = []
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if row.get("step", 0) <= last_step and "d_loss" in row and "g_loss" in row:
                rows.append(row)
    return {"step": [int(r["step"]) for r in rows], "d_loss": [round(float(r["d_loss"]), 5) for r in rows],
            "g_loss": [round(float(r["g_loss"]), 5) for r in rows]}


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m traingen.pipeline.weights",
                                 description="Export a GAN run's EMA generator as a shipped generator.")
    ap.add_argument("run")
    ap.add_argument("--name", default=FEWLABEL_GAN)
    ap.add_argument("--out-dir", default=None)
    args = ap.parse_args(argv)
    print(export_generator(args.run, args.name, out_dir=args.out_dir))


if __name__ == "__main__":
    main()
