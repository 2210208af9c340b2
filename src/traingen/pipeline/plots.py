"""Matplotlib plots of the main job for the report: accuracy against synthetic data, GAN training curves.

Both write small PNGs (Agg backend, 80 dpi) atomically and return their path.

Example:
    >>> accuracy_plot(Path("acc.png"), [("(a) real", 0, 0.94, 0.003), ("(b) +aug", 2000, 0.965, 0.002)])
"""

from __future__ import annotations

import io
import json
from pathlib import Path

from ..data.cache import atomic_write_bytes


def _figure(width: float = 6.0, height: float = 3.4):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt, *plt.subplots(figsize=(width, height), dpi=80)


def _save(plt, fig, path: Path) -> Path:
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
    return path


def accuracy_plot(path: Path, points: list[tuple[str, float, float, float]]) -> Path:
    """Accuracy (%) with a ±std bar against synthetic images, one labelled point per arm."""
    plt, fig, ax = _figure()
    for name, x, mean, std in points:
        ax.errorbar([x], [100 * mean], yerr=[100 * std], fmt="o", capsize=4, label=name)
    ax.set_xlabel("synthetic training images (augmented + kept GAN)")
    ax.set_ylabel("test accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    return _save(plt, fig, path)


def gan_curve_plot(path: Path, gan: str) -> Path | None:
    """D and G losses against steps from a shipped generator's card (None when it has no history)."""
    from .weights import weights_dir

    card = weights_dir() / f"{gan}.json"
    if not card.is_file():
        return None
    hist = json.loads(card.read_text()).get("history") or {}
    if not hist.get("step"):
        return None
    plt, fig, ax = _figure()
    ax.plot(hist["step"], hist["d_loss"], label="D loss")
    ax.plot(hist["step"], hist["g_loss"], label="G loss")
    ax.set_xlabel("generator step")
    ax.set_ylabel("loss")
    ax.set_title(f"{gan}: training curves")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(plt, fig, path)
