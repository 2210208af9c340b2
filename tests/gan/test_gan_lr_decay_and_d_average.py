"""Session-7 options of the semi-supervised experiment: the linear learning-rate decay (both arms), the
bias-corrected average of D's weights read at test (both arms) and the unlabelled pool of every image."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

import traingen.gan.semi_supervised_experiment as experiment
import traingen.gan.trainer as trainer
from traingen.core.checkpoint import load_checkpoint
from traingen.core.errors import ConfigError
from traingen.gan.ema import EMA
from traingen.gan.lr_schedule import linear_decay_factor
from traingen.gan.train_config import TrainConfig
from traingen.gan.trainer import load_real_data, train

MLP = {"image_size": 8, "z_dim": 8, "g_hidden": [16], "d_hidden": [16, 8], "semi_supervised": True,
       "feature_matching": True}


def tiny(**kw) -> TrainConfig:
    base = {"model": "improved-gan-mlp", "model_config": dict(MLP), "data": "builtin:digits@train", "labelled": 20,
            "steps": 4, "batch_size": 8, "checkpoint_every": 2, "log_every": 1, "image_every": 0,
            "tensorboard": False, "keep_checkpoints": 0, "ema": False}
    base.update(kw)
    return TrainConfig(**base)


def test_linear_decay_is_the_reference_codes_cifar_schedule():
    # openai/improved-gan's CIFAR script: lr = base * min(3 - epoch / 400, 1) over 1,200 epochs (0-based).
    reference = np.minimum(3.0 - np.arange(1200, dtype=np.float64) / 400.0, 1.0)
    ours = np.array([linear_decay_factor(e + 1, total=1200, start=2 / 3) for e in range(1200)])
    np.testing.assert_allclose(ours, reference, rtol=0, atol=1e-12)
    assert [linear_decay_factor(s, total=5, start=1.0) for s in range(1, 6)] == [1.0] * 5
    assert [linear_decay_factor(s, total=4, start=0.0) for s in range(1, 5)] == [1.0, 0.75, 0.5, 0.25]


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan")])
def test_decay_start_outside_0_1_is_a_config_error(bad):
    with pytest.raises(ConfigError) as e:
        tiny(lr_decay_start=bad)
    assert e.value.field == "lr_decay_start"
    with pytest.raises(ConfigError) as e:
        tiny(unlabelled_pool="some")
    assert e.value.field == "unlabelled_pool"


@pytest.mark.parametrize("decay", [0.9, 1.0])
def test_debiased_average_is_the_normalised_weighted_mean_of_the_iterates(decay):
    live = torch.nn.Linear(3, 2)
    ema = EMA(live, decay, 0, debias=True)
    gen = torch.Generator().manual_seed(0)
    iterates = []
    for step in range(1, 8):
        with torch.no_grad():
            live.weight.copy_(torch.randn(2, 3, generator=gen))
        iterates.append(live.weight.detach().double().clone())
        ema.update(live, step)
    n = len(iterates)
    w = np.array([decay ** (n - k) for k in range(1, n + 1)])  # (1 - decay) cancels in the normalisation
    expect = sum(wk * p for wk, p in zip(w / w.sum(), iterates, strict=True))
    torch.testing.assert_close(ema.module.weight.double(), expect, rtol=0, atol=1e-6)


def test_trainer_applies_the_schedule_to_both_optimizers_and_keeps_d_average(tmp_path):
    cfg = tiny(lr_decay_start=0.5, ema_d=True, ema_d_decay=0.9)
    res = train(cfg, tmp_path / "run")
    tree, _ = load_checkpoint(tmp_path / "run" / "checkpoints" / "step-00000004")
    mc = res.model.config
    assert tree["opt_d"]["param_groups"][0]["lr"] == pytest.approx(mc.lr_d * 0.5)  # step 4 of 4, span 2
    assert tree["opt_g"]["param_groups"][0]["lr"] == pytest.approx(mc.lr_g * 0.5)
    assert "D_ema" in tree and res.ema_d is not None
    live = res.model.D.state_dict()
    assert any(not torch.equal(live[k], v) for k, v in tree["D_ema"].items())
    plain, _ = load_checkpoint(train(tiny(), tmp_path / "plain").checkpoint)
    assert "D_ema" not in plain and plain["opt_d"]["param_groups"][0]["lr"] == mc.lr_d


def test_resume_with_schedule_and_d_average_is_bit_exact(tmp_path):
    cfg = tiny(lr_decay_start=0.25, ema_d=True, ema_d_decay=0.8)
    train(cfg, tmp_path / "straight")
    train(cfg, tmp_path / "split")
    for suffix in (".json", ".safetensors"):
        (tmp_path / "split" / "checkpoints" / f"step-00000004{suffix}").unlink()
    res = train(cfg, tmp_path / "split", resume=True)
    assert (res.step, res.steps_run) == (4, 2)
    a, _ = load_checkpoint(tmp_path / "straight" / "checkpoints" / "step-00000004")
    b, _ = load_checkpoint(tmp_path / "split" / "checkpoints" / "step-00000004")
    for part in ("D_ema", "model"):
        fa, fb = a[part], b[part]
        for k in ("G", "D") if part == "model" else (None,):
            ta, tb = (fa[k], fb[k]) if k else (fa, fb)
            for name in ta:
                assert torch.equal(ta[name], tb[name]), (part, k, name)
    # the schedule depends on the total: a resume may not change the number of steps
    with pytest.raises(ConfigError) as e:
        train(dataclasses.replace(cfg, steps=6), tmp_path / "split", resume=True)
    assert e.value.field == "steps"


def test_both_arms_follow_the_same_learning_rate_schedule(monkeypatch, tmp_path):
    seen = {"trainer": [], "experiment": []}
    for name, module in (("trainer", trainer), ("experiment", experiment)):
        orig = module.set_learning_rate

        def spy(opt, *, base, factor, _orig=orig, _name=name):
            seen[_name].append(factor)
            _orig(opt, base=base, factor=factor)

        monkeypatch.setattr(module, "set_learning_rate", spy)
    cfg = tiny(lr_decay_start=0.5, steps=6)
    train(cfg, tmp_path / "run")
    experiment.train_supervised_only(cfg)
    expect = [linear_decay_factor(s, total=6, start=0.5) for s in range(1, 7)]
    assert seen["trainer"][0::2] == seen["trainer"][1::2] == expect  # G's and D's optimizer per step
    assert seen["experiment"] == expect
    assert expect[-1] == pytest.approx(1 / 3)


@pytest.mark.parametrize("pool", ["rest", "all"])
def test_unlabelled_pool(monkeypatch, tmp_path, pool):
    pools = []
    orig = trainer.batch_indices

    def spy(p, batch, *, seed, draw, key="data"):
        if key == "unlabelled":
            pools.append(p.clone())
        return orig(p, batch, seed=seed, draw=draw, key=key)

    monkeypatch.setattr(trainer, "batch_indices", spy)
    cfg = tiny(unlabelled_pool=pool, steps=2)
    train(cfg, tmp_path / "run")
    n = len(load_real_data(cfg.data, image_size=8, channels=1, num_classes=10).labels)
    assert len(pools) == 2
    if pool == "all":
        assert torch.equal(pools[0], torch.arange(n))
    else:
        assert len(pools[0]) == n - 20


def test_experiment_reads_both_arms_through_d_average(tmp_path):
    raw = {"version": 1, "model": "improved-gan-mlp", "model_config": dict(MLP), "data": "builtin:digits@train",
           "labelled": 20, "steps": 3, "batch_size": 8, "checkpoint_every": 3, "log_every": 1, "image_every": 0,
           "tensorboard": False, "ema": False, "ema_d": True, "ema_d_decay": 0.5, "unlabelled_pool": "all",
           "lr_decay_start": 0.0, "experiment": {"test_data": "builtin:digits@test", "seeds": [0]}}
    res = experiment.run_semi_supervised(raw, tmp_path / "exp")
    r = res.seeds[0]
    train_n = len(load_real_data("builtin:digits@train", image_size=8, channels=1, num_classes=10).labels)
    assert res.unlabelled == train_n
    cfg, exp = experiment.load_experiment(raw)
    test = load_real_data(exp.test_data, image_size=8, channels=1, num_classes=10)
    sup, sup_ema = experiment.train_supervised_arm(cfg)
    assert r.supervised_accuracy == experiment.accuracy(sup_ema.module, test.images, test.labels)
    assert r.supervised_accuracy_last == experiment.accuracy(sup.D, test.images, test.labels)
    tree, _ = load_checkpoint(tmp_path / "exp" / "seed-0" / "gan" / "checkpoints" / "step-00000003")
    d = trainer.build_model(cfg).D
    d.load_state_dict(tree["D_ema"])
    assert r.gan_accuracy == experiment.accuracy(d, test.images, test.labels)
    d.load_state_dict(tree["model"]["D"])
    assert r.gan_accuracy_last == experiment.accuracy(d, test.images, test.labels)
    saved = json.loads((tmp_path / "exp" / "results.json").read_text())
    assert saved["seeds"][0]["gan_accuracy_last"] == r.gan_accuracy_last
    assert "Read-out: the average of D's weights" in (tmp_path / "exp" / "results.md").read_text()
