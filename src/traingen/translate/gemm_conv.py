"""Convolutions that run as one matrix product when they have few output positions.

The U-Net's inner levels hold its largest weights (``ngf·8`` channels in and out, 4×4 kernels) on the smallest
feature maps (4×4, 2×2, 1×1 at 64 px). There PyTorch's CPU convolution (oneDNN) spends most of a call reordering the
weight into its blocked layout, on every call, forward and backward: at batch 1 the transposed convolution from
``512×2×2`` to ``256×4×4`` took 9 ms forward and 5 ms backward for 8 M multiply-adds (pix2pix, ngf 32, 64 px,
one thread; bench/RESULTS.md). Written as ``unfold`` + matrix product (convolution) or matrix product + ``fold``
(transposed convolution), the same sums go through one BLAS call that reads the weight once.

:class:`Conv2d` and :class:`ConvTranspose2d` are ``nn.Conv2d`` / ``nn.ConvTranspose2d`` with the same parameters
and state-dict keys (reference checkpoints load unchanged); they take the matrix-product path when the product
``batch × positions`` (output positions of a convolution, input positions of a transposed one) is at most
:data:`GEMM_MAX_POSITIONS` and the layer is a plain one (no groups or dilation, zero padding), and PyTorch's
own convolution otherwise. The results are the same sums in another order: equal to float rounding
(``tests/translate/test_gemm_conv.py`` compares outputs and gradients with PyTorch's layers).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

GEMM_MAX_POSITIONS = 32
"""At or below this many ``batch × positions`` a layer runs as one matrix product. Chosen from interleaved A/B
runs of whole pix2pix steps (bench/RESULTS.md, session 15): at batch 1 routing maps of up to 16-64 positions
helped, at batch 8 only the 1×1 and 2×2 maps did (4×4 maps at batch 8 were slower than oneDNN)."""


def _plain(layer: nn.Module) -> bool:
    return layer.groups == 1 and all(d == 1 for d in layer.dilation) and layer.padding_mode == "zeros" \
        and not isinstance(layer.padding, str)


class Conv2d(nn.Conv2d):
    """``nn.Conv2d`` that runs as ``weight @ unfold(x)`` when ``batch × output positions`` is small (module
    docstring)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or not _plain(self):
            return super().forward(x)
        n, _, h, w = x.shape
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        ho, wo = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
        if n * ho * wo > GEMM_MAX_POSITIONS or ho < 1 or wo < 1:
            return super().forward(x)
        cols = F.unfold(x, (kh, kw), padding=(ph, pw), stride=(sh, sw))  # N × (C·kh·kw) × (ho·wo)
        y = torch.matmul(self.weight.reshape(self.out_channels, -1), cols).reshape(n, self.out_channels, ho, wo)
        return y if self.bias is None else y + self.bias.view(1, -1, 1, 1)


class ConvTranspose2d(nn.ConvTranspose2d):
    """``nn.ConvTranspose2d`` that runs as ``fold(weightᵀ @ x)`` when ``batch × input positions`` is small
    (module docstring)."""

    def forward(self, x: torch.Tensor, output_size: list[int] | None = None) -> torch.Tensor:
        if x.dim() != 4 or output_size is not None or not _plain(self):
            return super().forward(x, output_size)
        n, c, h, w = x.shape
        if n * h * w > GEMM_MAX_POSITIONS:
            return super().forward(x)
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        oph, opw = self.output_padding
        ho, wo = (h - 1) * sh - 2 * ph + kh + oph, (w - 1) * sw - 2 * pw + kw + opw
        cols = torch.matmul(self.weight.reshape(c, -1).t(), x.reshape(n, c, h * w))  # N × (C_out·kh·kw) × (h·w)
        y = F.fold(cols, (ho, wo), (kh, kw), padding=(ph, pw), stride=(sh, sw))
        return y if self.bias is None else y + self.bias.view(1, -1, 1, 1)
