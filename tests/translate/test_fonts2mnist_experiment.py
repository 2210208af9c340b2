"""The fonts -> MNIST evaluation: label filter, classifier seeds, augmentation, a tiny end-to-end run."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from traingen.core.errors import ConfigError
from traingen.core.seeding import derive_seed
from traingen.data import open_source
from traingen.features.classifiers import FitConfig, accuracy, fit_classifier, load_weights
from traingen.translate.config import TranslateTrainConfig, resolved
from traingen.translate.export import translate_dataset
from traingen.translate.fonts2mnist_experiment import (
    EvalConfig,
    digit_augment,
    fit_and_score,
    label_filter_keep,
    main,
    run_fonts2mnist_eval,
    translate_array,
)
from traingen.translate.trainer import CLASSIFIER_FILE, load_run, train_translation


class _MeanBrightnessClassifier(torch.nn.Module):
    """Class k scores -(mean - k/9)^2 on [0, 1] brightness: the top-1 class is the nearest of ten levels."""

    def forward(self, x):  # x in [-1, 1]
        m = (x.mean(dim=(1, 2, 3))[:, None] + 1) / 2
        centres = torch.arange(10, dtype=x.dtype)[None, :] / 9
        return -(m - centres) ** 2


def test_label_filter_keeps_exactly_the_images_the_classifier_assigns_to_their_label():
    rng = np.random.default_rng(0)
    levels = rng.integers(0, 10, 50)
    images = np.stack([np.full((28, 28), round(255 * k / 9), np.uint8) for k in levels])
    labels = levels.copy()
    labels[::3] = (labels[::3] + 4) % 10  # every third label is wrong
    keep = label_filter_keep(_MeanBrightnessClassifier(), images, labels)
    # independent float64 reference: nearest brightness level
    means = images.reshape(50, -1).mean(1) / 255.0
    predicted = np.abs(means[:, None] - np.arange(10)[None, :] / 9).argmin(1)
    np.testing.assert_array_equal(keep, predicted == labels)
    assert keep.sum() == 50 - len(labels[::3])


def _toy_digits(n, seed):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 10
    x = np.zeros((n, 28, 28), np.uint8)
    for i, k in enumerate(y):  # class k: a bright bar at row 2k..2k+4, plus noise
        x[i, 2 * k + 2:2 * k + 6, 4:24] = 200
        x[i] = np.clip(x[i] + rng.integers(0, 40, (28, 28)), 0, 255)
    return x, y


def test_fit_and_score_reports_the_mean_and_std_of_its_seeds():
    xtr, ytr = _toy_digits(60, 0)
    xte, yte = _toy_digits(40, 1)
    res = fit_and_score(xtr, ytr, xte, yte, config=EvalConfig(epochs=2, seeds=2))
    assert len(res["per_seed"]) == 2 and res["n_train"] == 60
    assert res["mean"] == pytest.approx(np.mean(res["per_seed"]))
    assert res["std"] == pytest.approx(np.std(res["per_seed"]))
    # seed 0 is the one-seed protocol of the earlier measurements
    net0 = fit_classifier(xtr, ytr, seed=derive_seed(0, "fonts2mnist-eval"), config=FitConfig(epochs=2))
    assert res["per_seed"][0] == accuracy(net0, xte, yte)


def test_digit_augment_keeps_size_and_changes_the_digit():
    x, _ = _toy_digits(2, 0)
    aug = digit_augment()
    outs = [aug(image=x[0], seed=s)["image"] for s in range(4)]
    assert all(o.shape == (28, 28) and o.dtype == np.uint8 for o in outs)
    assert sum(not np.array_equal(o, x[0]) for o in outs) >= 3


def test_eval_config_is_checked():
    with pytest.raises(ConfigError, match="seeds"):
        EvalConfig(seeds=0)


def _tiny_run(path, semantic: float):
    mc = {"channels_a": 1, "channels_b": 1, "image_size": 28, "ngf": 4, "ndf": 4, "n_blocks": 1, "n_layers": 1,
          "pool_size": 2, "semantic_weight": semantic, "semantic_epochs": 1}
    cfg = resolved(TranslateTrainConfig(model="cyclegan", model_config=mc, data_a="builtin:fonts2mnist@train",
                                        data_b="builtin:mnist5k@train", limit_a=24, limit_b=24, steps=2,
                                        batch_size=4, checkpoint_every=2, tensorboard=False))
    train_translation(cfg, path)
    return path


def test_end_to_end_on_a_tiny_run_with_the_semantic_label_filter(tmp_path, capsys):
    run = _tiny_run(tmp_path / "sem", 1.0)
    res = run_fonts2mnist_eval(run, EvalConfig(epochs=1, seeds=2, augment=True, label_filter="semantic", fid=False),
                               limit=40)
    lf = res["label_filter"]
    assert lf["classifier"] == "semantic" and lf["kept"] + lf["rejected"] == 40
    assert set(res["arms"]) == {"translated", "translated_filtered", "source_only", "real"}
    assert res["arms"]["translated_filtered"]["n_train"] == lf["kept"]
    assert all(len(res["arms"][a]["per_seed"]) == 2 for a in ("translated", "source_only", "real"))
    assert res["_translated"].shape == (40, 28, 28) and res["cpu_seconds"] > 0
    assert 0.0 <= res["label_kept"] <= 1.0
    plain = _tiny_run(tmp_path / "plain", 0.0)
    with pytest.raises(ConfigError, match="no semantic classifier"):
        run_fonts2mnist_eval(plain, EvalConfig(label_filter="semantic"), limit=10)
    with pytest.raises(ConfigError, match="unknown classifier"):
        run_fonts2mnist_eval(plain, EvalConfig(label_filter="no-such-net"), limit=10)
    main([str(plain), "--epochs", "1", "--seeds", "1", "--no-augment", "--no-baselines", "--no-fid"])
    assert '"translated"' in capsys.readouterr().out


def test_export_label_filter_semantic_uses_the_runs_source_classifier(tmp_path):
    run = _tiny_run(tmp_path / "sem", 1.0)
    doc = translate_dataset(run, "builtin:fonts2mnist@train", tmp_path / "out", filter_classifier="semantic",
                            limit=20)
    clf = load_weights(run / CLASSIFIER_FILE)
    _, model, _ = load_run(run)
    src = open_source("builtin:fonts2mnist@train")
    images = np.stack([src[i].image for i in range(20)])
    labels = np.array([src[i].label for i in range(20)])
    keep = label_filter_keep(clf, translate_array(model, images), labels)
    assert doc["rejected"] == int((~keep).sum()) and doc["written"] == int(keep.sum())
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["label_filter"]["rejected"] == doc["rejected"]
    with pytest.raises(ConfigError, match="unknown classifier"):
        translate_dataset(_tiny_run(tmp_path / "plain", 0.0), "builtin:fonts2mnist@train", tmp_path / "o2",
                          filter_classifier="semantic", limit=4)
