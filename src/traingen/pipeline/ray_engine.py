"""The Ray engine (``engine: ray``): a run's shards through Ray Data with one stateful actor per worker.

Ray Data, not a home-made scheduler: a dataset of shard ids goes through ``map_batches`` with a
callable class and ``ActorPoolStrategy(size=workers)``. Each actor receives the pickled
:class:`~traingen.pipeline.run.RunJob` once, in its constructor, and so opens the source and loads
every model once; every batch is one shard id, which the actor makes and writes exactly as a local
worker would (same writer, same atomic shard records), so the bytes on disk are identical to the
local executor's. ``preserve_order`` keeps the records in shard order.

``ray.init()`` starts a local Ray by default (``RAY_AUTH_MODE=disabled``, ``include_dashboard=False``,
a short ``_temp_dir`` because Ray's Unix socket paths must stay under 107 bytes) or joins the
cluster at ``address`` (``--ray-address``). On a cluster, ``RUN`` must be a shared file system path
visible to every node (see ``docs/scaling.md``). Ray is an extra: ``pip install traingen[ray]``.

Example:
    >>> res = run_ray(job, shard_ids, workers=2, is_done=writer.is_done)
    >>> sorted(res.records)

References:
    Moritz et al., "Ray: A Distributed Framework for Emerging AI Applications", OSDI 2018;
    Ray Data ``map_batches`` with ``ActorPoolStrategy`` (docs.ray.io, "Transforming data", stateful transforms).
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable, Sequence
from typing import Any

from ..core.errors import ConfigError
from ..core.parallel import ExecutorResult


class ShardActor:
    """Ray Data callable class: builds the job once (per actor), then makes and writes shard ids."""

    def __init__(self, job: Any):
        from ..core.parallel import set_single_thread

        set_single_thread()
        self.job = job
        self.job.build()

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        import json

        ids = [int(s) for s in batch["shard"]]
        records = [json.dumps(self.job(sid), sort_keys=True) for sid in ids]
        return {"shard": ids, "record": records}


def short_temp_dir() -> str:
    """A short folder for Ray's sockets (``/tmp/rtg-<uid>``): Unix socket paths must stay < 107 bytes."""
    path = os.path.join(tempfile.gettempdir() if len(tempfile.gettempdir()) < 20 else "/tmp", f"rtg-{os.getuid()}")
    os.makedirs(path, exist_ok=True)
    return path


def init_ray(address: str | None = None, *, num_cpus: int | None = None) -> Any:
    """Start (or join) Ray quietly; returns the ``ray`` module. ConfigError when Ray is not installed."""
    try:
        import ray
    except ImportError as e:
        raise ConfigError("engine 'ray' needs Ray: pip install 'traingen[ray]'", field="engine") from e
    if ray.is_initialized():
        return ray
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
    if address:
        ray.init(address=address, **kwargs)
    else:
        ray.init(num_cpus=num_cpus, _temp_dir=short_temp_dir(), **kwargs)
    return ray


def run_ray(job: Any, shard_ids: Sequence[int], *, workers: int = 1, is_done: Callable[[int], bool] | None = None,
            address: str | None = None, on_shard: Callable[[int], Any] | None = None,
            shutdown: bool = True) -> ExecutorResult:
    """Run ``job(shard_id)`` for every unfinished shard on Ray actors.

    Args:
        job: a picklable shard task with ``build()`` (a :class:`~traingen.pipeline.run.RunJob`).
        shard_ids: the job's shards in order.
        workers: actors (one CPU each).
        is_done: skips shards a previous run finished.
        address: an existing cluster (``ray://...`` or ``auto``); default a local Ray.
        on_shard: called with each finished shard's sample count.
        shutdown: stop the local Ray afterwards (left running when joining a cluster).

    Returns:
        ExecutorResult with the records of the shards run now.
    """
    import json

    todo = [s for s in shard_ids if not (is_done and is_done(s))]
    skipped = [s for s in shard_ids if s not in set(todo)]
    if not todo:
        return ExecutorResult({}, skipped)
    ray = init_ray(address, num_cpus=None if address else max(workers, 1))
    try:
        import ray.data as rd

        ctx = rd.DataContext.get_current()
        ctx.execution_options.preserve_order = True
        ctx.enable_progress_bars = False
        if hasattr(ctx, "print_on_execution_start"):
            ctx.print_on_execution_start = False
        for name in ("ray", "ray.data"):
            logging.getLogger(name).setLevel(logging.WARNING)
        ds = rd.from_items([{"shard": int(s)} for s in todo], override_num_blocks=len(todo))
        out = ds.map_batches(ShardActor, fn_constructor_args=(job,), batch_size=1,
                             compute=rd.ActorPoolStrategy(size=max(1, workers)), num_cpus=1)
        records: dict[int, dict[str, Any]] = {}
        for row in out.iter_rows():
            rec = json.loads(row["record"])
            records[int(row["shard"])] = rec
            if on_shard is not None:
                on_shard(int(rec["count"]))
    finally:
        if shutdown and not address:
            ray.shutdown()
    return ExecutorResult(records, skipped)

