"""The semi-supervised (K+1)-class GAN experiment: end to end at tiny size, data roles, config checks."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch

from traingen.core.errors import ConfigError, OutputError
from traingen.gan.base import GANModel
from traingen.gan.semi_supervised_experiment import (
    accuracy,
    load_experiment,
    run_semi_supervised,
    train_supervised_only,
)
from traingen.gan.trainer import load_real_data, split_labelled, train

RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "gan-semisup-mnist5k.yaml"


def tiny(**kw) -> dict:
    cfg = {"version": 1, "model": "cdcgan",
           "model_config": {"image_size": 8, "ch": 4, "z_dim": 8, "semi_supervised": True,
                            "feature_matching": True},
           "data": "builtin:digits@train", "labelled": 20, "steps": 2, "batch_size": 8, "checkpoint_every": 2,
           "log_every": 1, "image_every": 0, "tensorboard": False, "ema": False,
           "experiment": {"test_data": "builtin:digits@test", "seeds": [0]}}
    cfg.update(kw)
    return cfg


def _matches(x, pool):
    """Per row of ``x``: whether it equals some row of ``pool`` exactly."""
    return (x.flatten(1)[:, None, :] == pool[None]).all(-1).any(1)


def _all_in(x, pool):
    return bool(_matches(x, pool).all())


def _any_in(x, pool):
    return bool(_matches(x, pool).any())


def test_experiment_end_to_end(tmp_path):
    calls = []
    res = run_semi_supervised(tiny(), tmp_path / "exp", progress=lambda *a: calls.append(a))
    assert [r.seed for r in res.seeds] == [0]
    r = res.seeds[0]
    for acc in (r.gan_accuracy, r.supervised_accuracy, res.gan_mean, res.supervised_mean):
        assert 0.0 <= acc <= 100.0
    assert res.gan_mean == r.gan_accuracy and res.gan_std == 0.0
    assert res.difference == pytest.approx(r.gan_accuracy - r.supervised_accuracy)
    assert res.clearly_better == (res.difference >= 10.0)
    test_n = len(load_real_data("builtin:digits@test", image_size=8, channels=1, num_classes=10).labels)
    train_n = len(load_real_data("builtin:digits@train", image_size=8, channels=1, num_classes=10).labels)
    assert res.test_images == test_n and res.labelled == 20 and res.unlabelled == train_n - 20
    assert res.steps == 2 and res.d_updates == 2 and res.sec_per_step > 0
    saved = json.loads((tmp_path / "exp" / "results.json").read_text())
    assert saved["gan_mean"] == pytest.approx(res.gan_mean) and saved["seeds"][0]["seed"] == 0
    table = (tmp_path / "exp" / "results.md").read_text()
    assert "| 0 |" in table and "mean ± std" in table and f"{res.difference:+.1f}" in table
    assert (tmp_path / "exp" / "seed-0" / "gan" / "config.yaml").is_file()
    assert {c[0] for c in calls} == {"gan", "supervised"} and ("gan", 0, 2, 2) in calls
    with pytest.raises(OutputError, match="--resume"):  # an existing run is not silently replaced
        run_semi_supervised(tiny(), tmp_path / "exp")
    two = run_semi_supervised(tiny(), tmp_path / "exp", seeds=(0, 1), steps=1, overwrite=True)
    assert [r.seed for r in two.seeds] == [0, 1] and two.steps == 1
    accs = [r.gan_accuracy for r in two.seeds]
    assert two.gan_std == pytest.approx(float(torch.tensor(accs).std()))  # sample std (ddof 1)


def test_labelled_subset_is_stratified_fixed_and_the_only_supervision():
    cfg, _ = load_experiment(tiny(labelled=30))
    data = load_real_data(cfg.data, image_size=8, channels=1, num_classes=10)
    lab, unl = split_labelled(data, cfg.labelled, seed=cfg.seed)
    assert torch.bincount(data.labels[lab], minlength=10).tolist() == [3] * 10
    assert torch.equal(split_labelled(data, 30, seed=0)[0], lab)  # fixed for a seed
    seen = []
    orig = GANModel.optimizers

    def spy_optimizers(self):
        D = self.D
        forward = D.forward

        def recording(x, y=None):
            seen.append(x.detach().clone())
            return forward(x, y)

        D.forward = recording
        return orig(self)

    GANModel.optimizers = spy_optimizers
    try:
        train_supervised_only(cfg)
    finally:
        GANModel.optimizers = orig
    assert len(seen) == cfg.steps * cfg.d_steps
    pool = data.images[lab].flatten(1)
    for x in seen:  # every supervised batch comes from the labelled images
        assert _all_in(x, pool)


def test_unlabelled_batches_reach_the_loss(tmp_path, monkeypatch):
    cfg, _ = load_experiment(tiny(labelled=20, steps=3, checkpoint_every=3))
    data = load_real_data(cfg.data, image_size=8, channels=1, num_classes=10)
    lab, unl = split_labelled(data, cfg.labelled, seed=cfg.seed)
    from traingen.gan.techniques import semi_supervised as ss

    seen = {"unlabeled": [], "logits": []}
    orig_d_loss, orig_ss = GANModel.d_loss, ss.semi_supervised_d_loss

    def spy(self, real, y_real, z, y_fake, *, unlabeled=None):
        seen["unlabeled"].append(None if unlabeled is None else unlabeled.detach().clone())
        return orig_d_loss(self, real, y_real, z, y_fake, unlabeled=unlabeled)

    def spy_ss(labeled_logits, labels, unlabeled_logits, fake_logits, **kw):
        seen["logits"].append((labeled_logits, unlabeled_logits))
        return orig_ss(labeled_logits, labels, unlabeled_logits, fake_logits, **kw)

    monkeypatch.setattr(GANModel, "d_loss", spy)
    monkeypatch.setattr(ss, "semi_supervised_d_loss", spy_ss)
    train(cfg, tmp_path / "run")
    assert len(seen["unlabeled"]) == 3 and all(u is not None for u in seen["unlabeled"])
    unl_pool, lab_pool = data.images[unl].flatten(1), data.images[lab].flatten(1)
    for u in seen["unlabeled"]:
        assert u.shape[0] == cfg.batch_size
        assert _all_in(u, unl_pool)
        assert not _any_in(u, lab_pool)
    assert len(seen["logits"]) == 3
    for lab_logits, unl_logits in seen["logits"]:
        assert unl_logits.shape == (cfg.batch_size, 11) and not torch.equal(lab_logits, unl_logits)


def test_supervised_only_learns():
    cfg, _ = load_experiment(tiny(labelled=100, steps=60, batch_size=20,
                                  model_config={"image_size": 8, "ch": 8, "z_dim": 8, "semi_supervised": True,
                                                "lr_d": 0.002}))
    model = train_supervised_only(cfg)
    test = load_real_data("builtin:digits@test", image_size=8, channels=1, num_classes=10)
    trained = accuracy(model.D, test.images, test.labels)
    assert trained > 40.0  # chance is 10
    before = accuracy(train_supervised_only(dataclasses.replace(cfg, steps=0)).D, test.images, test.labels)
    assert before < trained - 10.0


def test_config_checks_and_recipe(tmp_path):
    cfg, exp = load_experiment(RECIPE)
    assert cfg.labelled == 100
    # session 8's confirmed settings (+10.4 points, docs/gan/models.md)
    assert cfg.steps == 5000 and cfg.unlabelled_pool == "all" and cfg.ema_d and cfg.ema_d_decay == 0.998
    assert abs(cfg.lr_decay_start - 2 / 3) < 1e-12
    assert cfg.model_config["semi_supervised"] and cfg.model_config["feature_matching"]
    assert exp.test_data == "builtin:mnist5k@test" and exp.seeds == [0, 1, 2]
    with pytest.raises(ConfigError, match="semi_supervised"):
        load_experiment(tiny(model_config={"image_size": 8, "ch": 4}))
    with pytest.raises(ConfigError, match="labelled"):
        load_experiment(tiny(labelled=0))
    with pytest.raises(ConfigError) as err:
        load_experiment(tiny(experiment={"test_set": "builtin:digits@test"}))
    assert "experiment.test_set" in str(err.value)
    bad = tmp_path / "bad.yaml"
    bad.write_text(RECIPE.read_text().replace("labelled: 100", "labeled: 100"))
    with pytest.raises(ConfigError) as err:
        load_experiment(bad)
    assert str(bad) in str(err.value) and "labeled" in str(err.value)


def test_supervised_only_noise_does_not_depend_on_the_global_rng():
    mc = {"image_size": 8, "channels": 1, "num_classes": 10, "g_hidden": [8], "d_hidden": [16, 8],
          "semi_supervised": True, "feature_matching": True, "loss": "non-saturating"}
    cfg, _ = load_experiment(tiny(model="improved-gan-mlp", model_config=mc, steps=3))
    torch.manual_seed(1)
    a = train_supervised_only(cfg).D.state_dict()
    torch.manual_seed(2)
    b = train_supervised_only(cfg).D.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    c = train_supervised_only(dataclasses.replace(cfg, seed=5)).D.state_dict()
    assert not all(torch.equal(a[k], c[k]) for k in a)  # the noise layers are active: the seed matters
