"""Atomic shards, resumable writers and the manifest (DESIGN §5).

The unit of work is a :class:`Shard`: a fixed range of global sample indices. A writer writes one
shard at a time, from any process, under a temporary name, and renames it into place only when it is
complete; then it records the shard (count, sha256 of its bytes) in ``OUT/.traingen/shards/``.
``is_done(shard_id)`` is true only for recorded shards, so a rerun skips them and a crash mid-shard
leaves nothing but temporary names (``*.tmp``), which the next :func:`open_writer` removes.

``finalize`` runs once in the main process after every shard: formats that keep one index file
(ImageFolder ``metadata.jsonl``, COCO ``annotations.json``) collect their per-shard parts sorted by
key, and every format writes ``OUT/manifest.json`` -- traingen version, format, classes, resolved
config, seed, writer options and the shard list with counts and sha256: only what decides the bytes,
so the same seed gives the same manifest with 1 or 8 workers -- and ``OUT/run.json`` with the runtime
facts the caller passes (worker count, times, host).

An OUT folder remembers what it was opened for (``.traingen/identity.json``). Opening it again for a
different config, seed, format or classes is an :class:`OutputError` unless ``overwrite=True``, which
deletes the earlier traingen output first (also for the same identity: a fresh run); without it, the
same identity resumes. A non-empty folder that is not a traingen output is never deleted.

Example:
    >>> shards = plan_shards(10_000, 1_000)
    >>> w = open_writer("webdataset", "out", classes=["0", "1"], config={"n": 10_000}, seed=0)
    >>> for sh in shards:
    ...     if not w.is_done(sh.id):
    ...         w.write_shard(sh, [make_sample(i) for i in sh.indices])   # any process
    >>> w.finalize({"workers": 2})                                         # main process
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ..core.errors import DataError, OutputError, TargetError
from ..core.registry import Registry
from ..core.sample import Sample, check_boxes
from .cache import TMP_SUFFIX, atomic_write_bytes, atomic_write_json, canonical_json, jsonable
from .imageio import PNG_LEVEL, encode_image, to_numpy_image

WRITERS = Registry("formats", "Output formats: imagefolder, coco, webdataset (atomic shards + manifest).")

STATE_DIR = ".traingen"
PARTS_DIR = ".parts"
KEY_FORMAT = "{:08d}"


@dataclass(frozen=True)
class Shard:
    """A fixed range ``[start, stop)`` of global sample indices."""

    id: int
    start: int
    stop: int

    def __len__(self) -> int:
        return self.stop - self.start

    @property
    def name(self) -> str:
        return f"shard-{self.id:06d}"

    @property
    def indices(self) -> range:
        return range(self.start, self.stop)


def plan_shards(total: int, shard_size: int) -> list[Shard]:
    """Split ``range(total)`` into consecutive shards of ``shard_size`` (the last may be shorter)."""
    if total < 0:
        raise OutputError(f"total must be >= 0, got {total}", field="total")
    if shard_size < 1:
        raise OutputError(f"shard_size must be >= 1, got {shard_size}", field="shard_size")
    return [Shard(k, s, min(s + shard_size, total)) for k, s in enumerate(range(0, total, shard_size))]


def sample_key(index: int) -> str:
    return KEY_FORMAT.format(index)


class PartHasher:
    """sha256 over a shard's files: relative name and bytes of each, in name order."""

    def __init__(self) -> None:
        self.files: dict[str, str] = {}

    def add(self, name: str, data: bytes) -> None:
        self.files[name] = hashlib.sha256(data).hexdigest()

    def hexdigest(self) -> str:
        h = hashlib.sha256()
        for name in sorted(self.files):
            h.update(f"{name}\0{self.files[name]}\n".encode())
        return h.hexdigest()


class ShardWriter:
    """Base writer: identity check, temporary names, shard records, manifest.

    Subclasses implement :meth:`_write_part` (write one shard's files atomically and return its
    record) and may override :meth:`_collect` (merge parts at :meth:`finalize`) and
    :meth:`_present`. The object holds only paths and plain data, so it pickles to worker processes.

    Args:
        out_dir: the output folder.
        classes: class names; integer labels index them.
        config: the resolved config that produced the samples (saved in the manifest).
        seed: the run seed.
        shard_size: lets ``write_shard(int, samples)`` find a shard's first key; optional.
        png_level: PNG compression level (part of the identity: it changes the bytes).
        png_filter: a PNG row filter of :data:`~traingen.data.imageio.PNG_FILTERS` for every PNG the
            writer encodes (in the identity when set), or None for OpenCV's default.
        compact_records: write the per-shard resume records without indentation (C JSON encoder;
            internal files only, the outputs' bytes do not change).
    """

    format: ClassVar[str] = ""

    def __init__(self, out_dir: str | os.PathLike, classes: Sequence[str] = (), config: dict | None = None,
                 seed: int = 0, *, shard_size: int | None = None, png_level: int = PNG_LEVEL,
                 png_filter: str | None = None, compact_records: bool = False):
        self.out_dir = Path(out_dir)
        self.classes = [str(c) for c in classes]
        self.config = jsonable(dict(config or {}))
        self.seed = int(seed)
        self.shard_size = shard_size
        self.png_level = int(png_level)
        self.png_filter = png_filter
        self.compact_records = bool(compact_records)

    # -- identity and preparation (main process) -------------------------------------------------

    @property
    def state_dir(self) -> Path:
        return self.out_dir / STATE_DIR

    def identity(self) -> dict[str, Any]:
        """What decides the bytes; an OUT opened again must match it."""
        options: dict[str, Any] = {"png_level": self.png_level}
        if self.png_filter is not None:
            options["png_filter"] = self.png_filter
        return {"format": self.format, "classes": self.classes, "config": self.config, "seed": self.seed,
                "options": options}

    def prepare(self, overwrite: bool = False) -> None:
        """Check OUT against this writer's identity, clean temporary names, record the identity."""
        out = self.out_dir
        if out.exists() and not out.is_dir():
            raise OutputError("exists and is not a folder", where=str(out))
        if out.is_dir():
            earlier = self._earlier_identity()
            if earlier is None and any(out.iterdir()):
                raise OutputError("folder is not empty and holds no traingen output; choose an empty or new "
                                  "folder (traingen never deletes files it did not write)", where=str(out))
            if earlier is not None and overwrite:
                shutil.rmtree(out)  # a fresh run, even for the same identity
            elif earlier is not None and earlier != self.identity():
                diff = [k for k in self.identity() if self.identity()[k] != earlier.get(k)]
                raise OutputError(f"holds a different run (differs in: {', '.join(diff)}); pass "
                                  "overwrite=True (--overwrite) to replace it, or choose another folder",
                                  where=str(out))
        try:
            self.state_dir.joinpath("shards").mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise OutputError(f"cannot create output folder: {e.strerror or e}", where=str(out)) from e
        self._clean_temporaries()
        atomic_write_json(self.state_dir / "identity.json", self.identity())

    def _earlier_identity(self) -> dict[str, Any] | None:
        ident = self.state_dir / "identity.json"
        manifest = self.out_dir / "manifest.json"
        for path in (ident, manifest):
            if path.is_file():
                try:
                    data = json.loads(path.read_text())
                except (OSError, ValueError) as e:
                    raise OutputError(f"unreadable ({e}); delete the folder or pass overwrite", where=str(path)) from e
                return {k: data.get(k) for k in ("format", "classes", "config", "seed", "options")}
        return None

    def _clean_temporaries(self) -> None:
        # Only the folders traingen writes into hold temporary names. A name carries its writer's pid:
        # one of another live process may be a shard in flight (a worker that opened this writer
        # again), so only names of this process or of dead processes are removed.
        for folder in (self.out_dir, self.out_dir / PARTS_DIR, self.state_dir, self.state_dir / "shards"):
            if not folder.is_dir():
                continue
            for p in folder.iterdir():
                if not p.name.endswith(TMP_SUFFIX) or _owner_alive(p.name):
                    continue
                with contextlib.suppress(FileNotFoundError):
                    shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()

    # -- shards (any process) --------------------------------------------------------------------

    def record_path(self, shard_id: int) -> Path:
        return self.state_dir / "shards" / f"shard-{shard_id:06d}.json"

    def read_record(self, shard_id: int) -> dict[str, Any] | None:
        try:
            return json.loads(self.record_path(shard_id).read_text())
        except (OSError, ValueError):
            return None

    def is_done(self, shard_id: int) -> bool:
        """True only when the shard was written completely (its record exists and its data is there)."""
        record = self.read_record(shard_id)
        return record is not None and self._present(record)

    def _present(self, record: dict[str, Any]) -> bool:
        return True

    def write_shard(self, shard: Shard | int, samples: Sequence[Sample], *, start: int | None = None) -> dict:
        """Write one shard atomically and record it; safe in parallel processes for different shards.

        Args:
            shard: a :class:`Shard` (its ``start`` gives the first key) or a shard id.
            samples: the shard's samples in index order; sample ``j`` gets key ``%08d % (start + j)``.
            start: the first global index when ``shard`` is an id (else ``shard_id * shard_size``).

        Returns:
            The shard record (id, start, stop, count, sha256, ...).
        """
        if isinstance(shard, Shard):
            if len(samples) != len(shard):
                raise OutputError(f"{shard.name} spans {len(shard)} indices but got {len(samples)} samples",
                                  where=str(self.out_dir))
            sid, start = shard.id, shard.start
        else:
            sid = int(shard)
            if start is None:
                if self.shard_size is None:
                    raise OutputError("pass a Shard, start=, or open the writer with shard_size",
                                      where=str(self.out_dir))
                start = sid * self.shard_size
        keyed = [(sample_key(start + j), s) for j, s in enumerate(samples)]
        record = self._write_part(sid, keyed)
        record.update({"id": sid, "start": start, "stop": start + len(samples), "count": len(samples)})
        if self.compact_records:
            atomic_write_bytes(self.record_path(sid), canonical_json(record, indent=None).encode())
        else:
            atomic_write_json(self.record_path(sid), record)
        return record

    def _write_part(self, shard_id: int, keyed: list[tuple[str, Sample]]) -> dict[str, Any]:
        raise NotImplementedError

    # -- finalize (main process) -----------------------------------------------------------------

    def records(self) -> list[dict[str, Any]]:
        out = []
        for p in sorted((self.state_dir / "shards").glob("shard-*.json")):
            rec = json.loads(p.read_text())
            out.append(rec)
        return sorted(out, key=lambda r: r["id"])

    def finalize(self, run_info: dict | None = None, shards: Sequence[Shard] | None = None) -> Path:
        """Collect the parts, write ``manifest.json`` and ``run.json``; returns the manifest's path.

        Args:
            run_info: runtime facts (workers, times, host) for ``run.json``; never in the manifest.
            shards: the planned shards; when given, a missing one is an OutputError.
        """
        if shards is not None:
            missing = [sh.id for sh in shards if not self.is_done(sh.id)]
            if missing:
                raise OutputError(f"{len(missing)} shards are not written yet (first: {missing[0]})",
                                  where=str(self.out_dir))
        records = self.records()
        starts = sorted((r["start"], r["stop"]) for r in records)
        for (_, stop), (start, _) in zip(starts, starts[1:], strict=False):
            if start < stop:
                raise OutputError("shards overlap: was the shard size changed between runs?", where=str(self.out_dir))
        files = self._collect(records)
        manifest = {
            "traingen_version": _version(),
            **self.identity(),
            "total": sum(r["count"] for r in records),
            "shards": [{k: r[k] for k in ("id", "start", "stop", "count", "sha256")} for r in records],
            "files": files,
        }
        path = self.out_dir / "manifest.json"
        atomic_write_json(path, manifest)
        atomic_write_json(self.out_dir / "run.json", dict(run_info or {}))
        return path

    def _collect(self, records: list[dict[str, Any]]) -> dict[str, str]:
        """Merge per-shard parts; return ``{file name: sha256}`` of the index files written."""
        return {}

    # -- helpers for subclasses ------------------------------------------------------------------

    def label_row(self, sample: Sample, where: str) -> int | list[float] | None:
        """The JSON form of a sample's label, checked against the classes."""
        label = sample.label
        if label is None:
            return None
        if isinstance(label, (int, np.integer)) and not isinstance(label, bool):
            if self.classes and not 0 <= int(label) < len(self.classes):
                raise TargetError(f"label {int(label)} outside the {len(self.classes)} classes", where=where,
                                  field="label")
            return int(label)
        arr = np.asarray(label, dtype=np.float64)
        if arr.ndim == 0:
            if float(arr).is_integer():
                return self.label_row(sample.replace(label=int(arr)), where)
            raise TargetError(f"label must be an int or a soft vector, got {label!r}", where=where, field="label")
        if arr.ndim != 1 or (self.classes and len(arr) != len(self.classes)):
            raise TargetError(f"soft label must have one value per class ({len(self.classes)}), got shape "
                              f"{arr.shape}", where=where, field="label")
        return [float(v) for v in arr.astype(np.float32)]

    def class_name(self, label: int | list[float] | None) -> str | None:
        """Folder name for a label: the class of an int label, the argmax class of a soft one."""
        if label is None:
            return None
        idx = int(np.argmax(label)) if isinstance(label, list) else int(label)
        return self.classes[idx] if self.classes else str(idx)

    def encode(self, sample: Sample, where: str) -> tuple[str, bytes, np.ndarray]:
        """``(extension, bytes, array)`` of the sample's image: PNG, or ``.npy`` for what PNG can't hold."""
        image = to_numpy_image(sample.image)
        if not isinstance(image, np.ndarray) or image.ndim not in (2, 3) or image.size == 0:
            raise DataError(f"cannot write an image of shape {getattr(image, 'shape', None)}", where=where,
                            field="image")
        ext, data = encode_image(image, level=self.png_level, where=where, png_filter=self.png_filter)
        return ext, data, image

    def target_row(self, key: str, sample: Sample, where: str) -> dict[str, Any]:
        """Targets and provenance of one sample as JSON (shared by every format)."""
        meta = sample.meta or {}
        row: dict[str, Any] = {"key": key, "label": self.label_row(sample, where)}
        if sample.boxes is not None:
            boxes = check_boxes(sample.boxes, where=where)
            row["boxes"] = boxes.tolist()
            row["box_labels"] = box_labels(sample, len(boxes), where)
        if sample.keypoints is not None:
            row["keypoints"] = np.asarray(sample.keypoints, np.float32)[:, :2].tolist()
            if sample.keypoint_visible is not None:
                row["keypoint_visible"] = [bool(v) for v in np.asarray(sample.keypoint_visible)]
        row.update({"source": meta.get("source"), "source_key": meta.get("key"), "seed": meta.get("seed"),
                    "technique": meta.get("technique"), "params": jsonable(meta.get("params"))})
        return row


def box_labels(sample: Sample, n: int, where: str) -> list[int]:
    """The sample's box labels as ints (the image label for every box when none are given)."""
    if sample.box_labels is not None:
        arr = np.asarray(sample.box_labels).reshape(-1)
        if len(arr) != n:
            raise TargetError(f"{n} boxes but {len(arr)} box_labels", where=where, field="box_labels")
        return [int(v) for v in arr]
    if n and isinstance(sample.label, (int, np.integer)):
        return [int(sample.label)] * n
    if n:
        raise TargetError("boxes need box_labels (or an integer image label)", where=where, field="box_labels")
    return []


def _owner_alive(name: str) -> bool:
    """True when a temporary name's pid (``.<name>.<pid>[.<rand>].tmp``) is another running process."""
    pid = next((int(part) for part in name.split(".")[2:] if part.isdigit()), None)
    if pid is None or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _version() -> str:
    from .. import __version__

    return __version__


@contextlib.contextmanager
def temporary_dir(final: Path):
    """A fresh temporary folder beside ``final``; renamed onto ``final`` on success, removed on error."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".{final.name}.{os.getpid()}{TMP_SUFFIX}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        yield tmp
        if final.exists():  # left by a crash between rename and record: it was never recorded
            shutil.rmtree(final)
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_file(folder: Path, rel: str, data: bytes, hasher: PartHasher) -> None:
    path = folder / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    hasher.add(rel, data)


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> str:
    """Write JSON lines atomically (one canonical object per line); returns the file's sha256."""
    data = "".join(canonical_json(r, indent=None) + "\n" for r in rows).encode()
    atomic_write_bytes(path, data)
    return hashlib.sha256(data).hexdigest()


def open_writer(fmt: str, out_dir: str | os.PathLike, *, classes: Sequence[str] = (), config: dict | None = None,
                seed: int = 0, overwrite: bool = False, shard_size: int | None = None,
                png_level: int = PNG_LEVEL, prepare: bool = True, png_filter: str | None = None,
                compact_records: bool = False) -> ShardWriter:
    """Open (and prepare) a writer of format ``fmt`` (a key of :data:`WRITERS`) on ``out_dir``.

    Call in the main process and pass the returned object to workers (it pickles). Opening it again
    in a worker is safe too (``overwrite`` must then be false); ``prepare=False`` skips the identity
    check and the cleaning of temporary names (the main process did both). ``png_filter`` and
    ``compact_records``: see :class:`ShardWriter`.

    Raises:
        OutputError: OUT holds a different run (and ``overwrite`` is false) or cannot be written.
    """
    writer = WRITERS.get(fmt)(out_dir, classes, config, seed, shard_size=shard_size, png_level=png_level,
                              png_filter=png_filter, compact_records=compact_records)
    if prepare:
        writer.prepare(overwrite=overwrite)
    return writer
