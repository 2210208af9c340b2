"""The networks of pix2pix and CycleGAN: U-Net and ResNet generators, the N-layer PatchGAN.

The module layouts follow the reference implementation (junyanz/pytorch-CycleGAN-and-pix2pix,
``models/networks.py``) so that its ``*_net_G.pth`` state dicts load without renaming: the U-Net is a
chain of nested skip blocks (``model.model.1.model.3...``), the ResNet generator and the PatchGAN are
flat ``nn.Sequential`` stacks (``model.N``). The code is our own; only the architecture and the key
names are shared.

* :class:`UNetGenerator`: 4×4 stride-2 convolutions with channels ``ngf·(1, 2, 4, 8, 8, …)``,
  LeakyReLU 0.2 on the way down, ReLU on the way up, Tanh out; skip connections concatenate each
  encoder output to the matching decoder input. ``depth`` downsamplings take an input of ``2**depth``
  pixels to a 1×1 bottleneck; inputs that are not a multiple of ``2**depth`` are refused.
* :class:`PatchDiscriminator`: 4×4 convolutions with strides 2 (``n_layers`` times) then 1, 1; the
  receptive field of one output unit is :func:`patchgan_receptive_field` (70 px for ``n_layers`` 3).
* :class:`ResNetGenerator`: reflection padding, a 7×7 convolution, two stride-2 stages, ``n_blocks``
  residual blocks, two transposed stride-2 stages, a 7×7 convolution and Tanh.

Example:
    >>> G = UNetGenerator(3, 3, depth=8, ngf=64)          # pix2pix at 256 px: 54,413,955 parameters
    >>> D = PatchDiscriminator(6, ndf=64, n_layers=3)     # 30×30 logits at 256 px
    >>> init_weights(G, generator=torch_generator(0, "init"))

References:
    Isola, Zhu, Zhou & Efros. "Image-to-Image Translation with Conditional Adversarial Networks",
    CVPR 2017 (U-Net generator, PatchGAN).
    Ronneberger, Fischer & Brox. "U-Net", MICCAI 2015.
    Zhu, Park, Isola & Efros. "Unpaired Image-to-Image Translation using Cycle-Consistent Adversarial
    Networks", ICCV 2017 (ResNet generator, after Johnson et al. 2016).
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import nn

from ..core.errors import ConfigError
from .gemm_conv import Conv2d, ConvTranspose2d

Norm = Literal["batch", "instance", "none"]


class InstanceNorm(nn.InstanceNorm2d):
    """``nn.InstanceNorm2d`` without affine parameters or running statistics (the reference's), computed as a
    GroupNorm with one group per channel: the same statistics (mean and biased variance of each sample's
    channel, ``eps`` inside the square root), so the same values to float rounding and no state-dict keys
    either way. PyTorch's CPU instance norm runs as a batch norm over an ``(1, N·C, H, W)`` view, whose
    forward pass took 3-4× as long as ``group_norm``'s on the CycleGAN shapes here (backward passes alike).
    With the out-of-place activations (:func:`_inplace`) a CycleGAN step takes a few per cent less on one thread
    and 4-14 % less on two (bench/RESULTS.md, session 15). The float64 step-by-step check against the
    reference (tests/translate/test_reference_steps.py) holds to 1e-6."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.affine or self.track_running_stats or x.dim() != 4:
            return super().forward(x)
        return nn.functional.group_norm(x, x.shape[1], eps=self.eps)


def norm_layer(kind: Norm, channels: int) -> nn.Module:
    """The normalisation of the reference: BatchNorm (affine, running statistics) or InstanceNorm
    without affine parameters or running statistics (:class:`InstanceNorm`); ``none`` is the identity."""
    if kind == "batch":
        return nn.BatchNorm2d(channels, affine=True, track_running_stats=True)
    if kind == "instance":
        return InstanceNorm(channels, affine=False, track_running_stats=False)
    if kind == "none":
        return nn.Identity()
    raise ConfigError(f"expected batch, instance or none, got {kind!r}", field="norm")


def _conv_bias(kind: Norm) -> bool:
    # BatchNorm's shift makes a conv bias redundant; InstanceNorm without affine does not.
    return kind != "batch"


def _inplace(kind: Norm) -> bool:
    """Whether the activation after a ``kind`` normalisation may work in place. Not after InstanceNorm:
    ``F.instance_norm`` returns a view of a batch-norm output, and an in-place op on a view makes autograd
    rebuild the base in the backward pass (``CopySlices``: a zero fill and a copy per activation). Out of
    place the values and gradients are the same to the byte; a CycleGAN step at 64 px, batch 4 took 6-11 %
    less time with ``F.instance_norm`` (two threads). (:class:`InstanceNorm`'s ``group_norm`` returns no view, but the
    activation stays out of place for anyone swapping the module back.) Only where the activation's input
    is not used again: the reference's U-Net relies on its in-place LeakyReLU for its skip connections, so
    it keeps it."""
    return kind != "instance"


# ----------------------------------------------------------------------------------------------- U-Net


class UNetBlock(nn.Module):
    """One level of the U-Net: down, the inner levels, up, and the skip concatenation.

    Args:
        outer: channels entering (and, for inner levels, leaving) this level.
        inner: channels after this level's down convolution.
        submodule: the next inner level, or None at the bottleneck.
        in_channels: the image channels at the outermost level (else ``outer``).
        out_channels: the output channels at the outermost level.
        outermost, innermost: the position of the level.
        norm: normalisation kind.
        dropout: add Dropout(0.5) after this level's up path.
    """

    def __init__(self, outer: int, inner: int, submodule: nn.Module | None = None, *,
                 in_channels: int | None = None, out_channels: int | None = None, outermost: bool = False,
                 innermost: bool = False, norm: Norm = "batch", dropout: bool = False):
        super().__init__()
        self.outermost = outermost
        bias = _conv_bias(norm)
        cin = outer if in_channels is None else in_channels
        down = Conv2d(cin, inner, 4, stride=2, padding=1, bias=bias)
        if outermost:
            up = ConvTranspose2d(inner * 2, out_channels or outer, 4, stride=2, padding=1)
            layers = [down, submodule, nn.ReLU(True), up, nn.Tanh()]
        elif innermost:
            up = ConvTranspose2d(inner, outer, 4, stride=2, padding=1, bias=bias)
            layers = [nn.LeakyReLU(0.2, True), down, nn.ReLU(True), up, norm_layer(norm, outer)]
        else:
            up = ConvTranspose2d(inner * 2, outer, 4, stride=2, padding=1, bias=bias)
            layers = [nn.LeakyReLU(0.2, True), down, norm_layer(norm, inner), submodule,
                      nn.ReLU(True), up, norm_layer(norm, outer)]
            if dropout:
                layers.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], 1)


def unet_depth(size: int) -> int:
    """The number of downsamplings that take a ``size``-pixel side to 1×1 (``log2(size)``).

    Raises:
        ConfigError: ``size`` is not a power of two of at least 32 (the U-Net has at least 5 levels).
    """
    if size < 32 or size & (size - 1):
        raise ConfigError(f"the U-Net needs a power-of-two image size >= 32 to reach a 1x1 bottleneck, got "
                          f"{size}; resize or crop the data to 32, 64, 128, 256 or 512, or set depth",
                          field="image_size")
    return int(math.log2(size))


class UNetGenerator(nn.Module):
    """The pix2pix U-Net (module docstring) with the reference's key layout.

    Args:
        in_channels, out_channels: image channels.
        depth: number of downsamplings (>= 5); the input side must be a multiple of ``2**depth``.
        ngf: filters of the outermost level.
        norm: ``batch`` (reference pix2pix) or ``instance``.
        dropout: Dropout(0.5) in the ``depth - 5`` ngf·8 decoder levels next to the bottleneck (three at
            depth 8, as in the paper and the reference).

    Example:
        >>> UNetGenerator(3, 3, depth=6, ngf=16)(torch.zeros(1, 3, 64, 64)).shape
        torch.Size([1, 3, 64, 64])
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 3, *, depth: int = 8, ngf: int = 64,
                 norm: Norm = "batch", dropout: bool = True):
        super().__init__()
        if depth < 5:
            raise ConfigError(f"the U-Net needs depth >= 5 (channels ngf·1,2,4,8 then 8), got {depth}",
                              field="depth")
        self.depth = depth
        block = UNetBlock(ngf * 8, ngf * 8, innermost=True, norm=norm)
        for _ in range(depth - 5):
            block = UNetBlock(ngf * 8, ngf * 8, block, norm=norm, dropout=dropout)
        block = UNetBlock(ngf * 4, ngf * 8, block, norm=norm)
        block = UNetBlock(ngf * 2, ngf * 4, block, norm=norm)
        block = UNetBlock(ngf, ngf * 2, block, norm=norm)
        self.model = UNetBlock(out_channels, ngf, block, in_channels=in_channels, out_channels=out_channels,
                               outermost=True, norm=norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        m = 2 ** self.depth
        if h % m or w % m:
            raise ConfigError(f"U-Net of depth {self.depth} needs height and width multiples of {m}, got "
                              f"{h}x{w}; resize the data or choose depth = log2(size)", field="image_size")
        return self.model(x)


# ------------------------------------------------------------------------------------------- PatchGAN


class PatchDiscriminator(nn.Module):
    """The N-layer PatchGAN: one real/fake logit per overlapping patch.

    Args:
        in_channels: input channels (pix2pix: input + output channels).
        ndf: filters of the first layer (doubling up to ndf·8).
        n_layers: stride-2 layers; 3 gives the 70×70 PatchGAN.
        norm: ``batch`` (pix2pix) or ``instance`` (CycleGAN).

    Example:
        >>> PatchDiscriminator(6)(torch.zeros(1, 6, 256, 256)).shape
        torch.Size([1, 1, 30, 30])
    """

    def __init__(self, in_channels: int = 6, *, ndf: int = 64, n_layers: int = 3, norm: Norm = "batch"):
        super().__init__()
        if n_layers < 1:
            raise ConfigError(f"n_layers must be >= 1, got {n_layers}", field="n_layers")
        bias = _conv_bias(norm)
        layers: list[nn.Module] = [Conv2d(in_channels, ndf, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers + 1):
            prev, mult = mult, min(2 ** n, 8)
            stride = 2 if n < n_layers else 1
            layers += [Conv2d(ndf * prev, ndf * mult, 4, stride=stride, padding=1, bias=bias),
                       norm_layer(norm, ndf * mult), nn.LeakyReLU(0.2, _inplace(norm))]
        layers.append(Conv2d(ndf * mult, 1, 4, stride=1, padding=1))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def patchgan_receptive_field(n_layers: int) -> int:
    """Receptive field (pixels) of one PatchGAN output: 4×4 kernels, ``n_layers`` stride-2 layers
    (the first conv included), then two stride-1 layers. 1/2/3/4/5 -> 16/34/70/142/286."""
    strides = [2] * n_layers + [1, 1]
    r = 1
    for s in reversed(strides):
        r = r * s + (4 - s)
    return r


# ------------------------------------------------------------------------------------------- ResNet


class ResNetBlock(nn.Module):
    """``x + conv_block(x)``: two reflection-padded 3×3 convolutions with normalisation."""

    def __init__(self, dim: int, *, norm: Norm = "instance", dropout: bool = False):
        super().__init__()
        bias = _conv_bias(norm)
        layers: list[nn.Module] = [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=bias), norm_layer(norm, dim),
                                   nn.ReLU(_inplace(norm))]
        if dropout:
            layers.append(nn.Dropout(0.5))
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=bias), norm_layer(norm, dim)]
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class ResNetGenerator(nn.Module):
    """The CycleGAN generator (module docstring).

    Args:
        in_channels, out_channels: image channels.
        ngf: filters of the first convolution (ngf·4 in the residual blocks).
        n_blocks: residual blocks (6 for 128 px, 9 for 256 px in the paper).
        norm: ``instance`` (CycleGAN) or ``batch``.
        dropout: Dropout(0.5) inside each residual block (off in CycleGAN).

    Example:
        >>> ResNetGenerator(1, 1, ngf=8, n_blocks=2)(torch.zeros(1, 1, 28, 28)).shape
        torch.Size([1, 1, 28, 28])
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 3, *, ngf: int = 64, n_blocks: int = 9,
                 norm: Norm = "instance", dropout: bool = False):
        super().__init__()
        if n_blocks < 0:
            raise ConfigError(f"n_blocks must be >= 0, got {n_blocks}", field="n_blocks")
        bias = _conv_bias(norm)
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(in_channels, ngf, 7, bias=bias),
                                   norm_layer(norm, ngf), nn.ReLU(_inplace(norm))]
        for i in range(2):
            c = ngf * 2 ** i
            layers += [nn.Conv2d(c, c * 2, 3, stride=2, padding=1, bias=bias), norm_layer(norm, c * 2),
                       nn.ReLU(_inplace(norm))]
        layers += [ResNetBlock(ngf * 4, norm=norm, dropout=dropout) for _ in range(n_blocks)]
        for i in range(2):
            c = ngf * 2 ** (2 - i)
            layers += [nn.ConvTranspose2d(c, c // 2, 3, stride=2, padding=1, output_padding=1, bias=bias),
                       norm_layer(norm, c // 2), nn.ReLU(_inplace(norm))]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, out_channels, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        if h % 4 or w % 4:
            raise ConfigError(f"the ResNet generator needs height and width multiples of 4 (two stride-2 "
                              f"stages), got {h}x{w}", field="image_size")
        return self.model(x)


# ------------------------------------------------------------------------------------------- init


@torch.no_grad()
def init_weights(net: nn.Module, *, generator: torch.Generator, gain: float = 0.02) -> nn.Module:
    """The reference's ``normal`` init: conv weights ~ N(0, gain), biases 0, BatchNorm weights
    ~ N(1, gain) and biases 0. Modules are visited in ``net.modules()`` order, so the draw is a
    function of the generator's seed alone.

    Returns:
        ``net`` (initialised in place).
    """
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            m.weight.normal_(0.0, gain, generator=generator)
            if m.bias is not None:
                m.bias.zero_()
        elif isinstance(m, nn.BatchNorm2d) and m.affine:
            m.weight.normal_(1.0, gain, generator=generator)
            m.bias.zero_()
    return net


def count_parameters(net: nn.Module) -> int:
    """Trainable parameter count."""
    return sum(p.numel() for p in net.parameters() if p.requires_grad)
