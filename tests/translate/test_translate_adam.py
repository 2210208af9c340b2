"""The translation models' fused Adam makes the default Adam's update (the reference implementation's)."""

from __future__ import annotations

import torch

from traingen.core.optim import adam
from traingen.core.seeding import torch_generator
from traingen.translate.pix2pix import Pix2Pix, Pix2PixConfig


def test_fused_adam_matches_the_default_adam_over_steps():
    g = torch.Generator().manual_seed(0)
    shapes = [(8, 3, 4, 4), (8,), (16, 8, 4, 4), (1,)]
    a = [torch.randn(s, generator=g, dtype=torch.float64, requires_grad=True) for s in shapes]
    b = [p.detach().clone().requires_grad_(True) for p in a]
    ours, ref = adam(a, lr=2e-4, betas=(0.5, 0.999)), torch.optim.Adam(b, lr=2e-4, betas=(0.5, 0.999))
    assert ours.defaults["fused"] is True
    for _ in range(20):
        grads = [torch.randn(s, generator=g, dtype=torch.float64) for s in shapes]
        for ps, opt in ((a, ours), (b, ref)):
            for p, gr in zip(ps, grads, strict=True):
                p.grad = gr.clone()
            opt.step()
    for p, q in zip(a, b, strict=True):
        assert torch.allclose(p, q, rtol=0, atol=1e-12)
    assert not torch.equal(a[0], b[0].detach() * 0)  # the parameters did move


def test_pix2pix_uses_fused_adam_and_its_state_round_trips():
    m = Pix2Pix(Pix2PixConfig(image_size=32, ngf=4, ndf=4, n_layers=1), generator=torch_generator(0, "t"))
    assert m.opt_G.defaults["fused"] is True and m.opt_D.defaults["fused"] is True
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    m.train_step({"A": x, "B": x.flip(-1)}, step=0, seed=0)
    state = m.opt_G.state_dict()
    m2 = Pix2Pix(Pix2PixConfig(image_size=32, ngf=4, ndf=4, n_layers=1), generator=torch_generator(0, "t"))
    m2.opt_G.load_state_dict(state)
    assert all(torch.equal(m2.opt_G.state_dict()["state"][k]["exp_avg"], v["exp_avg"]) for k, v in state["state"].items())
