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

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..core.parallel import run_local
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


@dataclass
class _ExportTask:
    """Write one shard of the source (a picklable task for :func:`traingen.core.parallel.run_local`).

    Sent to spawned workers: a source opened from an address is reopened there by name, an open
    :class:`Source` object (a subset, say) travels pickled.
    """

    writer: ShardWriter
    source: Source | str
    shards: list[Shard]
    _opened: Source | None = None

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        if isinstance(self.source, str):
            state["_opened"] = None
        return state

    def __call__(self, shard_id: int) -> dict:
        if self._opened is None:
            self._opened = open_source(self.source) if isinstance(self.source, str) else self.source
        src = self._opened
        shard = self.shards[shard_id]
        samples = []
        for i in shard.indices:
            s = src[i]
            s.meta = {**s.meta, "source": src.name}
            samples.append(s)
        return self.writer.write_shard(shard, samples)


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
    started = time.time()
    task = _ExportTask(writer, spec if not isinstance(source, Source) else src, shards, _opened=src)
    result = run_local(task, [sh.id for sh in shards], workers=workers, is_done=writer.is_done,
                       on_shard=(lambda _sid, rec: on_shard(int(rec["count"]))) if on_shard else None)
    todo = list(result.records)
    skipped = len(shards) - len(todo)
    run_info = {"workers": workers, "seconds": round(time.time() - started, 3), "shards_written": len(todo),
                "shards_skipped": skipped}
    manifest = writer.finalize(run_info, shards=shards)
    return ExportResult(Path(out_dir), fmt, len(src), len(shards), len(todo), skipped, manifest)
