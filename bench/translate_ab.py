"""Our own pix2pix / CycleGAN step with PyTorch's layers swapped back in ("before") against the current layers.

    OMP_NUM_THREADS=1 python bench/translate_ab.py cyclegan [--rounds 5 --steps 2]
    OMP_NUM_THREADS=1 python bench/translate_ab.py pix2pix [--rounds 7 --steps 4]

``cyclegan``: ``nn.InstanceNorm2d`` and in-place activations (session 14's layers) against
:class:`traingen.translate.networks.InstanceNorm` (group norm) with out-of-place activations.
``pix2pix``: ``nn.Conv2d`` / ``nn.ConvTranspose2d`` forward passes against the matrix-product path of
:mod:`traingen.translate.gemm_conv`. Same weights and inputs, the two models interleaved (order alternating per
round), median ms per step; prints markdown rows with the load average.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import types

import torch
from torch import nn

from translate import (  # bench/translate.py: our models as its bench builds them
    _time,
    ours_cyclegan,
    ours_pix2pix,
)

CYCLEGAN = [(6, 16, 64, 1), (6, 16, 64, 4), (6, 16, 128, 4), (9, 32, 64, 4)]   # blocks, ngf, px, batch
PIX2PIX = [(6, 16, 1), (6, 16, 8), (6, 32, 1), (6, 64, 1), (6, 64, 8), (7, 16, 4)]  # U-Net depth, ngf, batch


def _cyclegan_before(m):
    """Session 14's layers: ``nn.InstanceNorm2d`` and in-place activations."""
    from traingen.translate.networks import InstanceNorm

    for net in m.nets.values():
        for mod in list(net.modules()):
            for name, child in list(mod.named_children()):
                if isinstance(child, InstanceNorm):
                    setattr(mod, name, nn.InstanceNorm2d(child.num_features))
                elif isinstance(child, (nn.ReLU, nn.LeakyReLU)):
                    child.inplace = True
    return m


def _pix2pix_before(m):
    """PyTorch's own convolution forward passes instead of the matrix-product path."""
    from traingen.translate.gemm_conv import Conv2d, ConvTranspose2d

    for net in m.nets.values():
        for mod in net.modules():
            if isinstance(mod, ConvTranspose2d):
                mod.forward = types.MethodType(nn.ConvTranspose2d.forward, mod)
            elif isinstance(mod, Conv2d):
                mod.forward = types.MethodType(nn.Conv2d.forward, mod)
    return m


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", choices=["cyclegan", "pix2pix"])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=2)
    args = ap.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print("| configuration | before ms/step | after ms/step | before/after | load 1m |\n| --- | ---: | ---: | ---: | ---: |")
    for conf in (CYCLEGAN if args.model == "cyclegan" else PIX2PIX):
        if args.model == "cyclegan":
            blocks, ngf, size, batch = conf
            label = f"CycleGAN {blocks} blocks, ngf {ngf}, {size} px, batch {batch}"
            models = {"before": _cyclegan_before(ours_cyclegan(blocks, ngf, size)),
                      "after": ours_cyclegan(blocks, ngf, size)}
        else:
            depth, ngf, batch = conf
            size = 2 ** depth
            label = f"pix2pix U-Net {size} px, ngf {ngf}, batch {batch}"
            models = {"before": _pix2pix_before(ours_pix2pix(depth, ngf)), "after": ours_pix2pix(depth, ngf)}
        g = torch.Generator().manual_seed(0)
        batch_ = {"A": torch.rand(batch, 3, size, size, generator=g) * 2 - 1,
                  "B": torch.rand(batch, 3, size, size, generator=g) * 2 - 1}
        times: dict[str, list[float]] = {k: [] for k in models}
        for r in range(args.rounds):
            for k in (("before", "after") if r % 2 == 0 else ("after", "before")):
                times[k].append(_time(lambda m=models[k], b=batch_: m.train_step(b, step=0, seed=0), args.steps))
        med = {k: statistics.median(v) for k, v in times.items()}
        print(f"| {label} | {med['before']:.1f} | {med['after']:.1f} | {med['before'] / med['after']:.2f} | "
              f"{os.getloadavg()[0]:.1f} |", flush=True)


if __name__ == "__main__":
    main()
