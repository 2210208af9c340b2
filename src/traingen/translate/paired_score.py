"""Pixel scores of a trained paired translation (pix2pix) against the targets of a held-out split.

Where the target is a function of the input -- ``builtin:dem2relief`` (the hillshade traingen computes from the
elevation grid) -- the distance to it says how much of that function the generator learned; where it is not --
``builtin:edges2photos`` (many photos share one edge map) -- it says less, and domain-FID beside it says whether
the outputs look like the targets. Each score is reported beside a baseline that ignores the input: the per-pixel
mean of the training targets.

* **MAE**: mean absolute difference in 0..255 units, over all pixels and channels.
* **PSNR**: ``10 log10(255² / MSE)`` per image, averaged over images (dB).
* **SSIM** (Wang, Bovik, Sheikh & Simoncelli 2004): per channel with a 7×7 uniform window, sample covariances,
  ``K1 = 0.01``, ``K2 = 0.03``, the map's ``(7 - 1) / 2``-pixel border left out, averaged over channels, then over
  images -- the defaults of ``skimage.metrics.structural_similarity``, against which the tests check it.
* **domain-FID**: :func:`~traingen.translate.fcn_experiment.domain_fid` (offline ``random-multiscale`` features;
  tens of images, so compare values with each other only).

Command::

    python -m traingen.translate.paired_score RUN builtin:dem2relief@test [--train builtin:dem2relief@train]

prints the JSON (``rows``: ``generator`` and ``mean training target``) and writes it beside the run as
``paired-score-<source>.json``. The generator translates in its run's inference mode (train mode for pix2pix, as
in the paper), in batches of its training batch size, dropout seeded by ``--seed``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..core.atomic import atomic_write_text
from ..core.errors import DataError

K1, K2, WIN = 0.01, 0.03, 7


def _check_pair(a: np.ndarray, b: np.ndarray, where: str) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape or a.ndim not in (2, 3):
        raise DataError(f"need two H×W or H×W×C images of one shape, got {a.shape} and {b.shape}", where=where)
    return (a[..., None], b[..., None]) if a.ndim == 2 else (a, b)


def psnr(a: np.ndarray, b: np.ndarray, data_range: float = 255.0) -> float:
    """Peak signal-to-noise ratio of one image pair (dB; ``inf`` for identical images)."""
    a, b = _check_pair(a, b, "psnr")
    mse = float(np.mean((a - b) ** 2))
    return float("inf") if mse == 0 else float(10.0 * np.log10(data_range ** 2 / mse))


def ssim(a: np.ndarray, b: np.ndarray, data_range: float = 255.0, win: int = WIN) -> float:
    """Mean structural similarity of one image pair (module docstring: skimage's defaults)."""
    from scipy.ndimage import uniform_filter

    a, b = _check_pair(a, b, "ssim")
    if min(a.shape[:2]) < win:
        raise DataError(f"images must be at least {win}×{win} for SSIM, got {a.shape[:2]}", where="ssim")
    c1, c2 = (K1 * data_range) ** 2, (K2 * data_range) ** 2
    cov = win * win / (win * win - 1.0)   # sample covariance
    pad = (win - 1) // 2
    per_channel = []
    for k in range(a.shape[2]):
        x, y = a[..., k], b[..., k]
        mx, my = uniform_filter(x, win), uniform_filter(y, win)
        vx = cov * (uniform_filter(x * x, win) - mx * mx)
        vy = cov * (uniform_filter(y * y, win) - my * my)
        vxy = cov * (uniform_filter(x * y, win) - mx * my)
        s = ((2 * mx * my + c1) * (2 * vxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
        per_channel.append(s[pad:s.shape[0] - pad, pad:s.shape[1] - pad].mean())
    return float(np.mean(per_channel))


def image_scores(outputs: np.ndarray, targets: np.ndarray) -> dict[str, float]:
    """MAE, mean PSNR and mean SSIM of N uint8 outputs against N targets (module docstring)."""
    if len(outputs) != len(targets) or len(outputs) == 0:
        raise DataError(f"need as many outputs as targets (>= 1), got {len(outputs)} and {len(targets)}",
                        where="paired_score")
    o, t = np.asarray(outputs, np.float64), np.asarray(targets, np.float64)
    return {"mae": float(np.abs(o - t).mean()),
            "psnr": float(np.mean([psnr(x, y) for x, y in zip(o, t, strict=True)])),
            "ssim": float(np.mean([ssim(x, y) for x, y in zip(o, t, strict=True)]))}


def _pairs(src: str) -> tuple[np.ndarray, np.ndarray]:
    """The A and B halves of every pair of ``src`` (uint8 N×H×W×C each)."""
    from ..data import open_source
    from ..data.paired import split_pair

    source = open_source(src)
    halves = [split_pair(source[i].image) for i in range(len(source))]
    return np.stack([h[0] for h in halves]), np.stack([h[1] for h in halves])


def _load(run: str | os.PathLike) -> tuple[Any, Any]:
    import torch

    from .trainer import load_run

    with torch.random.fork_rng(devices=[]):   # module construction draws from the global stream
        cfg, model, _ = load_run(Path(run))
    if cfg.model != "pix2pix":
        raise DataError(f"paired scores need a pix2pix run, got {cfg.model!r}", where=str(run), field="model")
    return cfg, model


def as_targets(model: Any, images: np.ndarray, where: str) -> np.ndarray:
    """B images at the model's size and output channels, as its training targets are made (uint8)."""
    from .data import to_tensor, to_uint8

    c = model.config
    return to_uint8(to_tensor(list(images), size=c.image_size, channels=c.out_channels, where=where))


def translate_pairs(cfg: Any, model: Any, a_images: np.ndarray, *, seed: int = 0, where: str = "",
                    eval_mode: bool | None = None) -> np.ndarray:
    """The model's outputs (uint8) for A images in batches of its run's batch size (BatchNorm statistics are per
    batch in train mode), dropout seeded by ``seed``; ``eval_mode``: None keeps the run's inference mode."""
    import torch

    from .data import to_tensor, to_uint8

    c = model.config
    x = to_tensor(list(a_images), size=c.image_size, channels=c.in_channels, where=where)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        bs = cfg.batch_size
        return np.concatenate([to_uint8(model.translate(x[k:k + bs], eval_mode=eval_mode))
                               for k in range(0, len(x), bs)])


def paired_scores(run: str | os.PathLike, src: str, *, train: str | None = None, seed: int = 0) -> dict[str, Any]:
    """Scores of the run's outputs on ``src``'s pairs and of the mean-training-target baseline (module docstring).

    Args:
        run: a trained pix2pix run folder.
        src: the held-out paired source (e.g. ``builtin:dem2relief@test``).
        train: the paired source whose mean target is the baseline (default: ``src`` with ``@test`` -> ``@train``,
            else the run's ``data_a``).
        seed: seeds the generator's dropout.
    """
    from .fcn_experiment import domain_fid

    c0, t0 = time.process_time(), time.perf_counter()
    cfg, model = _load(run)
    a, b = _pairs(src)
    out, b = translate_pairs(cfg, model, a, seed=seed, where=src), as_targets(model, b, src)
    if train is None:
        train = src[:-len("@test")] + "@train" if src.endswith("@test") else cfg.data_a
    mean = as_targets(model, _pairs(train)[1], train).astype(np.float64).mean(0)
    baseline = np.ascontiguousarray(np.broadcast_to(np.rint(mean).astype(np.uint8), b.shape))
    rows = {"generator": {**image_scores(out, b), "domain_fid": domain_fid(_rgb(b), _rgb(out))},
            "mean training target": {**image_scores(baseline, b), "domain_fid": domain_fid(_rgb(b), _rgb(baseline))}}
    return {"run": str(run), "source": src, "train": train, "n_images": len(b), "seed": seed, "rows": rows,
            "cpu_s": round(time.process_time() - c0, 1), "wall_s": round(time.perf_counter() - t0, 1),
            "loadavg": [round(x, 2) for x in os.getloadavg()]}


def _rgb(images: np.ndarray) -> np.ndarray:
    """N×H×W[×1] -> N×H×W×3 (the feature extractor's input)."""
    images = images[..., None] if images.ndim == 3 else images
    return np.ascontiguousarray(np.repeat(images, 3, axis=3) if images.shape[3] == 1 else images)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m traingen.translate.paired_score", description=__doc__.split("\n")[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("src", help="held-out paired source, e.g. builtin:dem2relief@test")
    ap.add_argument("--train", default=None, help="paired source of the mean-target baseline")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    res = paired_scores(args.run, args.src, train=args.train, seed=args.seed)
    name = re.sub(r"[^A-Za-z0-9@_.-]+", "-", args.src).strip("-")
    atomic_write_text(args.run / f"paired-score-{name}.json", json.dumps(res, indent=1) + "\n")
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
