"""Make the figures of docs/augment/batch.md from scikit-image's bundled photographs.

Run: ``python docs/augment/make_batch_figures.py`` (writes ``docs/augment/figures/batch_*.png``;
a few seconds on one CPU). Every random choice comes from a seeded ``torch.Generator``.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from skimage import data  # noqa: E402

from traingen.augment import HorizontalFlip, RandomCrop, Rotate, Scale, Translate  # noqa: E402
from traingen.augment.batch import RICAP, BatchAffine, CutMix, Cutout, MixUp  # noqa: E402

OUT = Path(__file__).parent / "figures"
CLASSES = ["astronaut", "cat", "coffee", "rocket"]
SIZE = 128


def photos() -> torch.Tensor:
    imgs = [data.astronaut(), data.chelsea(), data.coffee(), data.rocket()]
    out = []
    for img in imgs:
        t = torch.from_numpy(img).permute(2, 0, 1).float()[None] / 255
        h, w = t.shape[-2:]
        s = min(h, w)
        t = t[..., (h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
        out.append(F.interpolate(t, size=(SIZE, SIZE), mode="bilinear", antialias=True, align_corners=False))
    return torch.cat(out)


def label_text(soft: torch.Tensor) -> str:
    parts = [f"{CLASSES[k]} {float(v):.2f}" for k, v in enumerate(soft) if float(v) > 0.005]
    return "\n".join(parts)


def show_row(axes, images, titles):
    for ax, img, title in zip(axes, images, titles, strict=True):
        ax.imshow(img.permute(1, 2, 0).clamp(0, 1).numpy())
        ax.set_title(title, fontsize=7)
        ax.axis("off")


def save(fig, name: str) -> Path:
    """Write atomically: a temporary name, then a rename."""
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / name
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=80, bbox_inches="tight")
    plt.close(fig)
    os.replace(tmp, path)
    return path


def ricap_figure(x: torch.Tensor, y: torch.Tensor) -> Path:
    # seed 10 draws an interior boundary; Beta(0.3, 0.3) often puts it near an edge (see the docs)
    out = RICAP(beta=0.3)(x, y, num_classes=4, generator=torch.Generator().manual_seed(10))
    fig, axes = plt.subplots(2, 4, figsize=(8, 4.6))
    show_row(axes[0], x, [f"input: {c}" for c in CLASSES])
    w, h = int(out.params.w[0]), int(out.params.h[0])
    show_row(axes[1], out.images, [label_text(s) for s in out.labels])
    for ax in axes[1]:
        ax.axvline(w - 0.5, color="w", lw=0.8)
        ax.axhline(h - 0.5, color="w", lw=0.8)
    fig.suptitle(f"RICAP (beta=0.3), boundary w={w}, h={h}: soft labels = patch areas", fontsize=9)
    return save(fig, "batch_ricap.png")


def mixers_figure(x: torch.Tensor, y: torch.Tensor) -> Path:
    g = torch.Generator().manual_seed(0)
    rows = [
        ("MixUp a=1", MixUp(alpha=1.0)(x, y, num_classes=4, generator=g)),
        ("CutMix a=1", CutMix(alpha=1.0)(x, y, num_classes=4, generator=g)),
        ("Cutout 2x40", Cutout(holes=2, size=40)(x, y, num_classes=4, generator=g)),
    ]
    pipe = [HorizontalFlip(), Rotate(30), Scale(0.8, 1.2), Translate(0.1), RandomCrop(112, 112)]
    aff = BatchAffine(pipe, noise_std=0.05)(x, y, num_classes=4, generator=g)
    fig, axes = plt.subplots(4, 4, figsize=(8, 9.2))
    for ax_row, (name, out) in zip(axes, rows, strict=False):
        show_row(ax_row, out.images, [f"{name}\n{label_text(s)}" for s in out.labels])
    show_row(axes[3], aff.images, ["BatchAffine + noise"] * 4)
    return save(fig, "batch_mixers.png")


def main() -> None:
    torch.set_num_threads(1)
    x = photos()
    y = torch.arange(4)
    for path in (ricap_figure(x, y), mixers_figure(x, y)):
        print(path)


if __name__ == "__main__":
    main()
