"""SAGAN's ``cbn_latent`` switch: what each conditional BN receives, spectral norm of its maps, training."""

from __future__ import annotations

import pytest
import torch

from traingen.core.errors import ConfigError
from traingen.gan import build_model
from traingen.gan.layers import ConditionalBatchNorm2d

TINY = {"ch": 4, "z_dim": 8, "image_size": 16, "num_classes": 10}


def model(**over):
    return build_model("sagan", {**TINY, **over}, generator=torch.Generator().manual_seed(0))


def record_conditions(G):
    """Forward pre-hooks on every conditional BN: the list of ``c`` each one was called with."""
    seen = []
    for m in G.modules():
        if isinstance(m, ConditionalBatchNorm2d) and m.cond_dim:
            m.register_forward_pre_hook(lambda mod, args: seen.append(args[1].detach().clone()))
    return seen


@pytest.mark.parametrize("latent", [False, True])
def test_each_conditional_bn_gets_the_class_and_optionally_z(latent):
    m = model(cbn_latent=latent)
    g = torch.Generator().manual_seed(1)
    z, y = m.sample_z(5, generator=g), m.sample_labels(5, generator=g)
    seen = record_conditions(m.G)
    m.G(z, y)
    assert len(seen) == 2 * len(m.G.blocks)  # two CBNs per up-block
    onehot = torch.zeros(5, 10)
    onehot[torch.arange(5), y] = 1.0
    for c in seen:
        assert c.shape == (5, 10 + (8 if latent else 0))
        assert torch.equal(c[:, :10], onehot)
        if latent:
            assert torch.equal(c[:, 10:], z)


def test_latent_changes_the_gains_and_the_paper_mode_does_not():
    g = torch.Generator().manual_seed(2)
    for latent in (False, True):
        m = model(cbn_latent=latent).eval()
        bn = m.G.blocks[0].bn1
        y = torch.tensor([3, 3])
        z = torch.randn(2, 8, generator=g)
        c = m.G.condition(z, y)
        with torch.no_grad():
            gains = bn.gain(c)
        # same class, different z: equal gains in the paper's class-only CBN, different with z
        assert torch.equal(gains[0], gains[1]) is (not latent)


def test_latent_maps_are_spectrally_normalised_and_the_paper_maps_start_at_identity():
    m = model(cbn_latent=True)
    for block in m.G.blocks:
        for bn in (block.bn1, block.bn2):
            w = bn.gain.weight.detach().double()  # the normalised weight
            top = torch.linalg.svdvals(w)[0].item()
            assert abs(top - 1.0) < 0.05, top
    paper = model()
    for block in paper.G.blocks:
        assert torch.count_nonzero(block.bn1.gain.weight) == 0
        assert torch.count_nonzero(block.bn2.bias.weight) == 0


def test_latent_switch_trains_and_is_deterministic():
    outs = []
    for _ in range(2):
        m = model(cbn_latent=True)
        opt_g, opt_d = m.optimizers()
        g = torch.Generator().manual_seed(3)
        real = torch.rand(6, 1, 16, 16, generator=g) * 2 - 1
        y_real = torch.randint(0, 10, (6,), generator=g)
        z, y = m.sample_z(6, generator=g), m.sample_labels(6, generator=g)
        g_before = [p.detach().clone() for p in m.G.parameters()]
        for _step in range(2):
            loss_d, _ = m.d_loss(real, y_real, z, y)
            opt_d.zero_grad()
            loss_d.backward()
            opt_d.step()
            loss_g, _ = m.g_loss(z, y, real=real, y_real=y_real)
            opt_g.zero_grad()
            loss_g.backward()
            opt_g.step()
            assert torch.isfinite(loss_d) and torch.isfinite(loss_g)
        gain = m.G.blocks[0].bn1.gain.parametrizations.weight.original
        assert not torch.equal(gain, g_before[[id(p) for p in m.G.parameters()].index(id(gain))])
        with torch.no_grad():
            outs.append(m.G.eval()(z, y))
    assert torch.equal(outs[0], outs[1])


def test_unconditional_latent_cbn_and_biggan_rejects_the_switch():
    m = model(num_classes=0, cbn_latent=True)
    z = m.sample_z(3, generator=torch.Generator().manual_seed(4))
    assert m.G(z, None).shape == (3, 1, 16, 16)
    assert m.G.blocks[0].bn1.cond_dim == 8
    with pytest.raises(ConfigError, match="cbn_latent"):
        build_model("biggan", {**TINY, "cbn_latent": True})
