"""Paired (aligned) image data for pix2pix: A|B side by side, or ``A/`` and ``B/`` with equal stems.

Paired samples are stored the way pix2pix users already keep them: one image holding the input A on
the left half and the target B on the right half (the reference's "aligned" layout). The embedded
paired datasets (``builtin:edges2photos``, ``builtin:dem2relief``, ``builtin:stereo-depth2rgb``) use it
too, so every paired source is an ordinary :class:`~traingen.data.sources.Source` whose images are
split by :func:`split_pair`. A folder with ``A/`` and ``B/`` subfolders (equal file stems) is read by
:class:`PairedFolderSource`, which joins each pair into the same layout.

Example:
    >>> src = open_paired("builtin:edges2photos@train")
    >>> a, b = split_pair(src[0].image)
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..core.errors import DataError
from ..core.sample import Sample
from .sources import Source, open_source


def split_pair(image: np.ndarray, *, where: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The left (A) and right (B) halves of a side-by-side pair.

    Raises:
        DataError: the width is odd (not a pair).
    """
    w = image.shape[1]
    if w % 2:
        raise DataError(f"a paired image holds A|B side by side, so its width must be even; got {w}",
                        where=where, field="image")
    return image[:, : w // 2], image[:, w // 2:]


def join_pair(a: np.ndarray, b: np.ndarray, *, where: str | None = None) -> np.ndarray:
    """``A|B`` side by side; grey is repeated to the other's channel count; heights must agree."""
    if a.shape[:2] != b.shape[:2]:
        raise DataError(f"A is {a.shape[0]}x{a.shape[1]} but B is {b.shape[0]}x{b.shape[1]}; pairs must match",
                        where=where, field="image")
    if a.ndim != b.ndim or (a.ndim == 3 and a.shape[2] != b.shape[2]):
        a, b = _rgb(a), _rgb(b)
    return np.concatenate([a, b], axis=1)


def _rgb(x: np.ndarray) -> np.ndarray:
    if x.ndim == 2:
        return np.repeat(x[..., None], 3, axis=2)
    return x if x.shape[2] == 3 else np.repeat(x[..., :1], 3, axis=2)


class PairedFolderSource(Source):
    """A folder with ``A/`` and ``B/`` (or ``A/<split>/`` and ``B/<split>/``) holding images with equal stems.

    Each sample's image is ``A|B`` side by side; ``meta["key"]`` is the stem. Unmatched stems are an error
    that names the first one.

    Args:
        root: the folder.
        split: optional subfolder of A/ and B/ (``train``, ``test``).
    """

    def __init__(self, root: str | os.PathLike, split: str | None = None):
        from .imageio import IMAGE_EXTENSIONS

        root = Path(root)
        self.name = str(root) + (f"@{split}" if split else "")
        self.classes = []
        dirs = [root / side / split if split else root / side for side in ("A", "B")]
        for d in dirs:
            if not d.is_dir():
                raise DataError("paired folder needs A/ and B/ subfolders", where=str(d))
        found = [{p.stem: p for p in sorted(d.iterdir()) if p.suffix.lower() in IMAGE_EXTENSIONS} for d in dirs]
        missing = sorted(set(found[0]) ^ set(found[1]))
        if missing:
            raise DataError(f"{len(missing)} stems appear in only one of A/ and B/ (first: {missing[0]!r})",
                            where=str(root))
        if not found[0]:
            raise DataError("no images in A/", where=str(dirs[0]))
        self.stems = sorted(found[0])
        self._a, self._b = found

    def __len__(self) -> int:
        return len(self.stems)

    def _get(self, i: int) -> Sample:
        from .imageio import read_image

        stem = self.stems[i]
        a, b = read_image(self._a[stem]), read_image(self._b[stem])
        return Sample(image=join_pair(a, b, where=str(self._a[stem])),
                      meta={"source": self.name, "key": stem, "index": i})


def open_paired(spec: str | os.PathLike, **options) -> Source:
    """A paired source: a folder with ``A/`` and ``B/`` (``DIR@train`` picks a split subfolder), or any
    source address whose images are A|B side by side (``builtin:edges2photos@train``, a folder of
    aligned images, COCO, shards)."""
    text = os.fspath(spec)
    base, _, split = text.partition("@") if not text.startswith("builtin:") else (text, "", "")
    if Path(base).is_dir() and (Path(base) / "A").is_dir() and (Path(base) / "B").is_dir():
        return PairedFolderSource(base, split or None)
    return open_source(text, **options)
