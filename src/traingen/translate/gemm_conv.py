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
own convolution otherwise (and on GPUs). The results are the same sums in another order: equal to float rounding
(``tests/translate/test_gemm_conv.py`` compares outputs and gradients with PyTorch's layers).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

GEMM_MAX_POSITIONS = 32
"""At or below this many ``batch × positions`` a layer runs as one matrix product. From per-layer timings of
forward + backward (``bench/gemm_conv.py``: 4×4 kernels, stride 2, 64-1024 channels in, batch 1/4/8, one thread;
bench/RESULTS.md, session 15): at ≤ 32 positions oneDNN took 0.82-7.3× the matrix product's time (109-110 of 112
layers faster as a product, in two runs); at 64 positions 0.63-2.6× (12-14 of 32 layers slower, mostly those with
under ~1 M weights)."""


# _rows: the product is laid out as ``F.linear`` on (positions × features) rows, not ``weight @ columns``.
# MKL's products with 2-8 columns were 3-50x slower than with the small dimension as rows (one thread: a
# 512 × 8192 weight times 4 columns 5.9 ms, its transpose times 4 columns 33 ms; as rows 2.1 and 3.3 ms), and the
# backward pass of ``F.linear`` keeps that layout. The rows are made contiguous: at batch 1 the reshape is a
# column-major view, and the weight gradient's product on it took 17 ms instead of 2.6.


def _plain(layer: nn.Module, x: torch.Tensor) -> bool:
    # CPU only: the weight reorder this avoids is oneDNN's; on a GPU cuDNN keeps its own choice.
    return (x.device.type == "cpu" and x.dim() == 4 and layer.groups == 1 and all(d == 1 for d in layer.dilation)
            and layer.padding_mode == "zeros" and not isinstance(layer.padding, str))


class Conv2d(nn.Conv2d):
    """``nn.Conv2d`` that runs as ``unfold(x)ᵀ`` times the flattened weight when ``batch × output positions``
    is small (module docstring)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not _plain(self, x):
            return super().forward(x)
        n, _, h, w = x.shape
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        ho, wo = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
        if n * ho * wo > GEMM_MAX_POSITIONS or ho < 1 or wo < 1:
            return super().forward(x)
        cols = F.unfold(x, (kh, kw), padding=(ph, pw), stride=(sh, sw))  # N × (C·kh·kw) × (ho·wo)
        rows = cols.transpose(1, 2).reshape(n * ho * wo, -1).contiguous()  # positions as rows (see _rows)
        y = F.linear(rows, self.weight.reshape(self.out_channels, -1), self.bias)
        y = y.reshape(n, ho * wo, self.out_channels).transpose(1, 2)
        return y.reshape(n, self.out_channels, ho, wo).contiguous()


class ConvTranspose2d(nn.ConvTranspose2d):
    """``nn.ConvTranspose2d`` that runs as ``fold`` of ``x``'s positions times the flattened weight when
    ``batch × input positions`` is small (module docstring)."""

    def forward(self, x: torch.Tensor, output_size: list[int] | None = None) -> torch.Tensor:
        if output_size is not None or not _plain(self, x):
            return super().forward(x, output_size)
        n, c, h, w = x.shape
        if n * h * w > GEMM_MAX_POSITIONS:
            return super().forward(x)
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        oph, opw = self.output_padding
        ho, wo = (h - 1) * sh - 2 * ph + kh + oph, (w - 1) * sw - 2 * pw + kw + opw
        rows = x.reshape(n, c, h * w).transpose(1, 2).reshape(n * h * w, c).contiguous()  # see _rows
        cols = F.linear(rows, self.weight.reshape(c, -1).t())                   # (N·h·w) × (C_out·kh·kw)
        cols = cols.reshape(n, h * w, -1).transpose(1, 2)
        y = F.fold(cols, (ho, wo), (kh, kw), padding=(ph, pw), stride=(sh, sw))
        return y if self.bias is None else y + self.bias.view(1, -1, 1, 1)
