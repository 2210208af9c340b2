"""Restyle a labelled dataset: every image gets a new appearance, its labels, masks and boxes stay.

Sample ``i`` of the output is source item ``i`` restyled with one of the style images (item
``derive_seed(seed, "restyle", i) % n_styles`` of the style source) by any registered method; the
result is resized back to the item's own resolution so every target keeps its meaning, and a grey
source item stays grey (the luminance of the result). The photo method receives the item's ``mask``
as its semantic guide when the style image has one too. Output is written shard by shard through
:func:`traingen.data.open_writer` (imagefolder, coco, webdataset) with a manifest, and a rerun skips
finished shards; the bytes depend on the seed alone, not on the worker count.

Example:
    >>> run_restyle("builtin:digits@train", "builtin:textures/brick", "out/digits-brick",
    ...             method="gatys", config={"size": 32, "evaluations": 20}, fmt="webdataset", limit=40)

References:
    Geirhos et al., "ImageNet-trained CNNs are biased towards texture; increasing shape bias improves
    accuracy and robustness", ICLR 2019 (Stylized-ImageNet: restyled training images keep their labels).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..core.seeding import derive_seed
from ..data.shard_job import ShardJob, run_shard_job

STEP = "restyle"


def match_image(out: np.ndarray, like: Any) -> np.ndarray:
    """``out`` (HxWx3 uint8) resized to ``like``'s size, with ``like``'s channel count (grey, RGB, RGBA).

    Alpha is copied from ``like``; float sources get float32 output in [0, 1].
    """
    import cv2

    ref = np.asarray(like)
    h, w = ref.shape[:2]
    if out.shape[:2] != (h, w):
        interp = cv2.INTER_AREA if out.shape[0] > h else cv2.INTER_LINEAR
        out = cv2.resize(out, (w, h), interpolation=interp)
    if ref.ndim == 2 or ref.shape[2] == 1:
        y = np.round(out.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)).clip(0, 255)
        out = y.astype(np.uint8).reshape(ref.shape)
    elif ref.shape[2] == 4:
        alpha = ref[:, :, 3:] if ref.dtype == np.uint8 else np.round(ref[:, :, 3:] * 255).astype(np.uint8)
        out = np.concatenate([out, alpha], axis=2)
    if np.issubdtype(ref.dtype, np.floating):
        return out.astype(np.float32) / 255.0
    return out


@dataclass
class RestyleJob(ShardJob):
    """A picklable shard task: restyle items ``[shard * shard_size, ...)`` of ``source``."""

    source: str
    style: str
    method: str
    config: dict[str, Any]
    checkpoint: str | None
    out: str
    fmt: str
    seed: int
    shard_size: int
    total: int
    classes: list[str]
    source_len: int
    size: int | None = None
    _cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def _build(self, what: str) -> Any:
        from .. import data
        from .train import method_runner

        if what == "source":
            return data.open_source(self.source)
        if what == "styles":
            return data.open_source(self.style)
        if what == "runner":
            return method_runner(self.method, checkpoint=self.checkpoint, config=self.config, size=self.size)
        if what == "writer":
            return data.open_writer(self.fmt, self.out, classes=self.classes, config=self.job_config(),
                                    seed=self.seed)
        return super()._build(what)

    def job_config(self) -> dict[str, Any]:
        """Everything that decides the bytes (goes into the manifest)."""
        return {"step": STEP, "source": self.source, "style": self.style, "method": self.method,
                "config": self.config, "checkpoint": self.checkpoint, "size": self.size,
                "shard_size": self.shard_size, "total": self.total, "format": self.fmt}

    def sample(self, index: int):
        """Output sample ``index``: source item ``index * source_len // total`` restyled."""
        src_index = index * self.source_len // self.total
        original = self._get("source")[src_index]
        styles = self._get("styles")
        sample_seed = derive_seed(self.seed, STEP, index)
        style_index = sample_seed % len(styles)
        style = styles[style_index]
        kwargs: dict[str, Any] = {}
        if self.method == "photo" and original.mask is not None and style.mask is not None:
            kwargs = {"content_mask": original.mask, "style_mask": style.mask}
        res = self._get("runner")(original.image, style.image, seed=sample_seed, **kwargs)
        meta = dict(original.meta)
        meta.update(key=f"{index:08d}", index=index, source=self.source,
                    source_key=original.meta.get("key", str(src_index)), seed=sample_seed, technique=STEP,
                    params={"method": self.method, "style": self.style,
                            "style_key": style.meta.get("key", str(style_index))})
        return original.replace(image=match_image(res.image, original.image), meta=meta)


@dataclass
class RestyleResult:
    out: Path
    manifest: Path
    total: int
    shards: int
    skipped: int
    seconds: float
    format: str


def run_restyle(source: str, style: str, out: str | Path, *, method: str = "gatys",
                config: dict[str, Any] | None = None, checkpoint: str | None = None, size: int | None = None,
                seed: int = 0, fmt: str = "imagefolder", workers: int = 1, shard_size: int = 64,
                limit: int | None = None, overwrite: bool = False, progress=None) -> RestyleResult:
    """Restyle every item of ``source`` with the images of ``style`` and write the dataset to ``out``.

    Args:
        source: the labelled dataset (``builtin:digits@train``, a folder, COCO json, WebDataset shards).
        style: the style image(s): any source address (``builtin:textures/brick``, ``builtin:textures``).
        out: output folder.
        method: a key of :data:`traingen.style.base.METHODS`.
        config: the method's Config keys (optimisation methods).
        checkpoint: a trained run (adain, sanet, arbitrary).
        size: longer side at which the transfer runs (the result is resized back to each item's size).
        seed, fmt, workers, shard_size, overwrite: as in ``traingen augment``.
        limit: restyle only ``limit`` items, evenly spread over the source.
        progress: called with the number of samples finished after each shard.
    """
    from .. import data
    from .train import method_runner

    t0 = time.perf_counter()
    runner = method_runner(method, checkpoint=checkpoint, config=config, size=size)  # validate early
    src = data.open_source(source)
    styles = data.open_source(style)
    if len(styles) == 0:
        from ..core.errors import DataError

        raise DataError("the style source holds no image", where=style, field="style")
    total = len(src) if limit is None else min(limit, len(src))
    job = RestyleJob(source=source, style=style, method=method, config=dict(config or {}), checkpoint=checkpoint,
                     out=str(out), fmt=fmt, seed=seed, shard_size=shard_size, total=total,
                     classes=list(src.classes), source_len=len(src), size=size)
    job._cache.update(source=src, styles=styles, runner=runner)
    res = run_shard_job(job, out=out, fmt=fmt, classes=list(src.classes), config=job.job_config(), seed=seed,
                        total=total, shard_size=shard_size, workers=workers, overwrite=overwrite,
                        progress=progress, t0=t0)
    return RestyleResult(Path(out), res.manifest, total, res.shards, res.skipped, res.seconds, fmt)
