"""DDP: two CPU processes with gloo train one tiny cDCGAN; both hold the same weights, only rank 0 writes.

Each rank runs :func:`traingen.gan.trainer.train` in its own process (``torch.multiprocessing.spawn``)
with the environment torchrun would set. On rank 1 every file-system write is recorded (``open`` in a
writing mode, ``os.open`` with a writing flag, ``os.mkdir``, ``os.replace``/``os.rename``); the run
folder must see none of them. Each rank reports its final weights to a folder of the test's own.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import torch

TINY = {"model": "cdcgan", "model_config": {"image_size": 8, "ch": 4, "z_dim": 8},
        "data": "builtin:digits@train", "steps": 3, "batch_size": 8, "checkpoint_every": 2, "log_every": 1,
        "image_every": 0, "tensorboard": False}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _spy_writes(root: Path, record: list[str]):
    """Record writes under ``root``; returns a function that removes the spies."""
    import builtins
    import io

    root = root.resolve()
    real = {"open": builtins.open, "os_open": os.open, "mkdir": os.mkdir, "replace": os.replace,
            "rename": os.rename}

    def under(path) -> bool:
        try:
            return Path(os.fsdecode(path)).resolve().is_relative_to(root)
        except (TypeError, ValueError):
            return False

    def spy_open(file, mode="r", *args, **kwargs):
        if isinstance(file, (str, bytes, os.PathLike)) and any(c in mode for c in "wax+") and under(file):
            record.append(f"open {file}")
        return real["open"](file, mode, *args, **kwargs)

    def spy_os_open(path, flags, *args, **kwargs):
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT) and under(path):
            record.append(f"os.open {path}")
        return real["os_open"](path, flags, *args, **kwargs)

    def spy_mkdir(path, *args, **kwargs):
        if under(path):
            record.append(f"mkdir {path}")
        return real["mkdir"](path, *args, **kwargs)

    def spy_move(name):
        def move(src, dst, *args, **kwargs):
            if under(src) or under(dst):
                record.append(f"{name} {dst}")
            return real[name](src, dst, *args, **kwargs)
        return move

    builtins.open = io.open = spy_open
    os.open, os.mkdir = spy_os_open, spy_mkdir
    os.replace, os.rename = spy_move("replace"), spy_move("rename")

    def restore():
        builtins.open = io.open = real["open"]
        os.open, os.mkdir, os.replace, os.rename = real["os_open"], real["mkdir"], real["replace"], real["rename"]

    return restore


def _worker(rank: int, world: int, port: int, run_dir: str, report_dir: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank), OMP_NUM_THREADS="1")
    torch.set_num_threads(1)
    from safetensors.torch import save_file

    from traingen.gan.train_config import train_config_from_dict
    from traingen.gan.trainer import train

    writes: list[str] = []
    restore = _spy_writes(Path(run_dir), writes) if rank != 0 else (lambda: None)
    try:
        res = train(train_config_from_dict(dict(TINY)), run_dir)
    finally:
        restore()
    state = {f"G.{k}": v for k, v in res.model.G.state_dict().items()}
    state.update({f"D.{k}": v for k, v in res.model.D.state_dict().items()})
    save_file({k: v.contiguous() for k, v in state.items()}, os.path.join(report_dir, f"rank{rank}.safetensors"))
    with open(os.path.join(report_dir, f"rank{rank}.json"), "w") as f:
        json.dump({"writes": writes, "world_size": res.world_size, "step": res.step, "ema": res.ema is not None}, f)


def test_two_gloo_ranks_hold_identical_weights_and_only_rank0_writes(tmp_path):
    from safetensors.torch import load_file

    from traingen.core.checkpoint import load_checkpoint

    run_dir, report = tmp_path / "run", tmp_path / "report"
    report.mkdir()
    torch.multiprocessing.spawn(_worker, args=(2, _free_port(), str(run_dir), str(report)), nprocs=2, join=True)

    info = [json.loads((report / f"rank{r}.json").read_text()) for r in range(2)]
    assert [i["world_size"] for i in info] == [2, 2]
    assert [i["step"] for i in info] == [3, 3]
    assert [i["ema"] for i in info] == [True, False]  # the EMA lives on rank 0
    assert info[1]["writes"] == []

    w0, w1 = (load_file(report / f"rank{r}.safetensors") for r in range(2))
    assert w0.keys() == w1.keys() and any(k.startswith("D.") for k in w0)
    for k in w0:
        assert torch.equal(w0[k], w1[k]), k
    # Training moved the weights: compare with a fresh model of the same seed.
    from traingen.core.seeding import torch_generator
    from traingen.gan.train_config import build_model, train_config_from_dict

    fresh = build_model(train_config_from_dict(dict(TINY)), generator=torch_generator(0, "gan", "init"))
    assert not torch.equal(fresh.G.state_dict()["fc.weight"], w0["G.fc.weight"])

    # Rank 0 wrote one run: one metrics row per step (not two), checkpoints at 2 and 3 holding its weights.
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3]
    names = sorted(p.name for p in (run_dir / "checkpoints").iterdir())
    assert names == ["step-00000002.json", "step-00000002.safetensors", "step-00000003.json",
                     "step-00000003.safetensors"]
    tree, state = load_checkpoint(run_dir / "checkpoints" / "step-00000003")
    assert state["world_size"] == 2
    for k, v in tree["model"]["G"].items():
        assert torch.equal(v, w0[f"G.{k}"]), k
