"""Byte identity over workers and engines, resume after SIGKILL, rerun skipping finished shards."""

import os
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from traingen.pipeline.run import run

RECIPE = """version: 1
source: builtin:digits@train
steps:
  - step: augment
    pipeline: augment-light.yaml
mix:
  augment: {n}
output:
  format: webdataset
  shard_size: {shard}
seed: 3
"""


def _recipe(tmp_path, n=120, shard=30, name="r.yaml"):
    p = tmp_path / name
    p.write_text(RECIPE.format(n=n, shard=shard))
    return p


def data_files(run_dir: Path) -> dict[str, bytes]:
    """Every file of RUN/data but run.json (runtime facts), by relative path."""
    root = run_dir / "data"
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != "run.json"}


def test_same_bytes_with_1_and_2_workers_and_rerun_skips(tmp_path):
    r = _recipe(tmp_path)
    a = run(r, tmp_path / "w1", workers=1, report=False)
    b = run(r, tmp_path / "w2", workers=2, report=False)
    fa, fb = data_files(tmp_path / "w1"), data_files(tmp_path / "w2")
    assert fa == fb and "manifest.json" in fa and sum(k.endswith(".tar") for k in fa) == 4
    assert a.manifest == b.manifest and a.shards_run == 4
    again = run(r, tmp_path / "w1", workers=2, report=False)
    assert again.shards_run == 0 and again.shards_skipped == 4 and data_files(tmp_path / "w1") == fa
    c = run(r, tmp_path / "s4", seed=4, report=False)
    assert data_files(tmp_path / "s4")["shard-000000.tar"] != fa["shard-000000.tar"] and c.manifest["seed"] == 4


def _tar_keys(run_dir: Path) -> list[str]:
    keys = []
    for t in sorted((run_dir / "data").glob("shard-*.tar")):
        with tarfile.open(t) as tf:
            keys += sorted({m.name.split(".")[0] for m in tf.getmembers()})
    return keys


def test_sigkill_mid_run_then_rerun_gives_identical_files(tmp_path):
    n, shard = 1200, 30
    r = _recipe(tmp_path, n, shard)
    killed = tmp_path / "killed"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}
    proc = subprocess.Popen([sys.executable, "-m", "traingen.cli.main", "run", str(r), "--out", str(killed),
                             "--no-report", "--quiet"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    records = killed / "data" / ".traingen" / "shards"
    deadline = time.monotonic() + 240
    done = 0
    while time.monotonic() < deadline and proc.poll() is None:
        done = len(list(records.glob("shard-*.json"))) if records.is_dir() else 0
        if done >= 3:
            break
        time.sleep(0.005)
    assert proc.poll() is None, f"the run ended before it could be killed: {proc.communicate()}"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert 3 <= len(list(records.glob("shard-*.json"))) < n // shard
    assert not (killed / "data" / "manifest.json").exists()
    resumed = run(r, killed, report=False)
    assert resumed.shards_skipped >= 3 and resumed.shards_run + resumed.shards_skipped == n // shard
    fresh = tmp_path / "fresh"
    run(r, fresh, report=False)
    assert data_files(killed) == data_files(fresh)
    keys = _tar_keys(killed)
    assert keys == [f"{i:08d}" for i in range(n)]  # none lost, none duplicated
    assert not [p for p in (killed / "data").rglob("*") if p.name.endswith(".tmp")]


def test_ray_two_actors_same_bytes_as_local(tmp_path):
    pytest.importorskip("ray")  # the [ray] extra (installed by make test)
    r = _recipe(tmp_path, 90, 30)
    run(r, tmp_path / "local", workers=1, report=False)
    res = run(r, tmp_path / "ray", workers=2, engine="ray", report=False)
    assert res.shards_run == 3
    assert data_files(tmp_path / "ray") == data_files(tmp_path / "local")
