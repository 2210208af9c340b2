"""LR schedule against the reference's LambdaLR loop, image pool swap rate and resume, losses."""

from __future__ import annotations

import pytest
import torch

from traingen.core.seeding import torch_generator
from traingen.translate.cyclegan import CycleGAN, CycleGANConfig, cycle_losses
from traingen.translate.losses import gan_loss
from traingen.translate.pool import ImagePool
from traingen.translate.schedule import LinearDecay, linear_decay_factor


@pytest.mark.parametrize(("n_epochs", "n_decay", "fraction"),
                         [(100, 100, 0.5), (5, 5, 0.5), (3, 2, 0.5), (0, 10, 1.0), (3, 7, 0.7), (8, 2, 0.2)])
def test_schedule_equals_the_reference_formula_at_every_epoch(n_epochs, n_decay, fraction):
    # The reference (train.py at 9f8f61e): LambdaLR(rule) and scheduler.step() at the start of each epoch.
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=2e-4)

    def rule(epoch):  # written out from networks.get_scheduler, epoch_count = 1
        return 1.0 - max(0, epoch + 1 - n_epochs) / float(n_decay + 1)

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda=rule)
    ours = LinearDecay(n_epochs + n_decay, steps_per_epoch=7, decay_fraction=fraction)
    assert ours.n_epochs == n_epochs and ours.n_epochs_decay == n_decay
    for epoch in range(n_epochs + n_decay):
        opt.step()
        sched.step()
        ref_lr = opt.param_groups[0]["lr"]
        for k in (0, 3, 6):  # every step of the epoch trains at the same rate
            assert ours.factor(epoch * 7 + k) * 2e-4 == pytest.approx(ref_lr, rel=1e-12, abs=1e-18)
    assert ours.factor((n_epochs + n_decay - 1) * 7) == 0.0
    assert linear_decay_factor(0, n_epochs, n_decay) == (1.0 if n_epochs else 1.0 - 1.0 / (n_decay + 1))


def test_decay_fraction_outside_0_1_is_a_config_error():
    from traingen.core.errors import ConfigError
    from traingen.translate.config import TranslateTrainConfig

    with pytest.raises(ConfigError, match="decay_fraction"):
        TranslateTrainConfig(decay_fraction=1.5)
    with pytest.raises(ConfigError, match="decay_fraction"):
        LinearDecay(10, 1, decay_fraction=-0.1)


def test_pool_swap_rate_is_half_over_10000_seeded_draws():
    pool = ImagePool(50)
    swapped = 0
    for t in range(10_050):
        img = torch.full((1, 1, 1, 1), float(t))
        out = pool.query(img, generator=torch_generator(7, "pool", t))
        if t >= 50:
            swapped += int(out.item() != float(t))
        else:
            assert out.item() == float(t)  # filling: the image itself
    assert abs(swapped / 10_000 - 0.5) < 0.05


def test_pool_is_seeded_and_resumes_exactly():
    def run(pool, start, stop):
        return [pool.query(torch.full((2, 1, 2, 2), float(t)), generator=torch_generator(3, "p", t)) for t in range(start, stop)]

    a = ImagePool(4)
    full = run(a, 0, 20)
    b = ImagePool(4)
    run(b, 0, 10)
    c = ImagePool(4)
    c.load_state_dict(b.state_dict())
    tail = run(c, 10, 20)
    for x, y in zip(full[10:], tail, strict=True):
        assert torch.equal(x, y)
    assert torch.equal(ImagePool(0).query(full[0], generator=torch_generator(0)), full[0])


def test_identity_generators_give_zero_cycle_and_identity_loss():
    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(2, 3, 8, 8, generator=g) * 2 - 1, torch.rand(2, 3, 8, 8, generator=g) * 2 - 1
    losses = cycle_losses(a, b, torch.nn.Identity(), torch.nn.Identity())
    assert all(float(v) == 0.0 for v in losses.values())
    # and a non-identity map does not: the test can fail
    assert float(cycle_losses(a, b, lambda x: -x, lambda x: x)["cycle_a"]) > 0


def test_cyclegan_step_logs_the_losses_of_its_networks_before_the_update():
    cfg = CycleGANConfig(channels_a=1, channels_b=1, image_size=8, ngf=4, ndf=4, n_blocks=1, n_layers=1)
    model = CycleGAN(cfg, generator=torch_generator(0, "init"))
    g = torch.Generator().manual_seed(1)
    batch = {"A": torch.rand(2, 1, 8, 8, generator=g) * 2 - 1, "B": torch.rand(2, 1, 8, 8, generator=g) * 2 - 1}
    with torch.no_grad():
        expected = cycle_losses(batch["A"], batch["B"], model.G_A, model.G_B)
        lsgan = float(((model.D_A(model.G_A(batch["A"])) - 1) ** 2).mean())
    logs = model.train_step(batch, step=0, seed=0)
    for k in ("cycle_a", "cycle_b", "idt_a", "idt_b"):
        assert logs[k] == pytest.approx(float(expected[k]), rel=1e-5)
    assert logs["g_a"] == pytest.approx(lsgan, rel=1e-5)
    w = 10 * (logs["cycle_a"] + logs["cycle_b"]) + 5 * (logs["idt_a"] + logs["idt_b"])
    assert logs["g_loss"] == pytest.approx(logs["g_a"] + logs["g_b"] + w, rel=1e-5)


def test_gan_losses_against_float64_formulas():
    p = torch.tensor([[-2.0, 0.5], [1.0, 3.0]], dtype=torch.float64)
    assert float(gan_loss(p, True, kind="lsgan")) == pytest.approx(float(((p - 1) ** 2).mean()))
    sig = 1 / (1 + torch.exp(-p))
    assert float(gan_loss(p, True)) == pytest.approx(float(-torch.log(sig).mean()))
    assert float(gan_loss(p, False)) == pytest.approx(float(-torch.log(1 - sig).mean()))
