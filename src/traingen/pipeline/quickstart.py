"""The quickstart job (``traingen quickstart``, what ``make demo`` runs).

Export the embedded ``mnist5k`` training split, augment it with ``recipes/augment-light.yaml``,
write a PNG grid of originals beside their augmentations and a short HTML page.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.seeding import derive_seed

SOURCE = "builtin:mnist5k@train"
RECIPE = "augment-light.yaml"


@dataclass
class QuickstartResult:
    out: Path
    export: Path
    augmented: Path
    grid: Path
    page: Path
    samples: int
    seconds: dict[str, float]


def run_quickstart(out: str | Path, *, seed: int = 0, workers: int = 1, copies: int = 1,
                   limit: int | None = None, overwrite: bool = False, progress=None) -> QuickstartResult:
    """Run the quickstart into ``out`` and return where everything went."""
    from .. import augment, data
    from ..core.config import load_yaml
    from ..recipes import recipe_path
    from ..report import Page, comparison_grid, save_png
    from .augment_job import run_augment, spread_indices

    out = Path(out)
    times: dict[str, float] = {}
    t = time.perf_counter()
    pipe_path = recipe_path(RECIPE)
    pipe_dict = load_yaml(pipe_path)
    export_dir = out / "mnist5k"
    src = data.open_source(SOURCE)
    source = src if limit is None else src.subset(spread_indices(min(limit, len(src)), len(src)))
    data.export_source(source, export_dir, fmt="imagefolder", workers=workers, overwrite=overwrite)
    times["export"] = time.perf_counter() - t

    t = time.perf_counter()
    aug_dir = out / "augmented"
    res = run_augment(SOURCE, pipe_dict, aug_dir, copies=copies, seed=seed, workers=workers, limit=limit,
                      overwrite=overwrite, progress=progress, opened=src)
    times["augment"] = time.perf_counter() - t

    t = time.perf_counter()
    pipe = augment.from_dict(pipe_dict)
    # One original per class (the first of each), then six seeded augmentations of it.
    firsts: dict[Any, int] = {}
    n = len(src) if limit is None else min(limit, len(src))
    for i in spread_indices(n, len(src)):
        lab = src[i].label
        if lab not in firsts:
            firsts[lab] = i
        if len(firsts) == len(src.classes):
            break
    originals, rows = [], []
    for lab in sorted(firsts, key=lambda v: int(v)):
        s = src[firsts[lab]]
        originals.append(s.image)
        rows.append([pipe(s, seed=derive_seed(seed, "grid", firsts[lab], k)).image for k in range(6)])
    grid = comparison_grid(originals, rows, cell=56)
    grid_path = save_png(out / "grid.png", grid)
    manifest = json.loads(Path(res.manifest).read_text())
    times["report"] = time.perf_counter() - t

    page = Page("traingen quickstart: mnist5k augmented")
    page.text(f"Source {SOURCE}: {n} images, {len(src.classes)} classes. Augmented with {RECIPE}, "
              f"{copies} copy per image, seed {seed}.")
    page.heading("Originals (left) beside augmentations")
    page.image(grid, caption="First image of each class, then six augmentations of it.", alt="sample grid")
    page.heading("Output")
    page.table(["what", "value"], [
        ["exported originals", str(export_dir)],
        ["augmented dataset", str(aug_dir)],
        ["samples written", res.total],
        ["shards", res.shards],
        ["format", res.format],
        ["manifest shards", len(manifest.get("shards", []))],
    ])
    page.heading("Time per stage (seconds)")
    page.table(["stage", "seconds"], [[k, f"{v:.2f}"] for k, v in times.items()])
    page.heading("Pipeline")
    page.code(pipe_path.read_text())
    page_path = page.write(out / "index.html")
    return QuickstartResult(out, export_dir, aug_dir, grid_path, page_path, res.total, times)
