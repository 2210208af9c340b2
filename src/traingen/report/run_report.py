"""The report of a run: one static HTML file (``RUN/report.html``) that opens from disk with no network.

Everything is inline (PNG data URIs, no script, no stylesheet or font fetched), so the file can be
mailed or attached as it is. Sections, from what the run folder holds:

- the recipe as resolved (``RUN/recipe.yaml``: versions of traingen and torch, model hashes);
- the manifest's counts (``RUN/data/manifest.json``: total, per part, per shard with sha256);
- sample grids per class and per step, inputs beside outputs, masks and boxes drawn (``RUN/preview``);
- extra result tables (``RUN/tables.json``, e.g. the quickstart's accuracy per arm);
- metric tables with their provenance: extractor, N, seed, reference (``RUN/metrics.json``);
- plots (``RUN/plots/*.png`` with ``index.json`` captions, e.g. training curves and accuracy against
  the amount of synthetic data), and a bar chart of the time each stage took (``RUN/run.json``).

Example:
    >>> write_report("runs/aug")          # -> runs/aug/report.html
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..core.errors import OutputError
from .html import Page


def _read_json(path: Path, default: Any) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return default
    except (OSError, ValueError) as e:
        raise OutputError(f"unreadable ({e})", where=str(path)) from e


def stage_plot(seconds: dict[str, float]) -> bytes:
    """A horizontal bar chart of seconds per stage, as PNG bytes (matplotlib, Agg backend)."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(seconds)
    fig, ax = plt.subplots(figsize=(6, 0.4 * max(2, len(names)) + 0.8), dpi=80)
    ax.barh(names[::-1], [seconds[k] for k in names][::-1], color="#3776ab")
    ax.set_xlabel("seconds")
    ax.set_title("time per stage")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def metric_rows(metrics: dict[str, Any]) -> list[list[Any]]:
    """One table row per metric: name, value, ± std, extractor, N, seed, reference data."""
    rows = []
    for name, r in metrics.items():
        if not isinstance(r, dict):
            continue
        value = r.get("value", r.get("mean"))
        std = r.get("std")
        n = r.get("n", r.get("n_fake"))
        rows.append([name, _fmt(value), "" if std is None else _fmt(std), r.get("extractor") or r.get("classifier") or "",
                     "" if n is None else n, r.get("seed", ""), r.get("real") or r.get("reference") or ""])
    return rows


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4f}"
    return str(v)


def write_report(run_dir: str | os.PathLike, *, title: str | None = None) -> Path:
    """Build ``RUN/report.html`` from what the run folder holds; returns its path.

    Raises:
        OutputError: ``run_dir`` is not a run folder (no ``recipe.yaml``) or a file is unreadable.
    """
    import yaml

    run_dir = Path(run_dir)
    recipe_path = run_dir / "recipe.yaml"
    if not recipe_path.is_file():
        raise OutputError("not a traingen run folder: recipe.yaml is missing", where=str(run_dir))
    recipe_text = recipe_path.read_text()
    recipe = yaml.safe_load(recipe_text) or {}
    manifest = _read_json(run_dir / "data" / "manifest.json", {})
    run_info = _read_json(run_dir / "run.json", {})
    metrics = _read_json(run_dir / "metrics.json", {})
    tables = _read_json(run_dir / "tables.json", [])
    previews = _read_json(run_dir / "preview" / "index.json", [])
    plots = _read_json(run_dir / "plots" / "index.json", [])
    resolved = recipe.get("resolved", {})

    page = Page(title or f"traingen run: {run_dir.name}")
    versions = resolved.get("versions", {})
    page.text(f"Source {recipe.get('source')}; steps {', '.join(s.get('step', '?') for s in recipe.get('steps', []))}; "
              f"seed {recipe.get('seed')}; engine {run_info.get('engine', recipe.get('engine'))} with "
              f"{run_info.get('workers', recipe.get('workers'))} worker(s); traingen {versions.get('traingen')}, "
              f"torch {versions.get('torch')}.")

    page.heading("Manifest")
    counts = resolved.get("counts", {})
    page.table(["part", "samples"], [[k, v] for k, v in counts.items()] + [["total", manifest.get("total", "")]],
               id="counts")
    page.table(["format", "classes", "shards", "total"],
               [[manifest.get("format", ""), len(manifest.get("classes", [])), len(manifest.get("shards", [])),
                 manifest.get("total", "")]], id="manifest")
    shard_rows = [[s["id"], s["start"], s["stop"], s["count"], s["sha256"][:16]] for s in manifest.get("shards", [])]
    if shard_rows:
        page.table(["shard", "start", "stop", "count", "sha256 (first 16)"], shard_rows[:50], id="shards")
        if len(shard_rows) > 50:
            page.text(f"... and {len(shard_rows) - 50} more shards (all in data/manifest.json).")

    if previews:
        page.heading("Samples")
        for e in previews:
            path = run_dir / "preview" / e["file"]
            if path.is_file():
                page.png(path.read_bytes(), caption=e.get("caption", ""), alt=e["file"])

    for t in tables:
        page.heading(t.get("title", "Results"))
        if t.get("text"):
            page.text(t["text"])
        page.table(t["header"], t["rows"], id=t.get("id"))

    if metrics:
        page.heading("Metrics")
        page.table(["metric", "value", "std", "extractor / classifier", "N", "seed", "reference"],
                   metric_rows(metrics), id="metrics")

    page.heading("Plots")
    for e in plots:
        path = run_dir / "plots" / e["file"]
        if path.is_file():
            page.png(path.read_bytes(), caption=e.get("caption", ""), alt=e["file"])
    seconds = run_info.get("seconds", {})
    if seconds:
        page.png(stage_plot(seconds), caption="Time per stage (seconds), from run.json", alt="time per stage")
        page.heading("Time per stage")
        page.table(["stage", "seconds"], [[k, f"{v:.2f}"] for k, v in seconds.items()], id="times")
        if "loadavg" in run_info:
            page.text(f"Load average at the end: {', '.join(f'{x:.2f}' for x in run_info['loadavg'])}; "
                      f"host {run_info.get('host', '?')}.")

    page.heading("Recipe (resolved)")
    page.code(recipe_text)
    return page.write(run_dir / "report.html")
