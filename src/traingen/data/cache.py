"""The user cache directory and atomic file writes.

Embedded datasets are converted to uint8 once and kept as ``.npz`` in ``$TRAINGEN_CACHE`` (or
``~/.cache/traingen``). The atomic writers live in :mod:`traingen.core.atomic` and are re-exported here,
where most of the project imports them from.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..core.atomic import TMP_SUFFIX, atomic_path, atomic_write_bytes, tmp_name

__all__ = ["TMP_SUFFIX", "atomic_path", "atomic_write_bytes", "atomic_write_json", "cache_dir", "canonical_json",
           "jsonable", "load_npz", "save_npz_atomic", "tmp_name"]


def cache_dir() -> Path:
    """``$TRAINGEN_CACHE`` if set, else ``~/.cache/traingen`` (created on demand by writers)."""
    env = os.environ.get("TRAINGEN_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "traingen"


def canonical_json(obj: Any, *, indent: int | None = 2) -> str:
    """JSON with sorted keys and a fixed layout: the same object always gives the same bytes."""
    return json.dumps(jsonable(obj), indent=indent, sort_keys=True, ensure_ascii=False, allow_nan=False) + (
        "\n" if indent is not None else ""
    )


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_bytes(path, canonical_json(obj).encode())


_PLAIN = frozenset((str, int, float, bool, type(None)))


def jsonable(obj: Any) -> Any:
    """Plain JSON types from numpy scalars/arrays, tuples, Paths and nested containers."""
    # Exact plain types return as they are without a call per leaf: a rendered image's parameters hold
    # ~1,300 numbers, walked three times per image (0.9 -> 0.4 ms a walk); subclasses take the general path.
    if type(obj) in _PLAIN:
        return obj
    if isinstance(obj, dict):
        return {str(k): v if type(v) in _PLAIN else jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [v if type(v) in _PLAIN else jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    return obj


def save_npz_atomic(path: str | os.PathLike, **arrays: np.ndarray) -> None:
    """``np.savez`` (uncompressed, no pickles) to a temporary name, then rename into place."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)


def load_npz(path: str | os.PathLike) -> dict[str, np.ndarray] | None:
    """The arrays of a cached ``.npz``, or None when it is missing or unreadable (then rebuild it)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, KeyError):
        return None
