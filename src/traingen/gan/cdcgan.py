"""Conditional DCGAN (Gauthier 2015): the one-hot condition joins the noise in G and the image
features in D.

Generator: ``[z, onehot(y)] -> linear -> b x b -> (ConvT 4x4/2, BN, ReLU) ... -> ConvT -> tanh``. The
feature maps double in size from ``b x b`` (``image_size = b * 2**k``, see
:func:`traingen.gan.resolution_plan`), so 28 px images are made natively through 7 -> 14 -> 28.

Discriminator: ``conv 4x4/2, LeakyReLU(0.2)`` on the image, then the one-hot condition is replicated
over the positions and concatenated to those feature maps (Gauthier joins ``y`` to the output of D's
first layer), then ``(conv 4x4/2, BN, LeakyReLU)`` down to ``b x b``; the flattened maps are the
features and a linear map gives the logit. The loss is the non-saturating cross-entropy, Adam(2e-4,
(0.5, 0.999)), weights from N(0, 0.02) as in DCGAN.

With ``semi_supervised: true`` D drops the condition (it must predict the class, not be given it)
and outputs K+1 logits; with ``num_classes: 0`` both networks are unconditional (a plain DCGAN).

Example:
    >>> model = CDCGAN({"image_size": 28, "ch": 32})
    >>> g = torch.Generator().manual_seed(0)
    >>> x = model.G(model.sample_z(16, generator=g), model.sample_labels(16, generator=g))  # 16 x 1 x 28 x 28

References:
    Gauthier. "Conditional generative adversarial nets for convolutional face generation", Stanford
    CS231N class project report, 2015.
    Mirza, Osindero. "Conditional Generative Adversarial Nets", arXiv:1411.1784, 2014.
    Radford, Metz, Chintala. "Unsupervised Representation Learning with Deep Convolutional Generative
    Adversarial Networks" (DCGAN), ICLR 2016, arXiv:1511.06434.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..core.errors import ConfigError
from .base import GAN_MODELS, GANConfig, GANModel, resolution_plan
from .layers import (
    DiscriminatorHead,
    GeneratorBase,
    batch_norm,
    channel_schedule,
    check_images,
    check_labels,
    head_mode,
    init_weights,
    one_hot,
)


@dataclass
class CDCGANConfig(GANConfig):
    """Conditional DCGAN settings (plus every :class:`GANConfig` field).

    Args:
        ch: base width; G's widths are ``ch * 2**j`` (capped at 8 ch) shrinking towards the image,
            D's mirror them.
        leak: LeakyReLU slope of D.
    """

    ch: int = 32
    leak: float = 0.2

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.ch < 1:
            raise ConfigError(f"must be >= 1, got {self.ch}", field="ch")
        if not 0.0 <= self.leak < 1.0:
            raise ConfigError(f"must be in [0, 1), got {self.leak}", field="leak")


class CDCGANGenerator(GeneratorBase):
    """``G(z, y)``: noise and one-hot class in, ``N x C x H x W`` images in [-1, 1] out."""

    def __init__(self, c: CDCGANConfig):
        super().__init__(c.z_dim, c.num_classes)
        base, n = resolution_plan(c.image_size)
        widths = channel_schedule(c.ch, n)[:-1]  # one width per resolution below the image's
        self.base = base
        self.fc = nn.Linear(c.z_dim + c.num_classes, widths[0] * base * base, bias=False)
        self.bn0 = batch_norm(widths[0], virtual=c.virtual_batch_norm)
        ups: list[nn.Module] = []
        norms: list[nn.Module] = []
        for i in range(n - 1):
            ups.append(nn.ConvTranspose2d(widths[i], widths[i + 1], 4, 2, 1, bias=False))
            norms.append(batch_norm(widths[i + 1], virtual=c.virtual_batch_norm))
        self.ups = nn.ModuleList(ups)
        self.norms = nn.ModuleList(norms)
        self.to_image = nn.ConvTranspose2d(widths[-1], c.channels, 4, 2, 1)

    def generate(self, z: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        h = z if self.num_classes == 0 else torch.cat([z, one_hot(y, self.num_classes, z.dtype)], 1)
        h = self.fc(h).reshape(z.shape[0], -1, self.base, self.base)
        h = F.relu(self.bn0(h))
        for up, norm in zip(self.ups, self.norms, strict=True):
            h = F.relu(norm(up(h)))
        return torch.tanh(self.to_image(h))


class CDCGANDiscriminator(nn.Module):
    """``D(x, y)``: ``{"logits", "features"}``; ``y`` joins the feature maps after the first conv."""

    def __init__(self, c: CDCGANConfig):
        super().__init__()
        base, n = resolution_plan(c.image_size)
        widths = channel_schedule(c.ch, n)[::-1][1:]  # after each stride-2 conv: 2ch, 4ch, ...
        self.channels, self.image_size = c.channels, c.image_size
        self.num_classes = c.num_classes
        self.takes_condition = c.conditional and not c.semi_supervised
        self.leak = c.leak
        self.first = nn.Conv2d(c.channels, widths[0], 4, 2, 1)
        extra = c.num_classes if self.takes_condition else 0
        downs: list[nn.Module] = []
        norms: list[nn.Module] = []
        for i in range(n - 1):
            downs.append(nn.Conv2d(widths[i] + (extra if i == 0 else 0), widths[i + 1], 4, 2, 1, bias=False))
            norms.append(nn.BatchNorm2d(widths[i + 1]))
        self.downs = nn.ModuleList(downs)
        self.norms = nn.ModuleList(norms)
        last = widths[-1] + (extra if n == 1 else 0)
        self.num_features = last * base * base
        self.head = DiscriminatorHead(
            self.num_features, c.num_classes, head_mode(c.semi_supervised, c.conditional, projection=False),
            minibatch=(c.minibatch_kernels, c.minibatch_kernel_dim) if c.minibatch_discrimination else None,
        )

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        check_images(x, self.channels, self.image_size)
        check_labels(y, x.shape[0], self.num_classes, required=self.takes_condition)
        h = F.leaky_relu(self.first(x), self.leak)
        if self.takes_condition:
            cond = one_hot(y, self.num_classes, h.dtype)[:, :, None, None].expand(-1, -1, *h.shape[2:])
            h = torch.cat([h, cond], 1)
        for down, norm in zip(self.downs, self.norms, strict=True):
            h = F.leaky_relu(norm(down(h)), self.leak)
        return self.head(h.flatten(1), None)


@GAN_MODELS.register("cdcgan")
class CDCGAN(GANModel):
    """Conditional DCGAN (Gauthier 2015); see the module docstring."""

    config_class = CDCGANConfig
    config: CDCGANConfig

    def build(self) -> tuple[nn.Module, nn.Module]:
        return CDCGANGenerator(self.config), CDCGANDiscriminator(self.config)

    def init_weights(self, generator: torch.Generator) -> None:
        init_weights(self.G, generator, "normal", 0.02)
        init_weights(self.D, generator, "normal", 0.02)
