"""``traingen translate RUN SRC OUT``: translate a whole labelled dataset with a trained generator.

Every sample of SRC goes through the run's generator (``AtoB`` or ``BtoA``) and is written with its
label, mask, boxes, keypoints and metadata unchanged: translation changes appearance, not geometry.
Inputs of another size are resized to the model's ``image_size`` and the output back to the input's
size, so masks and boxes stay valid. Output goes through the shard writers (ImageFolder, COCO,
WebDataset), atomically, shard by shard; a rerun skips finished shards.

Randomness: with the paper's train-mode inference (pix2pix dropout and batch statistics), sample ``i``
is translated alone under ``torch.manual_seed(derive_seed(seed, "translate", i))`` inside
``torch.random.fork_rng``, so the bytes depend on the seed alone. ``eval_mode`` (or a generator without
dropout and BatchNorm, such as CycleGAN's) is deterministic and translated in batches.

The label filter (``filter_classifier``, for CycleGAN exports of labelled data) drops translations that
a classifier does not assign to their source label; the manifest records the classifier and how many
samples it rejected. The manifest also records the checkpoint's sha256, the direction, the seed and the
inference mode.

Example:
    >>> translate_dataset("runs/cyclegan-fonts", "builtin:fonts2mnist@train", "out/fonts-as-mnist",
    ...                   filter_classifier="mnist5k-classifier")
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..core.errors import ConfigError
from ..core.seeding import derive_seed
from .data import to_tensor, to_uint8


def _classifier(name: str):
    from ..features.classifiers import SHIPPED, load_weights, shipped_file

    if name in SHIPPED:
        return load_weights(shipped_file(SHIPPED[name].weights_file)), name
    if Path(name).is_file():
        return load_weights(name), str(Path(name).resolve())
    raise ConfigError(f"unknown classifier {name!r}: give one of {sorted(SHIPPED)} or a weight file saved by "
                      "traingen.features.classifiers.save_weights", field="filter_classifier")


def _resize_back(img: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    import cv2

    if img.shape[:2] == hw:
        return img
    out = cv2.resize(img, (hw[1], hw[0]), interpolation=cv2.INTER_AREA if img.shape[0] > hw[0] else cv2.INTER_CUBIC)
    return out


def translate_dataset(run: str | os.PathLike, src: str, out: str | os.PathLike, *, direction: str = "AtoB",
                      fmt: str = "imagefolder", seed: int = 0, eval_mode: bool | None = None,
                      filter_classifier: str | None = None, pairs: bool = False, shard_size: int = 500,
                      batch_size: int = 32, overwrite: bool = False, device: str = "cpu",
                      limit: int = 0) -> dict[str, Any]:
    """Translate every sample of ``src`` into ``out`` (module docstring).

    Args:
        run: a translation run folder (its latest checkpoint is used).
        src: a source address (``builtin:fonts2mnist@train``, a folder, COCO, shards).
        out: the output folder.
        direction: ``AtoB`` or ``BtoA`` (CycleGAN only).
        fmt: ``imagefolder``, ``coco`` or ``webdataset``.
        seed: seeds train-mode inference.
        eval_mode: None uses the model's setting (pix2pix ``eval_mode``; CycleGAN eval).
        filter_classifier: drop samples whose translation this classifier does not label as the source
            (a shipped classifier, a weight file, or ``semantic``: the run's frozen source classifier).
        pairs: SRC holds A|B pairs: translate the A (left) half, keep the rest of the sample.
        shard_size: samples per shard.
        batch_size: images per forward pass when inference is deterministic.
        overwrite: replace a different earlier output in ``out``.
        device: torch device.
        limit: translate only the first N samples (0: all).

    Returns:
        A summary (counts, rejections, seconds, manifest path).
    """
    from ..data import open_source, open_writer, plan_shards
    from ..data.paired import split_pair
    from .trainer import load_run

    t0 = time.perf_counter()
    cfg, model, ckpt = load_run(run, device=device)
    if cfg.model == "texturegan":  # sketch|target pairs in, textures pasted from the run's export_bank
        from .texturegan_data import translate_texturegan

        return translate_texturegan(cfg, model, ckpt, src, out, fmt=fmt, seed=seed, pairs=pairs, shard_size=shard_size,
                                    overwrite=overwrite, device=device, limit=limit, t0=t0)
    if cfg.model == "sims":  # label maps in (masks, or A|B pairs with --pairs), (image, mask) pairs out
        from .sims_data import translate_sims

        return translate_sims(cfg, model, ckpt, src, out, fmt=fmt, seed=seed, pairs=pairs, shard_size=shard_size,
                              overwrite=overwrite, device=device, limit=limit, t0=t0)
    G = model.generator(direction)
    mc = model.config
    c_in, c_out = ((mc.in_channels, mc.out_channels) if cfg.model == "pix2pix" else
                   ((mc.channels_a, mc.channels_b) if direction == "AtoB" else (mc.channels_b, mc.channels_a)))
    ev = (mc.eval_mode if cfg.model == "pix2pix" else True) if eval_mode is None else eval_mode
    has_dropout = any(isinstance(m, torch.nn.Dropout) for m in G.modules())
    deterministic = ev or (not has_dropout and mc.norm != "batch")
    source = open_source(src)
    n = len(source) if limit <= 0 else min(limit, len(source))
    sha = json.loads(Path(str(ckpt) + ".json").read_text())["sha256"]
    if filter_classifier == "semantic":  # the run's frozen source classifier (CycleGAN's semantic loss)
        from .trainer import CLASSIFIER_FILE

        filter_classifier = str(Path(run) / CLASSIFIER_FILE)
    classifier, classifier_id = _classifier(filter_classifier) if filter_classifier else (None, None)
    record = {"technique": f"translate-{cfg.model}", "run": str(Path(run).resolve()), "checkpoint": ckpt.name,
              "checkpoint_sha256": sha, "direction": direction, "eval_mode": bool(ev),
              "dropout_at_inference": bool(has_dropout and not ev), "source": source.name, "pairs": pairs,
              "label_filter": classifier_id, "count": n}
    writer = open_writer(fmt, out, classes=source.classes, config=record, seed=seed, overwrite=overwrite,
                         shard_size=shard_size)
    shards = plan_shards(n, shard_size)
    G.train(not ev)
    for shard in shards:
        if writer.is_done(shard.id):
            continue
        samples = [source[i] for i in shard.indices]
        inputs = [split_pair(s.image)[0] if pairs else s.image for s in samples]
        x = to_tensor(inputs, size=mc.image_size, channels=c_in, where=source.name).to(device)
        with torch.no_grad():
            if deterministic:
                y = torch.cat([G(x[k:k + batch_size]) for k in range(0, len(x), batch_size)])
            else:
                ys = []
                for j, i in enumerate(shard.indices):
                    with torch.random.fork_rng(devices=[]):
                        torch.manual_seed(derive_seed(seed, "translate", i))
                        ys.append(_train_mode_forward(G, x[j:j + 1]))
                y = torch.cat(ys)
        images = to_uint8(y)
        keep = np.ones(len(samples), bool)
        if classifier is not None:
            from ..features.classifiers import predict_logits

            labels = np.array([int(s.label) if s.label is not None else -1 for s in samples])
            keep = predict_logits(classifier, images).argmax(1) == labels
        kept = []
        for j, (s, img) in enumerate(zip(samples, images, strict=True)):
            if not keep[j]:
                continue
            hw = inputs[j].shape[:2]
            img = _resize_back(img, hw)
            if img.ndim == 3 and img.shape[2] == 1:
                img = img[..., 0]
            meta = {**s.meta, "technique": record["technique"], "direction": direction,
                    "source_index": int(shard.indices[j])}
            kept.append(s.replace(image=img, meta=meta))
        writer.write_shard(shard.id, kept, start=shard.start)
    manifest = writer.finalize({"seconds": round(time.perf_counter() - t0, 3), "device": device,
                                "loadavg": os.getloadavg()}, shards=shards)
    doc = json.loads(manifest.read_text())
    rejected = n - int(doc["total"])
    if classifier is not None:
        from ..data.cache import atomic_write_json

        doc["label_filter"] = {"classifier": classifier_id, "rejected": rejected, "kept": int(doc["total"])}
        atomic_write_json(manifest, doc)
    return {"out": str(out), "count": n, "written": int(doc["total"]), "rejected": rejected,
            "manifest": str(manifest), "checkpoint_sha256": sha, "direction": direction, "eval_mode": bool(ev),
            "seconds": round(time.perf_counter() - t0, 3)}


def _train_mode_forward(G: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """One train-mode forward that leaves BatchNorm running statistics untouched."""
    bns = [m for m in G.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    saved = [m.momentum for m in bns]
    for m in bns:
        m.momentum = 0.0
    try:
        return G(x)
    finally:
        for m, mom in zip(bns, saved, strict=True):
            m.momentum = mom
