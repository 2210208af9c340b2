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

from traingen.core.seeding import torch_generator

CYCLEGAN = [(6, 16, 64, 1), (6, 16, 64, 4), (6, 16, 128, 4), (9, 32, 64, 4)]   # blocks, ngf, px, batch
PIX2PIX = [(16, 64, 1), (16, 64, 8), (32, 64, 1), (64, 64, 1), (64, 64, 8), (16, 128, 4)]  # ngf, px, batch


def _cyclegan(before: bool, blocks: int, ngf: int, size: int):
    from traingen.translate.cyclegan import CycleGAN, CycleGANConfig
    from traingen.translate.networks import InstanceNorm

    m = CycleGAN(CycleGANConfig(image_size=size, ngf=ngf, ndf=ngf, n_blocks=blocks), generator=torch_generator(0, "b"))
    if before:
        for net in m.nets.values():
            for mod in list(net.modules()):
                for name, child in list(mod.named_children()):
                    if isinstance(child, InstanceNorm):
                        setattr(mod, name, nn.InstanceNorm2d(child.num_features))
                    elif isinstance(child, (nn.ReLU, nn.LeakyReLU)):
                        child.inplace = True
    return m


def _pix2pix(before: bool, ngf: int, size: int):
    from traingen.translate.gemm_conv import Conv2d, ConvTranspose2d
    from traingen.translate.pix2pix import Pix2Pix, Pix2PixConfig

    m = Pix2Pix(Pix2PixConfig(image_size=size, ngf=ngf, ndf=ngf), generator=torch_generator(0, "b"))
    if before:
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
            models = {k: _cyclegan(k == "before", blocks, ngf, size) for k in ("before", "after")}
        else:
            ngf, size, batch = conf
            label = f"pix2pix U-Net {size} px, ngf {ngf}, batch {batch}"
            models = {k: _pix2pix(k == "before", ngf, size) for k in ("before", "after")}
        g = torch.Generator().manual_seed(0)
        batch_ = {"A": torch.rand(batch, 3, size, size, generator=g) * 2 - 1,
                  "B": torch.rand(batch, 3, size, size, generator=g) * 2 - 1}
        for m in models.values():
            for i in range(2):
                m.train_step(batch_, step=i, seed=0)
        times: dict[str, list[float]] = {k: [] for k in models}
        for r in range(args.rounds):
            for k in (("before", "after") if r % 2 == 0 else ("after", "before")):
                t = time.perf_counter()
                for i in range(args.steps):
                    models[k].train_step(batch_, step=i, seed=0)
                times[k].append((time.perf_counter() - t) / args.steps * 1000)
        med = {k: statistics.median(v) for k, v in times.items()}
        print(f"| {label} | {med['before']:.1f} | {med['after']:.1f} | {med['before'] / med['after']:.2f} | "
              f"{os.getloadavg()[0]:.1f} |", flush=True)


if __name__ == "__main__":
    main()
