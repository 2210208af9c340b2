"""Batched augmentation speed: traingen ``BatchAffine`` vs kornia ``AugmentationSequential``.

The chain (FACTS.md): horizontal flip -> rotate ±30° -> scale 0.8-1.2 -> translate ±10% -> crop 224
-> Gaussian noise (std 0.05 on [0, 1]), on CPU, one thread, batch 64, uint8 NCHW input; the uint8 ->
float conversion is timed on both sides (DESIGN §9). Equivalent settings are checked before timing:
same output shape and dtype, and the same noise level (std of noisy - clean on a flat image).

Run: ``OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS=1 python bench/augment_batch.py`` (prints a markdown
table; ``bench/augment.py`` calls :func:`bench_batched`).
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


def _time(fn: Any, repeats: int) -> tuple[float, float]:
    """(median, min) CPU seconds per call after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return statistics.median(times), min(times)


def bench_batched(sizes: tuple[int, ...] = (256, 512), batch: int = 64, repeats: int = 5) -> list[dict]:
    """Images per second (CPU time, median and best of ``repeats``) of both sides at each input size."""
    torch.set_num_threads(1)
    ours, kornia = ours_pipeline(), kornia_pipeline()
    rows = []
    for size in sizes:
        checks = check_equivalent(ours, kornia, size)
        x = torch.randint(0, 256, (batch, 3, size, size), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
        g = torch.Generator().manual_seed(0)
        torch.manual_seed(0)
        t_ours, best_ours = _time(lambda: run_ours(ours, x, g), repeats)  # noqa: B023
        t_k, best_k = _time(lambda: run_kornia(kornia, x), repeats)  # noqa: B023
        rows.append({
            "input": f"{size}x{size}",
            "batch": batch,
            "ours_img_s": batch / t_ours,
            "kornia_img_s": batch / t_k,
            "ratio": t_k / t_ours,
            "ours_best_img_s": batch / best_ours,
            "kornia_best_img_s": batch / best_k,
            "loadavg_1m": os.getloadavg()[0],
            **checks,
        })
    return rows


def markdown(rows: list[dict]) -> str:
    lines = ["| input | batch | traingen BatchAffine img/s | kornia AugmentationSequential img/s | ratio | load |",
             "| --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(f"| {r['input']} | {r['batch']} | {r['ours_img_s']:.0f} (best {r['ours_best_img_s']:.0f}) | "
                     f"{r['kornia_img_s']:.0f} (best {r['kornia_best_img_s']:.0f}) | {r['ratio']:.1f}x | "
                     f"{r['loadavg_1m']:.2f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown(bench_batched()))
