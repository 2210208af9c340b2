"""Atomic file writes: every file traingen writes goes through :func:`atomic_write_bytes` or
:func:`atomic_path`. The content lands under a temporary name in the same folder (``.<name>.<pid>.<rand>.tmp``)
and is renamed into place with ``os.replace``, so parallel processes (test workers, shard workers) never see
half a file, and a failed write leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .errors import OutputError

#: Suffix of every temporary name; folders are cleaned of these at the next run.
TMP_SUFFIX = ".tmp"


def tmp_name(path: Path) -> Path:
    """A temporary sibling of ``path`` unique to this process (``.<name>.<pid>.<rand>.tmp``)."""
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=TMP_SUFFIX, dir=path.parent)
    os.close(fd)
    return Path(name)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path``, on error it is removed.

    The parent folder is created; a folder that cannot be written raises :class:`OutputError` naming ``path``.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = tmp_name(path)
    except OSError as e:
        raise OutputError(f"cannot write: {e.strerror or e}", where=str(path)) from e
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through :func:`atomic_path`."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` through :func:`atomic_path`."""
    atomic_write_bytes(path, text.encode())
