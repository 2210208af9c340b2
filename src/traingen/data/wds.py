"""WebDataset: POSIX tar shards of ``<key>.<ext>`` members, read and written.

Writing (format ``webdataset``): ``OUT/shard-%06d.tar`` (one per shard id) through the ``webdataset``
package's ``TarWriter`` with ``mtime=0`` and fixed owner and mode, so the same samples always give the
same bytes. Members per sample: ``<key>.png`` (``.npy`` for images PNG can't hold), ``<key>.cls``
(the integer label as text, when there is one), ``<key>.json`` (label, boxes, box_labels, keypoints,
provenance), ``<key>.mask.png`` / ``<key>.instances.png`` (16-bit where needed) when the sample has
those maps, and ``<key>.depth.png`` (uint16 millimetres, as COCO's ``depth/`` plane; read back as
``meta["depth"]`` in metres) when its meta holds a ``depth`` map in metres (the renderer's). A shard is written to a temporary name and renamed when complete.

Reading: a brace pattern (``data/shard-{000000..000003}.tar``), a glob, one ``.tar`` or a folder of
``.tar`` files; members are grouped by WebDataset's rule (key = the name up to the first dot of the
file name). The reader indexes the tars once (headers only) and reads members by offset, so it is
random-access. Class names come from ``manifest.json`` beside the shards when present.

Example:
    >>> src = WebDatasetSource("out/shard-{000000..000001}.tar")
    >>> src[0].image.shape, src[0].label
"""

from __future__ import annotations

import glob
import hashlib
import io
import json
import os
import re
import tarfile
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import DataError
from ..core.sample import Sample
from .cache import atomic_write_bytes, canonical_json
from .imageio import IMAGE_EXTENSIONS, decode_image, encode_png
from .shards import WRITERS, ShardWriter
from .sources import READERS, Source

_BRACE = re.compile(r"\{([^{}]*)\}")
_KEY_EXT = re.compile(r"^((?:.*/|)[^./]+)\.([^/]*)$")


def expand_braces(pattern: str) -> list[str]:
    """Expand ``{000..012}`` ranges (zero padding kept) and ``{a,b}`` lists, left to right."""
    m = _BRACE.search(pattern)
    if not m:
        return [pattern]
    head, body, tail = pattern[: m.start()], m.group(1), pattern[m.end():]
    rng = re.fullmatch(r"(\d+)\.\.(\d+)", body)
    if rng:
        lo, hi = int(rng[1]), int(rng[2])
        width = len(rng[1]) if rng[1].startswith("0") or len(rng[1]) == len(rng[2]) else 0
        choices = [str(v).zfill(width) for v in range(lo, hi + 1)]
    else:
        choices = body.split(",")
    return [head + c + t for c in choices for t in expand_braces(tail)]


def shard_paths(spec: str) -> list[Path]:
    """The tar files a WebDataset address names, in order; DataError when there are none or one is missing."""
    path = Path(spec)
    if "{" in spec:
        paths = [Path(p) for p in expand_braces(spec)]
    elif any(ch in spec for ch in "*?["):
        paths = [Path(p) for p in sorted(glob.glob(spec))]
    elif path.is_dir():
        paths = sorted(p for p in path.iterdir() if p.suffix == ".tar" and not p.name.startswith("."))
    else:
        paths = [path]
    if not paths:
        raise DataError("matches no .tar shards", where=spec)
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise DataError(f"shard not found: {missing[0]}", where=spec)
    return paths


@READERS.register("webdataset")
class WebDatasetSource(Source):
    """Samples from WebDataset tar shards (random access through a member index).

    Args:
        spec: brace pattern, glob, a ``.tar`` or a folder of them.
        keep_uint16, alpha: image reading options (see :mod:`traingen.data.imageio`).
    """

    def __init__(self, spec: str | os.PathLike, *, keep_uint16: bool = False, alpha: str = "drop"):
        self.name = str(spec)
        self.read_options = {"keep_uint16": keep_uint16, "alpha": alpha}
        self.paths = shard_paths(self.name)
        self.entries: list[tuple[int, str, dict[str, tuple[int, int]]]] = []
        for t, path in enumerate(self.paths):
            self.entries.extend((t, key, members) for key, members in _index_tar(path))
        self.classes = _manifest_classes(self.paths[0].parent)

    def __len__(self) -> int:
        return len(self.entries)

    def _get(self, i: int) -> Sample:
        t, key, members = self.entries[i]
        path = self.paths[t]
        where = f"{path}[{key}]"
        with open(path, "rb") as f:
            raw = {}
            for ext, (offset, size) in members.items():
                f.seek(offset)
                raw[ext] = f.read(size)
        return _decode_sample(raw, where, self.name, key, self.read_options)


def _index_tar(path: Path) -> list[tuple[str, dict[str, tuple[int, int]]]]:
    groups: dict[str, dict[str, tuple[int, int]]] = {}
    try:
        with tarfile.open(path, "r:") as tar:
            for m in tar:
                if not m.isfile():
                    continue
                match = _KEY_EXT.match(m.name)
                if not match:
                    continue
                groups.setdefault(match[1], {})[match[2].lower()] = (m.offset_data, m.size)
    except (tarfile.TarError, OSError, EOFError) as e:
        raise DataError(f"corrupt or truncated tar shard ({e})", where=str(path)) from e
    return list(groups.items())


def _manifest_classes(folder: Path) -> list[str]:
    try:
        return list(json.loads((folder / "manifest.json").read_text()).get("classes") or [])
    except (OSError, ValueError, AttributeError):
        return []


def _decode_sample(raw: dict[str, bytes], where: str, name: str, key: str, read_options: dict) -> Sample:
    image_ext = next((e for e in raw if "." + e in IMAGE_EXTENSIONS), None)
    if image_ext is None:
        raise DataError(f"sample has no image member (members: {', '.join(sorted(raw))})", where=where)
    image = decode_image(raw[image_ext], where=f"{where}.{image_ext}", **read_options)
    targets: dict[str, Any] = {}
    if "json" in raw:
        try:
            targets = json.loads(raw["json"])
        except ValueError as e:
            raise DataError(f"invalid JSON member ({e})", where=f"{where}.json") from e
    label = targets.get("label")
    if label is None and "cls" in raw:
        try:
            label = int(raw["cls"].decode().strip())
        except ValueError as e:
            raise DataError(f"expected an integer class, got {raw['cls'][:20]!r}", where=f"{where}.cls") from e
    if isinstance(label, list):
        label = np.asarray(label, np.float32)
    sample = Sample(image=image, label=label,
                    meta={"source": name, "key": key, "origin": targets.get("source"), "seed": targets.get("seed"),
                          "technique": targets.get("technique"), "params": targets.get("params")})
    if "boxes" in targets:
        sample.boxes = np.asarray(targets["boxes"], np.float32).reshape(-1, 4)
        sample.box_labels = np.asarray(targets.get("box_labels", []), np.int64)
    if "keypoints" in targets:
        sample.keypoints = np.asarray(targets["keypoints"], np.float32).reshape(-1, 2)
        if "keypoint_visible" in targets:
            sample.keypoint_visible = np.asarray(targets["keypoint_visible"], bool)
    if "mask.png" in raw:
        sample.mask = decode_image(raw["mask.png"], where=f"{where}.mask.png", keep_uint16=True)
    if "instances.png" in raw:
        sample.instance_mask = decode_image(raw["instances.png"], where=f"{where}.instances.png", keep_uint16=True)
    if "depth.png" in raw:
        mm = decode_image(raw["depth.png"], where=f"{where}.depth.png", keep_uint16=True)
        sample.meta["depth"] = mm.astype(np.float32) / np.float32(1000.0)
    return sample


def _map_png(arr: np.ndarray, where: str, field: str, png_filter: str | None = None) -> bytes:
    arr = np.asarray(arr)
    if arr.size and (arr.min() < 0 or arr.max() > 65535):
        raise DataError(f"{field} values must lie in 0..65535 to be stored as PNG", where=where, field=field)
    dtype = np.uint8 if (not arr.size or arr.max() < 256) else np.uint16
    return encode_png(arr.astype(dtype), level=1, where=where, png_filter=png_filter)


@WRITERS.register("webdataset")
class WebDatasetWriter(ShardWriter):
    """``OUT/shard-%06d.tar`` through ``webdataset.TarWriter`` (see the module docstring)."""

    format = "webdataset"

    def tar_path(self, shard_id: int) -> Path:
        return self.out_dir / f"shard-{shard_id:06d}.tar"

    def _write_part(self, shard_id: int, keyed: list[tuple[str, Sample]]) -> dict[str, Any]:
        from webdataset import TarWriter  # imports torch: only when writing shards

        buf = io.BytesIO()
        # Fixed owner and mode and mtime=0: the bytes depend on the samples only.
        with TarWriter(buf, user="traingen", group="traingen", mode=0o444, encoder=False, mtime=0,
                       compress=False) as tw:
            for key, sample in keyed:
                where = f"{self.out_dir}[{key}]"
                ext, data, _ = self.encode(sample, where)
                row = self.target_row(key, sample, where)
                del row["key"]
                obj: dict[str, Any] = {"__key__": key, ext[1:]: data,
                                       "json": canonical_json(row, indent=None).encode()}
                if isinstance(row["label"], int):
                    obj["cls"] = str(row["label"]).encode()
                if sample.mask is not None:
                    obj["mask.png"] = _map_png(sample.mask, where, "mask", self.png_filter)
                if sample.instance_mask is not None:
                    obj["instances.png"] = _map_png(sample.instance_mask, where, "instance_mask", self.png_filter)
                depth = (sample.meta or {}).get("depth")
                if depth is not None:  # metres -> uint16 millimetres, as the COCO writer's depth plane
                    mm = np.clip(np.rint(np.asarray(depth, np.float64) * 1000.0), 0, 65535).astype(np.uint16)
                    obj["depth.png"] = encode_png(mm, level=self.png_level, where=where, png_filter=self.png_filter)
                tw.write(obj)
        data = buf.getvalue()
        atomic_write_bytes(self.tar_path(shard_id), data)
        return {"sha256": hashlib.sha256(data).hexdigest(), "file": self.tar_path(shard_id).name,
                "bytes": len(data)}

    def _present(self, record: dict[str, Any]) -> bool:
        path = self.tar_path(record["id"])
        return path.is_file() and path.stat().st_size == record.get("bytes")
