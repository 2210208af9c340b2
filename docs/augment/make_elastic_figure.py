"""Make docs/augment/figures/elastic.png: few-label mnist5k digits under the digit chains.

Usage:
    python docs/augment/make_elastic_figure.py

Rows: one labelled digit of each class (the first of each class in builtin:mnist5k@train); columns:
the original, three draws of the elastic distortion alone (alpha 34, sigma 4), three draws of
recipes/augment-digits.yaml, and three of recipes/augment-light.yaml (seeds 0, 1, 2).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from traingen.augment import Compose, Elastic, load
from traingen.data import open_source
from traingen.pipeline.fewlabel import fewlabel_indices
from traingen.recipes import recipe_path
from traingen.report.grid import make_grid, save_png

OUT = Path(__file__).resolve().parent / "figures" / "elastic.png"


def main() -> None:
    t = time.perf_counter()
    src = open_source("builtin:mnist5k@train")
    labels = [int(src[i].label) for i in range(len(src))]
    idx = fewlabel_indices(labels, per_class=1)
    chains = [Compose([Elastic(34.0, 4.0)]), load(recipe_path("augment-digits.yaml")),
              load(recipe_path("augment-light.yaml"))]
    rows = []
    for i in idx:
        img = np.asarray(src[int(i)].image)
        img = img[..., 0] if img.ndim == 3 else img
        row = [img]
        for pipe in chains:
            row += [pipe(image=img, seed=s)["image"] for s in range(3)]
        rows.append(row)
    save_png(OUT, make_grid(rows, cell=42, pad=2))
    print(f"wrote {OUT} in {time.perf_counter() - t:.1f} s")


if __name__ == "__main__":
    main()
