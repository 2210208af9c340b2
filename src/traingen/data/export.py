"""Export a source to a format through the shard writers (``traingen datasets export``).

The source is cut into shards of fixed index ranges; each unfinished shard is read and written
(in worker processes when ``workers > 1``), then the writer collects the parts and writes the
manifest. The output does not depend on the worker count, and a rerun skips finished shards.

Example:
    >>> res = export_source("builtin:digits@test", "out/digits", fmt="webdataset", shard_size=100)
    >>> res.total, res.written, res.manifest.name
    (359, 4, 'manifest.json')
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from .shards import Shard, ShardWriter, open_writer, plan_shards
from .sources import Source, open_source


@dataclass
class ExportResult:
    """What an export did."""

    out_dir: Path
    format: str
    total: int
    shards: int
    written: int
    skipped: int
    manifest: Path


_WORKER_SOURCES: dict[str, Source] = {}


def _source_in_worker(spec: str) -> Source:
    if spec not in _WORKER_SOURCES:
        _WORKER_SOURCES[spec] = open_source(spec)
    return _WORKER_SOURCES[spec]


def _write_one(writer: ShardWriter, source: Source | str, shard: Shard) -> int:
    src = _source_in_worker(source) if isinstance(source, str) else source
    samples = []
    for i in shard.indices:
        s = src[i]
        s.meta = {**s.meta, "source": src.name}
        samples.append(s)
    writer.write_shard(shard, samples)
    return shard.id


def export_source(source: str | os.PathLike | Source, out_dir: str | os.PathLike, *, fmt: str = "imagefolder",
                  shard_size: int = 1000, workers: int = 1, overwrite: bool = False,
                  on_shard: Callable[[int], None] | None = None) -> ExportResult:
    """Write every sample of ``source`` to ``out_dir`` in format ``fmt``.

    Args:
        source: an address for :func:`open_source` or an open :class:`Source`.
        out_dir: output folder (must be empty, new, or an earlier export of the same thing).
        fmt: ``imagefolder``, ``coco`` or ``webdataset``.
        shard_size: samples per shard (part of the config: it decides the shard files).
        workers: processes; 1 writes in this process.
        overwrite: replace an earlier, different output in ``out_dir``.
        on_shard: called with each shard's sample count as it finishes (progress bars).

    Returns:
        :class:`ExportResult`.
    """
    src = source if isinstance(source, Source) else open_source(source)
    spec = src.name
    config = {"source": spec, "shard_size": int(shard_size), "total": len(src)}
    writer = open_writer(fmt, out_dir, classes=src.classes, config=config, seed=0, overwrite=overwrite)
    shards = plan_shards(len(src), shard_size)
    todo = [sh for sh in shards if not writer.is_done(sh.id)]
    started = time.time()
    if workers <= 1 or len(todo) <= 1:
        for sh in todo:
            _write_one(writer, src, sh)
            if on_shard:
                on_shard(len(sh))
    else:
        # spawn, not fork: the parent may hold torch or OpenMP threads, which fork does not survive.
        payload: Source | str = spec if not isinstance(source, Source) else src
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            futures = {pool.submit(_write_one, writer, payload, sh): sh for sh in todo}
            for fut in as_completed(futures):
                fut.result()
                if on_shard:
                    on_shard(len(futures[fut]))
    skipped = len(shards) - len(todo)
    run_info = {"workers": workers, "seconds": round(time.time() - started, 3), "shards_written": len(todo),
                "shards_skipped": skipped}
    manifest = writer.finalize(run_info, shards=shards)
    return ExportResult(Path(out_dir), fmt, len(src), len(shards), len(todo), skipped, manifest)
