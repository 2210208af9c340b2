"""The reference-code switches of improved-gan-mlp: data-dependent initialisation (against a float64
NumPy computation), fixed hidden gains, the "generated" logit fixed at 0 (against the paper's loss
formula), the uniform latent, and that both arms of the semi-supervised experiment start from the
same data-initialised weights."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from traingen.core.errors import ConfigError
from traingen.gan import build_model
from traingen.gan.improved_gan_mlp import GaussianNoise, ImprovedGANMLP, WNLinear, ZeroFakeLogitHead
from traingen.gan.semi_supervised_experiment import load_experiment, train_supervised_only
from traingen.gan.techniques.semi_supervised import semi_supervised_d_loss
from traingen.gan.trainer import train

TINY = {"image_size": 8, "z_dim": 8, "g_hidden": [16], "d_hidden": [16, 8], "semi_supervised": True,
        "feature_matching": True}
PAPER = {"data_init": True, "train_hidden_gain": False, "fake_logit": "zero", "d_init_std": 0.1}


def tiny(**over) -> ImprovedGANMLP:
    return build_model("improved-gan-mlp", {**TINY, **over}, generator=torch.Generator().manual_seed(0))


def _images(n: int, seed: int) -> torch.Tensor:
    return torch.rand(n, 1, 8, 8, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_data_init_standardises_every_pre_activation_float64_reference():
    model = tiny(**PAPER)
    D = model.D
    x = _images(64, 1)
    v_before = [m.v.detach().clone() for m in D.modules() if isinstance(m, WNLinear)]
    model.data_init(x, generator=torch.Generator().manual_seed(5))
    # the reference: replay the same noise draws in float64 with NumPy and standardise by hand
    g = torch.Generator().manual_seed(5)
    h = (0.5 * (x.double().numpy() + 1.0)).reshape(64, -1)
    layers = list(D.hidden) + [D.head.linear]
    for layer in layers:
        if isinstance(layer, GaussianNoise):
            h = h + layer.sigma * torch.randn(h.shape, generator=g, dtype=torch.float32).double().numpy()
        elif isinstance(layer, WNLinear):
            v = layer.v.detach().double().numpy()
            pre = h @ (v / np.linalg.norm(v, axis=1, keepdims=True)).T
            m, s = pre.mean(0), pre.std(0)
            np.testing.assert_allclose(layer.g.detach().double().numpy(), 1.0 / s, rtol=1e-4)
            np.testing.assert_allclose(layer.bias.detach().double().numpy(), -m / s, rtol=1e-4, atol=1e-5)
            h = (pre - m) / s
            assert np.allclose(h.mean(0), 0.0, atol=1e-9) and np.allclose(h.std(0), 1.0)
        else:
            h = np.maximum(h, 0.0)
    # the directions are untouched; the model without the switch ignores data_init
    v_after = [m.v for m in D.modules() if isinstance(m, WNLinear)]
    assert all(torch.equal(a, b) for a, b in zip(v_before, v_after, strict=True))
    plain = tiny()
    state = {k: t.clone() for k, t in plain.D.state_dict().items()}
    plain.data_init(x, generator=torch.Generator().manual_seed(5))
    assert all(torch.equal(state[k], t) for k, t in plain.D.state_dict().items())


def test_fixed_hidden_gains_get_no_update_but_the_output_gain_does():
    model = tiny(**PAPER)
    _, opt_d = model.optimizers()
    hidden = [m for m in model.D.hidden if isinstance(m, WNLinear)]
    g0 = [m.g.detach().clone() for m in hidden]
    out_g0 = model.D.head.linear.g.detach().clone()
    v0 = hidden[0].v.detach().clone()
    x, y = _images(8, 2), torch.arange(8) % 10
    z = model.sample_z(8, generator=torch.Generator().manual_seed(3))
    loss, _ = model.d_loss(x, y, z, y, unlabeled=_images(8, 4))
    opt_d.zero_grad()
    loss.backward()
    opt_d.step()
    assert all(torch.equal(a, m.g) for a, m in zip(g0, hidden, strict=True))
    assert not torch.equal(v0, hidden[0].v)
    assert not torch.equal(out_g0, model.D.head.linear.g)
    assert all(m.g.requires_grad for m in tiny().D.hidden if isinstance(m, WNLinear))


def test_zero_fake_logit_gives_the_papers_loss():
    model = tiny(fake_logit="zero")
    assert isinstance(model.D.head, ZeroFakeLogitHead)
    x = _images(6, 7)
    with torch.no_grad():
        logits = model.D.eval()(x)["logits"]
    assert logits.shape == (6, 11) and torch.equal(logits[:, -1], torch.zeros(6))
    # the reference code's loss (fake logit 0): loss_lab = lse - l_y; loss_unl written with its 0.5
    # weights is half of ours: -0.5 lse_u + 0.5 softplus(lse_u) + 0.5 softplus(lse_f)
    gen = torch.Generator().manual_seed(8)
    lab, unl, fake = (torch.randn(5, 10, generator=gen, dtype=torch.float64) for _ in range(3))
    y = torch.tensor([0, 3, 9, 3, 1])
    pad = lambda t: torch.cat([t, torch.zeros(t.shape[0], 1, dtype=t.dtype)], 1)  # noqa: E731
    parts = semi_supervised_d_loss(pad(lab), y, pad(unl), pad(fake))
    lse = lambda t: np.log(np.exp(t.numpy()).sum(1))  # noqa: E731
    softplus = lambda a: np.log1p(np.exp(a))  # noqa: E731
    loss_lab = np.mean(lse(lab) - lab.numpy()[np.arange(5), y.numpy()])
    loss_unl = np.mean(-0.5 * lse(unl) + 0.5 * softplus(lse(unl))) + np.mean(0.5 * softplus(lse(fake)))
    assert float(parts.supervised) == pytest.approx(loss_lab, rel=1e-12)
    assert float(parts.unsupervised) == pytest.approx(2.0 * loss_unl, rel=1e-12)


def test_uniform_latent_and_config_errors():
    model = tiny(latent="uniform")
    z = model.sample_z(1000, generator=torch.Generator().manual_seed(0))
    assert z.shape == (1000, 8) and float(z.min()) >= 0.0 and float(z.max()) < 1.0
    assert abs(float(z.mean()) - 0.5) < 0.02
    with pytest.raises(ConfigError, match="truncation"):
        model.sample_z(2, generator=torch.Generator(), truncation=1.0)
    for bad, field in [({"fake_logit": "one"}, "fake_logit"), ({"latent": "cauchy"}, "latent"),
                       ({"d_init_std": 0.0}, "d_init_std"),
                       ({"semi_supervised": False, "feature_matching": False, "fake_logit": "zero"}, "fake_logit"),
                       ({"fake_logit": "zero", "minibatch_discrimination": True}, "fake_logit")]:
        with pytest.raises(ConfigError, match=field):
            tiny(**bad)


def test_both_arms_start_from_the_same_data_initialised_weights(tmp_path):
    mc = {"image_size": 8, "z_dim": 8, "g_hidden": [16], "d_hidden": [16, 8], "semi_supervised": True,
          "feature_matching": True, "loss": "non-saturating", **PAPER}
    raw = {"version": 1, "model": "improved-gan-mlp", "model_config": mc, "data": "builtin:digits@train",
           "labelled": 20, "steps": 0, "batch_size": 8, "checkpoint_every": 1, "log_every": 1,
           "image_every": 0, "tensorboard": False, "ema": False,
           "experiment": {"test_data": "builtin:digits@test", "seeds": [0]}}
    cfg, _ = load_experiment(raw)
    cfg = dataclasses.replace(cfg, steps=0)
    sup = train_supervised_only(cfg)
    gan = train(cfg, tmp_path / "gan").model
    fresh = build_model("improved-gan-mlp", mc, generator=torch.Generator().manual_seed(0))
    for (k, a), b in zip(sup.D.state_dict().items(), gan.D.state_dict().values(), strict=True):
        assert torch.equal(a, b), k
    # and data_init changed the gains away from 1
    hidden = [m for m in gan.D.hidden if isinstance(m, WNLinear)]
    assert not torch.allclose(hidden[0].g, torch.ones_like(hidden[0].g))
    assert fresh.D.head.linear.g.shape == gan.D.head.linear.g.shape
