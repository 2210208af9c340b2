"""Figures of the translation docs, made by code.

* ``data OUT``: rows of A | B from each embedded paired dataset (edges2photos, dem2relief, stereo-depth2rgb,
  render-mask2rgb) and font digits beside ``mnist5k`` digits (the unpaired fonts2mnist task).
* ``cyclegan OUT RUN [RUN ...]``: source font digits under their labels, and each run's translations below
  them; with ``--classifier NAME`` each translation row is followed by that classifier's labels of the
  translations (red where it disagrees with the source label: the label was not kept).
* ``pix2pix OUT RUN SRC``: input, output and target rows on pairs of ``SRC`` (a held-out split).

Example:
    python -m traingen.translate.figures pix2pix docs/translate/pix2pix-edges2photos.png RUN \\
        builtin:edges2photos@test
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..data import open_source
from ..data.paired import split_pair
from ..report.grid import make_grid, save_png

BLACK, RED = (0, 0, 0), (200, 0, 0)


def text_cell(text: str, *, cell: int = 56, colour: tuple[int, int, int] = BLACK) -> np.ndarray:
    """A white ``cell``×``cell`` RGB image with ``text`` centred on it (for row and column captions)."""
    import cv2

    img = np.full((cell, cell, 3), 255, np.uint8)
    font, scale, thick = cv2.FONT_HERSHEY_SIMPLEX, cell / 110, max(1, cell // 50)
    (w, h), _ = cv2.getTextSize(text, font, scale, thick)
    if w > cell - 4:  # shrink long captions to fit
        scale *= (cell - 4) / w
        (w, h), _ = cv2.getTextSize(text, font, scale, thick)
    cv2.putText(img, text, ((cell - w) // 2, (cell + h) // 2), font, scale, colour, thick, cv2.LINE_AA)
    return img


def _captioned(rows: Sequence[Sequence[np.ndarray]], captions: Sequence[str], cell: int) -> list[list[np.ndarray]]:
    return [[text_cell(c, cell=cell), *r] for c, r in zip(captions, rows, strict=True)]


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


def cyclegan_figure(out: str | os.PathLike, runs: Sequence[str], *, names: Sequence[str] | None = None,
                    n: int = 10, split: str = "train", classifier: str | None = None, cell: int = 56) -> Path:
    """Font digits (one per class, ``split`` of ``builtin:fonts2mnist``) under their source labels, then a row
    of translations (``G_A``, eval mode) per run; with ``classifier`` (a name the export's
    ``--filter-classifier`` takes, e.g. ``mnist5k-classifier``) a row of its labels of those translations."""
    from ..core.errors import ConfigError
    from ..data.builtin import load_builtin
    from ..features.classifiers import predict_logits
    from .fonts2mnist_experiment import resolve_filter_classifier, translate_array
    from .trainer import load_run

    names = list(names) if names else [Path(r).name for r in runs]
    if len(names) != len(runs):
        raise ConfigError(f"{len(names)} names for {len(runs)} runs", field="names")
    fonts = load_builtin("fonts2mnist")  # arrays: no per-sample decoding just to read the labels
    split_idx = fonts.splits[split]
    labels = fonts.labels[split_idx]
    pick = [int(np.flatnonzero(labels == k % 10)[k // 10]) for k in range(n)]  # digits 0..9 in turn
    images, shown = fonts.images[split_idx[pick]], labels[pick]
    rows, captions = [[text_cell(str(y), cell=cell) for y in shown], list(images)], ["label", "source"]
    clf = resolve_filter_classifier(classifier)[0] if classifier else None
    for run, name in zip(runs, names, strict=True):
        _, model, _ = load_run(run)
        fake = translate_array(model, images)
        rows.append(list(fake))
        captions.append(name)
        if clf is not None:
            pred = predict_logits(clf, fake).argmax(1)
            rows.append([text_cell(str(p), cell=cell, colour=BLACK if p == y else RED)
                         for p, y in zip(pred, shown, strict=True)])
            captions.append("read as")
    return save_png(out, make_grid(_captioned(rows, captions, cell), cell=cell, pad=2))


def pix2pix_figure(out: str | os.PathLike, run: str, src: str, *, n: int = 6, cell: int = 96,
                   seed: int = 0) -> Path:
    """Input, output and target rows on ``n`` pairs spread over ``src``; the output in the run's inference
    mode (train mode, the paper's, for pix2pix), seeded by ``seed``."""
    import torch

    from .data import to_tensor, to_uint8
    from .trainer import load_run

    _, model, _ = load_run(run)
    source = open_source(src)
    pairs = [split_pair(source[i * max(1, len(source) // n)].image) for i in range(min(n, len(source)))]
    c = model.config
    x = to_tensor([p[0] for p in pairs], size=c.image_size, channels=c.in_channels, where=src)
    torch.manual_seed(seed)
    y = to_uint8(model.translate(x))
    rows = [[p[0] for p in pairs], list(y), [p[1] for p in pairs]]
    return save_png(out, make_grid(_captioned(rows, ["input", "output", "target"], cell), cell=cell, pad=2))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m traingen.translate.figures", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="figure", required=True)
    d = sub.add_parser("data", help="the embedded datasets")
    d.add_argument("out", type=Path)
    c = sub.add_parser("cyclegan", help="fonts2mnist translations with their source labels")
    c.add_argument("out", type=Path)
    c.add_argument("runs", nargs="+")
    c.add_argument("--names", nargs="+", default=None, help="row captions, one per run (default: folder names)")
    c.add_argument("--classifier", default=None, help="also a row of this classifier's labels per run")
    c.add_argument("--split", default="train")
    c.add_argument("--n", type=int, default=10, help="digits shown (0-9 in turn)")
    p = sub.add_parser("pix2pix", help="input, output and target on held-out pairs")
    p.add_argument("out", type=Path)
    p.add_argument("run")
    p.add_argument("src", help="a paired source, e.g. builtin:edges2photos@test")
    p.add_argument("--n", type=int, default=6)
    a = ap.parse_args(argv)
    t = time.perf_counter()
    if a.figure == "data":
        path = data_figure(a.out)
    elif a.figure == "cyclegan":
        path = cyclegan_figure(a.out, a.runs, names=a.names, n=a.n, split=a.split,
                               classifier=a.classifier)
    else:
        path = pix2pix_figure(a.out, a.run, a.src, n=a.n)
    print(path, f"{time.perf_counter() - t:.1f} s")


if __name__ == "__main__":
    main()
