"""Shards: planning, atomic writes, crash recovery, resume, identity checks, manifest, workers."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

from traingen.core import Sample
from traingen.core.errors import OutputError
from traingen.data import export_source, open_writer, plan_shards
from traingen.data.shards import Shard, ShardWriter

CLASSES = ["a", "b"]


@pytest.fixture(scope="module", autouse=True)
def tg_cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TRAINGEN_CACHE", str(tmp_path_factory.getbasetemp() / "traingen-cache"))
        yield


def samples(n: int = 10) -> list[Sample]:
    rng = np.random.default_rng(0)
    return [Sample(image=rng.integers(0, 256, (8, 9, 3), dtype=np.uint8), label=i % 2,
                   meta={"source": "t", "seed": 3}) for i in range(n)]


def visible_files(out) -> list[str]:
    """What a user sees: files not under a dot-folder and not dot-named."""
    found = []
    for dirpath, dirnames, filenames in os.walk(out):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        found += [os.path.relpath(os.path.join(dirpath, f), out) for f in filenames if not f.startswith(".")]
    return sorted(found)


def all_bytes(out) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and p.name != "run.json" and ".traingen" not in p.parts}


def write(fmt, out, data, shard_size=4, **kw):
    w = open_writer(fmt, out, classes=CLASSES, config={"n": len(data)}, seed=3, **kw)
    shards = plan_shards(len(data), shard_size)
    for sh in shards:
        if not w.is_done(sh.id):
            w.write_shard(sh, [data[i] for i in sh.indices])
    w.finalize({}, shards=shards)
    return w


def test_plan_shards():
    assert plan_shards(10, 4) == [Shard(0, 0, 4), Shard(1, 4, 8), Shard(2, 8, 10)]
    assert plan_shards(0, 4) == []
    assert [len(s) for s in plan_shards(9, 3)] == [3, 3, 3]
    assert plan_shards(10, 4)[1].name == "shard-000001" and list(plan_shards(5, 2)[2].indices) == [4]
    with pytest.raises(OutputError):
        plan_shards(10, 0)


@pytest.mark.parametrize("fmt", ["imagefolder", "coco", "webdataset"])
def test_crash_mid_shard_leaves_nothing_visible_and_rerun_matches(tmp_path, fmt, monkeypatch):
    data = samples()
    clean = tmp_path / "clean"
    write(fmt, clean, data)

    out = tmp_path / "crash"
    w = open_writer(fmt, out, classes=CLASSES, config={"n": len(data)}, seed=3)
    calls = {"n": 0}
    real_encode = ShardWriter.encode

    def failing_encode(self, sample, where):
        calls["n"] += 1
        if calls["n"] == 6:  # second shard, after one image of it was written
            raise RuntimeError("simulated crash")
        return real_encode(self, sample, where)

    monkeypatch.setattr(ShardWriter, "encode", failing_encode)
    shards = plan_shards(len(data), 4)
    w.write_shard(shards[0], data[0:4])
    with pytest.raises(RuntimeError, match="simulated"):
        w.write_shard(shards[1], data[4:8])
    monkeypatch.setattr(ShardWriter, "encode", real_encode)
    assert w.is_done(0) and not w.is_done(1)
    expected_visible = ["shard-000000.tar"] if fmt == "webdataset" else []
    assert visible_files(out) == expected_visible
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]  # cleaned by the failing call itself

    # A hard kill leaves temporary names behind: the next open removes them.
    dead = dead_pid()
    (out / ".parts").mkdir(exist_ok=True)
    (out / ".parts" / f".shard-000001.{dead}.tmp").mkdir()
    (out / f".shard-000001.tar.{dead}.x.tmp").write_bytes(b"half")
    w2 = write(fmt, out, data)
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]
    assert all_bytes(out) == all_bytes(clean)
    assert w2.is_done(1)


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_temporaries_of_live_processes_are_kept(tmp_path):
    # A worker that opens the writer again must not delete a shard another worker is writing.
    out = tmp_path / "o"
    open_writer("imagefolder", out, classes=CLASSES)
    live = out / ".parts" / f".shard-000004.{os.getppid()}.tmp"
    live.mkdir(parents=True)
    mine = out / f".manifest.json.{os.getpid()}.abc.tmp"
    mine.write_text("stale")
    open_writer("imagefolder", out, classes=CLASSES)
    assert live.is_dir() and not mine.exists()


def test_rerun_skips_finished_shards(tmp_path, monkeypatch):
    data = samples()
    out = tmp_path / "o"
    write("webdataset", out, data)
    before = {p.name: p.stat().st_mtime_ns for p in out.glob("*.tar")}
    writes = []
    monkeypatch.setattr(ShardWriter, "write_shard", lambda self, *a, **k: writes.append(a))
    write("webdataset", out, data)
    assert writes == []
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.tar")} == before


def test_removed_shard_is_not_done(tmp_path):
    out = tmp_path / "o"
    w = write("webdataset", out, samples())
    (out / "shard-000001.tar").unlink()
    assert not w.is_done(1) and w.is_done(0)
    w.write_shard(plan_shards(10, 4)[1], samples()[4:8])
    assert w.is_done(1)


def test_identity_mismatch_and_overwrite(tmp_path):
    out = tmp_path / "o"
    write("imagefolder", out, samples())
    with pytest.raises(OutputError, match="different run.*config"):
        open_writer("imagefolder", out, classes=CLASSES, config={"n": 99}, seed=3)
    with pytest.raises(OutputError, match="seed"):
        open_writer("imagefolder", out, classes=CLASSES, config={"n": 10}, seed=4)
    with pytest.raises(OutputError, match="format"):
        open_writer("coco", out, classes=CLASSES, config={"n": 10}, seed=3)
    w = open_writer("imagefolder", out, classes=CLASSES, config={"n": 99}, seed=3, overwrite=True)
    assert visible_files(out) == [] and not w.is_done(0)


def test_foreign_folder_is_never_deleted(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("precious")
    for overwrite in (False, True):
        with pytest.raises(OutputError, match="not empty"):
            open_writer("imagefolder", out, classes=CLASSES, overwrite=overwrite)
    assert (out / "thesis.tex").read_text() == "precious"
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="not a folder"):
        open_writer("imagefolder", tmp_path / "file")


def test_manifest_content(tmp_path):
    out = tmp_path / "o"
    write("coco", out, samples())
    m = json.loads((out / "manifest.json").read_text())
    assert set(m) == {"traingen_version", "format", "classes", "config", "seed", "options", "total", "shards", "files"}
    assert m["total"] == 10 and m["seed"] == 3 and m["config"] == {"n": 10} and m["classes"] == CLASSES
    assert [(s["id"], s["start"], s["stop"], s["count"]) for s in m["shards"]] == [(0, 0, 4, 4), (1, 4, 8, 4),
                                                                                  (2, 8, 10, 2)]
    assert m["files"]["annotations.json"] == hashlib.sha256((out / "annotations.json").read_bytes()).hexdigest()


def test_finalize_refuses_missing_shards(tmp_path):
    w = open_writer("webdataset", tmp_path / "o", classes=CLASSES)
    shards = plan_shards(10, 4)
    w.write_shard(shards[0], samples()[:4])
    with pytest.raises(OutputError, match="not written"):
        w.finalize({}, shards=shards)
    assert not (tmp_path / "o" / "manifest.json").exists()


def test_writer_pickles_and_shard_ids(tmp_path):
    data = samples()
    w = open_writer("imagefolder", tmp_path / "o", classes=CLASSES, shard_size=4)
    w2 = pickle.loads(pickle.dumps(w))
    w2.write_shard(1, data[4:8])  # start from shard_size
    w2.write_shard(0, data[0:4], start=0)
    with pytest.raises(OutputError, match="spans"):
        w2.write_shard(Shard(2, 8, 10), data[8:9])
    w2.write_shard(Shard(2, 8, 10), data[8:10])
    w.finalize({}, shards=plan_shards(10, 4))
    rows = [json.loads(r) for r in (tmp_path / "o" / "metadata.jsonl").read_text().splitlines()]
    assert [r["key"] for r in rows] == [f"{i:08d}" for i in range(10)]


def test_export_with_two_workers_is_byte_identical(tmp_path):
    one = export_source("builtin:lfw25@test", tmp_path / "w1", fmt="imagefolder", shard_size=7, workers=1)
    two = export_source("builtin:lfw25@test", tmp_path / "w2", fmt="imagefolder", shard_size=7, workers=2)
    assert (one.total, one.shards, two.written) == (40, 6, 6)
    assert all_bytes(tmp_path / "w1") == all_bytes(tmp_path / "w2")
    assert json.loads((tmp_path / "w2" / "run.json").read_text())["workers"] == 2
