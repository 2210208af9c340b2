"""GAN models: registry, shapes, one training step per switch, determinism, BigGAN's parts, configs."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from traingen.core.config import from_dict, to_dict
from traingen.core.errors import ConfigError, DataError, RegistryError
from traingen.gan import GAN_MODELS, GANModel, build_model, load_models, model_class, truncated_normal
from traingen.gan.biggan import BigGAN, orthogonal_penalty, orthogonal_regularization, split_sizes

MODELS = ("cdcgan", "sagan", "biggan")
TINY = {"ch": 4, "z_dim": 8}


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def tiny(name: str, **over) -> GANModel:
    return build_model(name, {**TINY, "image_size": 8, **over}, generator=gen(0))


def batch(model: GANModel, n: int = 6, seed: int = 1):
    g = gen(seed)
    c = model.config
    real = torch.rand(n, c.channels, c.image_size, c.image_size, generator=g) * 2 - 1
    y_real = torch.randint(0, c.num_classes, (n,), generator=g) if c.num_classes else None
    return real, y_real, model.sample_z(n, generator=g), model.sample_labels(n, generator=g)


def test_import_does_not_load_torch():
    code = "import sys, traingen, traingen.gan; traingen.gan.GANConfig(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_registry_holds_the_three_models():
    load_models()
    assert set(MODELS) <= set(GAN_MODELS.names())
    assert model_class("biggan") is BigGAN
    with pytest.raises(RegistryError, match="known"):
        build_model("stylegan")


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("size,channels", [(8, 1), (16, 3), (28, 1), (32, 3)])
@pytest.mark.parametrize("num_classes", [0, 10])
def test_shapes(name, size, channels, num_classes):
    model = build_model(name, {**TINY, "image_size": size, "channels": channels, "num_classes": num_classes})
    g = gen()
    z, y = model.sample_z(3, generator=g), model.sample_labels(3, generator=g)
    assert (y is None) == (num_classes == 0)
    x = model.G(z, y)
    assert x.shape == (3, channels, size, size) and x.dtype == torch.float32
    assert float(x.detach().abs().max()) <= 1.0
    out = model.D(x, y)
    assert out["logits"].shape == (3,)
    assert out["features"].dim() == 2 and out["features"].shape[0] == 3


SWITCHES = [
    {},
    {"feature_matching": True},
    {"minibatch_discrimination": True, "minibatch_kernels": 4, "minibatch_kernel_dim": 3},
    {"historical_averaging": 0.5},
    {"label_smoothing": 0.2, "loss": "non-saturating"},
    {"virtual_batch_norm": True, "vbn_reference_size": 4},
    {"semi_supervised": True, "loss": "non-saturating"},
    {"semi_supervised": True, "feature_matching": True, "loss": "non-saturating"},
]
SWITCH_IDS = ["plain", "fm", "mbd", "hist", "smooth", "vbn", "ss", "ss+fm"]


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("switch", SWITCHES, ids=SWITCH_IDS)
def test_one_step_per_switch(name, switch):
    model = tiny(name, **switch)
    opt_g, opt_d = model.optimizers()
    real, y_real, z, y = batch(model)
    d0 = [p.detach().clone() for p in model.D.parameters()]
    g0 = [p.detach().clone() for p in model.G.parameters()]
    for _step in range(2):
        loss_d, logs_d = model.d_loss(real, y_real, z, y, unlabeled=real.flip(0))
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        loss_g, logs_g = model.g_loss(z, y, real=real, y_real=y_real)
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
        model.after_step()
        assert torch.isfinite(loss_d) and torch.isfinite(loss_g)
        assert all(np.isfinite(v) for v in {**logs_d, **logs_g}.values())
    assert any(not torch.equal(a, b) for a, b in zip(d0, model.D.parameters(), strict=True))
    assert any(not torch.equal(a, b) for a, b in zip(g0, model.G.parameters(), strict=True))
    if switch.get("historical_averaging"):
        assert logs_d["d_historical"] > 0 and logs_g["g_historical"] > 0
    if switch.get("semi_supervised"):
        assert model.D(real, None)["logits"].shape == (6, 11)
        assert "d_supervised" in logs_d
    if name == "biggan":
        assert logs_g["g_orthogonal"] > 0


def test_feature_matching_needs_the_real_batch():
    model = tiny("cdcgan", feature_matching=True)
    real, y_real, z, y = batch(model)
    with pytest.raises(ConfigError, match="real"):
        model.g_loss(z, y)
    with pytest.raises(ConfigError, match="y_real"):
        model.g_loss(z, y, real=real)


def test_label_smoothing_changes_only_the_real_target():
    plain, smooth = tiny("cdcgan"), tiny("cdcgan", label_smoothing=0.3)
    real, y_real, z, y = batch(plain)
    lr = plain.D(real, y_real)["logits"].detach()
    l0, _ = plain.d_loss(real, y_real, z, y)
    l1, _ = smooth.d_loss(real, y_real, z, y)
    # same weights (same generator): the real term becomes softplus(-l) + 0.3 * (softplus(l) - softplus(-l))
    # = softplus(-l) + 0.3 * l, so the losses differ by 0.3 * E[l]; the fake term is unchanged
    assert float(lr.mean().abs()) > 1e-3
    assert float((l1 - l0).detach()) == pytest.approx(0.3 * float(lr.mean()), abs=1e-6)


@pytest.mark.parametrize("name", MODELS)
def test_determinism_with_a_seeded_generator(name):
    a, b = tiny(name), tiny(name)
    other = build_model(name, {**TINY, "image_size": 8}, generator=gen(5))
    sa, sb = a.state_dict(), b.state_dict()
    for net in ("G", "D"):
        assert all(torch.equal(sa[net][k], sb[net][k]) for k in sa[net])
    real, y_real, z, y = batch(a)
    out_a = a.G(z, y)  # once each: a training-mode forward advances spectral norm's power iteration
    assert torch.equal(out_a, b.G(z, y))
    assert not torch.equal(out_a, other.G(z, y))
    la, _ = a.d_loss(real, y_real, z, y)
    lb, _ = b.d_loss(real, y_real, z, y)
    assert torch.equal(la, lb)
    z1 = a.sample_z(4, generator=gen(9), truncation=0.7)
    assert torch.equal(z1, a.sample_z(4, generator=gen(9), truncation=0.7))


def test_state_dict_round_trip_with_history():
    a = tiny("sagan", historical_averaging=0.1)
    opt_g, opt_d = a.optimizers()
    real, y_real, z, y = batch(a)
    loss, _ = a.d_loss(real, y_real, z, y)
    loss.backward()
    opt_d.step()
    a.after_step()
    b = build_model("sagan", {**TINY, "image_size": 8, "historical_averaging": 0.1}, generator=gen(3))
    b.load_state_dict(a.state_dict())
    a.eval(), b.eval()
    assert torch.equal(a.G(z, y), b.G(z, y))
    assert torch.equal(a.regularizers().d["historical"], b.regularizers().d["historical"])


def test_truncation_bound_held():
    z = truncated_normal((500, 16), 0.5, generator=gen(2))
    assert float(z.abs().max()) <= 0.5
    assert float(z.abs().max()) > 0.45  # resampled, not squashed: values still reach the bound
    assert z.std() < 0.35  # far narrower than N(0, 1)
    model = tiny("biggan")
    zz = model.sample_z(64, generator=gen(3), truncation=0.2)
    assert zz.shape == (64, 8) and float(zz.abs().max()) <= 0.2
    with pytest.raises(ConfigError, match="truncation"):
        truncated_normal((2, 2), 0.0, generator=gen())


def test_orthogonal_penalty_zero_on_orthogonal_and_hand_formula():
    q, _ = torch.linalg.qr(torch.randn(6, 6, generator=gen(4), dtype=torch.float64))
    assert float(orthogonal_penalty(q)) == pytest.approx(0.0, abs=1e-20)
    assert float(orthogonal_penalty(q[:3] * 5.0)) == pytest.approx(0.0, abs=1e-20)  # norms are free
    w = torch.randn(4, 2, 3, generator=gen(5), dtype=torch.float64)
    rows = w.reshape(4, 6).numpy()
    by_hand = sum(float(rows[i] @ rows[j]) ** 2 for i in range(4) for j in range(4) if i != j)
    assert by_hand > 0
    assert float(orthogonal_penalty(w)) == pytest.approx(by_hand, rel=1e-10)


def test_biggan_orthogonal_regularization_covers_g_and_not_the_embedding():
    model = tiny("biggan")
    total = orthogonal_regularization(model.G)
    assert float(total.detach()) > 0
    assert float(model.regularizers().g["orthogonal"].detach()) == pytest.approx(1e-4 * float(total.detach()), rel=1e-6)
    off = tiny("biggan", orthogonal_reg=0.0)
    assert "orthogonal" not in off.regularizers().g
    assert sum(isinstance(m, torch.nn.Embedding) for m in model.G.modules()) == 1  # the shared embedding


def test_biggan_hierarchical_latent_reaches_the_last_block():
    model = tiny("biggan", image_size=16, z_dim=9).eval()
    assert model.G.chunks == [3, 3, 3]
    g = gen(6)
    z, y = model.sample_z(2, generator=g), model.sample_labels(2, generator=g)
    with torch.no_grad():
        model.G.blocks[-1].bn2.gain.parametrizations.weight.original.mul_(50)  # make the effect visible
        base = model.G(z, y)
        z2 = z.clone()
        z2[:, -3:] += 1.0  # only the last chunk, which only conditions the last block
        assert not torch.allclose(model.G(z2, y), base)
    flat = tiny("biggan", image_size=16, z_dim=9, hierarchical=False)
    assert flat.G.chunks == [9, 0, 0]
    assert split_sizes(10, 3) == [4, 3, 3]


def test_sagan_defaults_follow_the_paper():
    model = tiny("sagan")
    c = model.config
    assert (c.loss, c.lr_g, c.lr_d, c.beta1, c.beta2) == ("hinge", 1e-4, 4e-4, 0.0, 0.9)
    opt_g, opt_d = model.optimizers()
    assert opt_g.param_groups[0]["lr"] == 1e-4 and opt_d.param_groups[0]["betas"] == (0.0, 0.9)
    assert model.G.attention is not None and model.D.attention is not None
    assert tiny("sagan", attention_res=0).G.attention is None
    big = build_model("sagan", {**TINY, "image_size": 28})
    assert big.config.attention_res is None and big.G.attention.gamma.shape == ()


def test_config_errors_name_the_field():
    with pytest.raises(ConfigError, match="attention_res"):
        build_model("sagan", {**TINY, "image_size": 28, "attention_res": 16})
    with pytest.raises(ConfigError, match="image_size"):
        build_model("cdcgan", {"image_size": 30})
    with pytest.raises(ConfigError, match="unknown key 'chanels'"):
        build_model("cdcgan", {"chanels": 3})
    with pytest.raises(ConfigError, match="z_dim"):
        build_model("biggan", {"image_size": 32, "z_dim": 3})
    with pytest.raises(ConfigError, match="loss"):
        build_model("cdcgan", {"loss": "wasserstein"})


@pytest.mark.parametrize("name", MODELS)
def test_config_round_trip(name):
    cls = model_class(name).config_class
    cfg = from_dict(cls, {"image_size": 16, "channels": 3, "feature_matching": True})
    assert from_dict(cls, to_dict(cfg)) == cfg


def test_bad_inputs_are_clear_errors():
    model = tiny("sagan")
    real, y_real, z, y = batch(model)
    with pytest.raises(DataError, match="labels"):
        model.G(z, None)
    with pytest.raises(DataError, match="noise"):
        model.G(z[:, :3], y)
    with pytest.raises(DataError, match="images"):
        model.D(real[:, :, :4], y_real)
