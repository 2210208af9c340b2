"""Building blocks shared by the GAN models: spectral norm, self-attention, conditional batch norm,
residual up/down blocks, the discriminator head (plain, projection, (K+1)-class) and weight init.

Every random choice is drawn in :func:`init_weights` from an explicit ``torch.Generator``; the
constructors only allocate (whatever torch draws there is overwritten).

Example:
    >>> conv = spectral_norm(nn.Conv2d(8, 8, 3, padding=1))
    >>> att = SelfAttention(8)            # gamma = 0: the identity at initialisation
    >>> bn = ConditionalBatchNorm2d(8, cond_dim=10)
    >>> h = att(bn(conv(x), one_hot(y)))

References:
    Miyato, Kataoka, Koyama, Yoshida. "Spectral Normalization for Generative Adversarial Networks",
    ICLR 2018, arXiv:1802.05957 (spectral norm, residual D blocks).
    Miyato, Koyama. "cGANs with Projection Discriminator", ICLR 2018, arXiv:1802.05637.
    de Vries et al. "Modulating early visual processing by language", NeurIPS 2017 (conditional BN).
    Zhang, Goodfellow, Metaxas, Odena. "Self-Attention Generative Adversarial Networks", ICML 2019,
    arXiv:1805.08318.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

from ..core.errors import DataError
from .techniques.minibatch_discrimination import MinibatchDiscrimination
from .techniques.virtual_batch_norm import VirtualBatchNorm, vbn_forward

# --------------------------------------------------------------------------- spectral norm


def power_iteration(w: torch.Tensor, u: torch.Tensor, v: torch.Tensor, n: int,
                    eps: float = 1e-12) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` power iterations on the matrix ``w`` (out x in) from ``(u, v)``; returns the new ``(u, v)``."""
    for _ in range(n):
        v = F.normalize(w.t() @ u, dim=0, eps=eps)
        u = F.normalize(w @ v, dim=0, eps=eps)
    return u, v


class SpectralNorm(nn.Module):
    """Parametrization ``W -> W / sigma(W)``, ``sigma`` estimated by power iteration (Miyato et al.).

    ``W`` is viewed as ``out x (in * kh * kw)``. In training mode each forward runs
    ``n_power_iterations`` steps and stores ``u, v``; in evaluation mode the stored vectors are used.

    Args:
        weight: the weight being parametrized (for the shapes).
        n_power_iterations: steps per training forward (1 in SN-GAN, SAGAN and BigGAN).
        eps: for the normalisations.
    """

    def __init__(self, weight: torch.Tensor, n_power_iterations: int = 1, eps: float = 1e-12):
        super().__init__()
        self.n_power_iterations = n_power_iterations
        self.eps = eps
        out = weight.shape[0]
        self.register_buffer("u", F.normalize(torch.ones(out), dim=0))
        self.register_buffer("v", F.normalize(torch.ones(weight.numel() // out), dim=0))

    def sigma(self, weight: torch.Tensor) -> torch.Tensor:
        w = weight.flatten(1)
        if self.training:
            with torch.no_grad():
                u, v = power_iteration(w, self.u, self.v, self.n_power_iterations, self.eps)
                self.u.copy_(u)
                self.v.copy_(v)
        # clones: the buffers change in place on the next forward, the graph must keep these values
        return torch.dot(self.u.clone(), w @ self.v.clone())

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return weight / self.sigma(weight)

    @torch.no_grad()
    def reset(self, weight: torch.Tensor, generator: torch.Generator, warmup: int = 15) -> None:
        """Redraw ``u, v`` from ``generator`` and run ``warmup`` power iterations on ``weight``."""
        w = weight.flatten(1)
        u = F.normalize(torch.randn(self.u.shape, generator=generator).to(w), dim=0, eps=self.eps)
        v = F.normalize(torch.randn(self.v.shape, generator=generator).to(w), dim=0, eps=self.eps)
        u, v = power_iteration(w, u, v, warmup, self.eps)
        self.u.copy_(u)
        self.v.copy_(v)


def spectral_norm(module: nn.Module, *, n_power_iterations: int = 1, name: str = "weight") -> nn.Module:
    """Register :class:`SpectralNorm` on ``module.<name>``; returns the module.

    The raw weight is ``module.parametrizations.weight.original``; ``module.weight`` is the normalised one.
    """
    parametrize.register_parametrization(module, name, SpectralNorm(getattr(module, name), n_power_iterations))
    return module


def maybe_sn(module: nn.Module, enabled: bool) -> nn.Module:
    return spectral_norm(module) if enabled else module


def raw_weight(module: nn.Module) -> torch.Tensor:
    """The trainable weight tensor of ``module`` (the original under a parametrization)."""
    if parametrize.is_parametrized(module, "weight"):
        return module.parametrizations.weight.original
    return module.weight


# --------------------------------------------------------------------------- attention


class SelfAttention(nn.Module):
    """SAGAN's self-attention: ``y = x + gamma * o``, with ``gamma`` learned from 0.

    ``f = W_f x``, ``g = W_g x`` (C/8 channels), ``h = W_h x``; attention ``beta = softmax(f^T g)`` over
    all positions; ``o = W_v (h beta)``. All four are 1x1 convolutions, spectrally normalised when ``sn``.

    Args:
        channels: C.
        sn: spectral norm on the projections.
    """

    def __init__(self, channels: int, *, sn: bool = True):
        super().__init__()
        inner = max(1, channels // 8)
        self.f = maybe_sn(nn.Conv2d(channels, inner, 1, bias=False), sn)
        self.g = maybe_sn(nn.Conv2d(channels, inner, 1, bias=False), sn)
        self.h = maybe_sn(nn.Conv2d(channels, channels, 1, bias=False), sn)
        self.v = maybe_sn(nn.Conv2d(channels, channels, 1, bias=False), sn)
        self.gamma = nn.Parameter(torch.zeros(()))

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        """``N x HW x HW`` attention map: row ``j`` is where output position ``j`` looks."""
        f = self.f(x).flatten(2)  # N x C' x HW
        g = self.g(x).flatten(2)
        return torch.softmax(f.transpose(1, 2) @ g, dim=1).transpose(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, hh, ww = x.shape
        beta = self.attention(x)  # N x HW(out) x HW(in)
        h = self.h(x).flatten(2)  # N x C x HW
        o = (h @ beta.transpose(1, 2)).reshape(n, c, hh, ww)
        return x + self.gamma * self.v(o)


# --------------------------------------------------------------------------- normalisation


class ConditionalBatchNorm2d(nn.Module):
    """Batch norm whose gain and bias are linear functions of a condition vector.

    ``y = BN(x) * (1 + W_g c) + W_b c``; with ``cond_dim = 0`` it is an ordinary affine batch norm.
    ``c`` is a one-hot class (SAGAN: the linear maps are then per-class embeddings) or BigGAN's
    ``[z chunk, shared embedding]``. With ``virtual`` the normalisation is a VBN
    (:mod:`~traingen.gan.techniques.virtual_batch_norm`) instead.

    Args:
        num_features: C.
        cond_dim: size of ``c`` (0: unconditional).
        virtual: use virtual batch norm.
        sn: spectral norm on the gain and bias maps (BigGAN).
    """

    def __init__(self, num_features: int, cond_dim: int = 0, *, virtual: bool = False, sn: bool = False):
        super().__init__()
        self.cond_dim = cond_dim
        affine = cond_dim == 0
        self.norm = (VirtualBatchNorm(num_features, affine=affine) if virtual
                     else nn.BatchNorm2d(num_features, affine=affine))
        if cond_dim:
            self.gain = maybe_sn(nn.Linear(cond_dim, num_features, bias=False), sn)
            self.bias = maybe_sn(nn.Linear(cond_dim, num_features, bias=False), sn)

    def forward(self, x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        out = self.norm(x)
        if self.cond_dim:
            if c is None:
                raise ValueError("ConditionalBatchNorm2d with cond_dim > 0 needs a condition")
            out = out * (1.0 + self.gain(c))[:, :, None, None] + self.bias(c)[:, :, None, None]
        return out


def batch_norm(num_features: int, *, virtual: bool) -> nn.Module:
    """An affine BN, or a VBN when ``virtual``."""
    return VirtualBatchNorm(num_features) if virtual else nn.BatchNorm2d(num_features)


# --------------------------------------------------------------------------- residual blocks


class ResBlockUp(nn.Module):
    """Generator block: ``CBN-ReLU-up2-conv3-CBN-ReLU-conv3`` plus ``up2-conv1`` shortcut.

    Args:
        sn: spectral norm on the convolutions; ``cbn_sn``: on the conditional BN's gain/bias maps.
        virtual: virtual batch norm instead of batch norm.
    """

    def __init__(self, in_ch: int, out_ch: int, cond_dim: int, *, sn: bool, virtual: bool, cbn_sn: bool = False):
        super().__init__()
        self.bn1 = ConditionalBatchNorm2d(in_ch, cond_dim, virtual=virtual, sn=cbn_sn)
        self.conv1 = maybe_sn(nn.Conv2d(in_ch, out_ch, 3, padding=1), sn)
        self.bn2 = ConditionalBatchNorm2d(out_ch, cond_dim, virtual=virtual, sn=cbn_sn)
        self.conv2 = maybe_sn(nn.Conv2d(out_ch, out_ch, 3, padding=1), sn)
        self.skip = maybe_sn(nn.Conv2d(in_ch, out_ch, 1), sn)

    def forward(self, x: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        h = F.interpolate(F.relu(self.bn1(x, c)), scale_factor=2, mode="nearest")
        h = self.conv2(F.relu(self.bn2(self.conv1(h), c)))
        return h + self.skip(F.interpolate(x, scale_factor=2, mode="nearest"))


class ResBlockDown(nn.Module):
    """Discriminator block (SN-GAN): ``[ReLU]-conv3-ReLU-conv3-avgpool2`` plus a ``conv1-avgpool2`` shortcut.

    Args:
        preactivation: start with a ReLU (all blocks but the first, which sees the image).
        downsample: end with a 2x2 average pool.
    """

    def __init__(self, in_ch: int, out_ch: int, *, sn: bool, preactivation: bool = True, downsample: bool = True):
        super().__init__()
        self.preactivation = preactivation
        self.downsample = downsample
        self.conv1 = maybe_sn(nn.Conv2d(in_ch, out_ch, 3, padding=1), sn)
        self.conv2 = maybe_sn(nn.Conv2d(out_ch, out_ch, 3, padding=1), sn)
        self.skip = maybe_sn(nn.Conv2d(in_ch, out_ch, 1), sn) if (in_ch != out_ch or downsample) else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(x) if self.preactivation else x
        h = self.conv2(F.relu(self.conv1(h)))
        s = x
        if self.preactivation:
            if self.skip is not None:
                s = self.skip(s)
            if self.downsample:
                h, s = F.avg_pool2d(h, 2), F.avg_pool2d(s, 2)
        else:  # first block: pool before the 1x1 conv, as in SN-GAN's optimized block
            if self.downsample:
                h, s = F.avg_pool2d(h, 2), F.avg_pool2d(s, 2)
            if self.skip is not None:
                s = self.skip(s)
        return h + s


# --------------------------------------------------------------------------- discriminator head


class DiscriminatorHead(nn.Module):
    """From D's feature vector to its logits, for every combination of the config switches.

    * unconditional: ``psi(h)``, one logit;
    * projection (Miyato & Koyama): ``psi(h) + <embed(y), f>``;
    * semi-supervised: a linear map to K+1 logits (no condition: D classifies);

    where ``f`` are the features and ``h = [f, minibatch statistics]`` with minibatch
    discrimination, else ``h = f``.

    Args:
        in_features: F.
        num_classes: K (0: unconditional).
        mode: ``plain``, ``projection`` or ``semi-supervised``.
        minibatch: ``(kernels, kernel_dim)`` of minibatch discrimination, or ``None``.
        sn: spectral norm on the linear map and the class embedding.
    """

    def __init__(self, in_features: int, num_classes: int,
                 mode: Literal["plain", "projection", "semi-supervised"], *,
                 minibatch: tuple[int, int] | None = None, sn: bool = False):
        super().__init__()
        self.mode = mode
        self.mbd = MinibatchDiscrimination(in_features, *minibatch) if minibatch else None
        width = self.mbd.out_features if self.mbd else in_features
        outputs = num_classes + 1 if mode == "semi-supervised" else 1
        self.linear = maybe_sn(nn.Linear(width, outputs), sn)
        self.embed = None
        if mode == "projection" and num_classes > 0:
            self.embed = maybe_sn(nn.Embedding(num_classes, in_features), sn)

    def forward(self, features: torch.Tensor, y: torch.Tensor | None) -> dict[str, torch.Tensor]:
        h = self.mbd(features) if self.mbd is not None else features
        logits = self.linear(h)
        if self.mode != "semi-supervised":
            logits = logits.squeeze(1)
            if self.embed is not None:
                if y is None:
                    raise ValueError("a projection discriminator needs the labels y")
                logits = logits + projection_term(self.embed.weight, features, y)
        return {"logits": logits, "features": features}


def projection_term(embedding: torch.Tensor, features: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``<embedding[y_i], features_i>`` for each example: the class term of a projection D."""
    return (embedding[y] * features).sum(1)


def head_mode(semi_supervised: bool, conditional: bool, projection: bool = True) -> str:
    if semi_supervised:
        return "semi-supervised"
    return "projection" if (conditional and projection) else "plain"


# --------------------------------------------------------------------------- network bases


class GeneratorBase(nn.Module):
    """``forward(z, y)`` checks the inputs and runs :meth:`generate` (inside the VBN reference pass
    when the generator has VBN layers)."""

    def __init__(self, z_dim: int, num_classes: int):
        super().__init__()
        self.z_dim = z_dim
        self.num_classes = num_classes

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if z.dim() != 2 or z.shape[1] != self.z_dim:
            raise DataError(f"expected N x {self.z_dim} noise, got shape {tuple(z.shape)}", field="z")
        check_labels(y, z.shape[0], self.num_classes)
        return vbn_forward(self, self.generate, z, y)

    def generate(self, z: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        raise NotImplementedError


def check_labels(y: torch.Tensor | None, n: int, num_classes: int, *, required: bool = True) -> None:
    """Labels must be ``n`` long class indices when the model is conditional (and ``required``)."""
    if num_classes == 0 or y is None:
        if num_classes > 0 and required:
            raise DataError(f"a conditional model ({num_classes} classes) needs labels y", field="y")
        return
    if y.dim() != 1 or y.shape[0] != n or y.dtype not in (torch.int64, torch.int32):
        raise DataError(f"expected {n} integer labels, got {tuple(y.shape)} {y.dtype}", field="y")


def check_images(x: torch.Tensor, channels: int, size: int) -> None:
    if x.dim() != 4 or tuple(x.shape[1:]) != (channels, size, size):
        raise DataError(f"expected N x {channels} x {size} x {size} images, got shape {tuple(x.shape)}",
                        field="x")


# --------------------------------------------------------------------------- init


@torch.no_grad()
def init_weights(module: nn.Module, generator: torch.Generator,
                 scheme: Literal["normal", "orthogonal", "xavier"] = "normal", std: float = 0.02) -> None:
    """Redraw every weight of ``module`` from ``generator`` (deterministic, no global RNG).

    Conv, transposed-conv, linear and embedding weights follow ``scheme`` (``normal``: N(0, std^2), as
    in DCGAN; ``orthogonal``: BigGAN; ``xavier``: uniform Glorot, SN-GAN/SAGAN); their biases become 0;
    affine norm layers get gain 1, bias 0; spectral-norm vectors are redrawn and warmed up; minibatch
    discrimination tensors are redrawn; self-attention ``gamma`` is 0.
    """
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, nn.Embedding)):
            w = raw_weight(m)
            if scheme == "orthogonal":
                nn.init.orthogonal_(w, generator=generator)
            elif scheme == "xavier":
                nn.init.xavier_uniform_(w, generator=generator)
            else:
                nn.init.normal_(w, 0.0, std, generator=generator)
            if getattr(m, "bias", None) is not None:
                m.bias.zero_()
            if parametrize.is_parametrized(m, "weight"):
                for p in m.parametrizations.weight:
                    if isinstance(p, SpectralNorm):
                        p.reset(w, generator)
        elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d, VirtualBatchNorm)) and m.weight is not None:
            m.weight.fill_(1.0)
            m.bias.zero_()
        elif isinstance(m, MinibatchDiscrimination):
            m.reset_parameters(generator)
        elif isinstance(m, SelfAttention):
            m.gamma.zero_()


def one_hot(y: torch.Tensor | None, num_classes: int, dtype: torch.dtype = torch.float32) -> torch.Tensor | None:
    """Float one-hot rows of ``y`` (``None`` passes through)."""
    if y is None:
        return None
    return F.one_hot(y.long(), num_classes).to(dtype)


def channel_schedule(ch: int, n: int, cap: int = 8) -> list[int]:
    """Widths from the smallest resolution up: ``ch * min(2**(n - i), cap)`` for ``i = 0..n``."""
    return [ch * min(2 ** (n - i), cap) for i in range(n + 1)]
