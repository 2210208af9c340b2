"""Seeded training steps for the cross-check against the reference implementation's own training steps.

``bench/translate_crosscheck.py`` runs the reference (junyanz/pytorch-CycleGAN-and-pix2pix at 9f8f61e,
``optimize_parameters``) and :func:`replay` side by side from the same weights, batches and dropout masks, and
stores the reference's losses in ``tests/translate/fixtures/reference_steps.json``;
``tests/translate/test_reference_steps.py`` replays our side against that file without the reference.

The cases are tiny (32 px, ngf 8) and run in float64, so two correct implementations agree to rounding:

- ``pix2pix``: BatchNorm (batch statistics), dropout, vanilla GAN, λ = 100, 2-layer PatchGAN, batch 2;
- ``pix2pix-lsgan-instance``: InstanceNorm, LSGAN, λ = 10, 3-layer PatchGAN, batch 3;
- ``cyclegan``: 6 blocks, LSGAN, cycle λ = 10, identity 0.5, no image pool (the reference draws its pool
  from Python's ``random``), batch 2.

Losses are reported under the reference's names and weights (``get_current_losses``: ``G_L1`` is λ·L1,
``cycle_A`` is λ_A·cycle, ``idt_A`` is λ_B·λ_identity·identity, ...).

Example:
    >>> losses, nets, digest = replay("cyclegan", CASES["cyclegan"], steps=2)
    >>> sorted(losses[0])[:3]
    ['D_A', 'D_B', 'G_A']
"""

from __future__ import annotations

import hashlib
from typing import Any

import torch

from ..core.seeding import torch_generator
from .cyclegan import CycleGAN, CycleGANConfig
from .pix2pix import Pix2Pix, Pix2PixConfig

# name -> our config, the reference's options (bench/translate.py's namespace), batch size
CASES: dict[str, dict[str, Any]] = {
    "pix2pix": {"model": "pix2pix", "batch": 2,
                "config": {"image_size": 32, "ngf": 8, "ndf": 8, "n_layers": 2, "lambda_l1": 100.0},
                "ref": {"netG": "unet_128", "ngf": 8, "ndf": 8, "n_layers_D": 2, "netD": "n_layers"}},
    "pix2pix-lsgan-instance": {"model": "pix2pix", "batch": 3,
                               "config": {"image_size": 32, "ngf": 8, "ndf": 8, "n_layers": 3, "norm": "instance",
                                          "gan_loss": "lsgan", "lambda_l1": 10.0},
                               "ref": {"netG": "unet_128", "ngf": 8, "ndf": 8, "norm": "instance",
                                       "gan_mode": "lsgan", "lambda_L1": 10.0}},
    "cyclegan": {"model": "cyclegan", "batch": 2,
                 "config": {"image_size": 32, "ngf": 8, "ndf": 8, "n_blocks": 6, "pool_size": 0},
                 "ref": {"netG": "resnet_6blocks", "ngf": 8, "ndf": 8, "norm": "instance", "no_dropout": True,
                         "gan_mode": "lsgan", "pool_size": 0}},
}
DTYPE = torch.float64


def build(name: str, case: dict[str, Any]) -> Pix2Pix | CycleGAN:
    """Our model for ``case`` with seeded initial weights, in float64."""
    gen = torch_generator(0, "crosscheck", name)
    if case["model"] == "pix2pix":
        model: Pix2Pix | CycleGAN = Pix2Pix(Pix2PixConfig(**case["config"]), generator=gen)
    else:
        model = CycleGAN(CycleGANConfig(**case["config"]), generator=gen)
    for net in model.nets.values():
        net.to(DTYPE)
    return model


def batches(case: dict[str, Any], steps: int) -> list[dict[str, torch.Tensor]]:
    """One seeded batch ``{"A", "B"}`` in [-1, 1] per step."""
    size, n = case["config"]["image_size"], case["batch"]
    g = torch.Generator().manual_seed(1234)
    out = []
    for _ in range(steps):
        a = torch.rand(n, 3, size, size, generator=g) * 2 - 1
        b = torch.rand(n, 3, size, size, generator=g) * 2 - 1
        out.append({"A": a.to(DTYPE), "B": b.to(DTYPE)})
    return out


def step_seed(k: int) -> int:
    """The global torch seed set before step ``k`` on both sides (the dropout masks)."""
    return 100 + k


def weights_digest(nets: dict[str, torch.nn.Module]) -> str:
    """The first 16 hex digits of a SHA-256 over every state-dict tensor, to tell a changed init from a bug."""
    h = hashlib.sha256()
    for name in sorted(nets):
        for k, v in nets[name].state_dict().items():
            h.update(f"{name}.{k}".encode())
            h.update(v.detach().to(DTYPE).cpu().numpy().tobytes())
    return h.hexdigest()[:16]


def reference_names(model: Pix2Pix | CycleGAN, logs: dict[str, float]) -> dict[str, float]:
    """Our logged loss terms under the reference's names and weights."""
    c = model.config
    if isinstance(model, Pix2Pix):
        return {"G_GAN": logs["g_gan"], "G_L1": logs["g_l1"] * c.lambda_l1, "D_real": logs["d_real"],
                "D_fake": logs["d_fake"]}
    return {"D_A": logs["d_a"], "G_A": logs["g_a"], "cycle_A": logs["cycle_a"] * c.lambda_a,
            "idt_A": logs["idt_a"] * c.lambda_b * c.lambda_identity, "D_B": logs["d_b"], "G_B": logs["g_b"],
            "cycle_B": logs["cycle_b"] * c.lambda_b, "idt_B": logs["idt_b"] * c.lambda_a * c.lambda_identity}


def replay(name: str, case: dict[str, Any], steps: int) -> tuple[list[dict[str, float]], dict[str, torch.nn.Module], str]:
    """Our side of the cross-check: ``(per-step losses under the reference's names, nets after the steps,
    digest of the initial weights)``."""
    model = build(name, case)
    digest = weights_digest(model.nets)
    losses = []
    for k, batch in enumerate(batches(case, steps)):
        torch.manual_seed(step_seed(k))
        losses.append(reference_names(model, model.train_step(batch, step=k, seed=0)))
    return losses, model.nets, digest
