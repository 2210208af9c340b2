"""SIMS data: label-map|image pairs as training tensors, the segment bank, and ``traingen translate`` export.

* :func:`decode_labels` reads the A half of a ``builtin:render-mask2rgb`` pair (channel 0: class ·
  ``255 // num_classes``; channel 2: depth, larger is nearer) into a class map and a depth map in [0, 1].
* :func:`load_sims_data` gives the trainer ``A`` = N×2×H×W (class index as float, depth) and ``B`` =
  N×3×H×W RGB in [-1, 1]; label maps are resized with nearest neighbour, never blended.
* :func:`load_bank` builds the :class:`~.sims_bank.SegmentBank` of the config's ``bank`` source.
* :func:`translate_sims` is ``traingen translate RUN SRC OUT`` for a SIMS run: SRC holds label maps,
  either as pairs (``--pairs``: the A half is decoded) or as samples with a ``mask`` (a render's class
  masks, ``traingen render`` output); each becomes an image and is written with that mask, so the output
  is (image, mask) pairs; each connected object component also becomes an instance with its box (class
  ``k`` of the map is category ``class-k``), so COCO output holds RLE masks. Sample ``i`` draws its
  retrievals from ``torch_generator(seed, "sims-export", i)``.

Example:
    >>> data = load_sims_data(cfg)                  # cfg.model == "sims"
    >>> translate_sims(cfg, model, ckpt, "builtin:render-mask2rgb@test", "out/sims", pairs=True)
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..core.errors import ConfigError, DataError
from ..core.seeding import torch_generator


def decode_labels(a: np.ndarray, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """``(class map H×W int64, depth H×W float32 in [0, 1])`` of an A image (module docstring)."""
    a = np.asarray(a)
    if a.ndim != 3 or a.shape[2] < 3:
        raise DataError(f"expected an RGB label image (class in channel 0, depth in channel 2), got {a.shape}")
    step = 255 // num_classes
    cls = np.rint(a[..., 0].astype(np.float64) / step).astype(np.int64)
    off = np.abs(a[..., 0].astype(np.int64) - cls * step).max()
    if cls.max() >= num_classes or off > step // 4:
        raise DataError(f"channel 0 is not class · {step} for num_classes {num_classes} (max value "
                        f"{int(a[..., 0].max())}, off by up to {int(off)}): check model_config.num_classes")
    return cls, a[..., 2].astype(np.float32) / 255.0


def _resize_nearest(x: np.ndarray, size: int) -> np.ndarray:
    import cv2

    if x.shape[:2] == (size, size):
        return x
    return cv2.resize(x, (size, size), interpolation=cv2.INTER_NEAREST)


def label_tensors(a_images: list[np.ndarray], b_images: list[np.ndarray] | None, *, size: int, num_classes: int,
                  where: str) -> tuple[torch.Tensor, torch.Tensor | None]:
    """A halves (and B halves) -> A N×2×size×size (class, depth) and B N×3×size×size in [-1, 1]."""
    from .data import to_tensor

    a = np.empty((len(a_images), 2, size, size), np.float32)
    for i, img in enumerate(a_images):
        cls, depth = decode_labels(img, num_classes)
        a[i, 0] = _resize_nearest(cls.astype(np.float32), size)
        a[i, 1] = _resize_nearest(depth, size)
    b = to_tensor(b_images, size=size, channels=3, where=where) if b_images is not None else None
    return torch.from_numpy(a), b


def _pairs(spec: str, limit: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    from ..data.paired import open_paired, split_pair

    src = open_paired(spec)
    n = len(src) if limit <= 0 else min(len(src), limit)
    if n == 0:
        raise DataError("no label|image pairs", where=spec)
    pairs = [split_pair(src[i].image, where=src.name) for i in range(n)]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def load_sims_data(cfg: Any) -> Any:
    """The training tensors of a ``sims`` run."""
    from .config import resolve_model_config
    from .data import TranslationData

    if cfg.data_b:
        raise ConfigError("sims trains on label|image pairs: give data_a only", field="data_b")
    mc = resolve_model_config(cfg)
    a_img, b_img = _pairs(cfg.data_a, cfg.limit_a)
    a, b = label_tensors(a_img, b_img, size=mc.image_size, num_classes=mc.num_classes, where=cfg.data_a)
    return TranslationData(a, b, True)


def load_bank(config: Any) -> Any:
    """The segment bank of ``config.bank`` (A|B pairs, at ``config.image_size``)."""
    from .sims_bank import SegmentBank

    a_img, b_img = _pairs(config.bank, config.bank_limit)
    a, b = label_tensors(a_img, b_img, size=config.image_size, num_classes=config.num_classes, where=config.bank)
    return SegmentBank.from_label_maps(a[:, 0].long(), b, min_pixels=config.min_pixels)


def _label_map(sample: Any, pairs: bool, num_classes: int, where: str) -> np.ndarray:
    from ..data.paired import split_pair

    if pairs:
        return decode_labels(split_pair(sample.image, where=where)[0], num_classes)[0]
    if sample.mask is None:
        raise DataError("the sample has no mask: give label maps (samples with a class mask) or A|B pairs with "
                        "--pairs", where=where)
    m = np.asarray(sample.mask, np.int64)
    if m.min() < 0 or m.max() >= num_classes:
        raise DataError(f"mask values {int(m.min())}..{int(m.max())} outside 0..{num_classes - 1} (num_classes)",
                        where=where)
    return m


def instances(label_map: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Objects of a class map: every connected component of a class > 0 is one instance.

    Returns:
        ``(instance_mask H×W int64 with i + 1 on object i, boxes N×4 xyxy, box_labels N = class − 1)``.
    """
    from .sims_bank import connected_segments

    segs = connected_segments(label_map, ignore=(0,))
    inst = np.zeros(label_map.shape, np.int64)
    boxes = np.zeros((len(segs), 4), np.float64)
    for i, (_, m) in enumerate(segs):
        inst[m] = i + 1
        ys, xs = np.nonzero(m)
        boxes[i] = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    return inst, boxes, np.array([c - 1 for c, _ in segs], np.int64)


def translate_sims(cfg: Any, model: Any, ckpt: Any, src: str, out: Any, *, fmt: str = "imagefolder", seed: int = 0,
                   pairs: bool = False, shard_size: int = 500, overwrite: bool = False, device: str = "cpu",
                   limit: int = 0, t0: float | None = None) -> dict[str, Any]:
    """``traingen translate`` for a SIMS run (module docstring): label maps in, (image, mask) pairs out."""
    import cv2

    from ..data import open_source, open_writer, plan_shards
    from ..data.paired import open_paired

    t0 = time.perf_counter() if t0 is None else t0
    c = model.config
    source = open_paired(src) if pairs else open_source(src)
    n = len(source) if limit <= 0 else min(limit, len(source))
    sha = json.loads(Path(str(ckpt) + ".json").read_text())["sha256"]
    run_dir = Path(ckpt).parent.parent
    record = {"technique": "translate-sims", "run": str(run_dir.resolve()), "checkpoint": Path(ckpt).name,
              "checkpoint_sha256": sha, "direction": "AtoB", "eval_mode": True, "dropout_at_inference": False,
              "source": source.name, "pairs": pairs, "bank": c.bank, "k": c.k, "label_filter": None, "count": n}
    classes = [f"class-{k}" for k in range(1, c.num_classes)]  # the label map's object classes
    writer = open_writer(fmt, out, classes=classes, config=record, seed=seed, overwrite=overwrite,
                         shard_size=shard_size)
    shards = plan_shards(n, shard_size)
    model.to(device)
    for shard in shards:
        if writer.is_done(shard.id):
            continue
        done = []
        for i in shard.indices:
            s = source[int(i)]
            lm = _label_map(s, pairs, c.num_classes, source.name)
            small = _resize_nearest(lm.astype(np.float32), c.image_size).astype(np.int64)
            res = model.synthesize(torch.from_numpy(small)[None],
                                   generator=torch_generator(seed, "sims-export", int(i)))
            img = ((res.images[0].permute(1, 2, 0).cpu().numpy() + 1.0) * 127.5).round().clip(0, 255).astype(np.uint8)
            if img.shape[:2] != lm.shape:
                img = cv2.resize(img, (lm.shape[1], lm.shape[0]), interpolation=cv2.INTER_CUBIC)
            meta = {**s.meta, "technique": "translate-sims", "source_index": int(i),
                    "retrieved": res.retrieved[0]}
            inst, boxes, labels = instances(lm)
            done.append(s.replace(image=img, mask=lm, instance_mask=inst, boxes=boxes, box_labels=labels, label=None,
                                  meta=meta))
        writer.write_shard(shard.id, done, start=shard.start)
    manifest = writer.finalize({"seconds": round(time.perf_counter() - t0, 3), "device": device,
                                "loadavg": os.getloadavg()}, shards=shards)
    doc = json.loads(manifest.read_text())
    return {"out": str(out), "count": n, "written": int(doc["total"]), "rejected": 0, "manifest": str(manifest),
            "checkpoint_sha256": sha, "direction": "AtoB", "eval_mode": True,
            "seconds": round(time.perf_counter() - t0, 3)}
