"""SAGAN (Zhang et al. 2018): self-attention in G and D, spectral norm in both, hinge loss, TTUR,
conditional batch norm in G and a projection discriminator.

Generator: ``z -> SN linear -> b x b``, then one residual up-block per factor 2 (conditional BN whose
gain and bias are per-class embeddings, nearest upsampling, SN 3x3 convs), the self-attention block
after the block that reaches ``attention_res``, then ``BN, ReLU, SN conv 3x3, tanh``.

Discriminator: residual down-blocks with SN from the image to ``b x b`` (self-attention after the
block that reaches ``attention_res``), one more block without pooling, ReLU, a sum over positions
(the features), and the projection head ``psi(f) + <embed(y), f>`` (Miyato & Koyama). BigGAN uses
the same discriminator.

``cbn_latent: true`` (off by default) also feeds ``z`` to every conditional BN, as BigGAN-deep does
(Brock et al. 2018, appendix B): on the CPU recipe it keeps the samples of one class diverse, where
the paper's class-only conditional BN collapses within classes (docs/gan/training.md).

Training as in the paper: hinge loss, two time-scale update rule (G 1e-4, D 4e-4), Adam with
``beta1 = 0, beta2 = 0.9``; Glorot-uniform initial weights.

``attention_res`` must be one of the feature-map sides below the image size
(:func:`attention_resolutions`); ``None`` picks the largest (14 for 28 px, 16 for 32 px), 0 turns
attention off.

Example:
    >>> model = SAGAN({"image_size": 32, "channels": 3, "ch": 16, "attention_res": 16})
    >>> opt_g, opt_d = model.optimizers()     # TTUR

References:
    Zhang, Goodfellow, Metaxas, Odena. "Self-Attention Generative Adversarial Networks", ICML 2019,
    arXiv:1805.08318.
    Heusel et al. "GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash
    Equilibrium", NeurIPS 2017 (TTUR).
    Miyato, Koyama. "cGANs with Projection Discriminator", ICLR 2018, arXiv:1802.05637.
    Miyato et al. "Spectral Normalization for Generative Adversarial Networks", ICLR 2018.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..core.errors import ConfigError
from .base import GAN_MODELS, GANConfig, GANModel, LossName, resolution_plan, resolutions
from .layers import (
    ConditionalBatchNorm2d,
    DiscriminatorHead,
    GeneratorBase,
    ResBlockDown,
    ResBlockUp,
    SelfAttention,
    batch_norm,
    channel_schedule,
    check_images,
    check_labels,
    head_mode,
    init_weights,
    one_hot,
    spectral_norm,
)


def attention_resolutions(image_size: int) -> list[int]:
    """The sides where a self-attention block can sit: every feature-map side below the image's."""
    return resolutions(image_size)[:-1]


def attention_resolution(attention_res: int | None, image_size: int) -> int:
    """Resolve ``attention_res`` (``None``: the largest allowed, 0: off); ConfigError if not allowed."""
    allowed = attention_resolutions(image_size)
    if attention_res is None:
        return allowed[-1]
    if attention_res != 0 and attention_res not in allowed:
        raise ConfigError(
            f"{attention_res} is not a feature-map side for image_size {image_size}; "
            f"allowed: {allowed} (or 0 = no attention, null = {allowed[-1]})",
            field="attention_res",
        )
    return attention_res


@dataclass
class SAGANConfig(GANConfig):
    """SAGAN settings (plus every :class:`GANConfig` field; the defaults follow the paper).

    Args:
        ch: width multiplier: G's widths are ``ch * min(2**j, 8)`` shrinking towards the image, D's
            mirror them (16: ~0.6 M parameters per network at 28 px, a CPU-sized default).
        attention_res: side of the feature maps that get self-attention (``None``: the largest
            below the image size; 0: none).
        cbn_latent: feed the whole latent ``z`` with the one-hot class to every conditional BN
            (its gain and bias maps spectrally normalised, as in BigGAN-deep) instead of the class
            alone (the paper). A deviation kept as a switch; see docs/gan/training.md.
    """

    loss: LossName = "hinge"
    lr_g: float = 1e-4
    lr_d: float = 4e-4
    beta1: float = 0.0
    beta2: float = 0.9
    ch: int = 16
    attention_res: int | None = None
    cbn_latent: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.ch < 1:
            raise ConfigError(f"must be >= 1, got {self.ch}", field="ch")
        attention_resolution(self.attention_res, self.image_size)


class SAGANGenerator(GeneratorBase):
    """``G(z, y)`` of SAGAN: residual up-blocks with class-conditional BN and self-attention."""

    def __init__(self, c: SAGANConfig):
        super().__init__(c.z_dim, c.num_classes)
        base, n = resolution_plan(c.image_size)
        widths = channel_schedule(c.ch, n)
        sides = resolutions(c.image_size)
        att = attention_resolution(c.attention_res, c.image_size)
        self.base = base
        self.cbn_latent = c.cbn_latent
        cond_dim = c.num_classes + (c.z_dim if c.cbn_latent else 0)
        self.fc = spectral_norm(nn.Linear(c.z_dim, widths[0] * base * base))
        self.blocks = nn.ModuleList(
            ResBlockUp(widths[i], widths[i + 1], cond_dim, sn=True, cbn_sn=c.cbn_latent,
                       virtual=c.virtual_batch_norm)
            for i in range(n)
        )
        # attention index: -1 right after the linear layer (side b), i after block i
        self.attention_at = sides.index(att) - 1 if att else None
        self.attention = SelfAttention(widths[sides.index(att)]) if att else None
        self.out_bn = batch_norm(widths[-1], virtual=c.virtual_batch_norm)
        self.to_image = spectral_norm(nn.Conv2d(widths[-1], c.channels, 3, padding=1))

    def condition(self, z: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor | None:
        """The conditional BN input: ``onehot(y)``, or ``[onehot(y), z]`` with ``cbn_latent``."""
        c = one_hot(y, self.num_classes, z.dtype)
        if not self.cbn_latent:
            return c
        return z if c is None else torch.cat([c, z], 1)

    def generate(self, z: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        c = self.condition(z, y)
        h = self.fc(z).reshape(z.shape[0], -1, self.base, self.base)
        if self.attention_at == -1:
            h = self.attention(h)
        for i, block in enumerate(self.blocks):
            h = block(h, c)
            if self.attention_at == i:
                h = self.attention(h)
        return torch.tanh(self.to_image(F.relu(self.out_bn(h))))


class ResNetDiscriminator(nn.Module):
    """SN-GAN/SAGAN/BigGAN discriminator: residual down-blocks, self-attention, sum pooling, a head
    (projection when conditional, K+1 logits when semi-supervised)."""

    def __init__(self, c: SAGANConfig):
        super().__init__()
        base, n = resolution_plan(c.image_size)
        widths = channel_schedule(c.ch, n)[::-1]  # widths[j]: side image / 2**j
        sides = resolutions(c.image_size)[::-1]
        att = attention_resolution(c.attention_res, c.image_size)
        self.channels, self.image_size, self.num_classes = c.channels, c.image_size, c.num_classes
        self.takes_condition = c.conditional and not c.semi_supervised
        blocks = [ResBlockDown(c.channels, widths[1], sn=True, preactivation=False)]
        blocks += [ResBlockDown(widths[j], widths[j + 1], sn=True) for j in range(1, n)]
        blocks.append(ResBlockDown(widths[n], widths[n], sn=True, downsample=False))
        self.blocks = nn.ModuleList(blocks)
        self.attention_after = sides.index(att) - 1 if att else None  # block j outputs side sides[j + 1]
        self.attention = SelfAttention(widths[sides.index(att)]) if att else None
        self.num_features = widths[n]
        self.head = DiscriminatorHead(
            widths[n], c.num_classes, head_mode(c.semi_supervised, c.conditional),
            minibatch=(c.minibatch_kernels, c.minibatch_kernel_dim) if c.minibatch_discrimination else None,
            sn=True,
        )

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        check_images(x, self.channels, self.image_size)
        check_labels(y, x.shape[0], self.num_classes, required=self.takes_condition)
        h = x
        for j, block in enumerate(self.blocks):
            h = block(h)
            if self.attention_after == j:
                h = self.attention(h)
        features = F.relu(h).sum((2, 3))
        return self.head(features, y if self.takes_condition else None)


@GAN_MODELS.register("sagan")
class SAGAN(GANModel):
    """Self-Attention GAN (Zhang et al. 2018); see the module docstring."""

    config_class = SAGANConfig
    config: SAGANConfig

    def build(self) -> tuple[nn.Module, nn.Module]:
        return SAGANGenerator(self.config), ResNetDiscriminator(self.config)

    def init_weights(self, generator: torch.Generator) -> None:
        init_weights(self.G, generator, "xavier")
        init_weights(self.D, generator, "xavier")
        if not self.config.cbn_latent:  # spectrally normalised maps cannot start at zero
            zero_class_gains(self.G)


def zero_class_gains(G: nn.Module) -> None:
    """Start every class-conditional BN at the identity map (gain 1, bias 0), as SAGAN's code does."""
    with torch.no_grad():
        for m in G.modules():
            if isinstance(m, ConditionalBatchNorm2d) and m.cond_dim:
                m.gain.weight.zero_()
                m.bias.weight.zero_()


__all__ = ["SAGAN", "ResNetDiscriminator", "SAGANConfig", "SAGANGenerator",
           "attention_resolution", "attention_resolutions"]
