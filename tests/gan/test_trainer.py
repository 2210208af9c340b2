"""The GAN trainer: exact resume, divergence guard, EMA, data stream, run folder and config checks."""

from __future__ import annotations

import dataclasses
import json
import sys

import pytest
import torch

from traingen.core.checkpoint import load_checkpoint
from traingen.core.errors import ConfigError, DataError, OutputError
from traingen.core.run_dir import checkpoint_paths
from traingen.gan.ema import EMA, ema_update_
from traingen.gan.train_config import TrainConfig, load_train_config, read_run_config
from traingen.gan.trainer import (
    DivergenceError,
    batch_indices,
    load_real_data,
    split_labelled,
    train,
)

TINY_MODELS = {
    "cdcgan": {"image_size": 8, "ch": 4, "z_dim": 8},
    "cdcgan-tricks": {"image_size": 8, "ch": 4, "z_dim": 8, "historical_averaging": 0.1, "feature_matching": True,
                      "minibatch_discrimination": True, "label_smoothing": 0.1},
    "sagan": {"image_size": 8, "ch": 4, "z_dim": 8},
    "biggan": {"image_size": 8, "ch": 4, "z_dim": 9, "shared_dim": 4},
    # noise layers draw from torch's global generator, which checkpoints carry
    "improved-gan-mlp": {"image_size": 8, "z_dim": 8, "g_hidden": [16], "d_hidden": [16, 8],
                         "semi_supervised": True, "feature_matching": True},
}


def tiny(model: str = "cdcgan", **kw) -> TrainConfig:
    base = {"model": model.removesuffix("-tricks"), "model_config": dict(TINY_MODELS[model]), "data": "builtin:digits@train",
            "steps": 2, "batch_size": 8, "checkpoint_every": 2, "log_every": 1, "image_every": 0,
            "tensorboard": False, "keep_checkpoints": 0}
    base.update(kw)
    return TrainConfig(**base)


def _tensors(tree, prefix=""):
    """Flatten a checkpoint tree into ``{path: tensor or value}``."""
    out = {}
    if isinstance(tree, dict):
        for k, v in tree.items():
            out.update(_tensors(v, f"{prefix}/{k}"))
    elif isinstance(tree, (list, tuple)):
        for i, v in enumerate(tree):
            out.update(_tensors(v, f"{prefix}/{i}"))
    else:
        out[prefix] = tree
    return out


@pytest.mark.parametrize("model", list(TINY_MODELS))
def test_resume_is_bit_exact(tmp_path, model):
    straight, split = tmp_path / "straight", tmp_path / "split"
    train(tiny(model, steps=4), straight)
    first = train(tiny(model, steps=2), split)
    assert first.step == 2
    second = train(tiny(model, steps=4), split, resume=True)
    assert (second.step, second.steps_run) == (4, 2)
    a, _ = load_checkpoint(straight / "checkpoints" / "step-00000004")
    b, state = load_checkpoint(split / "checkpoints" / "step-00000004")
    assert state["step"] == 4
    fa, fb = _tensors({k: v for k, v in a.items() if k != "rng"}), _tensors({k: v for k, v in b.items() if k != "rng"})
    assert fa.keys() == fb.keys()
    assert {"/model/G", "/model/D", "/G_ema", "/opt_g", "/opt_d"} <= {"/" + k.split("/")[1] for k in fa} | {
        "/".join(k.split("/")[:3]) for k in fa}
    for k in fa:
        if isinstance(fa[k], torch.Tensor):
            assert torch.equal(fa[k], fb[k]), k
        else:
            assert fa[k] == fb[k], k
    if model == "cdcgan-tricks":
        assert any(k.startswith("/model/history") for k in fa)
    # The weights moved during training (the comparison is not between two untouched models).
    a2, _ = load_checkpoint(straight / "checkpoints" / "step-00000002")
    assert not all(torch.equal(v, a["model"]["G"][k]) for k, v in a2["model"]["G"].items())
    # The metrics of the resumed run continue the file: one row per step, same losses as straight.
    rows_a = [json.loads(line) for line in (straight / "metrics.jsonl").read_text().splitlines()]
    rows_b = [json.loads(line) for line in (split / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows_b] == [1, 2, 3, 4]
    assert [r["g_loss"] for r in rows_a] == [r["g_loss"] for r in rows_b]


def test_resume_after_an_interruption_drops_later_metric_rows(tmp_path):
    run = tmp_path / "run"
    train(tiny(steps=3, checkpoint_every=2), run)  # checkpoints at 2 and 3
    (run / "checkpoints" / "step-00000003.json").unlink()  # as if the process died before step 3 was saved
    res = train(tiny(steps=3, checkpoint_every=2), run, resume=True)
    assert (res.step, res.steps_run) == (3, 1)
    assert [json.loads(x)["step"] for x in (run / "metrics.jsonl").read_text().splitlines()] == [1, 2, 3]


def test_nan_loss_stops_with_last_good_checkpoint_kept(tmp_path, monkeypatch):
    from traingen.gan.cdcgan import CDCGAN

    calls = {"n": 0}
    real_g_loss = CDCGAN.g_loss

    def poisoned(self, *args, **kwargs):
        loss, logs = real_g_loss(self, *args, **kwargs)
        calls["n"] += 1
        return (loss * float("nan") if calls["n"] == 3 else loss), logs

    monkeypatch.setattr(CDCGAN, "g_loss", poisoned)
    run = tmp_path / "run"
    with pytest.raises(DivergenceError) as err:
        train(tiny(steps=5, checkpoint_every=2), run)
    msg = str(err.value)
    assert "g_loss is nan at step 3" in msg and "step-00000002" in msg and str(run) in msg
    assert [s for s, _ in checkpoint_paths(run)] == [2]
    tree, state = load_checkpoint(run / "checkpoints" / "step-00000002")  # intact (sha256 verified)
    assert state["step"] == 2 and all(torch.isfinite(v).all() for v in tree["model"]["G"].values())
    last = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    assert last["event"] == "diverged" and last["step"] == 3 and last["value"] == "nan"


def test_inf_in_d_loss_also_stops(tmp_path, monkeypatch):
    from traingen.gan.cdcgan import CDCGAN

    real_d_loss = CDCGAN.d_loss
    monkeypatch.setattr(CDCGAN, "d_loss", lambda self, *a, **k: (real_d_loss(self, *a, **k)[0] + float("inf"), {}))
    with pytest.raises(DivergenceError, match="d_loss is inf at step 1.*no checkpoint was written yet"):
        train(tiny(), tmp_path / "run")


def test_ema_update_matches_hand_computation():
    live = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    ema = EMA(live, decay=0.9, start=1)
    with torch.no_grad():
        for p in live.parameters():
            p.add_(1.5)
        live[1].running_mean.fill_(0.25)
    ema.update(live, 1)  # step <= start: a plain copy
    for (_, e), (_, p) in zip(ema.module.named_parameters(), live.named_parameters(), strict=True):
        assert torch.equal(e, p)
    before = {k: v.clone() for k, v in ema.module.state_dict().items()}
    with torch.no_grad():
        for p in live.parameters():
            p.mul_(-2.0).add_(0.3)
        live[1].running_var.fill_(4.0)
    ema.update(live, 2)
    for name, p in live.named_parameters():
        hand = 0.9 * before[name] + 0.1 * p.detach()
        torch.testing.assert_close(ema.module.state_dict()[name], hand, rtol=0, atol=1e-6)
        assert not torch.equal(ema.module.state_dict()[name], p)
    assert torch.equal(ema.module[1].running_var, live[1].running_var)  # buffers are copied
    e = torch.nn.Linear(2, 2)
    with pytest.raises(ConfigError, match="decay"):
        ema_update_(e, e, 1.5)


@pytest.mark.parametrize(("decay", "expect"), [(0.0, "final"), (1.0, "initial")])
def test_trainer_ema_extremes(tmp_path, decay, expect):
    res = train(tiny(ema_decay=decay, steps=2), tmp_path / "run")
    tree, _ = load_checkpoint(tmp_path / "run" / "checkpoints" / "step-00000002")
    from traingen.core.seeding import torch_generator
    from traingen.gan.train_config import build_model

    init = build_model(tiny(), generator=torch_generator(0, "gan", "init")).G.state_dict()
    ref = tree["model"]["G"] if expect == "final" else init
    params = dict(res.model.G.named_parameters())
    for k in params:
        assert torch.equal(tree["G_ema"][k], ref[k]), k
    assert not all(torch.equal(tree["model"]["G"][k], init[k]) for k in params)


def test_real_data_scaling_labels_and_resize():
    data = load_real_data("builtin:digits@train", image_size=8, channels=1, num_classes=10)
    assert data.images.shape[1:] == (1, 8, 8) and data.images.dtype == torch.float32
    assert float(data.images.min()) == -1.0 and float(data.images.max()) == 1.0
    assert sorted(set(data.labels.tolist())) == list(range(10))
    faces = load_real_data("builtin:lfw25@train", image_size=24, channels=3, num_classes=2)
    assert faces.images.shape == (160, 3, 24, 24) and faces.classes == ["non-face", "face"]
    assert set(faces.labels.tolist()) == {0, 1}
    assert torch.equal(faces.images[:, 0], faces.images[:, 1])  # grey repeated
    with pytest.raises(DataError, match="num_classes"):
        load_real_data("builtin:digits@train", image_size=8, channels=1, num_classes=5)


def test_batch_stream_is_a_function_of_the_draw():
    pool = torch.arange(20) * 10
    first_epoch = torch.cat([batch_indices(pool, 6, seed=3, draw=t) for t in range(3)])
    assert len(set(first_epoch.tolist())) == 18 and set(first_epoch.tolist()) <= set(pool.tolist())
    assert torch.equal(batch_indices(pool, 6, seed=3, draw=4), batch_indices(pool, 6, seed=3, draw=4))
    assert not torch.equal(batch_indices(pool, 6, seed=3, draw=0), batch_indices(pool, 6, seed=4, draw=0))
    with pytest.raises(DataError, match="batch_size"):
        batch_indices(pool, 21, seed=0, draw=0)


def test_split_labelled_is_stratified_and_seeded():
    data = load_real_data("builtin:digits@train", image_size=8, channels=1, num_classes=10)
    lab, unl = split_labelled(data, 100, seed=0)
    assert len(lab) == 100 and len(unl) == len(data.labels) - 100
    assert torch.bincount(data.labels[lab], minlength=10).tolist() == [10] * 10
    assert set(lab.tolist()).isdisjoint(unl.tolist())
    assert torch.equal(split_labelled(data, 100, seed=0)[0], lab)
    assert not torch.equal(split_labelled(data, 100, seed=1)[0], lab)


def test_semi_supervised_run_feeds_unlabelled_data(tmp_path):
    cfg = tiny(model_config={**TINY_MODELS["cdcgan"], "semi_supervised": True}, labelled=20)
    res = train(cfg, tmp_path / "run")
    assert "d_accuracy" in res.losses and "d_unsupervised" in res.losses


def test_run_folder_rules_and_config_errors(tmp_path):
    run = tmp_path / "run"
    train(tiny(), run)
    assert read_run_config(run).model_config["ch"] == 4  # resolved: every model field saved
    assert "leak" in read_run_config(run).model_config
    with pytest.raises(OutputError, match="--resume"):
        train(tiny(), run)
    with pytest.raises(ConfigError, match="differs from the run's in: seed"):
        train(tiny(seed=5, steps=3), run, resume=True)
    res = train(tiny(steps=1), run, overwrite=True)
    assert [s for s, _ in checkpoint_paths(run)] == [1]
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(OutputError, match="holds no GAN run"):
        train(tiny(), other)
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nmodel: cdcgan\nmodel_config: {image_size: 8, chanels: 1}\n")
    with pytest.raises(ConfigError) as err:
        load_train_config(bad)
    assert str(bad) in str(err.value) and "model_config.chanels" in str(err.value)
    bad.write_text("version: 1\nmodel: stylegan\n")
    with pytest.raises(ConfigError, match="stylegan"):
        load_train_config(bad)
    with pytest.raises(ConfigError, match="d_steps"):
        dataclasses.replace(tiny(), d_steps=0)
    assert res.sec_per_step is not None
    train(tiny(log_every=0, steps=1), tmp_path / "nolog")  # 0 turns the metrics rows off
    assert not (tmp_path / "nolog" / "metrics.jsonl").exists()


def test_tensorboard_files_and_missing_tensorboard_notice(tmp_path, monkeypatch):
    res = train(tiny(tensorboard=True, image_every=1), tmp_path / "tb")
    assert res.notices == [] and list((tmp_path / "tb" / "tensorboard").glob("events.out.tfevents.*"))
    assert (tmp_path / "tb" / "samples.png").stat().st_size > 0
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import now fails
    res = train(tiny(tensorboard=True), tmp_path / "notb")
    assert len(res.notices) == 1 and "TensorBoard is not installed" in res.notices[0]
    assert not (tmp_path / "notb" / "tensorboard").exists()
