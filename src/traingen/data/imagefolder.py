"""ImageFolder: ``ROOT/<class>/<image>`` trees, read and written.

Reading: class folders sorted by name give labels ``0..K-1`` (as torchvision's ``ImageFolder``),
images inside each are found recursively and sorted; hidden files and folders are skipped. A flat
folder of images is an unlabelled source. Unlike torchvision, hidden folders (``.ipynb_checkpoints``)
and folders without images are not classes. A folder that holds traingen's ``metadata.jsonl`` (rows
with ``key`` and ``path``) is read through it, so boxes, soft labels and provenance come back as
written; another tool's ``metadata.jsonl`` is ignored.

Writing (format ``imagefolder``): ``OUT/<class>/<key>.png`` (``.npy`` for images PNG can't hold;
unlabelled samples at ``OUT/<key>.png``; a soft label goes to its argmax class) and
``OUT/metadata.jsonl``, one row per sample sorted by key: key, path, label (int or soft list), boxes,
box_labels, source, source_key, seed, technique, params. Each shard is first written whole to
``OUT/.parts/shard-NNNNNN/``; ``finalize`` moves the images into place and writes the metadata.

Example:
    >>> src = ImageFolderSource("pets/")          # pets/cat/1.jpg, pets/dog/2.png, ...
    >>> src.classes, src[0].label
    (['cat', 'dog'], 0)
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import DataError
from ..core.sample import Sample
from .cache import canonical_json
from .imageio import IMAGE_EXTENSIONS, read_image, safe_join
from .shards import PARTS_DIR, WRITERS, PartHasher, ShardWriter, temporary_dir, write_file, write_jsonl
from .sources import READERS, Source


def _visible(p: Path) -> bool:
    return not p.name.startswith(".")


def _images_under(folder: Path) -> list[Path]:
    found = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for f in filenames:
            if not f.startswith(".") and Path(f).suffix.lower() in IMAGE_EXTENSIONS:
                found.append(Path(dirpath) / f)
    return sorted(found)


@READERS.register("imagefolder")
class ImageFolderSource(Source):
    """Images in class folders (or a flat, unlabelled folder), or traingen's own ImageFolder output.

    Args:
        root: the folder.
        keep_uint16: keep 16-bit images as uint16 (default: convert to uint8).
        alpha: ``drop`` (default), ``composite`` or ``keep`` (see :mod:`traingen.data.imageio`).
    """

    def __init__(self, root: str | os.PathLike, *, keep_uint16: bool = False, alpha: str = "drop"):
        self.root = Path(root)
        self.name = str(root)
        self.read_options = {"keep_uint16": keep_uint16, "alpha": alpha}
        if not self.root.is_dir():
            raise DataError("not a folder", where=self.name)
        self.rows: list[dict[str, Any]] | None = None
        meta = self.root / "metadata.jsonl"
        if not (meta.is_file() and self._from_metadata(meta)):
            self._from_tree()

    def _from_tree(self) -> None:
        class_dirs = sorted(p for p in self.root.iterdir() if p.is_dir() and _visible(p))
        self.items: list[tuple[Path, int | None]] = []
        labelled = [(d, _images_under(d)) for d in class_dirs]
        labelled = [(d, files) for d, files in labelled if files]
        if labelled:
            self.classes = [d.name for d, _ in labelled]
            for label, (_, files) in enumerate(labelled):
                self.items.extend((f, label) for f in files)
        else:
            self.classes = []
            files = sorted(p for p in self.root.iterdir()
                           if p.is_file() and _visible(p) and p.suffix.lower() in IMAGE_EXTENSIONS)
            self.items = [(f, None) for f in files]
        if not self.items:
            raise DataError("holds no images (expected ROOT/<class>/<image> or a folder of images)",
                            where=self.name)

    def _from_metadata(self, path: Path) -> bool:
        """Use traingen's metadata rows; False for other tools' ``metadata.jsonl`` (e.g. Hugging Face's)."""
        try:
            lines = path.read_text().splitlines()
        except OSError as e:
            raise DataError(f"cannot read: {e.strerror or e}", where=str(path)) from e
        rows = []
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except ValueError as e:
                raise DataError(f"invalid JSON line ({e})", where=f"{path}:{n}") from e
        if not rows or not isinstance(rows[0], dict) or not {"key", "path"} <= rows[0].keys():
            return False
        for n, row in enumerate(rows, 1):
            if not isinstance(row, dict) or "path" not in row:
                raise DataError("each row needs a 'path'", where=f"{path}:{n}", field="path")
            safe_join(self.root, row["path"], where=f"{path}:{n}", field="path")
        self.rows = rows
        self.classes = _manifest_classes(self.root) or sorted(
            {Path(r["path"]).parts[0] for r in rows if len(Path(r["path"]).parts) > 1})
        return True

    def __len__(self) -> int:
        return len(self.rows) if self.rows is not None else len(self.items)

    def _get(self, i: int) -> Sample:
        if self.rows is not None:
            return _sample_from_row(self.rows[i], self.root, self.name, self.read_options)
        path, label = self.items[i]
        rel = path.relative_to(self.root).as_posix()
        return Sample(image=read_image(path, **self.read_options), label=label,
                      meta={"source": self.name, "key": rel, "index": i})


def _manifest_classes(root: Path) -> list[str]:
    try:
        return list(json.loads((root / "manifest.json").read_text()).get("classes") or [])
    except (OSError, ValueError, AttributeError):
        return []


def _sample_from_row(row: dict[str, Any], root: Path, name: str, read_options: dict) -> Sample:
    where = f"{name}/metadata.jsonl[{row.get('key')}]"
    image = read_image(safe_join(root, row["path"], where=where, field="path"), **read_options)
    label = row.get("label")
    if isinstance(label, list):
        label = np.asarray(label, np.float32)
    sample = Sample(image=image, label=label,
                    meta={"source": name, "key": row.get("key"), "origin": row.get("source"),
                          "seed": row.get("seed"), "technique": row.get("technique"), "params": row.get("params")})
    if "boxes" in row:
        sample.boxes = np.asarray(row["boxes"], np.float32).reshape(-1, 4)
        sample.box_labels = np.asarray(row.get("box_labels", []), np.int64)
    if "keypoints" in row:
        sample.keypoints = np.asarray(row["keypoints"], np.float32).reshape(-1, 2)
        if "keypoint_visible" in row:
            sample.keypoint_visible = np.asarray(row["keypoint_visible"], bool)
    return sample


@WRITERS.register("imagefolder")
class ImageFolderWriter(ShardWriter):
    """``OUT/<class>/<key>.png`` + ``OUT/metadata.jsonl`` (see the module docstring)."""

    format = "imagefolder"

    def part_dir(self, shard_id: int) -> Path:
        return self.out_dir / PARTS_DIR / f"shard-{shard_id:06d}"

    def _write_part(self, shard_id: int, keyed: list[tuple[str, Sample]]) -> dict[str, Any]:
        hasher = PartHasher()
        rows = []
        with temporary_dir(self.part_dir(shard_id)) as tmp:
            for key, sample in keyed:
                where = f"{self.out_dir}[{key}]"
                row = self.target_row(key, sample, where)
                ext, data, _ = self.encode(sample, where)
                folder = self.class_name(row["label"])
                rel = f"{folder}/{key}{ext}" if folder is not None else f"{key}{ext}"
                write_file(tmp, rel, data, hasher)
                rows.append({"path": rel, **row})
                self.extra_planes(tmp, key, sample, hasher)
            # The rows are part of the shard's bytes: a changed label must change the hash.
            hasher.add("rows.jsonl", "".join(canonical_json(r, indent=None) + "\n" for r in rows).encode())
        return {"sha256": hasher.hexdigest(), "files": sorted(hasher.files.keys() - {"rows.jsonl"}), "rows": rows}

    def extra_planes(self, folder: Path, key: str, sample: Sample, hasher: PartHasher) -> None:
        """Hook for planes beside the image (``depth/``, ``instances/``); none are written yet."""

    def _present(self, record: dict[str, Any]) -> bool:
        part = self.part_dir(record["id"])
        if part.is_dir():
            return True
        return all((self.out_dir / f).is_file() for f in record["files"])

    def move_parts(self, records: list[dict[str, Any]]) -> None:
        """Move each shard's files from its part folder into place (idempotent: moved files stay)."""
        for rec in records:
            part = self.part_dir(rec["id"])
            if not part.is_dir():
                continue
            for rel in rec["files"]:
                src, dst = part / rel, self.out_dir / rel
                if src.is_file():
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    os.replace(src, dst)
            shutil.rmtree(part)
        parts = self.out_dir / PARTS_DIR
        if parts.is_dir() and not any(parts.iterdir()):
            parts.rmdir()

    def _collect(self, records: list[dict[str, Any]]) -> dict[str, str]:
        self.move_parts(records)
        rows = sorted((row for rec in records for row in rec["rows"]), key=lambda r: r["key"])
        return {"metadata.jsonl": write_jsonl(self.out_dir / "metadata.jsonl", rows)}
