"""Speed of pix2pix and CycleGAN training steps and inference, beside the reference implementation.

    python bench/translate.py [--reference /work/refs/pix2pix] [--full] [--rounds 3] [--steps 3] [--match REGEX]
    python bench/translate.py --threads-experiment [--rounds 2 --steps 8]

Our side: :class:`traingen.translate.Pix2Pix` / :class:`traingen.translate.CycleGAN` ``train_step``.
Reference side (``--reference DIR``: a checkout of junyanz/pytorch-CycleGAN-and-pix2pix at commit
9f8f61e, e.g. from the fork uxfion/pytorch-CycleGAN-and-pix2pix, kept outside this repository): its own
``Pix2PixModel`` / ``CycleGANModel`` built from an options namespace, ``set_input`` +
``optimize_parameters``. The same configuration on both sides (U-Net depth, ngf, image size, batch;
ResNet blocks), the same random inputs, checked to give the same output shape and parameter count;
the two sides are interleaved in one process (order alternating per round) and the median ms per step
over rounds is reported with the load average at the time, and the ratio of the two sides' best rounds
(the usual micro-benchmark estimator: the round least disturbed by other processes). ``--match`` keeps
the configurations whose label matches a regular expression (to rerun some with more rounds).
Inference: images per second of the generator (eval mode, no grad, batch 8). Without ``--reference`` only our side is timed.

``--threads-experiment`` times one pix2pix step (64 px, ngf 16, batch 4) in fresh processes with
2 threads (default OpenMP wait policy), 2 threads with ``OMP_WAIT_POLICY=PASSIVE`` and 1 thread, alone
and beside a competing CPU-bound process: wall and CPU ms per step with the load average.
"""

from __future__ import annotations

import argparse
import functools
import os
import re
import statistics
import subprocess
import sys
import time
from types import SimpleNamespace

PIX2PIX = [(depth, ngf, batch) for depth in (6, 7) for ngf in (16, 32, 64) for batch in (1, 4, 8)]
CYCLEGAN = [(blocks, ngf, size, batch) for blocks in (6, 9) for ngf in (16, 32) for size in (64, 128)
            for batch in (1, 4)]
QUICK_PIX2PIX = [(6, 16, 4), (7, 32, 1)]
QUICK_CYCLEGAN = [(6, 16, 64, 1), (6, 16, 128, 1)]


def _ref_opt(**kw):
    base = dict(gpu_ids=[], isTrain=True, checkpoints_dir="/tmp/tr-bench-ckpt", name="bench", preprocess="none",
                input_nc=3, output_nc=3, ngf=64, ndf=64, netD="basic", n_layers_D=3, norm="batch",
                no_dropout=False, init_type="normal", init_gain=0.02, gan_mode="vanilla", lr=2e-4, beta1=0.5,
                lambda_L1=100.0, direction="AtoB", continue_train=False, verbose=False, lr_policy="linear",
                epoch_count=1, n_epochs=100, n_epochs_decay=100, lr_decay_iters=50, pool_size=50,
                lambda_A=10.0, lambda_B=10.0, lambda_identity=0.5, load_iter=0, epoch="latest")
    base.update(kw)
    return SimpleNamespace(**base)


def reference_pix2pix(ref, depth, ngf):
    import torch
    from models import networks
    from models.pix2pix_model import Pix2PixModel

    m = Pix2PixModel(_ref_opt(netG="unet_128", ngf=ngf, ndf=ngf))
    norm = functools.partial(torch.nn.BatchNorm2d, affine=True, track_running_stats=True)
    m.netG = networks.init_net(networks.UnetGenerator(3, 3, depth, ngf, norm_layer=norm, use_dropout=True),
                               "normal", 0.02, [])
    m.optimizer_G = torch.optim.Adam(m.netG.parameters(), lr=2e-4, betas=(0.5, 0.999))
    m.optimizers = [m.optimizer_G, m.optimizer_D]
    return m


def reference_cyclegan(ref, blocks, ngf):
    from models.cycle_gan_model import CycleGANModel

    return CycleGANModel(_ref_opt(netG=f"resnet_{blocks}blocks", ngf=ngf, ndf=ngf, norm="instance",
                                  no_dropout=True, gan_mode="lsgan"))


def ours_pix2pix(depth, ngf):
    from traingen.core.seeding import torch_generator
    from traingen.translate.pix2pix import Pix2Pix, Pix2PixConfig

    return Pix2Pix(Pix2PixConfig(image_size=2 ** depth, ngf=ngf, ndf=ngf), generator=torch_generator(0, "b"))


def ours_cyclegan(blocks, ngf, size):
    from traingen.core.seeding import torch_generator
    from traingen.translate.cyclegan import CycleGAN, CycleGANConfig

    return CycleGAN(CycleGANConfig(image_size=size, ngf=ngf, ndf=ngf, n_blocks=blocks), generator=torch_generator(0, "b"))


def _time(fn, steps):
    fn()  # warm-up
    t = time.perf_counter()
    for _ in range(steps):
        fn()
    return 1000 * (time.perf_counter() - t) / steps


def _infer(G, size, steps):
    import torch

    x = torch.rand(8, 3, size, size) * 2 - 1
    G.eval()
    with torch.no_grad():
        ms = _time(lambda: G(x), steps)
    G.train()
    return 8000 / ms


def bench(args):
    import torch

    if args.reference:
        sys.path.insert(0, os.path.abspath(args.reference))
    rows = []
    p2p = PIX2PIX if args.full else QUICK_PIX2PIX
    cg = CYCLEGAN if args.full else QUICK_CYCLEGAN
    jobs = [("pix2pix", c) for c in p2p] + [("cyclegan", c) for c in cg]
    for kind, conf in jobs:
        if args.match and not re.search(args.match, _label(kind, conf)):
            continue
        if kind == "pix2pix":
            depth, ngf, batch = conf
            size = 2 ** depth
            ours = ours_pix2pix(depth, ngf)
            ref = reference_pix2pix(args.reference, depth, ngf) if args.reference else None
        else:
            blocks, ngf, size, batch = conf
            ours = ours_cyclegan(blocks, ngf, size)
            ref = reference_cyclegan(args.reference, blocks, ngf) if args.reference else None
        g = torch.Generator().manual_seed(0)
        a, b = torch.rand(batch, 3, size, size, generator=g) * 2 - 1, torch.rand(batch, 3, size, size, generator=g) * 2 - 1
        our_step = functools.partial(ours.train_step, {"A": a, "B": b}, step=0, seed=0)
        if ref is not None:
            ref.set_input({"A": a, "B": b, "A_paths": [""], "B_paths": [""]})
            ref_G = ref.netG if kind == "pix2pix" else ref.netG_A
            our_G = ours.generator("AtoB")
            assert sum(p.numel() for p in ref_G.parameters()) == sum(p.numel() for p in our_G.parameters())
            with torch.no_grad():
                assert ref_G(a).shape == our_G(a).shape
        t_ours, t_ref = [], []
        for r in range(args.rounds):
            order = [("o", our_step), ("r", ref.optimize_parameters if ref else None)]
            for who, fn in (order if r % 2 == 0 else order[::-1]):
                if fn is None:
                    continue
                (t_ours if who == "o" else t_ref).append(_time(fn, args.steps))
        ips_ours = _infer(ours.generator("AtoB"), size, args.steps)
        ips_ref = _infer(ref.netG if kind == "pix2pix" else ref.netG_A, size, args.steps) if ref else None
        row = {"config": _label(kind, conf), "ours_ms": statistics.median(t_ours),
               "best_ratio": min(t_ref) / min(t_ours) if t_ref else None,
               "ref_ms": statistics.median(t_ref) if t_ref else None, "ours_ips": ips_ours, "ref_ips": ips_ref,
               "load": os.getloadavg()[0]}
        rows.append(row)
        print(_fmt(row), flush=True)
    return rows


def _label(kind, conf):
    if kind == "pix2pix":
        depth, ngf, batch = conf
        return f"pix2pix U-Net depth {depth}, ngf {ngf}, {2 ** depth} px, batch {batch}"
    blocks, ngf, size, batch = conf
    return f"CycleGAN ResNet {blocks} blocks, ngf {ngf}, {size} px, batch {batch}"


def _fmt(r):
    ref = f"{r['ref_ms']:8.1f}" if r["ref_ms"] else "       -"
    ratio = f"{r['ref_ms'] / r['ours_ms']:5.2f}" if r["ref_ms"] else "    -"
    best = f"{r['best_ratio']:5.2f}" if r["best_ratio"] else "    -"
    rips = f"{r['ref_ips']:7.1f}" if r["ref_ips"] else "      -"
    return (f"| {r['config']} | {r['ours_ms']:8.1f} | {ref} | {ratio} | {best} | {r['ours_ips']:7.1f} | {rips} | "
            f"{r['load']:.1f} |")


_STEP = """
import os, sys, time, torch, statistics
from traingen.core.seeding import torch_generator
from traingen.translate.pix2pix import Pix2Pix, Pix2PixConfig
m = Pix2Pix(Pix2PixConfig(image_size=64, ngf=16, ndf=16), generator=torch_generator(0, "b"))
a = torch.rand(4, 3, 64, 64) * 2 - 1
for _ in range(2):
    m.train_step({"A": a, "B": a}, step=0, seed=0)
wall, cpu = [], []
for _ in range(int(sys.argv[1])):
    t, c = time.perf_counter(), time.process_time()
    m.train_step({"A": a, "B": a}, step=0, seed=0)
    wall.append(1000 * (time.perf_counter() - t)); cpu.append(1000 * (time.process_time() - c))
print(min(wall), statistics.median(wall), max(wall), statistics.median(cpu), os.getloadavg()[0])
"""

THREAD_SETTINGS = [("2 threads, default wait policy", {"OMP_NUM_THREADS": "2"}, ["OMP_WAIT_POLICY"]),
                   ("2 threads, OMP_WAIT_POLICY=PASSIVE", {"OMP_NUM_THREADS": "2", "OMP_WAIT_POLICY": "PASSIVE"}, []),
                   ("1 thread", {"OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}, [])]


def threads_experiment(rounds: int = 2, steps: int = 8):
    """One pix2pix step (64 px, ngf 16, batch 4) in fresh processes under each thread setting, alone and
    beside one competing CPU-bound process (a Python busy loop started here); the settings alternate
    within each round. Prints per setting: min / median / max wall ms per step over all rounds' steps,
    median CPU ms per step (process time of all the step's threads), and the load average seen."""
    print(f"threads experiment, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load before "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}; {rounds} rounds x {steps} steps per setting")
    print("| setting | competing process | min ms | median ms | max ms | median CPU ms | load 1m |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for competing in (False, True):
        hog = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if competing else None
        try:
            found: dict[str, list[list[float]]] = {name: [] for name, _, _ in THREAD_SETTINGS}
            for r in range(rounds):
                for name, env_set, env_del in (THREAD_SETTINGS if r % 2 == 0 else THREAD_SETTINGS[::-1]):
                    env = {k: v for k, v in os.environ.items() if k not in env_del}
                    env.update(env_set)
                    out = subprocess.run([sys.executable, "-c", _STEP, str(steps)], env=env, capture_output=True,
                                         text=True, check=True).stdout.split()
                    found[name].append([float(v) for v in out])
            for name, rows in found.items():
                print(f"| {name} | {'one' if competing else 'none'} | {min(r[0] for r in rows):.0f} | "
                      f"{statistics.median(r[1] for r in rows):.0f} | {max(r[2] for r in rows):.0f} | "
                      f"{statistics.median(r[3] for r in rows):.0f} | "
                      f"{statistics.median(r[4] for r in rows):.1f} |", flush=True)
        finally:
            if hog is not None:
                hog.kill()
                hog.wait()
    print(f"load after {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reference", help="checkout of the reference at 9f8f61e (outside this repository)")
    ap.add_argument("--full", action="store_true", help="every configuration of the issue (slow on 2 cores)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--threads-experiment", action="store_true")
    ap.add_argument("--match", default=None, help="only the configurations whose label matches this regex")
    args = ap.parse_args()
    if args.threads_experiment:
        threads_experiment(rounds=args.rounds, steps=max(args.steps, 4))
        return
    if not args.reference:
        print("no --reference DIR given: timing our side alone")
    import torch

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, OMP_WAIT_POLICY="
          f"{os.environ.get('OMP_WAIT_POLICY')}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print("| configuration | ours ms/step | reference ms/step | ref/ours | ref/ours, best rounds | ours img/s | "
          "reference img/s | load 1m |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    bench(args)


if __name__ == "__main__":
    main()
