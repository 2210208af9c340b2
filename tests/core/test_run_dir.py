"""core.run_dir: new-run checks, clearing, metrics truncation and the checkpoint listing both trainers share."""

from __future__ import annotations

import json

import pytest
import torch

from traingen.core.checkpoint import save_checkpoint
from traingen.core.errors import OutputError
from traingen.core.run_dir import (
    CKPT_DIR,
    check_new_run_dir,
    checkpoint_paths,
    clear_run,
    latest_checkpoint,
    prune_checkpoints,
    truncate_metrics,
)


def _ckpt(run, step):
    save_checkpoint(run / CKPT_DIR / f"step-{step:08d}", {"w": torch.full((2,), float(step))}, {"step": step})


def test_checkpoints_listed_by_step_incomplete_ones_ignored(tmp_path):
    assert checkpoint_paths(tmp_path) == [] and latest_checkpoint(tmp_path) is None
    for step in (10, 2, 30):
        _ckpt(tmp_path, step)
    (tmp_path / CKPT_DIR / "step-00000040.safetensors").write_bytes(b"half")   # no JSON: not complete
    (tmp_path / CKPT_DIR / "step-abc.json").write_text("{}")                    # not a step name
    assert [s for s, _ in checkpoint_paths(tmp_path)] == [2, 10, 30]
    assert latest_checkpoint(tmp_path) == tmp_path / CKPT_DIR / "step-00000030"


def test_prune_keeps_the_newest(tmp_path):
    for step in (1, 2, 3, 4):
        _ckpt(tmp_path, step)
    prune_checkpoints(tmp_path, 0)                   # 0: keep all
    assert len(checkpoint_paths(tmp_path)) == 4
    prune_checkpoints(tmp_path, 2)
    assert [s for s, _ in checkpoint_paths(tmp_path)] == [3, 4]
    assert sorted(p.name for p in (tmp_path / CKPT_DIR).iterdir()) == [
        "step-00000003.json", "step-00000003.safetensors", "step-00000004.json", "step-00000004.safetensors"]


def test_new_run_dir_checks(tmp_path):
    check_new_run_dir(tmp_path / "absent", overwrite=False)
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("x")
    with pytest.raises(OutputError, match="holds no GAN run"):
        check_new_run_dir(other, overwrite=True, kind="GAN run")
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("a: 1\n")
    with pytest.raises(OutputError, match="--resume"):
        check_new_run_dir(run, overwrite=False)
    check_new_run_dir(run, overwrite=True)
    _ckpt(run, 1)
    (run / "mine.txt").write_text("kept")
    clear_run(run, ("config.yaml", CKPT_DIR))
    assert sorted(p.name for p in run.iterdir()) == ["mine.txt"]


def test_truncate_metrics_drops_rows_after_the_step(tmp_path):
    p = tmp_path / "metrics.jsonl"
    truncate_metrics(p, 3)                           # absent: nothing to do
    p.write_text("".join(json.dumps({"step": s, "loss": s / 10}) + "\n" for s in range(1, 6)) + "\n")
    truncate_metrics(p, 3)
    assert [json.loads(x)["step"] for x in p.read_text().splitlines()] == [1, 2, 3]
