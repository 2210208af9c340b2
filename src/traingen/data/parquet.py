"""Parquet: one ``OUT/shard-%06d.parquet`` file per shard, image bytes and targets as columns.

Writing (format ``parquet``): a row per sample, in key order, with the columns

=================  ==============================  ================================================
column             type                            holds
=================  ==============================  ================================================
``key``            string                          the global index, ``%08d``
``image``          struct<bytes: binary, path>     PNG (or ``.npy`` for what PNG can't hold) bytes;
                                                   ``path`` is ``<key>.png`` / ``<key>.npy``
``label``          int64 (null)                    the integer class; soft labels go to ``soft_label``
``soft_label``     list<float32> (null)            a soft label vector (after mixing)
``boxes``          list<list<float32>>             N x 4 xyxy pixels (empty list when none)
``box_labels``     list<int64>                     N ints
``keypoints``      list<list<float32>> (null)      K x 2
``mask``           struct<bytes, path> (null)      class map as PNG (8- or 16-bit)
``instance_mask``  struct<bytes, path> (null)      instance ids as PNG (8- or 16-bit)
``meta``           string                          JSON: source, seed, technique, params
=================  ==============================  ================================================

The ``image`` and mask columns have Hugging Face's ``Image`` layout, and the schema carries the
``huggingface`` feature metadata, so ``datasets.load_dataset("parquet", data_files=...)`` decodes
them as images and ``label`` as a ``ClassLabel`` with the run's class names. Files are written with
pyarrow (no compression dictionary surprises: fixed ``zstd`` level, no statistics of time), to a
temporary name and renamed, so the same samples always give the same bytes.

Reading: :class:`ParquetSource` (a folder of shards or one file) is random-access.

Example:
    >>> w = open_writer("parquet", "out", classes=["0", "1"], config={})
    >>> pyarrow.parquet.read_table("out/shard-000000.parquet").column("label")
    >>> datasets.load_dataset("parquet", data_files="out/*.parquet")["train"][0]["image"]
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import DataError
from ..core.sample import Sample
from .cache import atomic_write_bytes, canonical_json
from .imageio import decode_image, encode_png
from .shards import WRITERS, ShardWriter
from .sources import READERS, Source

ROW_GROUP = 1000


def _schema(classes: list[str]):
    import pyarrow as pa

    img = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    fields = [
        ("key", pa.string()), ("image", img), ("label", pa.int64()), ("soft_label", pa.list_(pa.float32())),
        ("boxes", pa.list_(pa.list_(pa.float32()))), ("box_labels", pa.list_(pa.int64())),
        ("keypoints", pa.list_(pa.list_(pa.float32()))), ("mask", img), ("instance_mask", img), ("meta", pa.string()),
    ]
    label_feature: dict[str, Any] = ({"names": list(classes), "_type": "ClassLabel"} if classes
                                     else {"dtype": "int64", "_type": "Value"})
    features = {
        "key": {"dtype": "string", "_type": "Value"},
        "image": {"_type": "Image"},
        "label": label_feature,
        "soft_label": {"feature": {"dtype": "float32", "_type": "Value"}, "_type": "List"},
        "boxes": {"feature": {"feature": {"dtype": "float32", "_type": "Value"}, "_type": "List"}, "_type": "List"},
        "box_labels": {"feature": {"dtype": "int64", "_type": "Value"}, "_type": "List"},
        "keypoints": {"feature": {"feature": {"dtype": "float32", "_type": "Value"}, "_type": "List"},
                      "_type": "List"},
        "mask": {"_type": "Image"},
        "instance_mask": {"_type": "Image"},
        "meta": {"dtype": "string", "_type": "Value"},
    }
    meta = {b"huggingface": json.dumps({"info": {"features": features}}, sort_keys=True).encode()}
    return pa.schema(fields, metadata=meta)


def _map_png(arr: Any, where: str, field: str) -> bytes:
    a = np.asarray(arr)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.size and (a.min() < 0 or a.max() > 65535):
        raise DataError(f"{field} values must lie in 0..65535 to be stored as PNG", where=where, field=field)
    dtype = np.uint8 if (not a.size or a.max() < 256) else np.uint16
    return encode_png(a.astype(dtype), level=1, where=where)


@WRITERS.register("parquet")
class ParquetWriter(ShardWriter):
    """``OUT/shard-%06d.parquet`` (see the module docstring)."""

    format = "parquet"

    def shard_path(self, shard_id: int) -> Path:
        return self.out_dir / f"shard-{shard_id:06d}.parquet"

    def rows(self, keyed: list[tuple[str, Sample]]) -> dict[str, list[Any]]:
        cols: dict[str, list[Any]] = {k: [] for k in ("key", "image", "label", "soft_label", "boxes", "box_labels",
                                                       "keypoints", "mask", "instance_mask", "meta")}
        for key, sample in keyed:
            where = f"{self.out_dir}[{key}]"
            ext, data, _ = self.encode(sample, where)
            row = self.target_row(key, sample, where)
            label = row["label"]
            cols["key"].append(key)
            cols["image"].append({"bytes": data, "path": f"{key}{ext}"})
            cols["label"].append(label if isinstance(label, int) else None)
            cols["soft_label"].append(label if isinstance(label, list) else None)
            cols["boxes"].append(row.get("boxes", []))
            cols["box_labels"].append(row.get("box_labels", []))
            cols["keypoints"].append(row.get("keypoints"))
            for name in ("mask", "instance_mask"):
                m = getattr(sample, name)
                cols[name].append(None if m is None else {"bytes": _map_png(m, where, name), "path": f"{key}.{name}.png"})
            meta = {k: row.get(k) for k in ("source", "source_key", "seed", "technique", "params")}
            if "keypoint_visible" in row:
                meta["keypoint_visible"] = row["keypoint_visible"]
            cols["meta"].append(canonical_json(meta, indent=None).strip())
        return cols

    def _write_part(self, shard_id: int, keyed: list[tuple[str, Sample]]) -> dict[str, Any]:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.table(self.rows(keyed), schema=_schema(self.classes))
        buf = io.BytesIO()
        pq.write_table(table, buf, compression="zstd", compression_level=3, row_group_size=ROW_GROUP,
                       write_statistics=False, store_schema=True)
        data = buf.getvalue()
        path = self.shard_path(shard_id)
        atomic_write_bytes(path, data)
        return {"sha256": hashlib.sha256(data).hexdigest(), "file": path.name, "bytes": len(data)}

    def _present(self, record: dict[str, Any]) -> bool:
        path = self.shard_path(record["id"])
        return path.is_file() and path.stat().st_size == record.get("bytes")


@READERS.register("parquet")
class ParquetSource(Source):
    """Samples from traingen's parquet shards (a folder of ``*.parquet`` or one file); random access.

    Args:
        spec: the folder or file.
    """

    def __init__(self, spec: str | os.PathLike):
        import pyarrow.parquet as pq

        self.name = str(spec)
        path = Path(spec)
        files = sorted(p for p in path.glob("*.parquet") if not p.name.startswith(".")) if path.is_dir() else [path]
        if not files or not all(f.is_file() for f in files):
            raise DataError("holds no .parquet shards", where=self.name)
        self.tables = []
        for f in files:
            try:
                self.tables.append(pq.read_table(f))
            except Exception as e:  # pyarrow raises several unrelated types for a bad file
                raise DataError(f"unreadable parquet file ({e})", where=str(f)) from e
        self.offsets = np.cumsum([0] + [t.num_rows for t in self.tables])
        try:
            self.classes = list(json.loads((path / "manifest.json").read_text()).get("classes") or []) if path.is_dir() else []
        except (OSError, ValueError):
            self.classes = []

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def _get(self, i: int) -> Sample:
        t = int(np.searchsorted(self.offsets, i, side="right") - 1)
        row = {k: v[0] for k, v in self.tables[t].slice(i - int(self.offsets[t]), 1).to_pydict().items()}
        where = f"{self.name}[{row['key']}]"
        image = decode_image(row["image"]["bytes"], where=where) if not row["image"]["path"].endswith(".npy") \
            else np.load(io.BytesIO(row["image"]["bytes"]), allow_pickle=False)
        label = row["label"] if row["label"] is not None else (
            np.asarray(row["soft_label"], np.float32) if row["soft_label"] is not None else None)
        meta = json.loads(row["meta"])
        s = Sample(image=image, label=label, meta={"source": self.name, "key": row["key"], "origin": meta.get("source"),
                                                   "seed": meta.get("seed"), "technique": meta.get("technique"),
                                                   "params": meta.get("params")})
        if row["boxes"]:
            s.boxes = np.asarray(row["boxes"], np.float32).reshape(-1, 4)
            s.box_labels = np.asarray(row["box_labels"], np.int64)
        if row["keypoints"] is not None:
            s.keypoints = np.asarray(row["keypoints"], np.float32).reshape(-1, 2)
        for name in ("mask", "instance_mask"):
            if row[name] is not None:
                setattr(s, name, decode_image(row[name]["bytes"], where=f"{where}.{name}", keep_uint16=True))
        return s


def read_rows(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Every row of a parquet shard as plain Python (tests and debugging)."""
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pylist()

