"""pix2pix: paired image-to-image translation with a U-Net generator and a PatchGAN on (input, output).

The generator ``G`` maps an input image ``A`` (edges, a label map, a depth map) to ``B``; the
discriminator ``D`` sees the concatenated pair ``(A, B)`` or ``(A, G(A))`` and scores every 70×70 patch.
Losses (Isola et al., Eq. 4)::

    L_D = 0.5 · [ BCE(D(A, B), 1) + BCE(D(A, G(A)), 0) ]          (halved: D learns slower than G)
    L_G = BCE(D(A, G(A)), 1) + λ · |B - G(A)|_1                    λ = 100

One step updates D first (on the detached fake), then G against the updated D, as the reference
does. There is no image pool. Noise comes only from dropout, kept at inference as in the paper;
:class:`Pix2PixConfig.eval_mode` switches to deterministic inference (dropout off, BatchNorm running
statistics) instead.

The config's defaults are the reference's: ngf = ndf = 64, 3-layer PatchGAN, BatchNorm, dropout,
Adam(2e-4, β = (0.5, 0.999)), batch 1, N(0, 0.02) init, constant then linear decay over equal halves
(:mod:`traingen.translate.schedule`).

Example:
    >>> model = Pix2Pix(Pix2PixConfig(image_size=64, ngf=16, ndf=16), generator=torch_generator(0, "init"))
    >>> logs = model.train_step({"A": a, "B": b}, step=0, seed=0)
    >>> out = model.translate(a)

References:
    Isola, Zhu, Zhou & Efros. "Image-to-Image Translation with Conditional Adversarial Networks",
    CVPR 2017. arXiv:1611.07004.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch.nn import functional as F

from ..core.config import require_at_least_one
from ..core.errors import ConfigError
from ..core.optim import adam
from .losses import gan_loss
from .model_base import TranslateModel
from .networks import Norm, PatchDiscriminator, UNetGenerator, init_weights, unet_depth


@dataclass
class Pix2PixConfig:
    """pix2pix architecture, losses and optimizer (reference defaults).

    Attributes:
        in_channels, out_channels: channels of A and B.
        image_size: training side length (a power of two >= 32 unless ``depth`` is set).
        depth: U-Net downsamplings; None picks ``log2(image_size)`` (1×1 bottleneck).
        ngf, ndf: base filters of G and D.
        n_layers: PatchGAN stride-2 layers (3: 70×70 patches).
        norm: ``batch`` or ``instance``.
        dropout: Dropout(0.5) in the decoder levels next to the bottleneck.
        gan_loss: ``vanilla`` (BCE, the paper) or ``lsgan``.
        lambda_l1: weight of the L1 term (0 trains the cGAN alone).
        use_gan: False trains the L1-only baseline (no discriminator step).
        lr, beta1, beta2: Adam settings of both networks.
        init_gain: standard deviation of the normal init.
        eval_mode: translate with ``G.eval()`` (no dropout, running BatchNorm statistics) instead of the
            paper's train-mode inference.
    """

    in_channels: int = 3
    out_channels: int = 3
    image_size: int = 256
    depth: int | None = None
    ngf: int = 64
    ndf: int = 64
    n_layers: int = 3
    norm: Norm = "batch"
    dropout: bool = True
    gan_loss: str = "vanilla"
    lambda_l1: float = 100.0
    use_gan: bool = True
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    init_gain: float = 0.02
    eval_mode: bool = False

    def __post_init__(self) -> None:
        require_at_least_one(self, ("in_channels", "out_channels", "ngf", "ndf", "n_layers"))
        if self.depth is None:
            unet_depth(self.image_size)  # raises a clear error for bad sizes
        elif self.image_size % (2 ** self.depth):
            raise ConfigError(f"image_size {self.image_size} is not a multiple of 2**depth = {2 ** self.depth}",
                              field="image_size")
        if self.lambda_l1 < 0 or self.lr <= 0:
            raise ConfigError("lambda_l1 must be >= 0 and lr > 0", field="lambda_l1")
        if self.gan_loss not in ("vanilla", "lsgan"):
            raise ConfigError(f"expected vanilla or lsgan, got {self.gan_loss!r}", field="gan_loss")

    @property
    def unet_depth(self) -> int:
        return self.depth if self.depth is not None else unet_depth(self.image_size)


class Pix2Pix(TranslateModel):
    """The pix2pix model: networks, optimizers and one training step (module docstring).

    Args:
        config: a :class:`Pix2PixConfig`.
        generator: draws the initial weights (G first, then D).
    """

    config_class: ClassVar[type] = Pix2PixConfig
    paired: ClassVar[bool] = True
    directions: ClassVar[tuple[str, ...]] = ("AtoB",)

    def __init__(self, config: Pix2PixConfig, *, generator: torch.Generator):
        self.config = c = config
        self.G = UNetGenerator(c.in_channels, c.out_channels, depth=c.unet_depth, ngf=c.ngf, norm=c.norm,
                               dropout=c.dropout)
        self.D = PatchDiscriminator(c.in_channels + c.out_channels, ndf=c.ndf, n_layers=c.n_layers, norm=c.norm)
        init_weights(self.G, generator=generator, gain=c.init_gain)
        init_weights(self.D, generator=generator, gain=c.init_gain)
        betas = (c.beta1, c.beta2)
        self.opt_G = adam(self.G.parameters(), lr=c.lr, betas=betas)
        self.opt_D = adam(self.D.parameters(), lr=c.lr, betas=betas)

    # -- bookkeeping the trainer uses
    @property
    def nets(self) -> dict[str, torch.nn.Module]:
        return {"G": self.G, "D": self.D}

    @property
    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"opt_G": self.opt_G, "opt_D": self.opt_D}

    def generator(self, direction: str = "AtoB") -> torch.nn.Module:
        if direction != "AtoB":
            raise ConfigError(f"pix2pix translates AtoB only (train another model for BtoA), got {direction!r}",
                              field="direction")
        return self.G

    # -- training
    def train_step(self, batch: dict[str, torch.Tensor], *, step: int, seed: int,
                   check: Callable[[torch.Tensor, str], None] | None = None) -> dict[str, float]:
        """One D update then one G update on ``batch = {"A": N×Cin×H×W, "B": N×Cout×H×W}`` in [-1, 1].

        Args:
            step: the global step (unused by pix2pix; dropout draws from torch's global stream, which the
                trainer seeds and checkpoints).
            seed: the run seed (unused by pix2pix).
            check: called with each loss and its name before the optimizer steps (the NaN guard).

        Returns:
            ``{"d_loss", "d_real", "d_fake", "g_gan", "g_l1", "g_loss"}`` as floats (``d_*``/``g_gan`` are 0
            for the L1-only baseline).
        """
        c = self.config
        a, b = batch["A"], batch["B"]
        self.G.train()
        self.D.train()
        fake = self.G(a)
        logs: dict[str, float] = {}
        if c.use_gan:
            pred_fake = self.D(torch.cat([a, fake.detach()], 1))
            pred_real = self.D(torch.cat([a, b], 1))
            d_fake = gan_loss(pred_fake, False, kind=c.gan_loss)
            d_real = gan_loss(pred_real, True, kind=c.gan_loss)
            d_loss = 0.5 * (d_fake + d_real)
            if check is not None:
                check(d_loss, "d_loss")
            self.opt_D.zero_grad(set_to_none=True)
            d_loss.backward()
            self.opt_D.step()
            logs.update(d_loss=d_loss.item(), d_real=d_real.item(), d_fake=d_fake.item())
        for p in self.D.parameters():
            p.requires_grad_(False)
        try:
            g_gan = gan_loss(self.D(torch.cat([a, fake], 1)), True, kind=c.gan_loss) if c.use_gan else fake.new_zeros(())
            g_l1 = F.l1_loss(fake, b)
            g_loss = g_gan + c.lambda_l1 * g_l1
            if check is not None:
                check(g_loss, "g_loss")
            self.opt_G.zero_grad(set_to_none=True)
            g_loss.backward()
            self.opt_G.step()
        finally:
            for p in self.D.parameters():
                p.requires_grad_(True)
        logs.update(g_gan=g_gan.item(), g_l1=g_l1.item(), g_loss=g_loss.item())
        return logs

    # -- inference
    @torch.no_grad()
    def translate(self, a: torch.Tensor, direction: str = "AtoB", *, eval_mode: bool | None = None) -> torch.Tensor:
        """``G(a)`` in [-1, 1]; train-mode (dropout, batch statistics) unless ``eval_mode``.

        The networks' training flags are restored afterwards.
        """
        ev = self.config.eval_mode if eval_mode is None else eval_mode
        return run_generator(self.generator(direction), a, eval_mode=ev)


class _frozen_bn_stats:
    """Context manager: BatchNorm layers use batch statistics but leave running ones untouched."""

    def __init__(self, net: torch.nn.Module):
        self.layers = [m for m in net.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
        self.saved: list[float | None] = []

    def __enter__(self) -> None:
        for m in self.layers:
            self.saved.append(m.momentum)
            if m.training:
                m.momentum = 0.0

    def __exit__(self, *exc: Any) -> None:
        for m, mom in zip(self.layers, self.saved, strict=True):
            m.momentum = mom


@torch.no_grad()
def run_generator(G: torch.nn.Module, x: torch.Tensor, *, eval_mode: bool) -> torch.Tensor:
    """``G(x)`` in eval mode, or in train mode (dropout, batch statistics) without moving BatchNorm's
    running statistics; G's training flag is restored afterwards (pix2pix and TextureGAN inference)."""
    was = G.training
    G.train(not eval_mode)
    try:
        with _frozen_bn_stats(G):
            return G(x)
    finally:
        G.train(was)
