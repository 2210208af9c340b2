"""Layers of traingen.gan: spectral norm, self-attention, conditional BN, projection head, blocks, init."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from traingen.core.errors import ConfigError
from traingen.gan import resolution_plan, resolutions
from traingen.gan.layers import (
    ConditionalBatchNorm2d,
    DiscriminatorHead,
    ResBlockDown,
    ResBlockUp,
    SelfAttention,
    SpectralNorm,
    channel_schedule,
    init_weights,
    projection_term,
    raw_weight,
    spectral_norm,
)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("make", [lambda: nn.Linear(12, 7), lambda: nn.Conv2d(3, 5, 3), lambda: nn.Embedding(6, 9)])
def test_spectral_norm_largest_singular_value_is_one(make):
    m = spectral_norm(make())
    init_weights(m, gen(1), "normal", std=0.5)
    raw_sigma = torch.linalg.matrix_norm(raw_weight(m).detach().flatten(1), 2)
    assert abs(float(raw_sigma) - 1.0) > 0.2  # the raw weight is not normalised: the check below can fail
    m.train()
    for _ in range(50):  # power iterations happen on each training-mode access
        _ = m.weight
    w = m.weight.detach().flatten(1)
    assert float(torch.linalg.matrix_norm(w, 2)) == pytest.approx(1.0, abs=1e-4)


def test_spectral_norm_sigma_matches_linalg_and_eval_freezes_vectors():
    lin = spectral_norm(nn.Linear(10, 4))
    init_weights(lin, gen(2), "normal", std=1.0)
    sn = lin.parametrizations.weight[0]
    assert isinstance(sn, SpectralNorm)
    raw = raw_weight(lin).detach()
    for _ in range(30):
        _ = lin.weight
    assert float(sn.sigma(raw)) == pytest.approx(float(torch.linalg.matrix_norm(raw, 2)), rel=1e-5)
    lin.eval()
    u = sn.u.clone()
    _ = lin.weight
    assert torch.equal(u, sn.u)


def test_spectral_norm_gradient_flows_to_raw_weight():
    lin = spectral_norm(nn.Linear(5, 3))
    lin(torch.randn(4, 5, generator=gen())).sum().backward()
    assert raw_weight(lin).grad is not None and torch.isfinite(raw_weight(lin).grad).all()


def test_self_attention_identity_at_init_and_shape():
    att = SelfAttention(16)
    init_weights(att, gen(), "xavier")
    x = torch.randn(2, 16, 5, 6, generator=gen(3))
    y = att(x)
    assert y.shape == x.shape
    assert torch.equal(y, x)  # gamma = 0


def test_self_attention_matches_hand_formula():
    att = SelfAttention(8, sn=False)
    init_weights(att, gen(4), "normal", std=0.3)
    with torch.no_grad():
        att.gamma.fill_(0.7)
    x = torch.randn(2, 8, 3, 4, generator=gen(5))
    f = F.conv2d(x, att.f.weight).flatten(2)  # N x C' x P
    g = F.conv2d(x, att.g.weight).flatten(2)
    h = F.conv2d(x, att.h.weight).flatten(2)
    n, c, p = h.shape
    o = torch.zeros_like(h)
    for b in range(n):
        for j in range(p):  # output position j attends over positions i
            s = torch.stack([f[b, :, i] @ g[b, :, j] for i in range(p)])
            beta = torch.softmax(s, 0)
            o[b, :, j] = sum(beta[i] * h[b, :, i] for i in range(p))
    expected = x + 0.7 * F.conv2d(o.reshape(n, c, 3, 4), att.v.weight)
    assert torch.allclose(att(x), expected, atol=1e-5)


def test_conditional_batch_norm_uses_class_gain_and_bias():
    bn = ConditionalBatchNorm2d(3, cond_dim=4)
    init_weights(bn, gen(6), "normal", std=0.5)
    x = torch.randn(6, 3, 2, 2, generator=gen(7))
    y = torch.tensor([0, 1, 2, 3, 1, 0])
    out = bn(x, F.one_hot(y, 4).float())
    mean = x.mean((0, 2, 3), keepdim=True)
    var = x.var((0, 2, 3), unbiased=False, keepdim=True)
    xhat = (x - mean) / torch.sqrt(var + bn.norm.eps)
    gain = 1 + bn.gain.weight.t()[y]  # per-class rows
    bias = bn.bias.weight.t()[y]
    assert torch.allclose(out, xhat * gain[:, :, None, None] + bias[:, :, None, None], atol=1e-5)
    with pytest.raises(ValueError):
        bn(x, None)


def test_projection_head_class_term_is_inner_product():
    head = DiscriminatorHead(5, 3, "projection", sn=True)
    init_weights(head, gen(8), "normal", std=0.4)
    head.eval()  # freeze the power iteration so the weights read below are the ones used
    f = torch.randn(4, 5, generator=gen(9))
    y = torch.tensor([2, 0, 1, 2])
    with torch.no_grad():
        out = head(f, y)
        emb, lin_w, lin_b = (t.detach() for t in (head.embed.weight, head.linear.weight, head.linear.bias))
    for i in range(4):
        by_hand = float(sum(emb[y[i], k] * f[i, k] for k in range(5)))
        plain = float(f[i] @ lin_w[0] + lin_b[0])
        assert float(out["logits"][i]) == pytest.approx(plain + by_hand, abs=1e-5)
    assert torch.allclose(projection_term(emb, f, y), (emb[y] * f).sum(1))
    assert torch.equal(out["features"], f)


def test_head_modes_output_sizes():
    f = torch.randn(4, 6, generator=gen())
    assert DiscriminatorHead(6, 10, "semi-supervised")(f, None)["logits"].shape == (4, 11)
    assert DiscriminatorHead(6, 0, "plain", minibatch=(3, 2))(f, None)["logits"].shape == (4,)
    with pytest.raises(ValueError):
        DiscriminatorHead(6, 3, "projection")(f, None)


def test_residual_blocks_shapes():
    up = ResBlockUp(8, 4, cond_dim=5, sn=True, virtual=False)
    x = torch.randn(3, 8, 7, 7, generator=gen())
    assert up(x, torch.randn(3, 5, generator=gen(1))).shape == (3, 4, 14, 14)
    down = ResBlockDown(4, 8, sn=True, preactivation=False)
    assert down(torch.randn(3, 4, 14, 14, generator=gen())).shape == (3, 8, 7, 7)
    same = ResBlockDown(8, 8, sn=True, downsample=False)
    assert same.skip is None and same(torch.randn(2, 8, 4, 4)).shape == (2, 8, 4, 4)


def test_init_weights_is_deterministic_per_generator():
    def build():
        return nn.Sequential(spectral_norm(nn.Conv2d(2, 3, 3)), nn.BatchNorm2d(3), nn.Linear(3, 2))

    a, b, c = build(), build(), build()
    init_weights(a, gen(11), "orthogonal")
    init_weights(b, gen(11), "orthogonal")
    init_weights(c, gen(12), "orthogonal")
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not torch.equal(sa["0.parametrizations.weight.original"], sc["0.parametrizations.weight.original"])


def test_resolution_plan():
    assert resolutions(28) == [7, 14, 28]
    assert resolutions(8) == [4, 8]
    assert resolutions(32) == [4, 8, 16, 32]
    assert resolution_plan(12) == (6, 1)
    for bad in (9, 30, 4, 2):
        with pytest.raises(ConfigError, match="image_size"):
            resolution_plan(bad)


def test_channel_schedule():
    assert channel_schedule(4, 2) == [16, 8, 4]
    assert channel_schedule(2, 5) == [16, 16, 16, 8, 4, 2]
