"""The Improved-GAN MNIST networks: weight norm against a float64 formula, noise layers, D's forward
against a NumPy reimplementation, shapes and one training step per mode, config checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from traingen.core.errors import ConfigError
from traingen.gan import build_model
from traingen.gan.improved_gan_mlp import GaussianNoise, ImprovedGANMLP, WNLinear, weight_normalised

TINY = {"image_size": 8, "z_dim": 8, "g_hidden": [16], "d_hidden": [16, 8]}


def tiny(**over) -> ImprovedGANMLP:
    return build_model("improved-gan-mlp", {**TINY, **over}, generator=torch.Generator().manual_seed(0))


def test_weight_norm_matches_the_formula_in_float64():
    g = torch.Generator().manual_seed(3)
    v, gain = torch.randn(5, 7, generator=g), torch.rand(5, generator=g) + 0.5
    w = weight_normalised(v, gain).numpy().astype(np.float64)
    v64, g64 = v.numpy().astype(np.float64), gain.numpy().astype(np.float64)
    expected = g64[:, None] * v64 / np.sqrt((v64 ** 2).sum(1, keepdims=True))
    np.testing.assert_allclose(w, expected, rtol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(w, axis=1), g64, rtol=1e-6)
    layer = WNLinear(7, 5)
    layer.reset_parameters(g)
    assert torch.allclose(layer.weight.detach().norm(dim=1), torch.ones(5)) and float(layer.bias.detach().abs().sum()) == 0.0


def test_gaussian_noise_is_off_in_eval_and_has_its_sigma_in_training():
    layer = GaussianNoise(0.5)
    x = torch.zeros(200_000)
    assert torch.equal(layer.eval()(x), x)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        out = layer.train()(x)
    assert abs(float(out.std()) - 0.5) < 0.005 and abs(float(out.mean())) < 0.005
    assert torch.equal(GaussianNoise(0.0).train()(x), x)


def test_discriminator_matches_a_numpy_forward_in_eval_mode():
    model = tiny(semi_supervised=True, feature_matching=True)
    D = model.D.eval()
    x = torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(1)) * 2 - 1
    with torch.no_grad():
        out = D(x, None)
    h = (0.5 * (x.numpy().astype(np.float64) + 1.0)).reshape(4, -1)
    for layer in [m for m in D.hidden if isinstance(m, WNLinear)]:
        v = layer.v.detach().numpy().astype(np.float64)
        w = layer.g.detach().numpy().astype(np.float64)[:, None] * v / np.linalg.norm(v, axis=1, keepdims=True)
        h = np.maximum(h @ w.T + layer.bias.detach().numpy(), 0.0)
    np.testing.assert_allclose(out["features"].numpy(), h, rtol=1e-5, atol=1e-6)
    lin = D.head.linear
    logits = h @ lin.weight.detach().numpy().astype(np.float64).T + lin.bias.detach().numpy()
    assert out["logits"].shape == (4, 11)
    np.testing.assert_allclose(out["logits"].numpy(), logits, rtol=1e-5, atol=1e-6)


def test_noise_is_active_in_training_mode_only():
    D = tiny(semi_supervised=True).D
    x = torch.zeros(3, 1, 8, 8)
    D.eval()
    with torch.no_grad():
        assert torch.equal(D(x)["logits"], D(x)["logits"])
    D.train()
    with torch.no_grad():
        assert not torch.equal(D(x)["logits"], D(x)["logits"])


@pytest.mark.parametrize("over", [{"semi_supervised": True, "feature_matching": True}, {}, {"num_classes": 0}],
                         ids=["semi-supervised", "conditional", "unconditional"])
def test_shapes_and_one_training_step(over):
    model = tiny(**over)
    c = model.config
    g = torch.Generator().manual_seed(2)
    z, y = model.sample_z(6, generator=g), model.sample_labels(6, generator=g)
    x = model.G(z, y)
    assert x.shape == (6, 1, 8, 8) and float(x.detach().abs().max()) <= 1.0
    y_d = None if (c.semi_supervised or not c.conditional) else y
    out = model.D(x, y_d)
    assert out["logits"].shape == ((6, 11) if c.semi_supervised else (6,))
    assert out["features"].shape == (6, 8)
    opt_g, opt_d = model.optimizers()
    real = torch.rand(6, 1, 8, 8, generator=g) * 2 - 1
    y_real = torch.randint(0, 10, (6,), generator=g) if c.conditional else None
    d0 = [p.detach().clone() for p in model.D.parameters()]
    g0 = [p.detach().clone() for p in model.G.parameters()]
    loss_d, _ = model.d_loss(real, y_real, z, y, unlabeled=real.flip(0))
    opt_d.zero_grad()
    loss_d.backward()
    opt_d.step()
    loss_g, _ = model.g_loss(z, y, real=real, y_real=None if c.semi_supervised else y_real)
    opt_g.zero_grad()
    loss_g.backward()
    opt_g.step()
    assert torch.isfinite(loss_d) and torch.isfinite(loss_g)
    assert any(not torch.equal(a, b) for a, b in zip(d0, model.D.parameters(), strict=True))
    assert any(not torch.equal(a, b) for a, b in zip(g0, model.G.parameters(), strict=True))


def test_semi_supervised_generator_ignores_the_class_and_conditional_one_uses_it():
    z = torch.randn(2, 8, generator=torch.Generator().manual_seed(4))
    a, b = torch.tensor([1, 1]), torch.tensor([3, 7])
    ss = tiny(semi_supervised=True).G.eval()
    cond = tiny().G.eval()
    with torch.no_grad():
        assert torch.equal(ss(z, a), ss(z, b))
        assert not torch.allclose(cond(z, a), cond(z, b))


@pytest.mark.parametrize("bad", [{"d_hidden": []}, {"g_hidden": [0]}, {"hidden_noise": -0.1},
                                 {"virtual_batch_norm": True}, {"ch": 4}])
def test_bad_configs_name_the_field(bad):
    field = next(iter(bad))
    with pytest.raises(ConfigError, match=field):
        tiny(**bad)
