"""BigGAN (Brock et al. 2018): SAGAN scaled up, with a shared class embedding, a hierarchical
latent, orthogonal regularisation and the truncation trick, here with a channel multiplier small
enough to train on a CPU.

Generator: the latent ``z`` is split into ``k + 1`` chunks (``k`` up-blocks). The first chunk goes
through an SN linear map to the ``b x b`` maps; chunk ``i + 1`` is concatenated with the *shared*
class embedding ``E(y)`` and the result conditions both batch norms of block ``i`` (gain and bias are
SN linear maps of it). Residual up-blocks, self-attention at ``attention_res``, then
``BN, ReLU, SN conv 3x3, tanh``. With ``hierarchical: false`` all of ``z`` feeds the linear map and
the blocks see only ``E(y)``.

Discriminator: SAGAN's residual projection discriminator (:class:`traingen.gan.sagan.ResNetDiscriminator`).

Training: hinge loss, Adam(G 1e-4, D 4e-4, betas (0, 0.999)), orthogonal initialisation, and the
orthogonal penalty ``beta * sum_W ||W W^T * (1 - I)||_F^2`` over G's weights (W viewed as
``out x rest``, the shared embedding excluded), ``beta = 1e-4``, added to G's loss. Sampling with
``truncation=t`` redraws every ``|z_i| > t`` (:func:`traingen.gan.truncated_normal`). The exponential
moving average of G's weights is kept by the trainer (:mod:`traingen.gan.ema`).

Example:
    >>> model = BigGAN({"image_size": 28, "ch": 8, "z_dim": 60})
    >>> g = torch.Generator().manual_seed(0)
    >>> z = model.sample_z(8, generator=g, truncation=0.5)          # all |z| <= 0.5
    >>> x = model.G(z, model.sample_labels(8, generator=g))

References:
    Brock, Donahue, Simonyan. "Large Scale GAN Training for High Fidelity Natural Image Synthesis",
    ICLR 2019, arXiv:1809.11096 (sections 3, 3.1, appendix B). Reference code:
    ajbrock/BigGAN-PyTorch (orthogonal regularisation as a direct gradient term).
    Saxe, McClelland, Ganguli. "Exact solutions to the nonlinear dynamics of learning in deep linear
    neural networks", ICLR 2014 (orthogonal initialisation).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..core.errors import ConfigError
from .base import GAN_MODELS, GANModel, Penalties, _unwrap, resolution_plan, resolutions
from .layers import (
    GeneratorBase,
    ResBlockUp,
    SelfAttention,
    batch_norm,
    channel_schedule,
    init_weights,
    raw_weight,
    spectral_norm,
)
from .sagan import ResNetDiscriminator, SAGANConfig, attention_resolution


def orthogonal_penalty(weight: torch.Tensor) -> torch.Tensor:
    """``||W W^T * (1 - I)||_F^2`` with ``W`` viewed as ``out x rest``: zero iff the filters are
    pairwise orthogonal (their norms are left free, unlike full orthogonal regularisation).

    Args:
        weight: a weight of any shape with at least 2 dimensions.

    Returns:
        A 0-d tensor.
    """
    if weight.dim() < 2:
        raise ValueError(f"orthogonal_penalty needs a weight with >= 2 dims, got shape {tuple(weight.shape)}")
    w = weight.flatten(1)
    gram = w @ w.t()
    off = gram - torch.diag_embed(torch.diagonal(gram))
    return (off * off).sum()


def orthogonal_regularization(module: nn.Module) -> torch.Tensor:
    """Sum of :func:`orthogonal_penalty` over the raw weights of every conv and linear layer of
    ``module`` (embeddings, norms and biases are not penalised)."""
    total = None
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            term = orthogonal_penalty(raw_weight(m))
            total = term if total is None else total + term
    if total is None:
        return torch.zeros(())
    return total


def split_sizes(total: int, parts: int) -> list[int]:
    """``total`` split into ``parts`` near-equal sizes, larger ones first (120, 4 -> [30, 30, 30, 30])."""
    q, r = divmod(total, parts)
    return [q + (1 if i < r else 0) for i in range(parts)]


@dataclass
class BigGANConfig(SAGANConfig):
    """BigGAN settings (plus :class:`SAGANConfig`'s ``ch`` and ``attention_res``, and every
    :class:`GANConfig` field).

    Args:
        ch: the channel multiplier (64 at 128 px in the paper; 8-32 trains on a CPU).
        shared_dim: size of the shared class embedding.
        hierarchical: split ``z`` across the blocks (else all of ``z`` feeds the first layer).
        orthogonal_reg: ``beta`` of the orthogonal penalty on G (0 = off).
    """

    z_dim: int = 120
    lr_g: float = 1e-4
    lr_d: float = 4e-4
    beta1: float = 0.0
    beta2: float = 0.999
    shared_dim: int = 32
    hierarchical: bool = True
    orthogonal_reg: float = 1e-4

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.shared_dim < 1:
            raise ConfigError(f"must be >= 1, got {self.shared_dim}", field="shared_dim")
        if self.cbn_latent:
            raise ConfigError("is a SAGAN switch; BigGAN feeds z to its conditional BN through the "
                              "hierarchical latent (hierarchical: true)", field="cbn_latent")
        if self.orthogonal_reg < 0:
            raise ConfigError(f"must be >= 0 (0 = off), got {self.orthogonal_reg}", field="orthogonal_reg")
        _, n = resolution_plan(self.image_size)
        if self.hierarchical and self.z_dim < n + 1:
            raise ConfigError(f"the hierarchical latent needs z_dim >= {n + 1} (one chunk per block plus "
                              f"one for the first layer), got {self.z_dim}", field="z_dim")


class BigGANGenerator(GeneratorBase):
    """``G(z, y)`` of BigGAN: hierarchical latent, shared embedding, conditional BN from both."""

    def __init__(self, c: BigGANConfig):
        super().__init__(c.z_dim, c.num_classes)
        base, n = resolution_plan(c.image_size)
        widths = channel_schedule(c.ch, n)
        sides = resolutions(c.image_size)
        att = attention_resolution(c.attention_res, c.image_size)
        self.base = base
        self.chunks = split_sizes(c.z_dim, n + 1) if c.hierarchical else [c.z_dim] + [0] * n
        emb = c.shared_dim if c.conditional else 0
        self.shared = nn.Embedding(c.num_classes, c.shared_dim) if c.conditional else None
        self.fc = spectral_norm(nn.Linear(self.chunks[0], widths[0] * base * base))
        self.blocks = nn.ModuleList(
            ResBlockUp(widths[i], widths[i + 1], self.chunks[i + 1] + emb, sn=True, cbn_sn=True,
                       virtual=c.virtual_batch_norm)
            for i in range(n)
        )
        self.attention_at = sides.index(att) - 1 if att else None
        self.attention = SelfAttention(widths[sides.index(att)]) if att else None
        self.out_bn = batch_norm(widths[-1], virtual=c.virtual_batch_norm)
        self.to_image = spectral_norm(nn.Conv2d(widths[-1], c.channels, 3, padding=1))

    def generate(self, z: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        parts = list(torch.split(z, self.chunks, dim=1))
        e = self.shared(y) if self.shared is not None else None
        h = self.fc(parts[0]).reshape(z.shape[0], -1, self.base, self.base)
        if self.attention_at == -1:
            h = self.attention(h)
        for i, block in enumerate(self.blocks):
            conds = [t for t in (parts[i + 1], e) if t is not None and t.shape[1] > 0]
            h = block(h, torch.cat(conds, 1) if conds else None)
            if self.attention_at == i:
                h = self.attention(h)
        return torch.tanh(self.to_image(F.relu(self.out_bn(h))))


@GAN_MODELS.register("biggan")
class BigGAN(GANModel):
    """BigGAN (Brock et al. 2018); see the module docstring."""

    config_class = BigGANConfig
    config: BigGANConfig

    def build(self) -> tuple[nn.Module, nn.Module]:
        return BigGANGenerator(self.config), ResNetDiscriminator(self.config)

    def init_weights(self, generator: torch.Generator) -> None:
        init_weights(self.G, generator, "orthogonal")
        init_weights(self.D, generator, "orthogonal")

    def regularizers(self) -> Penalties:
        """Historical averaging (if on) plus ``orthogonal_reg * orthogonal_regularization(G)``."""
        pen = super().regularizers()
        if self.config.orthogonal_reg > 0:
            pen.g["orthogonal"] = self.config.orthogonal_reg * orthogonal_regularization(_unwrap(self.G))
        return pen


__all__ = ["BigGAN", "BigGANConfig", "BigGANGenerator", "orthogonal_penalty", "orthogonal_regularization",
           "split_sizes"]
