"""Run a sharded job into a writer: the one driver behind ``augment``, ``render`` and ``style`` datasets.

A job is a picklable callable ``job(shard_id) -> record`` (see :class:`traingen.core.parallel.ShardTask`)
with a ``_cache`` dict; it writes its shard through ``job._cache["writer"]``. :class:`ShardJob` is the
base class of such jobs (the per-process cache, pickling without it, and the shard loop). :func:`run_shard_job`
opens the writer, hands it to the job, runs the unfinished shards on :func:`~traingen.core.parallel.run_local`,
finalizes the manifest and returns the counts. On bad input (a :class:`TraingenError`) it removes an
OUT that this run created -- the same input fails the same way on a rerun, so finished shards are no
use -- while a killed run keeps its finished shards and resumes.

Example:
    >>> res = run_shard_job(job, out="out", fmt="webdataset", classes=["0", "1"], config=job.config(),
    ...                     seed=0, total=1000, shard_size=256)
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.errors import TraingenError
from ..core.parallel import run_local
from .shards import open_writer, plan_shards


class ShardJob:
    """Base of a sharded job: a dataclass with ``total``, ``shard_size``, a ``_cache`` field and ``sample(i)``.

    Per-process objects (the opened source, a model, a GL renderer, the writer) live in ``_cache``; they
    are made on first use by :meth:`_build` and are dropped when the job is pickled to a worker, which
    rebuilds them once. A subclass declares ``_cache: dict = field(default_factory=dict, repr=False,
    compare=False)`` (a dataclass field, so callers may pre-fill it) and overrides :meth:`_build` and
    :meth:`sample`.

    Example:
        >>> @dataclass
        ... class Copy(ShardJob):
        ...     total: int
        ...     shard_size: int
        ...     _cache: dict = field(default_factory=dict, repr=False, compare=False)
        ...     def sample(self, index): return self._get("source")[index]
    """

    _cache: dict[str, Any]
    total: int
    shard_size: int

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_cache"] = {}
        return state

    def _build(self, what: str) -> Any:
        """Make the per-process object ``what`` (the writer is handed in by :func:`run_shard_job`)."""
        raise KeyError(f"{type(self).__name__} cannot build {what!r}")

    def _get(self, what: str) -> Any:
        if what not in self._cache:
            self._cache[what] = self._build(what)
        return self._cache[what]

    def sample(self, index: int) -> Any:
        """Output sample ``index`` (a pure function of the job and the index)."""
        raise NotImplementedError

    def __call__(self, shard_id: int) -> dict[str, Any]:
        start = shard_id * self.shard_size
        stop = min(self.total, start + self.shard_size)
        samples = [self.sample(i) for i in range(start, stop)]
        rec = self._get("writer").write_shard(shard_id, samples, start=start)
        return rec if isinstance(rec, dict) else {"count": len(samples)}


@dataclass
class ShardJobResult:
    """What a sharded job wrote: the manifest, how many shards ran and were skipped, wall seconds."""

    manifest: Path
    shards: int
    skipped: int
    seconds: float


def run_shard_job(job: Any, *, out: str | Path, fmt: str, classes: list[str], config: dict[str, Any], seed: int,
                  total: int, shard_size: int, workers: int = 1, overwrite: bool = False,
                  progress: Callable[[int], None] | None = None, t0: float | None = None,
                  writer_options: dict[str, Any] | None = None) -> ShardJobResult:
    """Write ``total`` samples in shards of ``shard_size`` with ``job`` and finalize ``out``.

    Args:
        job: the shard callable; its ``_cache["writer"]`` is set here (workers reopen it after pickling).
        out, fmt, classes, config, seed, overwrite: passed to :func:`~traingen.data.shards.open_writer`.
        total, shard_size: the index range and its split (part of the config: it decides the files).
        workers: processes; the bytes do not depend on it.
        progress: called with the number of samples finished after each shard.
        t0: ``time.perf_counter()`` when the caller started (default: now), for the seconds recorded.
        writer_options: extra keyword arguments of ``open_writer`` (``png_filter``, ``compact_records``);
            a job that reopens the writer in its workers must pass the same ones.
    """
    from .. import __version__

    t0 = time.perf_counter() if t0 is None else t0
    out_path = Path(out)
    fresh = not out_path.exists() or not any(out_path.iterdir())
    writer = open_writer(fmt, out, classes=classes, config=config, seed=seed, overwrite=overwrite,
                         **(writer_options or {}))
    job._cache["writer"] = writer
    shards = plan_shards(total, shard_size)

    def on_shard(_sid: int, rec: dict[str, Any]) -> None:
        if progress is not None:
            progress(int(rec.get("count", 0)))

    try:
        result = run_local(job, [s.id for s in shards], workers=workers, is_done=writer.is_done, on_shard=on_shard)
        seconds = time.perf_counter() - t0
        manifest = writer.finalize({"traingen": __version__, "workers": workers, "seconds": round(seconds, 3),
                                    "shards_run": len(result.records), "shards_skipped": len(result.skipped)},
                                   shards=shards)
    except TraingenError:
        if fresh:
            shutil.rmtree(out_path, ignore_errors=True)
        raise
    return ShardJobResult(Path(manifest), len(shards), len(result.skipped), seconds)
