"""Unpaired image data for CycleGAN: two sources, or the ``trainA/``, ``trainB/`` folder layout.

CycleGAN users keep their data as ``ROOT/trainA``, ``ROOT/trainB`` (and ``testA``, ``testB``); any two
source addresses work as well (``builtin:fonts2mnist@train`` and ``builtin:mnist5k@train``), labels
kept where the source has them.

Example:
    >>> a, b = open_unpaired("data/horse2zebra", split="train")
    >>> a, b = open_unpaired("builtin:fonts2mnist@train", "builtin:mnist5k@train")
"""

from __future__ import annotations

import os
from pathlib import Path

from ..core.errors import DataError
from .sources import Source, open_source


def open_unpaired(a: str | os.PathLike, b: str | os.PathLike | None = None, *, split: str = "train"
                  ) -> tuple[Source, Source]:
    """The A and B sources of an unpaired dataset.

    Args:
        a: the A source address, or (with ``b`` None) a folder holding ``<split>A/`` and ``<split>B/``.
        b: the B source address.
        split: the folder prefix (``train`` or ``test``) when ``b`` is None.

    Returns:
        ``(source_a, source_b)``.

    Raises:
        DataError: the folder lacks ``<split>A/`` or ``<split>B/``.
    """
    if b:
        return open_source(a), open_source(b)
    root = Path(a)
    dirs = [root / f"{split}A", root / f"{split}B"]
    for d in dirs:
        if not d.is_dir():
            raise DataError(f"unpaired folder needs {split}A/ and {split}B/ (or give two sources)", where=str(d))
    return open_source(dirs[0]), open_source(dirs[1])
