"""The parquet writer: read back with pyarrow, with datasets.load_dataset and with our reader."""

import json

import cv2
import numpy as np
import pyarrow.parquet as pq
import pytest

from traingen.core.sample import Sample
from traingen.data import open_writer, plan_shards
from traingen.data import parquet as _parquet  # noqa: F401  (registers the writer)
from traingen.data.parquet import ParquetSource


def _samples(n):
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        img = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
        mask = np.zeros((12, 16), np.uint8)
        mask[2:6, 3:9] = 1 + i % 2
        inst = np.zeros((12, 16), np.uint16)
        inst[2:6, 3:9] = 1
        if i == 3:
            inst[7:9, 1:2] = 300  # needs 16 bits
        out.append(Sample(image=img, label=i % 3, mask=mask, instance_mask=inst,
                          boxes=np.array([[3, 2, 9, 6]], np.float32), box_labels=np.array([i % 3]),
                          meta={"source": "test", "seed": i, "technique": "t"}))
    return out


def _write(out, samples, shard_size=4):
    w = open_writer("parquet", out, classes=["a", "b", "c"], config={"n": len(samples)}, seed=0)
    shards = plan_shards(len(samples), shard_size)
    for sh in shards:
        w.write_shard(sh, [samples[i] for i in sh.indices])
    w.finalize({}, shards=shards)
    return shards


def test_parquet_pyarrow_roundtrip(tmp_path):
    samples = _samples(10)
    shards = _write(tmp_path / "pq", samples)
    files = sorted((tmp_path / "pq").glob("shard-*.parquet"))
    assert [f.name for f in files] == [f"shard-{s.id:06d}.parquet" for s in shards]
    rows = [r for f in files for r in pq.read_table(f).to_pylist()]
    assert [r["key"] for r in rows] == [f"{i:08d}" for i in range(10)]
    for s, r in zip(samples, rows, strict=True):
        # decode with OpenCV, independent of our reader
        img = cv2.imdecode(np.frombuffer(r["image"]["bytes"], np.uint8), cv2.IMREAD_UNCHANGED)
        np.testing.assert_array_equal(img[:, :, ::-1], s.image)
        assert r["label"] == s.label and r["box_labels"] == [s.label]
        np.testing.assert_allclose(r["boxes"], s.boxes)
        m = cv2.imdecode(np.frombuffer(r["mask"]["bytes"], np.uint8), cv2.IMREAD_UNCHANGED)
        np.testing.assert_array_equal(m, s.mask)
        inst = cv2.imdecode(np.frombuffer(r["instance_mask"]["bytes"], np.uint8), cv2.IMREAD_UNCHANGED)
        np.testing.assert_array_equal(inst, s.instance_mask)
        assert json.loads(r["meta"])["seed"] == s.meta["seed"]
    src = ParquetSource(tmp_path / "pq")
    assert len(src) == 10 and src.classes == ["a", "b", "c"]
    np.testing.assert_array_equal(src[3].instance_mask, samples[3].instance_mask)
    np.testing.assert_array_equal(src[7].image, samples[7].image)


def test_parquet_bytes_reproducible(tmp_path):
    _write(tmp_path / "a", _samples(6), 3)
    _write(tmp_path / "b", _samples(6), 3)
    for name in ("shard-000000.parquet", "shard-000001.parquet", "manifest.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_parquet_with_hf_datasets(tmp_path):
    datasets = pytest.importorskip("datasets")  # a dev dependency; documented optional
    samples = _samples(5)
    _write(tmp_path / "pq", samples)
    ds = datasets.load_dataset("parquet", data_files=str(tmp_path / "pq" / "*.parquet"),
                               cache_dir=str(tmp_path / "hf"))["train"]
    assert len(ds) == 5
    assert ds.features["label"].names == ["a", "b", "c"]
    row = ds[2]
    assert row["label"] == 2
    np.testing.assert_array_equal(np.asarray(row["image"]), samples[2].image)
    np.testing.assert_array_equal(np.asarray(row["mask"]), samples[2].mask)
    np.testing.assert_allclose(row["boxes"], samples[2].boxes)
