"""AdaIN, SANet and Ghiasi's arbitrary network: identities, attention, gradchecks, training, checkpoints."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from traingen.core.errors import CheckpointError, ConfigError
from traingen.style.adain import AdaINConfig, AdaINNet, adain, moment_loss
from traingen.style.arbitrary import ArbitraryConfig, ArbitraryNet, cin
from traingen.style.encoder import Encoder
from traingen.style.sanet import SANetConfig, SANetModule, SANetNet, attention
from traingen.style.train import TrainConfig, load_model, method_runner, procedural_style, train_style

TINY = {"width": 0.125}


def test_adain_of_x_with_itself_is_x_and_matches_moments():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 5, 7, 6, generator=g, dtype=torch.float64) * 3
    assert torch.allclose(adain(x, x), x, atol=1e-6)
    y = torch.randn(2, 5, 4, 9, generator=g, dtype=torch.float64) * 2 + 1
    out = adain(x, y).numpy()
    yn = y.numpy()
    # float64 reference: per-channel mean and population std of the style
    np.testing.assert_allclose(out.mean((2, 3)), yn.mean((2, 3)), atol=1e-9)
    np.testing.assert_allclose(out.std((2, 3)), np.sqrt(yn.var((2, 3)) + 1e-5), rtol=1e-3)


def test_gradchecks_of_the_losses_and_norms():
    g = torch.Generator().manual_seed(1)
    x = torch.rand(1, 3, 4, 4, generator=g, dtype=torch.float64, requires_grad=True)
    y = torch.rand(1, 3, 5, 3, generator=g, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda a: adain(a, y), (x,))
    assert torch.autograd.gradcheck(lambda a: moment_loss({"t": a}, {"t": y}), (x,))
    gamma = torch.rand(1, 3, generator=g, dtype=torch.float64, requires_grad=True)
    beta = torch.rand(1, 3, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(cin, (x, gamma, beta))
    sa = SANetModule(3).double()
    assert torch.autograd.gradcheck(lambda a: sa(a, y), (x,))


def test_sanet_attention_rows_sum_to_one():
    sa = SANetModule(8)
    g = torch.Generator().manual_seed(2)
    fc, fs = torch.rand(2, 8, 4, 5, generator=g), torch.rand(2, 8, 3, 3, generator=g)
    y, a = sa(fc, fs, return_attention=True)
    assert a.shape == (2, 20, 9) and y.shape == fc.shape
    assert torch.allclose(a.sum(-1), torch.ones(2, 20), atol=1e-6)
    assert (a >= 0).all()
    # the function itself, against a float64 softmax written out
    q, k = torch.rand(1, 4, 2, 2, dtype=torch.float64), torch.rand(1, 4, 3, 1, dtype=torch.float64)
    e = np.exp(q.flatten(2)[0].T.numpy() @ k.flatten(2)[0].numpy())
    np.testing.assert_allclose(attention(q, k)[0].numpy(), e / e.sum(1, keepdims=True), rtol=1e-12)


def test_networks_shapes_and_loss_terms():
    torch.manual_seed(0)
    c, s = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    for net, keys in ((AdaINNet(AdaINConfig(**TINY)), {"content", "style"}),
                      (SANetNet(SANetConfig(**TINY)), {"content", "style", "identity1", "identity2"}),
                      (ArbitraryNet(ArbitraryConfig(**TINY, base=4, residual=1)), {"content", "style"})):
        parts = net.losses(c, s)
        assert keys | {"loss"} == set(parts)
        parts["loss"].backward()
        assert all(p.grad is None for p in net.encoder.parameters())  # the encoder is frozen
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in net.trainable())
        y = net.stylize(c, s).detach()
        assert y.shape == c.shape and 0 <= float(y.min()) and float(y.max()) <= 1


def test_encoder_loads_a_vgg19_state_dict_written_here(tmp_path):
    from torchvision.models.vgg import cfgs, make_layers

    ref = make_layers(cfgs["E"])[:30]  # torchvision's vgg19.features up to relu5_1
    g = torch.Generator().manual_seed(0)
    state = {f"features.{k}": torch.randn(v.shape, generator=g) * 0.05 for k, v in ref.state_dict().items()}
    path = tmp_path / "vgg19-features.pth"
    torch.save(state, path)
    enc = Encoder(width=1.0, weights=str(path))
    assert enc.source == f"file:{path}"
    assert torch.equal(enc.features[28].weight, state["features.28.weight"])
    # relu4_1 against torchvision's own layers with the same weights
    tv = ref[:21]
    tv.load_state_dict({k[len("features."):]: v for k, v in state.items() if int(k.split(".")[1]) < 21})
    x = torch.rand(1, 3, 32, 32)  # an image in [0, 1]; VGG19 takes ImageNet-normalised pixels
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        want = tv((x - mean) / std)
    assert want.abs().max() > 0.1  # the image reaches relu4_1 (it did not while pixels were divided by 255 twice)
    assert torch.allclose(enc(x, ["relu4_1"])["relu4_1"], want, atol=1e-4)
    with pytest.raises(CheckpointError, match="width"):
        Encoder(width=0.5, weights=str(path))


def test_train_checkpoint_round_trip_and_exact_resume(tmp_path):
    base = dict(method="adain", batch=2, size=32, contents=("builtin:photos",), styles=("builtin:textures",),
                max_items=3, model=TINY, save_every=2)
    full = train_style(TrainConfig(steps=4, **base), tmp_path / "full")
    again = train_style(TrainConfig(steps=4, **base), tmp_path / "again")
    rerun = train_style(TrainConfig(steps=4, **base), tmp_path / "again")  # finished run: nothing to do
    assert rerun.resumed_from == 4 and rerun.losses == again.losses
    net_full = load_model(full.checkpoint)
    net_again = load_model(tmp_path / "again")
    c, s = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(net_full.stylize(c, s), net_again.stylize(c, s))  # deterministic training
    assert full.losses[0] > 0 and len(full.losses) == 4
    runner = method_runner("adain", checkpoint=str(tmp_path / "full"), size=32)
    img = (np.random.default_rng(0).random((30, 20, 3)) * 255).astype(np.uint8)
    out = runner(img, img, seed=0)
    assert out.image.shape == (32, 21, 3) and out.info["encoder"] == "random"
    with pytest.raises(CheckpointError, match="'adain' network, not 'sanet'"):
        method_runner("sanet", checkpoint=str(tmp_path / "full"))
    with pytest.raises(ConfigError, match="traingen train style"):
        method_runner("adain")
    with pytest.raises(CheckpointError, match="different config"):
        train_style(TrainConfig(steps=5, **{**base, "lr": 0.1}), tmp_path / "full")


def test_resume_equals_uninterrupted(tmp_path):
    base = dict(method="sanet", batch=1, size=32, contents=("builtin:photos",), styles=(), max_items=2,
                model=TINY, save_every=1)
    a = train_style(TrainConfig(steps=3, **base), tmp_path / "a")
    train_style(TrainConfig(steps=2, **base), tmp_path / "b")
    b = train_style(TrainConfig(steps=3, **base), tmp_path / "b")  # continues the 2-step run
    assert b.resumed_from == 2 and b.losses == a.losses
    na, nb = load_model(a.checkpoint), load_model(b.checkpoint)
    for (k, va), (_, vb) in zip(na.state_dict().items(), nb.state_dict().items(), strict=True):
        assert torch.equal(va, vb), k


def _unseen_eval(net, untrained):
    """Style loss of a trained and an untrained network on 4 procedural styles no run ever drew."""
    from traingen.data import open_source
    from traingen.style.base import resize_long, to_tensor

    g = torch.Generator().manual_seed(123)
    unseen = torch.cat([procedural_style(32, g) for _ in range(4)])
    chelsea = to_tensor(open_source("builtin:photos/chelsea")[0].image)
    content = torch.cat([resize_long(chelsea, 48)[..., :32, :32]] * 4)
    with torch.no_grad():
        y1, y2 = net.stylize(content[:1], unseen[:1]), net.stylize(content[:1], unseen[1:2])
        return (float(net.losses(content, unseen)["style"]), float(untrained.losses(content, unseen)["style"]),
                float((y1 - y2).abs().mean()))


def test_arbitrary_checkpoint_conditions_on_unseen_styles(tmp_path):
    model = {**TINY, "base": 4, "residual": 1}
    cfg = TrainConfig(method="arbitrary", steps=4, batch=2, size=32, contents=("builtin:photos",),
                      styles=(), procedural=1.0, max_items=3, lr=3e-3, model=model)
    net = load_model(train_style(cfg, tmp_path / "arb").checkpoint)
    torch.manual_seed(cfg.seed)
    _, _, diff = _unseen_eval(net, ArbitraryNet(ArbitraryConfig(**model)).eval())
    assert diff > 2e-4  # the output depends on the (unseen) style through the predicted CIN parameters


@pytest.mark.slow
def test_arbitrary_lowers_style_loss_on_unseen_styles(tmp_path):
    model = {**TINY, "base": 4, "residual": 1}
    cfg = TrainConfig(method="arbitrary", steps=400, batch=4, size=32, contents=("builtin:photos",),
                      styles=(), procedural=1.0, max_items=7, lr=3e-3, model=model)
    net = load_model(train_style(cfg, tmp_path / "arb").checkpoint)
    torch.manual_seed(cfg.seed)
    after, before, _ = _unseen_eval(net, ArbitraryNet(ArbitraryConfig(**model)).eval())
    assert after < 0.7 * before, (before, after)


def test_procedural_styles_are_seeded_and_in_range():
    a = procedural_style(16, torch.Generator().manual_seed(5))
    b = procedural_style(16, torch.Generator().manual_seed(5))
    c = procedural_style(16, torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.shape == (1, 3, 16, 16) and float(a.min()) >= 0 and float(a.max()) <= 1
