"""TextureGAN data: training tensors from sketch|target pairs, the texture bank, and dataset export.

* :func:`load_texturegan_data` reads a paired source in the layout of ``builtin:render-sketch2rgb``
  (A: sketch in red, object mask in green; B: the target) into ``A`` = N×2×H×W (sketch: 1 on the
  background, -1 on lines; mask: 1 inside, -1 outside) and ``B`` = N×3×H×W RGB, both in [-1, 1].
* :func:`load_texture_bank` reads any image source (``builtin:texture-bank@train``, a folder of
  texture photos) into N×3×S×S floats in [0, 1], every texture resized so its shorter side is at least
  the model's image size and centre-cropped square.
* :func:`texturegan_export` is what ``traingen translate RUN SRC OUT --pairs`` runs for a TextureGAN
  run: sample ``i`` gets a texture of the run's ``export_bank`` (held-out textures by default) and
  pasted patches drawn from ``torch_generator(seed, "texturegan-export", i)``; the output image keeps
  the sample's label and gains the object's annotations (``mask``: label + 1 on the object as the
  renderer's class maps, ``instance_mask``, one box), so COCO output holds the object's RLE mask; its
  meta records the texture's index in the bank.

Example:
    >>> data = load_texturegan_data(cfg)               # cfg.model == "texturegan"
    >>> bank = load_texture_bank("builtin:texture-bank@test", 64)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..core.errors import ConfigError, DataError
from ..core.seeding import torch_generator


def pair_tensors(a_images: list[np.ndarray], b_images: list[np.ndarray] | None, *, size: int,
                 where: str) -> tuple[torch.Tensor, torch.Tensor | None]:
    """A halves (and B halves) -> the model's A (N×2×H×W) and B (N×3×H×W) tensors in [-1, 1]."""
    import cv2

    from ..data.render_sketch2rgb import decode_a
    from .data import to_tensor

    a = np.empty((len(a_images), 2, size, size), np.float32)
    for i, img in enumerate(a_images):
        sketch, mask = decode_a(img)
        if sketch.shape != (size, size):
            sketch = cv2.resize(sketch.astype(np.uint8), (size, size), interpolation=cv2.INTER_NEAREST) > 0
            mask = cv2.resize(mask.astype(np.uint8), (size, size), interpolation=cv2.INTER_NEAREST) > 0
        a[i, 0] = np.where(sketch, -1.0, 1.0)
        a[i, 1] = np.where(mask, 1.0, -1.0)
    b = to_tensor(b_images, size=size, channels=3, where=where) if b_images is not None else None
    return torch.from_numpy(a), b


def load_texturegan_data(cfg: Any) -> Any:
    """The training tensors of a ``texturegan`` run (module docstring)."""
    from ..data.paired import open_paired, split_pair
    from .config import resolve_model_config
    from .data import TranslationData

    if cfg.data_b:
        raise ConfigError("texturegan trains on sketch|target pairs: give data_a only", field="data_b")
    mc = resolve_model_config(cfg)
    src = open_paired(cfg.data_a)
    n = len(src) if cfg.limit_a <= 0 else min(len(src), cfg.limit_a)
    if n == 0:
        raise DataError("no training pairs", where=cfg.data_a)
    pairs = [split_pair(src[i].image, where=src.name) for i in range(n)]
    a, b = pair_tensors([p[0] for p in pairs], [p[1] for p in pairs], size=mc.image_size, where=cfg.data_a)
    if not bool((a[:, 1] > 0).any()):
        raise DataError("no object pixels in any mask (green channel of A): not a sketch|target source",
                        where=cfg.data_a)
    return TranslationData(a, b, True)


def load_texture_bank(spec: str, size: int) -> torch.Tensor:
    """Every image of ``spec`` as N×3×S×S float in [0, 1] with S >= ``size`` (module docstring)."""
    import cv2

    from ..data import open_source

    src = open_source(spec)
    if len(src) == 0:
        raise DataError("the texture bank is empty", where=spec, field="texture_bank")
    out = []
    for i in range(len(src)):
        x = np.asarray(src[i].image)
        x = np.repeat(x[..., None], 3, axis=2) if x.ndim == 2 else x[..., :3]
        x = x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else x.astype(np.float32)
        h, w = x.shape[:2]
        s = min(h, w)
        x = x[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
        if s < size:
            x = cv2.resize(x, (size, size), interpolation=cv2.INTER_CUBIC)
        out.append(torch.from_numpy(np.ascontiguousarray(np.clip(x, 0, 1).transpose(2, 0, 1))))
    side = min(t.shape[-1] for t in out)
    return torch.stack([t[:, :side, :side] for t in out])


@torch.no_grad()
def texturize(model: Any, a: torch.Tensor, *, indices: list[int], seed: int,
              bank: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
    """Paste bank textures into sketches and run the generator (deterministic per sample index).

    Args:
        model: a :class:`~traingen.translate.texturegan.TextureGAN`.
        a: N×2×H×W inputs (sketch, mask) in [-1, 1].
        indices: the global sample indices (each seeds its own draws).
        seed: the export seed.
        bank: textures (default: the model's ``export_bank``).

    Returns:
        ``(RGB N×3×H×W in [0, 1], the 5-channel inputs, the bank index used per sample)``.
    """
    from . import texturegan_ops as ops

    c = model.config
    if bank is None:
        bank = load_texture_bank(c.export_bank, c.image_size)
    xs, used = [], []
    for j, i in enumerate(indices):
        g = torch_generator(seed, "texturegan-export", int(i))
        sketch, mask = a[j:j + 1, :1], (a[j:j + 1, 1:2] > 0).float()
        src, idx = model.external_source(torch.zeros(1, 3, *a.shape[-2:], device=a.device), mask, g, bank)
        used.append(int(idx[0]))
        x, _ = model.make_inputs(sketch, mask, src, g)
        xs.append(x)
    x = torch.cat(xs).to(a.device)
    return ops.nlab_to_rgb(model.translate(x)), x, used


def texturegan_export(model: Any, samples: list[Any], inputs: list[np.ndarray], indices: list[int], *,
                      seed: int, bank: torch.Tensor, device: str = "cpu") -> list[Any]:
    """The output samples of one shard of ``traingen translate`` for a TextureGAN run (module docstring)."""
    import cv2

    c = model.config
    a, _ = pair_tensors(inputs, None, size=c.image_size, where="translate")
    rgb, _, used = texturize(model, a.to(device), indices=indices, seed=seed, bank=bank)
    images = (rgb.permute(0, 2, 3, 1).cpu().numpy() * 255.0).round().clip(0, 255).astype(np.uint8)
    out = []
    for s, img, inp, i, t in zip(samples, images, inputs, indices, used, strict=True):
        h, w = inp.shape[:2]
        if img.shape[:2] != (h, w):
            img = cv2.resize(img, (w, h), interpolation=cv2.INTER_CUBIC)
        obj = np.asarray(inp)[..., 1] > 127
        label = int(s.label) if isinstance(s.label, (int, np.integer)) else 0
        ys, xs = np.nonzero(obj)
        boxes = (np.array([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]], np.float64) if len(ys) else
                 np.zeros((0, 4), np.float64))
        meta = {**s.meta, "technique": "translate-texturegan", "source_index": int(i), "texture_index": t,
                "texture_bank": c.export_bank}
        out.append(s.replace(image=img, mask=np.where(obj, label + 1, 0).astype(np.int64),
                             instance_mask=obj.astype(np.int64), boxes=boxes,
                             box_labels=np.full(len(boxes), label, np.int64), meta=meta))
    return out


def translate_texturegan(cfg: Any, model: Any, ckpt: Any, src: str, out: Any, *, fmt: str = "imagefolder",
                         seed: int = 0, pairs: bool = True, shard_size: int = 500, overwrite: bool = False,
                         device: str = "cpu", limit: int = 0, t0: float | None = None) -> dict[str, Any]:
    """``traingen translate`` for a TextureGAN run (called by :func:`~traingen.translate.export.translate_dataset`).

    SRC holds sketch|target pairs (``builtin:render-sketch2rgb@test``); the A halves are textured with
    the run's ``export_bank`` and written with the sample's label and the object mask.
    """
    import json
    import os
    import time
    from pathlib import Path

    from ..data import open_source, open_writer, plan_shards
    from ..data.paired import split_pair

    t0 = time.perf_counter() if t0 is None else t0
    if not pairs:
        raise ConfigError("a texturegan run translates sketch|target pairs (A: sketch in red, object mask in "
                          "green): pass --pairs", field="pairs")
    source = open_source(src)
    n = len(source) if limit <= 0 else min(limit, len(source))
    sha = json.loads(Path(str(ckpt) + ".json").read_text())["sha256"]
    c = model.config
    bank = load_texture_bank(c.export_bank, c.image_size)
    record = {"technique": "translate-texturegan", "run": str(Path(cfg_run_dir(ckpt)).resolve()),
              "checkpoint": Path(ckpt).name, "checkpoint_sha256": sha, "direction": "AtoB", "eval_mode": c.eval_mode,
              "dropout_at_inference": False, "source": source.name, "pairs": True, "texture_bank": c.export_bank,
              "label_filter": None, "count": n}
    writer = open_writer(fmt, out, classes=source.classes, config=record, seed=seed, overwrite=overwrite,
                         shard_size=shard_size)
    shards = plan_shards(n, shard_size)
    for shard in shards:
        if writer.is_done(shard.id):
            continue
        samples = [source[i] for i in shard.indices]
        inputs = [split_pair(s.image, where=source.name)[0] for s in samples]
        done = texturegan_export(model, samples, inputs, [int(i) for i in shard.indices], seed=seed, bank=bank,
                                 device=device)
        writer.write_shard(shard.id, done, start=shard.start)
    manifest = writer.finalize({"seconds": round(time.perf_counter() - t0, 3), "device": device,
                                "loadavg": os.getloadavg()}, shards=shards)
    doc = json.loads(manifest.read_text())
    return {"out": str(out), "count": n, "written": int(doc["total"]), "rejected": 0, "manifest": str(manifest),
            "checkpoint_sha256": sha, "direction": "AtoB", "eval_mode": bool(c.eval_mode),
            "seconds": round(time.perf_counter() - t0, 3)}


def cfg_run_dir(ckpt: Any) -> Any:
    """The run folder of a checkpoint path (``RUN/checkpoints/step-N``)."""
    from pathlib import Path

    return Path(ckpt).parent.parent
