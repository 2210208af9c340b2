"""Conditional-GAN diagnostics: pairwise distance against scipy, diversity ratio, a tiny run scored."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.distance import pdist

from traingen.core.errors import ConfigError, DataError
from traingen.gan.diagnostics import (
    conditional_accuracy,
    diagnose,
    diversity_ratio,
    main,
    mean_pairwise_distance,
)
from traingen.gan.train_config import TrainConfig
from traingen.gan.trainer import train


def test_mean_pairwise_distance_matches_scipy():
    x = np.random.default_rng(0).normal(size=(17, 5))
    assert mean_pairwise_distance(torch.from_numpy(x)) == pytest.approx(pdist(x).mean(), rel=1e-12)
    with pytest.raises(DataError):
        mean_pairwise_distance(torch.zeros(1, 3))


def test_diversity_ratio_is_one_for_the_data_and_small_for_a_collapse():
    rng = np.random.default_rng(1)
    real = torch.from_numpy(rng.normal(size=(40, 6)))
    y = torch.arange(2).repeat(20)
    mean, per_class = diversity_ratio(real, y, real, y, 2)
    assert mean == pytest.approx(1.0) and per_class == pytest.approx([1.0, 1.0])
    collapsed = real[:2].repeat(20, 1) + 0.01 * torch.from_numpy(rng.normal(size=(40, 6)))
    yc = torch.arange(2).repeat(20)
    mean_c, _ = diversity_ratio(collapsed, yc, real, y, 2)
    expected = np.mean([pdist(collapsed[yc == c].numpy()).mean() / pdist(real[y == c].numpy()).mean()
                        for c in range(2)])
    assert mean_c == pytest.approx(expected, rel=1e-12) and mean_c < 0.1
    with pytest.raises(DataError, match="class 2"):
        diversity_ratio(real, y, real, y, 3)


def test_conditional_accuracy():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, 1.0], [0.0, 5.0]])
    assert conditional_accuracy(logits, torch.tensor([0, 1, 1, 1])) == 0.75


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    d = tmp_path_factory.mktemp("gandiag") / "run"
    train(TrainConfig(model="cdcgan", model_config={"image_size": 16, "ch": 4, "z_dim": 8},
                      data="builtin:digits@train", steps=2, batch_size=8, log_every=1, image_every=0,
                      tensorboard=False), d)
    return d


def test_diagnose_a_tiny_run(run, capsys):
    real = "builtin:mnist5k@test"  # the diversity reference (1,000 digits: quicker to load)
    d = diagnose(run, n_per_class=4, real=real, test="builtin:mnist5k@test", cas_epochs=1)
    assert d.step == 2 and d.ema and d.n_per_class == 4 and len(d.per_class_diversity) == 10
    assert 0.0 <= d.conditional_accuracy <= 1.0 and 0.0 <= d.quick_cas <= 1.0
    assert d.diversity == pytest.approx(np.mean(d.per_class_diversity)) and d.diversity > 0
    b = diagnose(run, n_per_class=4, real=real, batch_stats=True)
    assert b.batch_stats and b.quick_cas is None and b.diversity != d.diversity
    assert main([str(run), "--n-per-class", "4", "--real", real, "--json"]) == 0
    assert f'"diversity": {d.diversity}' in capsys.readouterr().out  # seeded noise: same numbers
    with pytest.raises(ConfigError):
        diagnose(run, n_per_class=1)
    with pytest.raises(DataError, match="classes"):
        diagnose(run, n_per_class=3, real="builtin:lfw25@train")
