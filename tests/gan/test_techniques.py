"""The Improved Techniques (Salimans et al. 2016) and the adversarial losses, against hand formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from traingen.core.errors import ConfigError, DataError
from traingen.gan import build_model, losses
from traingen.gan.layers import SpectralNorm
from traingen.gan.techniques import (
    HistoricalAverage,
    MinibatchDiscrimination,
    VirtualBatchNorm,
    classify,
    feature_matching_loss,
    minibatch_closeness,
    one_sided_smoothed_loss,
    real_probability,
    real_target,
    semi_supervised_d_loss,
    semi_supervised_g_loss,
    set_reference_batch,
    vbn_forward,
    virtual_batch_norm,
)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def sigmoid(v: float) -> float:
    return 1.0 / (1.0 + math.exp(-v))


# ----------------------------------------------------------------------------- feature matching


def test_feature_matching_loss_by_hand():
    real = np.array([[1.0, 2.0, 0.0], [3.0, 0.0, 1.0]])
    fake = np.array([[0.0, 1.0, 1.0], [1.0, 1.0, 1.0], [2.0, 4.0, 1.0]])
    mean_r, mean_f = real.mean(0), fake.mean(0)
    expected = sum((mean_r[k] - mean_f[k]) ** 2 for k in range(3))
    got = feature_matching_loss(torch.tensor(real), torch.tensor(fake))
    assert float(got) == pytest.approx(expected)
    assert float(feature_matching_loss(torch.tensor(real), torch.tensor(real[::-1].copy()))) == 0.0
    with pytest.raises(DataError):
        feature_matching_loss(torch.zeros(2, 3), torch.zeros(2, 4))


# ----------------------------------------------------------------------------- minibatch discrimination


def test_minibatch_closeness_by_hand():
    m = torch.randn(4, 3, 2, generator=gen(1), dtype=torch.float64)
    got = minibatch_closeness(m)
    for i in range(4):
        for b in range(3):
            expected = sum(math.exp(-float((m[i, b] - m[j, b]).abs().sum())) for j in range(4) if j != i)
            assert float(got[i, b]) == pytest.approx(expected)


def test_minibatch_discrimination_is_a_batch_statistic():
    mbd = MinibatchDiscrimination(6, kernels=5, kernel_dim=3)
    mbd.reset_parameters(gen(2))
    x0 = torch.randn(1, 6, generator=gen(3))
    varied = torch.cat([x0, torch.randn(3, 6, generator=gen(4)) * 3])
    duplicates = x0.repeat(4, 1)
    out_varied, out_dup = mbd(varied)[0], mbd(duplicates)[0]
    assert out_varied.shape == (6 + 5,)
    assert torch.equal(out_varied[:6], out_dup[:6])  # the features themselves pass through
    # exact duplicates: every closeness is exp(0) = 1, summed over the 3 others
    assert torch.allclose(out_dup[6:], torch.full((5,), 3.0))
    assert (out_varied[6:] < out_dup[6:] - 0.1).all()
    assert torch.allclose(mbd(x0)[0, 6:], torch.zeros(5))  # alone in its batch


# ----------------------------------------------------------------------------- historical averaging


def test_historical_average_is_mean_of_snapshots_and_penalty_by_hand():
    lin = nn.Linear(3, 2)
    snaps = [[p.detach().clone() for p in lin.parameters()]]
    hist = HistoricalAverage({"m": lin})
    for k in range(3):
        with torch.no_grad():
            for p in lin.parameters():
                p.add_(float(k + 1))
        hist.update({"m": lin})
        snaps.append([p.detach().clone() for p in lin.parameters()])
    means = [torch.stack([s[i] for s in snaps]).mean(0) for i in range(2)]
    for a, m in zip(hist.averages["m"], means, strict=True):
        assert torch.allclose(a, m)
    expected = sum(float(((p.detach() - m) ** 2).sum()) for p, m in zip(lin.parameters(), means, strict=True))
    assert float(hist.penalty("m", lin).detach()) == pytest.approx(expected, rel=1e-6)
    assert expected > 0
    other = HistoricalAverage({"m": nn.Linear(3, 2)})
    other.load_state_dict(hist.state_dict())
    assert other.counts["m"] == 4 and all(torch.equal(a, b) for a, b in zip(other.averages["m"], hist.averages["m"], strict=True))


# ----------------------------------------------------------------------------- label smoothing


def test_one_sided_label_smoothing_target_and_loss_by_hand():
    assert real_target(0.1) == pytest.approx(0.9)
    lr, lf = [0.5, -1.0], [0.3, 2.0]
    expected = (sum(-(0.9 * math.log(sigmoid(v)) + 0.1 * math.log(1 - sigmoid(v))) for v in lr) / 2
                + sum(-math.log(1 - sigmoid(v)) for v in lf) / 2)
    got = one_sided_smoothed_loss(torch.tensor(lr), torch.tensor(lf), 0.1)
    assert float(got) == pytest.approx(expected, rel=1e-6)
    with pytest.raises(ConfigError, match="label_smoothing"):
        real_target(1.0)
    with pytest.raises(ConfigError, match="label_smoothing"):
        build_model("sagan", {"image_size": 8, "ch": 4, "label_smoothing": 0.1})  # hinge: nothing to smooth


def test_hinge_and_non_saturating_losses_by_hand():
    lr, lf = torch.tensor([0.5, 2.0]), torch.tensor([-3.0, 0.2])
    assert float(losses.d_hinge(lr, lf)) == pytest.approx((0.5 + 0.0) / 2 + (0.0 + 1.2) / 2)
    assert float(losses.g_hinge(lf)) == pytest.approx(1.4)
    assert float(losses.g_non_saturating(lf)) == pytest.approx(
        -(math.log(sigmoid(-3.0)) + math.log(sigmoid(0.2))) / 2, rel=1e-6)


# ----------------------------------------------------------------------------- virtual batch norm


def test_virtual_batch_norm_uses_reference_statistics():
    ref = torch.randn(5, 3, 4, 4, generator=gen(5)) * 2 + 1
    bn = VirtualBatchNorm(3)
    bn.recording = True
    bn(ref)
    bn.recording = False
    x = torch.randn(4, 3, 4, 4, generator=gen(6))
    out = bn(x)
    # hand formula for example 0, channel 1
    rm, rsq = float(ref[:, 1].mean()), float((ref[:, 1] ** 2).mean())
    xm, xsq = float(x[0, 1].mean()), float((x[0, 1] ** 2).mean())
    mean = (5 * rm + xm) / 6
    var = (5 * rsq + xsq) / 6 - mean * mean
    assert torch.allclose(out[0, 1], (x[0, 1] - mean) / math.sqrt(var + 1e-5), atol=1e-5)
    # the output for x[0] does not depend on the rest of the batch
    other = torch.cat([x[:1], torch.randn(6, 3, 4, 4, generator=gen(7)) * 5])
    assert torch.allclose(bn(other)[0], out[0], atol=1e-6)
    assert torch.allclose(bn(x[:1])[0], out[0], atol=1e-6)
    # while ordinary batch norm does depend on it (the assertion above can fail)
    plain = nn.BatchNorm2d(3).train()
    assert not torch.allclose(plain(other)[0], plain(x)[0], atol=1e-3)
    assert torch.allclose(virtual_batch_norm(x, ref.mean((0, 2, 3)), (ref ** 2).mean((0, 2, 3)), 5)[0, 1],
                          out[0, 1], atol=1e-6)


def test_vbn_forward_needs_a_reference_and_frees_it():
    net = nn.Sequential(nn.Conv2d(1, 2, 1), VirtualBatchNorm(2))
    x = torch.randn(3, 1, 2, 2, generator=gen())
    with pytest.raises(DataError, match="reference"):
        vbn_forward(net, lambda z, y: net(z), x, None)
    set_reference_batch(net, torch.randn(4, 1, 2, 2, generator=gen(1)), None)
    out = vbn_forward(net, lambda z, y: net(z), x, None)
    assert out.shape == (3, 2, 2, 2) and net[1]._ref is None


@pytest.mark.parametrize("name", ["cdcgan", "sagan", "biggan"])
def test_vbn_generator_output_is_independent_of_the_batch(name):
    model = build_model(name, {"image_size": 8, "ch": 4, "z_dim": 8, "virtual_batch_norm": True,
                               "vbn_reference_size": 6}, generator=gen(0)).train()
    for m in model.G.modules():  # freeze the power iteration: each forward would move sigma a little
        if isinstance(m, SpectralNorm):
            m.eval()
    g = gen(1)
    z, y = model.sample_z(5, generator=g), model.sample_labels(5, generator=g)
    full = model.G(z, y)
    assert torch.allclose(model.G(z[:1], y[:1])[0], full[0], atol=1e-5)
    assert torch.allclose(model.G(z[2:], y[2:])[0], full[2], atol=1e-5)


# ----------------------------------------------------------------------------- semi-supervised


def test_semi_supervised_loss_by_hand():
    lab = [[1.0, 0.0, -1.0, 0.5], [0.2, 2.0, 0.1, -0.3]]  # K = 3, last column = "generated"
    labels = [2, 1]
    unl = [[0.0, 0.5, 1.0, 2.0]]
    fake = [[-1.0, 0.0, 0.3, 1.5], [0.0, 0.0, 0.0, 0.0]]

    def lse(row):
        return math.log(sum(math.exp(v) for v in row))

    sup = sum(-(row[y] - lse(row[:3])) for row, y in zip(lab, labels, strict=True)) / 2
    d_real = [math.exp(lse(r[:3])) / (math.exp(lse(r[:3])) + math.exp(r[3])) for r in unl]
    d_fake = [math.exp(lse(r[:3])) / (math.exp(lse(r[:3])) + math.exp(r[3])) for r in fake]
    unsup = -sum(math.log(d) for d in d_real) / 1 - sum(math.log(1 - d) for d in d_fake) / 2
    parts = semi_supervised_d_loss(torch.tensor(lab), torch.tensor(labels), torch.tensor(unl), torch.tensor(fake))
    assert float(parts.supervised) == pytest.approx(sup, rel=1e-6)
    assert float(parts.unsupervised) == pytest.approx(unsup, rel=1e-6)
    assert float(parts.total) == pytest.approx(sup + unsup, rel=1e-6)
    assert float(semi_supervised_g_loss(torch.tensor(fake))) == pytest.approx(
        -sum(math.log(d) for d in d_fake) / 2, rel=1e-6)
    assert torch.allclose(real_probability(torch.tensor(fake)), torch.tensor(d_fake))
    with pytest.raises(DataError, match="labels"):
        semi_supervised_d_loss(torch.tensor(lab), torch.tensor([3, 0]), torch.tensor(unl), torch.tensor(fake))


def test_classify_uses_the_discriminator_as_a_k_class_classifier():
    model = build_model("cdcgan", {"image_size": 8, "ch": 4, "z_dim": 8, "num_classes": 4,
                                   "semi_supervised": True}, generator=gen(0))
    model.train()
    x = torch.rand(7, 1, 8, 8, generator=gen(1)) * 2 - 1
    logits = classify(model.D, x, batch_size=3)
    assert logits.shape == (7, 4)
    assert model.D.training  # mode restored
    model.D.eval()
    with torch.no_grad():
        assert torch.allclose(logits, model.D(x, None)["logits"][:, :4])
    assert torch.allclose(F.softmax(logits, 1).sum(1), torch.ones(7))


def test_semi_supervised_config_errors():
    with pytest.raises(ConfigError, match="semi_supervised"):
        build_model("cdcgan", {"image_size": 8, "num_classes": 0, "semi_supervised": True})
    with pytest.raises(ConfigError, match="semi_supervised"):
        build_model("sagan", {"image_size": 8, "semi_supervised": True})  # hinge by default
