"""Sources: one interface over every place samples come from, and the address syntax.

A source is addressed by a string:

- ``builtin:NAME[/ITEM][@train|@test]`` -- an embedded dataset (``builtin:mnist5k@test``,
  ``builtin:textures/brick``, ``builtin:mnist5k/17`` for one sample by index);
- a folder -- an ImageFolder tree ``ROOT/<class>/<image>`` (a flat folder of images is unlabelled;
  a folder holding traingen's ``metadata.jsonl`` is read through it, targets included);
- a COCO json file (``annotations.json``; images beside it or in ``images/``), or a folder holding one;
- a WebDataset shard pattern (``data/shard-{000000..000003}.tar``, a glob, one ``.tar``, or a folder
  of ``.tar`` files).

:func:`open_source` picks the reader (registered in :data:`READERS`) and returns a :class:`Source`:
``len(src)``, ``src[i] -> Sample``, iteration, ``src.classes`` and ``src.name``.

Example:
    >>> src = open_source("builtin:digits@test")
    >>> s = src[0]; s.image.shape, s.label, s.meta["source"]
    ((8, 8), 0, 'builtin:digits@test')
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from ..core.errors import DataError
from ..core.registry import Registry
from ..core.sample import Sample
from .builtin import DATASETS, BuiltinData, load_builtin

READERS = Registry("readers", "Source readers: builtin, imagefolder, coco, webdataset.")

_BUILTIN = re.compile(r"^builtin:(?P<name>[a-z0-9-]+)(?:/(?P<item>[A-Za-z0-9_.-]+))?(?:@(?P<split>[a-z]+))?$")


class Source:
    """A random-access sequence of :class:`~traingen.core.Sample`.

    Subclasses set ``name`` (the address they were opened with) and ``classes`` and implement
    ``__len__`` and ``_get(i)``.
    """

    name: str = ""
    classes: list[str]

    def __len__(self) -> int:
        raise NotImplementedError

    def _get(self, i: int) -> Sample:
        raise NotImplementedError

    def __getitem__(self, i: int) -> Sample:
        n = len(self)
        if not isinstance(i, (int, np.integer)):
            raise TypeError(f"source indices must be integers, got {type(i).__name__}")
        i = int(i)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"index {i} out of range for {self.name} ({n} samples)")
        return self._get(i)

    def __iter__(self) -> Iterator[Sample]:
        for i in range(len(self)):
            yield self._get(i)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, {len(self)} samples, {len(self.classes)} classes)"

    def subset(self, indices: Sequence[int] | range) -> Source:
        """A view of the samples at ``indices`` (same classes), named after them so outputs differ."""
        return SubsetSource(self, indices)


class SubsetSource(Source):
    """Samples ``indices`` of ``parent``; the name says which (``NAME[0:100]`` or a hash of the list)."""

    def __init__(self, parent: Source, indices: Sequence[int] | range):
        n = len(parent)
        idx = np.asarray(list(indices), dtype=np.int64)
        if idx.size and (idx.min() < -n or idx.max() >= n):
            raise DataError(f"subset indices must lie in [0, {n})", where=parent.name, field="indices")
        self.parent = parent
        self.indices = np.where(idx < 0, idx + n, idx)
        self.classes = list(parent.classes)
        if isinstance(indices, range) and indices.step == 1:
            self.name = f"{parent.name}[{indices.start}:{indices.stop}]"
        else:
            digest = hashlib.sha256(self.indices.astype("<i8").tobytes()).hexdigest()[:12]
            self.name = f"{parent.name}[subset:{len(self.indices)}:{digest}]"

    def __len__(self) -> int:
        return len(self.indices)

    def _get(self, i: int) -> Sample:
        return self.parent[int(self.indices[i])]


@READERS.register("builtin")
class BuiltinSource(Source):
    """An embedded dataset (see :mod:`traingen.data.builtin`), optionally one item or one split.

    Args:
        name: dataset name (``mnist5k``, ``digits``, ``lfw25``, ``textures``, ``photos``).
        item: an item name (textures, photos) or an integer index (array datasets).
        split: ``train`` or ``test`` (array datasets only); None means all samples.
    """

    def __init__(self, name: str, item: str | None = None, split: str | None = None):
        if name not in DATASETS:
            raise DataError(f"unknown embedded dataset '{name}'; known: {', '.join(DATASETS.names())}",
                            where=f"builtin:{name}")
        self.dataset = name
        self.item = item
        self.split = split
        self.name = f"builtin:{name}" + (f"/{item}" if item else "") + (f"@{split}" if split else "")
        data: BuiltinData = load_builtin(name)
        self._data = data
        self.classes = list(data.classes)
        indices = np.arange(len(data), dtype=np.int64)
        if split is not None:
            if split not in data.splits:
                allowed = ", ".join(data.splits) or "none (this dataset has no splits)"
                raise DataError(f"unknown split '{split}'; allowed: {allowed}", where=self.name, field="split")
            indices = data.splits[split]
        if item is not None:
            indices = self._select_item(data, indices, item)
        self.indices = indices

    def _select_item(self, data: BuiltinData, indices: np.ndarray, item: str) -> np.ndarray:
        if data.items:
            if item not in data.items:
                raise DataError(f"unknown item '{item}'; known: {', '.join(data.items)}", where=self.name)
            return indices[data.labels[indices] == data.classes.index(item)]
        if not item.isdigit() or int(item) >= len(indices):
            raise DataError(f"item must be an index below {len(indices)}, got '{item}'", where=self.name)
        return indices[int(item): int(item) + 1]

    def __len__(self) -> int:
        return len(self.indices)

    def _get(self, i: int) -> Sample:
        j = int(self.indices[i])
        label = int(self._data.labels[j])
        key = self._data.classes[label] if self._data.items else f"{j:05d}"
        return Sample(image=self._data.image(j), label=label,
                      meta={"source": self.name, "key": f"{self.dataset}/{key}", "index": j})


def parse_builtin(spec: str) -> tuple[str, str | None, str | None]:
    """``builtin:NAME[/ITEM][@SPLIT]`` -> ``(name, item, split)``; DataError when malformed."""
    m = _BUILTIN.match(spec)
    if not m:
        raise DataError("expected builtin:NAME[/ITEM][@train|@test]", where=spec)
    return m["name"], m["item"], m["split"]


def open_source(spec: str | os.PathLike, **options) -> Source:
    """Open a source by its address (module docstring) with the matching reader.

    Args:
        spec: ``builtin:...``, a folder, a COCO json, or a WebDataset shard pattern.
        options: reader options (e.g. ``keep_uint16=True``, ``alpha="composite"`` for image readers).

    Returns:
        A :class:`Source`.

    Raises:
        DataError: the address matches nothing, or the data behind it is malformed.
    """
    text = os.fspath(spec)
    if text.startswith("builtin:"):
        name, item, split = parse_builtin(text)
        return READERS.get("builtin")(name, item=item, split=split)
    return READERS.get(detect_reader(text))(text, **options)


def detect_reader(text: str) -> str:
    """The reader name for a non-builtin address."""
    if "{" in text or any(ch in text for ch in "*?[") or text.endswith(".tar"):
        return "webdataset"
    path = Path(text)
    if path.is_file() and path.suffix == ".json":
        return "coco"
    if path.is_dir():
        if (path / "annotations.json").is_file() and not (path / "metadata.jsonl").is_file():
            return "coco"
        if any(p.suffix == ".tar" for p in path.iterdir() if p.is_file()) and not _has_images(path):
            return "webdataset"
        return "imagefolder"
    if not path.exists():
        raise DataError("no such file or folder (expected builtin:NAME, a folder, a COCO json or a "
                        "WebDataset shard pattern)", where=text)
    raise DataError("cannot tell the format: expected a folder, a .json (COCO) or .tar shards", where=text)


def _has_images(path: Path) -> bool:
    from .imageio import IMAGE_EXTENSIONS

    return any(p.suffix.lower() in IMAGE_EXTENSIONS for p in path.iterdir())
