"""Batched augmentation speed: traingen ``BatchAffine`` vs kornia ``AugmentationSequential``.

The chain (FACTS.md): horizontal flip -> rotate ±30° -> scale 0.8-1.2 -> translate ±10% -> crop 224
-> Gaussian noise (std 0.05 on [0, 1]), on CPU, one thread, batch 64, uint8 NCHW input; the uint8 ->
float conversion is timed on both sides (DESIGN §9). Equivalent settings are checked before timing:
same output shape and dtype, and the same noise level (std of noisy - clean on a flat image).

Run: ``OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS=1 python bench/augment_batch.py [--repeats 7] [--out
bench/RESULTS.md]`` (prints a markdown table; ``bench/augment.py --batched`` calls :func:`bench_batched`).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import statistics  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

import torch  # noqa: E402

CROP = 224
NOISE_STD = 0.05


def ours_pipeline() -> Any:
    from traingen.augment import HorizontalFlip, RandomCrop, Rotate, Scale, Translate
    from traingen.augment.batch import BatchAffine

    return BatchAffine([HorizontalFlip(), Rotate(30), Scale(0.8, 1.2), Translate(0.1), RandomCrop(CROP, CROP)],
                       noise_std=NOISE_STD)


def kornia_pipeline() -> Any:
    import kornia.augmentation as K

    return K.AugmentationSequential(
        K.RandomHorizontalFlip(p=0.5),
        K.RandomRotation(degrees=30.0, p=1.0),
        K.RandomAffine(degrees=0.0, translate=(0.1, 0.1), scale=(0.8, 1.2), p=1.0),
        K.RandomCrop((CROP, CROP), p=1.0),
        K.RandomGaussianNoise(mean=0.0, std=NOISE_STD, p=1.0),
    )


def run_ours(aug: Any, x_u8: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    # BatchAffine takes the uint8 batch and converts it inside (fused into the warp): timed here.
    return aug(x_u8, generator=g).images


def run_kornia(aug: Any, x_u8: torch.Tensor) -> torch.Tensor:
    return aug(x_u8.float().div_(255.0))


def check_equivalent(ours: Any, kornia: Any, size: int) -> dict[str, float]:
    """Same output shape/dtype, same noise level on a flat grey batch (no clipping at 0.5)."""
    flat = torch.full((8, 3, size, size), 128, dtype=torch.uint8)
    a = run_ours(ours, flat, torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    b = run_kornia(kornia, flat)
    if a.shape != b.shape or a.dtype != b.dtype:
        raise AssertionError(f"outputs differ: {tuple(a.shape)} {a.dtype} vs {tuple(b.shape)} {b.dtype}")
    # Pixels that came from inside the grey image only: both sides fill the rest with 0 (then noise),
    # which lies 10 noise sigmas away from grey.
    ra, rb = a - 128 / 255, b - 128 / 255
    sa, sb = float(ra[ra.abs() < 0.3].std()), float(rb[rb.abs() < 0.3].std())
    if abs(sa - NOISE_STD) > 0.005 or abs(sb - NOISE_STD) > 0.005:
        raise AssertionError(f"noise levels differ: ours {sa:.4f}, kornia {sb:.4f}, wanted {NOISE_STD}")
    return {"noise_std_ours": sa, "noise_std_kornia": sb}


def _interleaved(fns: dict[str, Any], repeats: int) -> dict[str, list[float]]:
    """CPU seconds per call of each side, ``repeats`` rounds after one warm-up call each; the sides
    take turns within a round, so a burst of load from other processes hits both alike."""
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.process_time()
            fn()
            times[name].append(time.process_time() - t0)
    return times


def bench_batched(sizes: tuple[int, ...] = (256, 512), batch: int = 64, repeats: int = 7) -> list[dict]:
    """Images per CPU-second of both sides at each input size: medians and best of ``repeats``
    interleaved rounds, and the median of the per-round ratios (kornia time / ours)."""
    torch.set_num_threads(1)
    ours, kornia = ours_pipeline(), kornia_pipeline()
    rows = []
    for size in sizes:
        checks = check_equivalent(ours, kornia, size)
        x = torch.randint(0, 256, (batch, 3, size, size), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
        g = torch.Generator().manual_seed(0)
        torch.manual_seed(0)
        load0 = os.getloadavg()[0]
        t = _interleaved({"ours": lambda: run_ours(ours, x, g), "kornia": lambda: run_kornia(kornia, x)},  # noqa: B023
                         repeats)
        ratios = [k / o for o, k in zip(t["ours"], t["kornia"], strict=True)]
        rows.append({
            "input": f"{size}x{size}",
            "batch": batch,
            "ours_img_s": batch / statistics.median(t["ours"]),
            "kornia_img_s": batch / statistics.median(t["kornia"]),
            "ratio": statistics.median(ratios),
            "ratio_min": min(ratios),
            "ratio_max": max(ratios),
            "ours_best_img_s": batch / min(t["ours"]),
            "kornia_best_img_s": batch / min(t["kornia"]),
            "loadavg_1m": (load0, os.getloadavg()[0]),
            **checks,
        })
    return rows


def markdown(rows: list[dict]) -> str:
    lines = ["| input | batch | traingen BatchAffine img/s | kornia AugmentationSequential img/s | ratio (median of "
             "rounds) | ratio range | load before/after |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(f"| {r['input']} | {r['batch']} | {r['ours_img_s']:.0f} (best {r['ours_best_img_s']:.0f}) | "
                     f"{r['kornia_img_s']:.0f} (best {r['kornia_best_img_s']:.0f}) | {r['ratio']:.2f}x | "
                     f"{r['ratio_min']:.2f}–{r['ratio_max']:.2f} | {r['loadavg_1m'][0]:.1f} / "
                     f"{r['loadavg_1m'][1]:.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import argparse
    import datetime
    import sys

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=7, help="interleaved rounds (each side once per round)")
    ap.add_argument("--out", default=None, help="append the table, command, date and load to this file")
    args = ap.parse_args(argv)
    rows = bench_batched(tuple(args.sizes), args.batch, args.repeats)
    table = markdown(rows)
    print(table)
    for r in rows:
        print(f"{r['input']}: {r['ratio']:.2f}x kornia (target 3x): {'met' if r['ratio'] >= 3 else 'MISSED'}")
    if args.out:
        now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
        with open(args.out, "a") as f:
            f.write(f"\n## Batched torch backend vs kornia ({now})\n\n"
                    f"Command: `OMP_NUM_THREADS=1 python {' '.join(sys.argv)}` (one thread, CPU, batch {args.batch}, "
                    f"uint8 -> float included on both sides, {args.repeats} interleaved rounds).\n\n{table}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
