"""SIMS docs figure and timings (``python -m traingen.translate.sims_experiment``).

* :func:`sims_figure`: rows of held-out label maps, the SIMS canvases (retrieved, aligned, ordered and
  elided segments; grey where empty), the final images and the real renders.
* :func:`clip_figure`: the same held-out maps with the paper's canvas and with ``clip_to_query`` (rows: label
  maps, canvas and image unclipped, canvas and image clipped, real renders).
* :func:`timings`: median CPU ms of IoU retrieval (32 queries, 1,000 segments) and of one synthesis.

The usefulness comparison with pix2pix at equal training time (FCN-score analogue with a segmenter
trained on 1,000 separate renders, domain-FID) is :mod:`traingen.translate.fcn_experiment`.

Command (what the docs report)::

    python -m traingen.translate.sims_experiment RUN_SIMS --out docs/translate/sims.png
    python -m traingen.translate.sims_experiment RUN_SIMS --clip-figure OUT.png --src builtin:render-mask2rgb-classfam@test

References:
    Qi, Chen, Jia & Koltun. "Semi-parametric Image Synthesis", CVPR 2018. arXiv:1804.10992.
    Isola, Zhu, Zhou & Efros. "Image-to-Image Translation with Conditional Adversarial Networks", CVPR 2017
    (the FCN-score protocol).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from ..core.seeding import torch_generator

SRC_TRAIN, SRC_TEST = "builtin:render-mask2rgb@train", "builtin:render-mask2rgb@test"
PALETTE = np.array([[40, 40, 40], [230, 80, 60], [70, 180, 90], [70, 110, 230], [220, 200, 60]], np.uint8)


def _pairs(spec: str, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """``(label maps N×H×W, real images N×H×W×3 uint8)``."""
    from ..data import open_source
    from ..data.paired import split_pair
    from .sims_data import decode_labels

    src = open_source(spec)
    halves = [split_pair(src[i].image) for i in range(len(src))]
    return (np.stack([decode_labels(a, num_classes)[0] for a, _ in halves]),
            np.stack([np.asarray(b)[..., :3] for _, b in halves]))


def _u8(x: torch.Tensor) -> np.ndarray:
    return ((x.permute(0, 2, 3, 1).cpu().numpy() + 1.0) * 127.5).round().clip(0, 255).astype(np.uint8)


def sims_images(model, labels: np.ndarray, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """SIMS images and canvases (uint8, grey where the canvas is empty) for ``labels`` (one per call)."""
    imgs, canv = [], []
    for i, lm in enumerate(labels):
        res = model.synthesize(torch.from_numpy(lm)[None], generator=torch_generator(seed, "sims-export", i))
        imgs.append(_u8(res.images)[0])
        c = _u8(res.canvases)[0]
        c[res.canvas_masks[0, 0].cpu().numpy() < 0.5] = 128
        canv.append(c)
    return np.stack(imgs), np.stack(canv)


def sims_figure(out: str | os.PathLike, run: str, *, n: int = 8, seed: int = 0) -> Path:
    """Label maps, canvases, SIMS images and real renders of ``n`` held-out pairs (module docstring)."""
    from ..report.grid import make_grid, save_png
    from .trainer import load_run

    _, model, _ = load_run(run)
    labels, real = _pairs(SRC_TEST, model.config.num_classes)
    idx = np.arange(n) * (len(labels) // n)
    imgs, canv = sims_images(model, labels[idx], seed=seed)
    rows = [list(PALETTE[labels[idx] % len(PALETTE)]), list(canv), list(imgs), list(real[idx])]
    return save_png(out, make_grid(rows, cell=96, pad=2))


def clip_figure(out: str | os.PathLike, run: str, *, src: str = SRC_TEST, n: int = 8, seed: int = 0) -> Path:
    """Held-out label maps of ``src``; canvas and image with the paper's canvas; canvas and image with
    ``clip_to_query``; the real renders (one column per map, the same retrievals in both)."""
    from dataclasses import replace

    from ..report.grid import make_grid, save_png
    from .trainer import load_run

    _, model, _ = load_run(run)
    labels, real = _pairs(src, model.config.num_classes)
    idx = np.arange(n) * (len(labels) // n)
    rows = [list(PALETTE[labels[idx] % len(PALETTE)])]
    for clip in (False, True):
        model.config = replace(model.config, clip_to_query=clip)
        imgs, canv = sims_images(model, labels[idx], seed=seed)
        rows += [list(canv), list(imgs)]
    return save_png(out, make_grid(rows + [list(real[idx])], cell=96, pad=2))


def timings(run: str, *, repeats: int = 20) -> dict[str, float]:
    """Median CPU milliseconds: IoU retrieval of 32 queries in a 1,000-segment bank; one synthesis."""
    from .sims_bank import SegmentBank, retrieve
    from .trainer import load_run

    _, model, _ = load_run(run)
    bank = model.bank()
    small = SegmentBank(bank.classes[:1000], bank.masks[:1000], bank.image_index[:1000], bank.images,
                        bank.label_maps)
    q = bank.masks[-32:]
    qc = bank.classes[-32:]

    def cpu_ms(fn) -> float:
        out = []
        for _ in range(repeats):
            c0 = time.process_time()
            fn()
            out.append(1000 * (time.process_time() - c0))
        return float(np.median(out))

    retrieve(small, q, qc, k=5)
    labels, _ = _pairs(SRC_TEST, model.config.num_classes)
    lm = torch.from_numpy(labels[:1])
    return {"retrieve_32_in_1000_ms": cpu_ms(lambda: retrieve(small, q, qc, k=5)),
            "synthesize_one_64px_ms": cpu_ms(lambda: model.synthesize(lm))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", help="a SIMS run folder")
    ap.add_argument("--out", default="docs/translate/sims.png", help="figure path")
    ap.add_argument("--clip-figure", default=None, help="only the clip_to_query figure, written here")
    ap.add_argument("--src", default=SRC_TEST, help="--clip-figure: the held-out pairs")
    args = ap.parse_args()
    if args.clip_figure:
        print(clip_figure(args.clip_figure, args.run, src=args.src))
        return
    t0, load0 = time.perf_counter(), os.getloadavg()[0]
    res = {"timings_median_cpu_ms": timings(args.run), "figure": str(sims_figure(args.out, args.run)),
           "seconds": round(time.perf_counter() - t0, 1),
           "loadavg_start_end": [round(load0, 2), round(os.getloadavg()[0], 2)]}
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
