"""The run folder every trainer writes (GANs, translation): checks before a new run, clearing on
``--overwrite``, the metrics log's truncation on ``--resume``, and the checkpoints under ``checkpoints/``
(``step-XXXXXXXX.safetensors`` + ``.json``; files are written with :mod:`traingen.core.atomic`,
as every file traingen writes)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from .atomic import atomic_write_text
from .errors import OutputError

#: The run folder's checkpoint folder.
CKPT_DIR = "checkpoints"


def check_new_run_dir(run_dir: Path, *, overwrite: bool, kind: str = "run") -> None:
    """Raise unless ``run_dir`` is absent, empty, or (with ``overwrite``) holds a run of ours (its
    ``config.yaml``). A folder of something else is never taken over."""
    if run_dir.exists() and not run_dir.is_dir():
        raise OutputError("exists and is not a folder", where=str(run_dir))
    if run_dir.is_dir() and any(run_dir.iterdir()):
        if not (run_dir / "config.yaml").is_file():
            raise OutputError(f"folder is not empty and holds no {kind}; choose a new folder", where=str(run_dir))
        if not overwrite:
            raise OutputError(f"holds a {kind} already: pass --resume to continue it or --overwrite to start over",
                              where=str(run_dir))


def clear_run(run_dir: Path, names: Iterable[str]) -> None:
    """Remove the run's own files and folders ``names`` from ``run_dir`` (nothing else in it)."""
    for name in names:
        p = run_dir / name
        if p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()


def truncate_metrics(path: Path, step: int) -> None:
    """Drop the rows of a ``metrics.jsonl`` written after ``step`` (a resumed run writes them again)."""
    if not path.is_file():
        return
    keep = [line for line in path.read_text().splitlines() if line.strip() and json.loads(line).get("step", 0) <= step]
    atomic_write_text(path, "".join(line + "\n" for line in keep))


def checkpoint_paths(run_dir: str | os.PathLike) -> list[tuple[int, Path]]:
    """``(step, path without suffix)`` of every complete checkpoint of a run (its JSON exists), by step."""
    found = []
    for js in (Path(run_dir) / CKPT_DIR).glob("step-*.json"):
        digits = js.stem[len("step-"):]
        if digits.isdigit():
            found.append((int(digits), js.with_suffix("")))
    return sorted(found)


def latest_checkpoint(run_dir: str | os.PathLike) -> Path | None:
    """The checkpoint with the highest step, or None."""
    paths = checkpoint_paths(run_dir)
    return paths[-1][1] if paths else None


def prune_checkpoints(run_dir: str | os.PathLike, keep: int) -> None:
    """Delete all but the ``keep`` newest checkpoints (``keep`` <= 0: keep all)."""
    if keep <= 0:
        return
    for _, path in checkpoint_paths(run_dir)[:-keep]:
        # JSON first: a half-deleted checkpoint never looks complete.
        for suffix in (".json", ".safetensors"):
            with contextlib.suppress(FileNotFoundError):
                path.with_name(path.name + suffix).unlink()
