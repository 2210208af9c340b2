"""Figures of the translation docs, made by code (``python -m traingen.translate.figures OUT_DIR [RUN ...]``).

* ``translate-data.png``: rows of A | B from each embedded paired dataset (edges2photos, dem2relief,
  stereo-depth2rgb, render-mask2rgb) and font digits beside ``mnist5k`` digits (the unpaired fonts2mnist task).
* ``cyclegan-fonts2mnist.png`` (given CycleGAN runs): source font digits with their labels and the
  translations of each run below them.
* ``pix2pix-<task>.png`` (given pix2pix runs): input, output and target rows on held-out pairs.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from ..data import open_source
from ..data.paired import split_pair
from ..report.grid import make_grid, save_png


def data_figure(out: str | os.PathLike, *, per_row: int = 6) -> Path:
    rows = []
    for name in ("edges2photos", "dem2relief", "stereo-depth2rgb", "render-mask2rgb"):
        src = open_source(f"builtin:{name}@train") if name != "stereo-depth2rgb" else open_source(f"builtin:{name}")
        step = max(1, len(src) // per_row)
        pairs = [split_pair(src[i * step].image) for i in range(per_row)]
        rows += [[p[0] for p in pairs], [p[1] for p in pairs]]
    fonts, mnist = open_source("builtin:fonts2mnist@train"), open_source("builtin:mnist5k@train")
    rows.append([fonts[i].image for i in range(per_row)])
    rows.append([mnist[i * 401].image for i in range(per_row)])
    return save_png(out, make_grid(rows, cell=56, pad=2))


def cyclegan_figure(out: str | os.PathLike, runs: list[str], *, n: int = 10) -> Path:
    from ..data.builtin import load_builtin
    from .fonts2mnist_experiment import translate_array
    from .trainer import load_run

    fonts = load_builtin("fonts2mnist")
    idx = fonts.splits["train"][:: max(1, len(fonts.splits["train"]) // n)][:n]
    rows = [list(fonts.images[idx])]
    for run in runs:
        _, model, _ = load_run(run)
        rows.append(list(translate_array(model, fonts.images[idx])))
    return save_png(out, make_grid(rows, cell=56, pad=2))


def pix2pix_figure(out: str | os.PathLike, run: str, src: str, *, n: int = 6) -> Path:
    import torch

    from .data import to_tensor, to_uint8
    from .trainer import load_run

    _, model, _ = load_run(run)
    source = open_source(src)
    pairs = [split_pair(source[i * max(1, len(source) // n)].image) for i in range(n)]
    c = model.config
    x = to_tensor([p[0] for p in pairs], size=c.image_size, channels=c.in_channels, where=src)
    torch.manual_seed(0)
    y = to_uint8(model.translate(x))
    return save_png(out, make_grid([[p[0] for p in pairs], list(y), [p[1] for p in pairs]], cell=96, pad=2))


if __name__ == "__main__":
    t = time.perf_counter()
    folder = Path(sys.argv[1])
    print(data_figure(folder / "translate-data.png"), f"{time.perf_counter() - t:.1f} s")
