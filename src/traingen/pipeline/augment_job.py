"""The augment job: source samples -> an augmentation pipeline -> a sharded dataset on disk.

Sample ``index`` of the output is copy ``index % copies`` of source item ``index // copies``; its
randomness is ``derive_seed(seed, "augment", index)``, so the bytes depend on the seed alone, never on
the worker count or on which shards a previous run finished.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.seeding import derive_seed
from ..data.shard_job import ShardJob, run_shard_job

STEP = "augment"


def spread_index(item: int, items: int, source_len: int) -> int:
    """Source index of ``item`` when ``items`` of ``source_len`` are used: evenly spread, so a limit on
    a class-sorted source (mnist5k is) still covers every class."""
    return item * source_len // items


def spread_indices(items: int, source_len: int) -> list[int]:
    return [spread_index(i, items, source_len) for i in range(items)]


@dataclass
class AugmentJob(ShardJob):
    """A picklable shard task (see :func:`traingen.core.parallel.run_local`)."""

    source: str
    pipeline: dict[str, Any]
    out: str
    fmt: str
    copies: int
    seed: int
    shard_size: int
    total: int
    classes: list[str]
    source_len: int
    items: int
    _cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def _build(self, what: str) -> Any:
        from .. import augment, data

        if what == "source":
            return data.open_source(self.source)
        if what == "pipe":
            return augment.from_dict(self.pipeline)
        if what == "writer":
            return data.open_writer(self.fmt, self.out, classes=self.classes, config=self.config(), seed=self.seed)
        return super()._build(what)

    def config(self) -> dict[str, Any]:
        """Everything that decides the bytes (goes into the manifest)."""
        return {
            "step": STEP,
            "source": self.source,
            "pipeline": self.pipeline,
            "copies": self.copies,
            "shard_size": self.shard_size,
            "total": self.total,
            "items": self.items,
            "format": self.fmt,
        }

    def sample(self, index: int):
        """Output sample ``index`` (pure function of the job and the index)."""
        item, copy = divmod(index, self.copies)
        src_index = spread_index(item, self.items, self.source_len)
        original = self._get("source")[src_index]
        sample_seed = derive_seed(self.seed, STEP, index)
        out = self._get("pipe")(original, seed=sample_seed)
        meta = dict(out.meta)
        meta.update(
            key=f"{index:08d}",
            index=index,
            source=self.source,
            source_key=original.meta.get("key", str(src_index)),
            copy=copy,
            seed=sample_seed,
            technique=STEP,
        )
        out.meta = meta
        return out


@dataclass
class AugmentResult:
    out: Path
    manifest: Path
    total: int
    shards: int
    skipped: int
    seconds: float
    format: str


def run_augment(
    source: str,
    pipeline: dict[str, Any],
    out: str | Path,
    *,
    copies: int = 1,
    seed: int = 0,
    fmt: str = "imagefolder",
    workers: int = 1,
    shard_size: int = 256,
    limit: int | None = None,
    overwrite: bool = False,
    progress=None,
    opened=None,
) -> AugmentResult:
    """Augment every item of ``source`` ``copies`` times and write the dataset to ``out``.

    Args:
        source: ``builtin:NAME[@split]``, a folder, a COCO json or a WebDataset pattern.
        pipeline: a pipeline dict as read from YAML (``version`` and ``pipeline`` keys).
        out: output folder.
        copies: augmented copies per source item.
        seed: run seed.
        fmt: ``imagefolder``, ``coco`` or ``webdataset``.
        workers: processes; the output bytes do not depend on it.
        shard_size: samples per shard (part of the config: it decides the WebDataset files).
        limit: use only ``limit`` source items, evenly spread over the source (every k-th).
        overwrite: replace an ``out`` that holds a different job.
        progress: called with the number of samples finished after each shard.
        opened: ``source`` already opened by the caller (workers reopen it from the address).

    Returns:
        AugmentResult with the paths and counts.
    """
    from .. import augment, data

    t0 = time.perf_counter()
    augment.from_dict(pipeline)  # validate before any work starts
    src = opened if opened is not None else data.open_source(source)
    n_src = len(src) if limit is None else min(limit, len(src))
    if copies < 1:
        from ..core.errors import ConfigError

        raise ConfigError(f"copies must be >= 1, got {copies}", field="copies")
    total = n_src * copies
    job = AugmentJob(
        source=source, pipeline=pipeline, out=str(out), fmt=fmt, copies=copies, seed=seed,
        shard_size=shard_size, total=total, classes=list(src.classes), source_len=len(src), items=n_src,
    )
    job._cache["source"] = src
    res = run_shard_job(job, out=out, fmt=fmt, classes=list(src.classes), config=job.config(), seed=seed,
                        total=total, shard_size=shard_size, workers=workers, overwrite=overwrite,
                        progress=progress, t0=t0)
    return AugmentResult(Path(out), res.manifest, total, res.shards, res.skipped, res.seconds, fmt)
