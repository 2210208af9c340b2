"""Speed of the per-sample augmentation engine against albumentations, torchvision v2 and kornia.

Every side runs a ``Compose`` of one op (p=1) and the seed chain flip -> rotate ±30° -> scale
0.8–1.2 -> translate ±10% -> crop 224 -> Gaussian noise (std 5% of the range), on the same
structured images (scikit-image / scikit-learn photos resized to 256² and 512²), one thread.
Equivalent settings are checked before timing: same output shape, same noise sigma on a flat grey
image. Throughput is images per CPU-second, the median of repeats (``time.process_time``: a process
that waits for a shared core is not charged), with ``os.getloadavg()`` recorded.

torchvision gets CHW uint8 tensors converted before timing (its native input); kornia runs batches
of 64 (its native mode) and its timing includes the uint8 -> float conversion (DESIGN §9).

Usage:
    OMP_NUM_THREADS=1 python bench/augment.py [--quick] [--sizes 256 512] [--out bench/RESULTS.md]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import datetime  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CHAIN_RECIPE = ROOT / "recipes" / "augment-chain.yaml"
MIN_SECONDS = 0.1  # CPU seconds per side and repeat (set by --quick / --min-seconds)
OPS = ["horizontal-flip", "vertical-flip", "rotate", "scale", "translate", "random-crop", "center-crop",
       "random-resized-crop", "resize", "gaussian-noise", "cutout", "chain"]


def one_thread() -> None:
    cv2.setNumThreads(1)
    import torch

    torch.set_num_threads(1)


def make_images(size: int, n: int = 8) -> list[np.ndarray]:
    """Distinct colour photographs, centre-cropped square and resized to ``size`` (not zeros)."""
    from skimage import data
    from sklearn.datasets import load_sample_images

    photos = [data.astronaut(), data.chelsea(), data.coffee(), data.rocket(), *load_sample_images().images]
    out = []
    for p in photos:
        h, w = p.shape[:2]
        s = min(h, w)
        sq = p[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s, :3]
        out.append(np.ascontiguousarray(cv2.resize(sq, (size, size), interpolation=cv2.INTER_AREA)))
    return [out[i % len(out)] for i in range(n)]


# ---------------------------------------------------------------------------------------------
# The sides


def traingen_ops(size: int) -> dict[str, Callable]:
    import traingen.augment as T

    single = {
        "horizontal-flip": T.HorizontalFlip(p=1.0), "vertical-flip": T.VerticalFlip(p=1.0),
        "rotate": T.Rotate(30), "scale": T.Scale(0.8, 1.2), "translate": T.Translate(0.1),
        "random-crop": T.RandomCrop(224, 224), "center-crop": T.CenterCrop(224, 224),
        "random-resized-crop": T.RandomResizedCrop(224, 224), "resize": T.Resize(224, 224),
        "gaussian-noise": T.GaussianNoise(0.05), "cutout": T.Cutout(holes=1, size=16),
    }
    ops = {}
    for name, t in single.items():
        pipe = T.Compose([t])
        ops[name] = lambda img, pipe=pipe: pipe(image=img)["image"]
    chain = T.load(CHAIN_RECIPE)
    ops["chain"] = lambda img: chain(image=img)["image"]
    return ops


def albumentations_ops(size: int) -> dict[str, Callable]:
    import albumentations as A

    const = {"border_mode": cv2.BORDER_CONSTANT, "fill": 0}
    noise = A.GaussNoise(std_range=(0.05, 0.05), mean_range=(0.0, 0.0), per_channel=True, p=1.0)
    single = {
        "horizontal-flip": A.HorizontalFlip(p=1.0), "vertical-flip": A.VerticalFlip(p=1.0),
        "rotate": A.Rotate(limit=30, p=1.0, **const), "scale": A.Affine(scale=(0.8, 1.2), p=1.0, **const),
        "translate": A.Affine(translate_percent=(-0.1, 0.1), p=1.0, **const),
        "random-crop": A.RandomCrop(224, 224, p=1.0), "center-crop": A.CenterCrop(224, 224, p=1.0),
        "random-resized-crop": A.RandomResizedCrop(size=(224, 224), p=1.0), "resize": A.Resize(224, 224, p=1.0),
        "gaussian-noise": noise,
        "cutout": A.CoarseDropout(num_holes_range=(1, 1), hole_height_range=(16, 16), hole_width_range=(16, 16),
                                  fill=0, p=1.0),
    }
    ops = {}
    for name, t in single.items():
        pipe = A.Compose([t])
        ops[name] = lambda img, pipe=pipe: pipe(image=img)["image"]
    chain = A.Compose([
        A.HorizontalFlip(p=0.5), A.Rotate(limit=30, p=1.0, **const), A.Affine(scale=(0.8, 1.2), p=1.0, **const),
        A.Affine(translate_percent=(-0.1, 0.1), p=1.0, **const), A.RandomCrop(224, 224, p=1.0),
        A.GaussNoise(std_range=(0.05, 0.05), mean_range=(0.0, 0.0), per_channel=True, p=1.0),
    ])
    ops["chain"] = lambda img: chain(image=img)["image"]
    return ops


def torchvision_ops(size: int) -> dict[str, Callable]:
    import torch
    from torchvision.transforms import v2

    bil = v2.InterpolationMode.BILINEAR
    to_float = v2.ToDtype(torch.float32, scale=True)
    to_uint8 = v2.ToDtype(torch.uint8, scale=True)
    hole = 16 * 16 / (size * size)
    single = {
        "horizontal-flip": [v2.RandomHorizontalFlip(p=1.0)], "vertical-flip": [v2.RandomVerticalFlip(p=1.0)],
        "rotate": [v2.RandomRotation(30, interpolation=bil)],
        "scale": [v2.RandomAffine(0, scale=(0.8, 1.2), interpolation=bil)],
        "translate": [v2.RandomAffine(0, translate=(0.1, 0.1), interpolation=bil)],
        "random-crop": [v2.RandomCrop(224)], "center-crop": [v2.CenterCrop(224)],
        # No antialias: albumentations and traingen interpolate bilinearly without it too.
        "random-resized-crop": [v2.RandomResizedCrop(224, antialias=False)],
        "resize": [v2.Resize((224, 224), antialias=False)],
        # GaussianNoise needs float input: the conversions are part of the op on this side.
        "gaussian-noise": [to_float, v2.GaussianNoise(sigma=0.05), to_uint8],
        "cutout": [v2.RandomErasing(p=1.0, scale=(hole, hole), ratio=(1.0, 1.0), value=0)],
    }
    ops = {name: v2.Compose(ts) for name, ts in single.items()}
    ops["chain"] = v2.Compose([
        v2.RandomHorizontalFlip(0.5), v2.RandomRotation(30, interpolation=bil),
        v2.RandomAffine(0, scale=(0.8, 1.2), interpolation=bil), v2.RandomAffine(0, translate=(0.1, 0.1),
                                                                                interpolation=bil),
        v2.RandomCrop(224), to_float, v2.GaussianNoise(sigma=0.05), to_uint8,
    ])
    return ops


def kornia_chain() -> Callable:
    import kornia.augmentation as K
    import torch

    seq = K.AugmentationSequential(
        K.RandomHorizontalFlip(p=0.5), K.RandomRotation(30.0, p=1.0), K.RandomAffine(0.0, scale=(0.8, 1.2), p=1.0),
        K.RandomAffine(0.0, translate=(0.1, 0.1), p=1.0), K.RandomCrop((224, 224), p=1.0),
        K.RandomGaussianNoise(std=0.05, p=1.0),
    )

    def run(batch_uint8: torch.Tensor) -> torch.Tensor:
        x = batch_uint8.float().div_(255)  # the uint8 -> float conversion belongs to the timing
        return seq(x).clamp_(0, 1)

    return run


# ---------------------------------------------------------------------------------------------
# Timing


def images_per_second(fn: Callable, inputs: list, repeats: int, per_call: int = 1) -> float:
    """Median over ``repeats`` of images per CPU-second for one pass over ``inputs``."""
    return statistics.median(interleaved({"x": (fn, inputs)}, repeats, per_call)["x"])


def interleaved(sides: dict[str, tuple[Callable, list]], repeats: int, per_call: int = 1) -> dict[str, list[float]]:
    """Images per CPU-second of each side in each of ``repeats`` rounds. The sides take turns within
    a round, in reversed order every other round, so that a burst of load from other processes and
    the cache left by the previous side hit all of them alike."""
    for fn, inputs in sides.values():
        fn(inputs[0])  # warm-up: lazy imports, first-call allocations
    rates: dict[str, list[float]] = {k: [] for k in sides}
    order = list(sides.items())
    for r in range(repeats):
        for name, (fn, inputs) in (order if r % 2 == 0 else order[::-1]):
            # Whole passes over the inputs until MIN_SECONDS of CPU time: a fast op (a 20 µs flip)
            # is timed over thousands of calls, not a handful.
            done, t0 = 0, time.process_time()
            while True:
                for x in inputs:
                    fn(x)
                done += len(inputs)
                dt = time.process_time() - t0
                if dt >= MIN_SECONDS:
                    break
            rates[name].append(done * per_call / max(dt, 1e-9))
    return rates


def to_tensor(img: np.ndarray):
    import torch

    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))


def check_equivalence(size: int, sides: dict[str, dict[str, Callable]]) -> list[str]:
    """Same output shape for every op, and the noise sigma measured on a flat grey image."""
    notes = []
    img = make_images(size, 1)[0]
    for op in OPS:
        shapes = {}
        for side, ops in sides.items():
            x = to_tensor(img) if side == "torchvision v2" else img
            out = np.asarray(ops[op](x))
            shapes[side] = out.shape[-2:] if side == "torchvision v2" else out.shape[:2]
        if len(set(shapes.values())) != 1:
            raise SystemExit(f"{op} at {size}: output shapes differ: {shapes}")
    grey = np.full((size, size, 3), 128, np.uint8)
    sig = {}
    for side, ops in sides.items():
        x = to_tensor(grey) if side == "torchvision v2" else grey
        out = np.asarray(ops["gaussian-noise"](x)).astype(np.float64)
        sig[side] = float((out - 128).std())
    notes.append(f"noise sigma on flat grey 128 at {size}² (grey levels; target 12.75): "
                 + ", ".join(f"{k} {v:.2f}" for k, v in sig.items()))
    return notes


def run_size(size: int, repeats: int, n: int, with_kornia: bool,
             ops_wanted: list[str] | None = None) -> tuple[list[dict], list[str]]:
    sides = {"traingen": traingen_ops(size), "albumentations": albumentations_ops(size),
             "torchvision v2": torchvision_ops(size)}
    notes = check_equivalence(size, sides)
    imgs = make_images(size, n)
    tensors = [to_tensor(i) for i in imgs]
    rows = []
    for op in ops_wanted or OPS:
        row = {"size": size, "op": op}
        rates = interleaved({side: (ops[op], tensors if side == "torchvision v2" else imgs)
                             for side, ops in sides.items()}, repeats)
        row.update({k: statistics.median(v) for k, v in rates.items()})
        # The ratio of the two sides within each round, then its median: paired, so that load that
        # drifts between rounds cancels.
        paired = [a / b for a, b in zip(rates["traingen"], rates["albumentations"], strict=True)]
        row["ratio"], row["ratio_lo"], row["ratio_hi"] = statistics.median(paired), min(paired), max(paired)
        rows.append(row)
        print(f"{size}² {op:20s} " + "  ".join(f"{k} {row[k]:8.0f}" for k in sides)
              + f"  ratio {row['ratio']:.2f} (rounds {row['ratio_lo']:.2f}-{row['ratio_hi']:.2f})", flush=True)
    if with_kornia and rows[-1]["op"] == "chain":
        import torch

        batch = torch.stack([tensors[i % len(tensors)] for i in range(64)])
        rows[-1]["kornia"] = images_per_second(kornia_chain(), [batch], max(2, repeats // 2), per_call=64)
        print(f"{size}² chain kornia (batch 64) {rows[-1]['kornia']:.0f} img/s", flush=True)
    return rows, notes


def bench_batched(sizes: list[int], repeats: int, batch: int = 64) -> list[str]:
    """Batched torch backend vs kornia at batch 64 (CPU), uint8 -> float included on both sides:
    ``bench/augment_batch.py`` (interleaved rounds, the median of per-round ratios)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import augment_batch

    rows = augment_batch.bench_batched(tuple(sizes), batch, repeats)
    return [f"| {r['input']} | batch {batch} | traingen BatchAffine {r['ours_img_s']:.0f} | kornia "
            f"{r['kornia_img_s']:.0f} | ratio {r['ratio']:.2f} (rounds {r['ratio_min']:.2f}–{r['ratio_max']:.2f}) |"
            for r in rows]


def markdown(rows: list[dict], notes: list[str], args: argparse.Namespace, load0: tuple, load1: tuple) -> str:
    import albumentations
    import kornia
    import torch
    import torchvision

    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    out = [
        f"\n## Per-sample augmentation ({now})\n",
        f"Command: `OMP_NUM_THREADS=1 python {' '.join(sys.argv)}`  ",
        f"Machine: {platform.platform()}, {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}; one thread everywhere.  ",
        f"Load average before {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}, after "
        f"{load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f}.  ",
        f"Versions: opencv {cv2.__version__}, albumentations {albumentations.__version__}, torch {torch.__version__}, "
        f"torchvision {torchvision.__version__}, kornia {kornia.__version__}.  ",
        f"Images per CPU-second, median of {args.repeats} rounds (each >= {MIN_SECONDS} CPU-s of passes over "
        f"{args.n} photos per side, the sides taking turns, order reversed every other round); ratio = median "
        "over rounds of traingen / albumentations within the round, with its range; kornia: batch 64, "
        "uint8 -> float included.\n",
        "| input | op | traingen | albumentations | torchvision v2 | kornia | traingen / albumentations | "
        "ratio range |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        k = f"{r['kornia']:.0f}" if "kornia" in r else "-"
        out.append(f"| {r['size']}² | {r['op']} | {r['traingen']:.0f} | {r['albumentations']:.0f} | "
                   f"{r['torchvision v2']:.0f} | {k} | {r['ratio']:.2f} | {r['ratio_lo']:.2f}–{r['ratio_hi']:.2f} |")
    out.append("")
    out += [f"- {n}" for n in notes]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="few repeats (a smoke run)")
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--n", type=int, default=None, help="images per repeat")
    ap.add_argument("--min-seconds", type=float, default=None, help="CPU seconds per side and repeat")
    ap.add_argument("--ops", nargs="+", choices=OPS, default=None, help="only these ops (default: all)")
    ap.add_argument("--no-kornia", action="store_true")
    ap.add_argument("--batched", action="store_true", help="also run bench_batched()")
    ap.add_argument("--out", type=Path, default=None, help="append a markdown table to this file")
    args = ap.parse_args(argv)
    args.repeats = args.repeats or (3 if args.quick else 7)
    args.n = args.n or 8
    global MIN_SECONDS
    MIN_SECONDS = args.min_seconds or (0.03 if args.quick else 0.15)
    one_thread()
    load0 = os.getloadavg()
    rows: list[dict] = []
    notes: list[str] = []
    for size in args.sizes:
        r, nt = run_size(size, args.repeats, args.n, not args.no_kornia, args.ops)
        rows += r
        notes += nt
    load1 = os.getloadavg()
    chain = {r["size"]: r["ratio"] for r in rows if r["op"] == "chain"}
    singles = [r for r in rows if r["op"] != "chain"] or rows
    worst = min(singles, key=lambda r: r["ratio"])
    targets = {256: 2.0, 512: 5.0}
    verdict = [f"chain at {s}²: {v:.2f}x albumentations (target {targets.get(s, 0):.0f}x): "
               f"{'met' if v >= targets.get(s, 0) else 'MISSED'}" for s, v in chain.items()]
    w = worst["ratio"]
    verdict.append(f"slowest single op vs albumentations: {worst['op']} at {worst['size']}², {w:.2f}x "
                   f"({'met' if w >= 1 else 'MISSED'}: no op slower than albumentations)")
    notes += verdict
    if args.batched:
        batched = bench_batched(args.sizes, args.repeats)
        notes += batched
        verdict += batched
    for line in verdict:
        print(line)
    if args.out:
        text = markdown(rows, notes, args, load0, load1)
        with open(args.out, "a") as f:
            f.write(text)
        print(f"appended to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
