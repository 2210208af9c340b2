"""CycleGAN stacks the batches that go through the same network (InstanceNorm, no dropout): same results."""

from __future__ import annotations

import torch

from traingen.core.seeding import torch_generator
from traingen.translate.cyclegan import CycleGAN, CycleGANConfig


def _model(**kw):
    cfg = CycleGANConfig(image_size=32, ngf=4, ndf=4, n_blocks=2, **kw)
    return CycleGAN(cfg, generator=torch_generator(0, "cg-batched"))


def test_stacked_calls_equal_separate_calls():
    m = _model()
    assert m.per_sample
    g = torch.Generator().manual_seed(1)
    a, b = torch.rand(3, 3, 32, 32, generator=g) * 2 - 1, torch.rand(3, 3, 32, 32, generator=g) * 2 - 1
    fake_b, fake_a, same_b, same_a = m.generate(a, b)
    for got, want in ((fake_b, m.G_A(a)), (fake_a, m.G_B(b)), (same_b, m.G_A(b)), (same_a, m.G_B(a))):
        assert got.shape == want.shape and torch.allclose(got, want, atol=1e-5)
    real_pred, fake_pred = m.discriminate(m.D_A, b, fake_b.detach())
    assert torch.allclose(real_pred, m.D_A(b), atol=1e-5) and torch.allclose(fake_pred, m.D_A(fake_b.detach()), atol=1e-5)


def test_gradients_of_a_step_equal_the_separate_calls():
    """The G loss's gradients through the stacked calls equal those of the six separate calls."""
    import torch.nn.functional as F

    m = _model()
    g = torch.Generator().manual_seed(2)
    a, b = torch.rand(2, 3, 32, 32, generator=g) * 2 - 1, torch.rand(2, 3, 32, 32, generator=g) * 2 - 1

    def loss(stacked):
        if stacked:
            fake_b, fake_a, same_b, same_a = m.generate(a, b)
        else:
            fake_b, fake_a, same_b, same_a = m.G_A(a), m.G_B(b), m.G_A(b), m.G_B(a)
        return (F.l1_loss(m.G_B(fake_b), a) + F.l1_loss(m.G_A(fake_a), b) + F.l1_loss(same_b, b)
                + F.l1_loss(same_a, a) + m.D_A(fake_b).mean())

    grads = []
    for stacked in (True, False):
        for net in (m.G_A, m.G_B, m.D_A):
            net.zero_grad(set_to_none=True)
        loss(stacked).backward()
        grads.append([p.grad.clone() for p in m.G_A.parameters()])
    for x, y in zip(*grads, strict=True):
        assert torch.allclose(x, y, atol=1e-5, rtol=1e-4)


def test_batch_norm_or_dropout_keeps_separate_calls():
    assert not _model(norm="batch").per_sample and not _model(dropout=True).per_sample


def test_out_of_place_activations_give_the_bytes_of_in_place_ones():
    """After InstanceNorm the ResNet generator and PatchGAN activate out of place (no CopySlices in the
    backward pass); three training steps give the same losses and weights, to the byte, as the in-place
    activations of the reference."""
    import torch.nn as nn

    g = torch.Generator().manual_seed(3)
    batch = {"A": torch.rand(2, 3, 32, 32, generator=g) * 2 - 1, "B": torch.rand(2, 3, 32, 32, generator=g) * 2 - 1}
    ours, inplace = _model(), _model()
    acts = [mod for net in inplace.nets.values() for mod in net.modules() if isinstance(mod, (nn.ReLU, nn.LeakyReLU))]
    assert any(not mod.inplace for mod in acts)
    for mod in acts:
        mod.inplace = True
    logs = [[m.train_step(batch, step=i, seed=0) for i in range(3)] for m in (ours, inplace)]
    assert logs[0] == logs[1]
    for name in ours.nets:
        for (k, v), w in zip(ours.nets[name].state_dict().items(), inplace.nets[name].state_dict().values(), strict=True):
            assert torch.equal(v, w), (name, k)
