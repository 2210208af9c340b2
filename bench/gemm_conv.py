"""Per-layer speed of the matrix-product convolutions (traingen.translate.gemm_conv) against PyTorch's own (oneDNN).

    OMP_NUM_THREADS=1 python bench/gemm_conv.py [--reps 20] [--max-positions 64]

The U-Net's down (4×4, stride 2) and up (transposed 4×4, stride 2) layers, 64-1024 channels in, batch 1/4/8, maps of
1×1 to 8×8 positions: microseconds for forward + backward (input, weight and bias gradients) of each, both ways, on
the same module and inputs, and the ratio (oneDNN / matrix product; above 1 means the product is faster). The
matrix-product path is forced here for every size, so the table shows where ``GEMM_MAX_POSITIONS`` should sit.
"""

from __future__ import annotations

import argparse
import functools
import os
import time

import torch
from torch import nn

from traingen.translate import gemm_conv
from traingen.translate.gemm_conv import Conv2d, ConvTranspose2d
from translate import _time  # bench/translate.py: ms per call after one warm-up call

CHANNELS = [(64, 128), (128, 128), (128, 256), (256, 128), (256, 256), (512, 256), (512, 512), (1024, 512)]
SHAPES = [(1, 1), (1, 2), (1, 4), (1, 8), (4, 1), (4, 2), (4, 4), (8, 1), (8, 2)]   # (batch, side of the small map)


def _step(forward, layer, x, params, grad):
    return torch.autograd.grad(forward(layer, x), params, grad)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--max-positions", type=int, default=64)
    args = ap.parse_args()
    gemm_conv.GEMM_MAX_POSITIONS = 10 ** 9
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load {os.getloadavg()[0]:.1f}")
    print("| layer | C in | C out | batch | positions | weights (M) | oneDNN µs | product µs | oneDNN / product |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for kind in ("conv", "transposed"):
        for cin, cout in CHANNELS:
            for n, side in SHAPES:
                if n * side * side > args.max_positions:
                    continue
                torch.manual_seed(0)
                if kind == "conv":   # a 2·side map down to side × side
                    layer, base = Conv2d(cin, cout, 4, stride=2, padding=1), nn.Conv2d.forward
                    x = torch.randn(n, cin, 2 * side, 2 * side, requires_grad=True)
                else:                # side × side up to 2·side
                    layer, base = ConvTranspose2d(cin, cout, 4, stride=2, padding=1), nn.ConvTranspose2d.forward
                    x = torch.randn(n, cin, side, side, requires_grad=True)
                grad = torch.randn_like(layer(x))
                params = (x, layer.weight, layer.bias)
                t_ref = 1000 * _time(functools.partial(_step, base, layer, x, params, grad), args.reps)
                t_ours = 1000 * _time(functools.partial(_step, type(layer).forward, layer, x, params, grad), args.reps)
                print(f"| {kind} | {cin} | {cout} | {n} | {n * side * side} | {layer.weight.numel() / 1e6:.2f} | "
                      f"{t_ref:.0f} | {t_ours:.0f} | {t_ref / t_ours:.2f} |", flush=True)


if __name__ == "__main__":
    main()
