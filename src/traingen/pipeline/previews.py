"""Preview images of a run for its report: grids per class and per step, originals beside outputs.

Written once at the end of :func:`traingen.pipeline.run.run` into ``RUN/preview/`` (small PNGs and
``index.json`` with their captions), so ``traingen report RUN`` can rebuild the page later without
loading a model. Targets are drawn: boxes as rectangles, class masks and instance masks as a colour
overlay (:func:`traingen.report.draw.draw_targets`).

Example:
    >>> write_previews(job, Path("RUN/preview"))
    [{'file': 'augment-pairs.png', 'caption': ...}, ...]
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..data.cache import atomic_write_json

PER_CLASS = 8
PAIRS = 8
SCAN = 400  # samples of a part looked at to fill the per-class rows


def write_previews(job: Any, folder: Path) -> list[dict[str, Any]]:
    """Write the preview PNGs of every part of the final set; returns the ``index.json`` entries."""
    from ..report.draw import draw_targets
    from ..report.grid import make_grid, save_png

    folder.mkdir(parents=True, exist_ok=True)
    built = job.build()
    entries: list[dict[str, Any]] = []
    classes = job.classes
    for seg in job.segments:
        n = seg.stop - seg.start
        scan = min(n, SCAN)
        samples = job.samples(seg.start, seg.start + scan)
        rows: dict[Any, list] = {}
        for s in samples:
            lab = s.label
            key = int(lab) if lab is not None and getattr(lab, "ndim", 0) == 0 else "unlabelled"
            if len(rows.setdefault(key, [])) < PER_CLASS:
                rows[key].append(draw_targets(s))
        order = sorted((k for k in rows if k != "unlabelled"), key=int) + (["unlabelled"] if "unlabelled" in rows else [])
        if order:
            name = f"{seg.what}-by-class.png"
            save_png(folder / name, make_grid([rows[k] for k in order], cell=_cell(samples[0].image)))
            names = [classes[k] if isinstance(k, int) and k < len(classes) else str(k) for k in order]
            entries.append({"file": name, "part": seg.what, "kind": "by-class",
                            "caption": f"{seg.what}: up to {PER_CLASS} samples per class (rows: {', '.join(names)}), "
                                       f"from the first {scan} of {n}", "rows": names})
        step = built.get(seg.what) if seg.what != "source" else None
        if step is not None and step.input is not None and step.show_pairs:
            k = min(PAIRS, n)
            outs = samples[:k]
            from .steps import input_index

            origs = [step.input[input_index(i, len(step.input))] for i in range(k)]
            name = f"{seg.what}-pairs.png"
            grid = make_grid([[draw_targets(o) for o in origs], [draw_targets(s) for s in outs]],
                             cell=_cell(outs[0].image))
            save_png(folder / name, grid)
            entries.append({"file": name, "part": seg.what, "kind": "pairs",
                            "caption": f"{seg.what}: inputs (top row) above the step's outputs (bottom row), "
                                       f"samples 0-{k - 1}"})
    atomic_write_json(folder / "index.json", entries)
    return entries


def _cell(image: Any) -> int:
    h = max(image.shape[0], image.shape[1])
    return 56 if h <= 32 else 96 if h <= 96 else 128
