"""The MNIST networks of Improved Techniques for Training GANs (Salimans et al. 2016, section 5):
fully connected G and D, D with weight normalisation and Gaussian noise layers.

This is the model the paper's semi-supervised MNIST result comes from (100 labels). Its
discriminator has no batch normalisation: with BN, a batch of only generated images is told apart
from a batch of only real ones by its statistics, and the evaluation-mode classifier then sees
running statistics that mix real and generated data, both of which hurt D as a classifier.

Generator: ``z -> (linear, BN, softplus) x len(g_hidden) -> weight-normalised linear -> tanh``
(the paper's sigmoid, rescaled to the [-1, 1] image range). With ``semi_supervised`` G ignores the
class, as in the paper; otherwise the one-hot class joins ``z`` (a conditional MLP GAN).

Discriminator: the image is mapped back to [0, 1] (the paper's input range) and flattened, then
``Gaussian noise (input_noise)`` and per hidden layer ``weight-normalised linear, ReLU, Gaussian noise
(hidden_noise)``; the last hidden activations are the features (feature matching reads them) and
the head (:class:`~traingen.gan.layers.DiscriminatorHead`) gives K+1 logits (semi-supervised), or
one logit (unconditional, or conditional with a projection term).

Four details of the reference code are switches, off by default (see :class:`ImprovedGANMLPConfig`):
data-dependent initialisation of D's weight-normalised layers (``data_init``, through
:meth:`ImprovedGANMLP.data_init`, which the trainer calls once before the first step), fixed hidden
gains (``train_hidden_gain: false``), the "generated" logit fixed at 0 (``fake_logit: zero``) and a
uniform latent (``latent: uniform``).

The noise layers are active in training mode only and draw from torch's global generator, which the
trainer seeds from the run seed (``(seed, "gan", "torch")``) and stores in every checkpoint, so runs
stay reproducible and resume exactly.

Example:
    >>> model = ImprovedGANMLP({"semi_supervised": True, "feature_matching": True})
    >>> logits = model.D(x, None)["logits"]          # N x 11: ten digits and "generated"

References:
    Salimans, Goodfellow, Zaremba, Cheung, Radford, Chen. "Improved Techniques for Training GANs",
    NeurIPS 2016, arXiv:1606.03498, section 5 and the MNIST model of openai/improved-gan
    (``mnist_svhn_cifar10/train_mnist_feature_matching.py``).
    Salimans, Kingma. "Weight Normalization: A Simple Reparameterization to Accelerate Training of
    Deep Neural Networks", NeurIPS 2016, arXiv:1602.07868.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from ..core.errors import ConfigError
from .base import GAN_MODELS, GANConfig, GANModel
from .layers import DiscriminatorHead, GeneratorBase, check_images, check_labels, head_mode, one_hot


def weight_normalised(v: torch.Tensor, g: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """``g_i * v_i / ||v_i||`` for every row ``i`` of ``v`` (out x in): each unit's weight has norm ``g_i``."""
    return v * (g / v.norm(dim=1).clamp_min(eps))[:, None]


class WNLinear(nn.Module):
    """A linear layer with weight normalisation (Salimans & Kingma): ``y = (g * v / ||v||) x + b``.

    Args:
        in_features, out_features: sizes.
        bias: learn ``b``.
    """

    def __init__(self, in_features: int, out_features: int, *, bias: bool = True):
        super().__init__()
        self.v = nn.Parameter(torch.empty(out_features, in_features))
        self.g = nn.Parameter(torch.ones(out_features))
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None

    @property
    def weight(self) -> torch.Tensor:
        return weight_normalised(self.v, self.g)

    def reset_parameters(self, generator: torch.Generator, std: float = 0.05) -> None:
        """``v ~ N(0, std^2)`` (the paper's initial scale), ``g = 1``, ``b = 0``."""
        with torch.no_grad():
            self.v.normal_(0.0, std, generator=generator)
            self.g.fill_(1.0)
            if self.bias is not None:
                self.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight, self.bias)


class GaussianNoise(nn.Module):
    """Adds ``N(0, sigma^2)`` noise in training mode; the identity in evaluation mode."""

    def __init__(self, sigma: float):
        super().__init__()
        self.sigma = float(sigma)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.sigma == 0.0:
            return x
        return x + self.sigma * torch.randn_like(x)


@dataclass
class ImprovedGANMLPConfig(GANConfig):
    """Settings of the Improved-GAN MNIST networks (plus every :class:`GANConfig` field).

    Args:
        g_hidden: widths of G's hidden layers (paper: 500, 500).
        d_hidden: widths of D's hidden layers (paper: 1000, 500, 250, 250, 250).
        input_noise: standard deviation of the Gaussian noise on D's input (paper: 0.3).
        hidden_noise: standard deviation of the noise after each hidden layer of D (paper: 0.5).
        data_init: data-dependent initialisation of D's weight-normalised layers (Salimans & Kingma,
            section 3; the reference code does it on a batch of training images): on the batch given to
            :meth:`ImprovedGANMLP.data_init`, each unit's gain and bias are set so that its
            pre-activation has mean 0 and standard deviation 1. The trainer passes the labelled images.
        train_hidden_gain: learn the gains ``g`` of D's hidden layers. The reference code keeps them
            fixed after the data-dependent initialisation (only the output layer's gain is learned), so
            D cannot scale its activations up to drown the Gaussian noise layers: ``false``.
        fake_logit: ``learned``: D's head is a linear map to K+1 logits; ``zero``: the paper's
            parametrisation, a weight-normalised linear map to K logits and the "generated" logit fixed
            at 0 (``D(x) = Z(x) / (Z(x) + 1)``). Needs ``semi_supervised``.
        latent: ``normal`` (N(0, 1)) or ``uniform`` (U[0, 1), the reference code's noise) ``z``.
        d_init_std: standard deviation of the directions ``v`` of D's weight-normalised layers at
            initialisation (the reference code: 0.1); with weight normalisation it sets how fast Adam turns
            them (the step is relative to ``|v|``).
    """

    z_dim: int = 100
    lr_g: float = 0.003
    lr_d: float = 0.003
    beta1: float = 0.5
    g_hidden: list[int] = field(default_factory=lambda: [500, 500])
    d_hidden: list[int] = field(default_factory=lambda: [1000, 500, 250, 250, 250])
    input_noise: float = 0.3
    hidden_noise: float = 0.5
    data_init: bool = False
    train_hidden_gain: bool = True
    fake_logit: Literal["learned", "zero"] = "learned"
    latent: Literal["normal", "uniform"] = "normal"
    d_init_std: float = 0.05

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("g_hidden", "d_hidden"):
            widths = getattr(self, name)
            if not widths or any(int(w) < 1 for w in widths):
                raise ConfigError(f"must be a non-empty list of widths >= 1, got {widths}", field=name)
        for name in ("input_noise", "hidden_noise", "d_init_std"):
            if getattr(self, name) < 0 or (name == "d_init_std" and self.d_init_std == 0):
                raise ConfigError(f"must be {'> 0' if name == 'd_init_std' else '>= 0'}, got "
                                  f"{getattr(self, name)}", field=name)
        if self.virtual_batch_norm:
            raise ConfigError("improved-gan-mlp has no virtual batch norm variant (its G uses batch norm)",
                              field="virtual_batch_norm")
        if self.fake_logit not in ("learned", "zero"):
            raise ConfigError(f"must be 'learned' or 'zero', got {self.fake_logit!r}", field="fake_logit")
        if self.fake_logit == "zero" and not self.semi_supervised:
            raise ConfigError("fake_logit: zero is the (K+1)-class head; it needs semi_supervised: true",
                              field="fake_logit")
        if self.fake_logit == "zero" and self.minibatch_discrimination:
            raise ConfigError("fake_logit: zero has no minibatch discrimination variant", field="fake_logit")
        if self.latent not in ("normal", "uniform"):
            raise ConfigError(f"must be 'normal' or 'uniform', got {self.latent!r}", field="latent")


class MLPGenerator(GeneratorBase):
    """``G(z, y)``: fully connected layers with BN and softplus, a weight-normalised output layer."""

    def __init__(self, c: ImprovedGANMLPConfig):
        super().__init__(c.z_dim, c.num_classes)
        self.uses_class = c.conditional and not c.semi_supervised
        self.shape = (c.channels, c.image_size, c.image_size)
        width = c.z_dim + (c.num_classes if self.uses_class else 0)
        layers: list[nn.Module] = []
        for w in c.g_hidden:
            layers += [nn.Linear(width, w, bias=False), nn.BatchNorm1d(w), nn.Softplus()]
            width = w
        self.hidden = nn.Sequential(*layers)
        self.out = WNLinear(width, c.channels * c.image_size * c.image_size)

    def generate(self, z: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        h = torch.cat([z, one_hot(y, self.num_classes, z.dtype)], 1) if self.uses_class else z
        # the paper's sigmoid output, in [-1, 1]: 2 * sigmoid(a) - 1 = tanh(a / 2)
        return torch.tanh(0.5 * self.out(self.hidden(h))).reshape(z.shape[0], *self.shape)


class ZeroFakeLogitHead(nn.Module):
    """The paper's (K+1)-class head: a weight-normalised linear map to K logits (gain learned) and a
    constant 0 as the "generated" logit; returns ``{"logits": N x (K+1), "features"}``."""

    def __init__(self, in_features: int, num_classes: int):
        super().__init__()
        self.linear = WNLinear(in_features, num_classes)

    def forward(self, features: torch.Tensor, y: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        logits = self.linear(features)
        return {"logits": torch.cat([logits, logits.new_zeros(logits.shape[0], 1)], 1), "features": features}


class MLPDiscriminator(nn.Module):
    """``D(x, y)``: Gaussian noise and weight-normalised ReLU layers; ``{"logits", "features"}``."""

    def __init__(self, c: ImprovedGANMLPConfig):
        super().__init__()
        self.channels, self.image_size, self.num_classes = c.channels, c.image_size, c.num_classes
        self.takes_condition = c.conditional and not c.semi_supervised
        layers: list[nn.Module] = [GaussianNoise(c.input_noise)]
        width = c.channels * c.image_size * c.image_size
        for w in c.d_hidden:
            layers += [WNLinear(width, w), nn.ReLU(), GaussianNoise(c.hidden_noise)]
            width = w
        self.hidden = nn.Sequential(*layers)
        for layer in self.hidden:
            if isinstance(layer, WNLinear):
                layer.g.requires_grad_(c.train_hidden_gain)
        self.num_features = width
        self.init_std = c.d_init_std
        if c.fake_logit == "zero":
            self.head: nn.Module = ZeroFakeLogitHead(width, c.num_classes)
        else:
            self.head = DiscriminatorHead(
                width, c.num_classes, head_mode(c.semi_supervised, c.conditional),
                minibatch=(c.minibatch_kernels, c.minibatch_kernel_dim) if c.minibatch_discrimination else None,
            )

    @torch.no_grad()
    def data_init(self, x: torch.Tensor, *, generator: torch.Generator) -> None:
        """Data-dependent initialisation (Salimans & Kingma, section 3) on the images ``x``.

        Runs the training-mode forward pass layer by layer (noise drawn from ``generator``) and sets each
        weight-normalised layer's gain ``g <- g / s`` and bias ``b <- -m / s``, where ``m`` and ``s`` are the
        mean and standard deviation over ``x`` of each unit's pre-activation ``w . h`` before the bias;
        the layer's output on ``x`` is then standardised. Includes the K-logit output layer of
        ``fake_logit: zero``; a plain linear head is left as it is.
        """
        check_images(x, self.channels, self.image_size)
        h = (0.5 * (x + 1.0)).flatten(1)
        layers = list(self.hidden) + ([self.head.linear] if isinstance(self.head, ZeroFakeLogitHead) else [])
        for layer in layers:
            if isinstance(layer, GaussianNoise):
                if layer.sigma:
                    h = h + layer.sigma * torch.randn(h.shape, generator=generator, dtype=h.dtype).to(h.device)
            elif isinstance(layer, WNLinear):
                pre = F.linear(h, layer.weight)
                m, s = pre.mean(0), pre.std(0, unbiased=False).clamp_min(1e-6)
                layer.g.div_(s)
                if layer.bias is not None:
                    layer.bias.copy_(-m / s)
                h = F.linear(h, layer.weight, layer.bias)
            else:
                h = layer(h)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        check_images(x, self.channels, self.image_size)
        check_labels(y, x.shape[0], self.num_classes, required=self.takes_condition)
        # features: the last hidden layer's activations before its noise (what the paper matches)
        h = (0.5 * (x + 1.0)).flatten(1)
        features = h
        for layer in self.hidden:
            h = layer(h)
            if isinstance(layer, nn.ReLU):
                features = h
        return self.head(h, y if self.takes_condition else None) | {"features": features}


@GAN_MODELS.register("improved-gan-mlp")
class ImprovedGANMLP(GANModel):
    """The Improved-GAN MNIST networks (Salimans et al. 2016); see the module docstring."""

    config_class = ImprovedGANMLPConfig
    config: ImprovedGANMLPConfig

    def build(self) -> tuple[nn.Module, nn.Module]:
        return MLPGenerator(self.config), MLPDiscriminator(self.config)

    def init_weights(self, generator: torch.Generator) -> None:
        init_mlp(self.G, generator)
        init_mlp(self.D, generator, wn_std=self.config.d_init_std)

    def data_init(self, images: torch.Tensor, *, generator: torch.Generator) -> None:
        """With ``data_init: true``: D's data-dependent initialisation on ``images`` (N x C x H x W in
        [-1, 1]); a no-op otherwise. The trainer calls it once, before the first step."""
        if self.config.data_init:
            D = self.D.module if hasattr(self.D, "module") else self.D
            D.data_init(images, generator=generator)

    def sample_z(self, n: int, *, generator: torch.Generator, truncation: float | None = None,
                 device: Any = None) -> torch.Tensor:
        """``latent: normal``: as every model; ``uniform``: U[0, 1) (no truncation)."""
        if self.config.latent == "normal":
            return super().sample_z(n, generator=generator, truncation=truncation, device=device)
        if truncation is not None:
            raise ConfigError("truncation needs a normal latent", field="truncation")
        z = torch.rand((n, self.config.z_dim), generator=generator, device=generator.device)
        return z if device is None else z.to(device)


@torch.no_grad()
def init_mlp(module: nn.Module, generator: torch.Generator, *, wn_std: float = 0.05) -> None:
    """Redraw every weight of ``module`` from ``generator``: weight-normalised layers ``v ~ N(0, wn_std^2)``,
    ``g = 1``; plain linear and embedding weights ``N(0, 0.05^2)``; biases 0; BN gain 1, bias 0;
    minibatch discrimination tensors redrawn."""
    from .techniques.minibatch_discrimination import MinibatchDiscrimination

    for m in module.modules():
        if isinstance(m, WNLinear):
            m.reset_parameters(generator, std=wn_std)
        elif isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, 0.0, 0.05, generator=generator)
            if getattr(m, "bias", None) is not None:
                m.bias.zero_()
        elif isinstance(m, nn.BatchNorm1d):
            m.weight.fill_(1.0)
            m.bias.zero_()
        elif isinstance(m, MinibatchDiscrimination):
            m.reset_parameters(generator)


__all__ = ["GaussianNoise", "ImprovedGANMLP", "ImprovedGANMLPConfig", "MLPDiscriminator", "MLPGenerator",
           "WNLinear", "ZeroFakeLogitHead", "init_mlp", "weight_normalised"]
