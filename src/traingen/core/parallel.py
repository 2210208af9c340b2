"""The local executor: shards of sample indices run in worker processes (used by data export and
by every pipeline job; the Ray executor of a later issue produces the same bytes).

Output never depends on the worker count: each sample's randomness comes from ``(seed, step, index)``,
each shard is written atomically by the writer, and the manifest is assembled in index order.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Protocol


class ShardTask(Protocol):
    """A picklable callable that produces and writes one shard, returning a small record."""

    def __call__(self, shard_id: int) -> dict[str, Any]: ...


def set_single_thread() -> None:
    """One thread per worker for torch, OpenCV and OpenMP, so workers don't fight over cores."""
    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ["LP_NUM_THREADS"] = "1"
    try:
        import cv2

        cv2.setNumThreads(1)
    except ImportError:  # pragma: no cover - cv2 is a dependency
        pass
    import sys

    if "torch" in sys.modules:
        import torch

        torch.set_num_threads(1)


_TASK: ShardTask | None = None


def _init_worker(task: ShardTask) -> None:
    global _TASK
    set_single_thread()
    _TASK = task


def _run_one(shard_id: int) -> tuple[int, dict[str, Any]]:
    assert _TASK is not None
    return shard_id, _TASK(shard_id)


@dataclass
class ExecutorResult:
    """Records of the shards run now, keyed by shard id, and the ids skipped as already done."""

    records: dict[int, dict[str, Any]]
    skipped: list[int]


def run_local(
    task: ShardTask,
    shard_ids: Sequence[int],
    *,
    workers: int = 1,
    is_done: Callable[[int], bool] | None = None,
    on_shard: Callable[[int, dict[str, Any]], None] | None = None,
) -> ExecutorResult:
    """Run ``task(shard_id)`` for every shard not already done, with ``workers`` processes.

    Args:
        task: picklable callable writing one shard (sent once to each worker).
        shard_ids: the shards of the job, in order.
        workers: number of processes; 1 runs in this process.
        is_done: returns True for a shard a previous run completed (it is skipped).
        on_shard: called in this process after each shard with its record (progress bars).

    Returns:
        ExecutorResult with the records of the shards run now.
    """
    todo = [s for s in shard_ids if not (is_done and is_done(s))]
    skipped = [s for s in shard_ids if s not in set(todo)]
    records: dict[int, dict[str, Any]] = {}
    if workers <= 1 or len(todo) <= 1:
        for sid in todo:
            records[sid] = task(sid)
            if on_shard:
                on_shard(sid, records[sid])
        return ExecutorResult(records, skipped)
    # spawn, not fork: the parent may hold torch or OpenMP threads, which a forked child can deadlock on.
    ctx = mp.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker, initargs=(task,)) as pool:
        pending = {pool.submit(_run_one, sid) for sid in todo}
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                sid, rec = fut.result()  # re-raises a worker's error here
                records[sid] = rec
                if on_shard:
                    on_shard(sid, rec)
    return ExecutorResult(records, skipped)
