"""Make the figures of docs/augment/*.md from embedded images (scikit-image), with fixed seeds.

Usage:
    python docs/augment/make_figures.py            # writes docs/augment/figures/*.png

Each figure shows an image with its targets (boxes, keypoints, mask outline) before and after
transforms of :mod:`traingen.augment`, so the pictures document what the code does.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import cv2  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from skimage import data  # noqa: E402

import traingen.augment as A  # noqa: E402

OUT = Path(__file__).resolve().parent / "figures"
SIZE = 256


def astronaut_sample() -> dict:
    """The astronaut at 256², a box on the face, keypoints on the eyes and the mouth, a flag mask."""
    img = cv2.resize(data.astronaut(), (SIZE, SIZE), interpolation=cv2.INTER_AREA)
    mask = np.zeros((SIZE, SIZE), np.uint8)
    # The flag patch at top left: a hand-set polygon, enough to show how masks follow.
    cv2.fillPoly(mask, [np.array([[10, 30], [70, 20], [80, 90], [15, 100]], np.int32)], 1)
    return {
        "image": img,
        "mask": mask,
        "boxes": np.array([[84, 22, 140, 92], [0, 170, 110, 256]], np.float32),
        "box_labels": np.array([1, 2]),
        "keypoints": np.array([[104, 52], [126, 52], [114, 76]], np.float32),
    }


def draw(ax, out: dict, title: str) -> None:
    img = out["image"]
    ax.imshow(img if img.ndim == 3 else img, cmap=None if img.ndim == 3 else "gray", vmin=0, vmax=255)
    if out.get("mask") is not None:
        ax.contour(out["mask"] > 0, levels=[0.5], colors="cyan", linewidths=1.2)
    for (x0, y0, x1, y1), lab in zip(out.get("boxes", []), out.get("box_labels", []), strict=False):
        ax.add_patch(plt.Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, color="yellow", lw=1.5))
        ax.text(x0 + 2, y0 + 9, str(int(lab)), color="yellow", fontsize=7)
    kps = out.get("keypoints")
    if kps is not None:
        vis = out.get("keypoint_visible", np.ones(len(kps), bool))
        # Continuous coordinates: pixel i covers [i, i + 1), imshow draws pixel i over [i - 0.5, i + 0.5].
        ax.scatter(kps[vis, 0] - 0.5, kps[vis, 1] - 0.5, s=14, c="red")
        ax.scatter(kps[~vis, 0] - 0.5, kps[~vis, 1] - 0.5, s=14, facecolors="none", edgecolors="red")
    ax.set_title(title, fontsize=8)
    ax.set_axis_off()


def save(fig, name: str) -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / name
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=72, bbox_inches="tight")
    plt.close(fig)
    os.replace(tmp, path)
    return path


def geometry_figure() -> Path:
    s = astronaut_sample()
    panels = [
        ("input", None),
        ("horizontal-flip", [A.HorizontalFlip(p=1.0)]),
        ("rotate 30°", [A.Rotate((30, 30))]),
        ("scale 0.8 + translate", [A.Scale(0.8, 0.8), A.Translate((0.1, 0.1))]),
        ("random-crop 160", [A.RandomCrop(160, 160)]),
        ("random-resized-crop 224", [A.RandomResizedCrop(224, 224, scale=(0.3, 0.6))]),
        ("resize 128x256", [A.Resize(128, 256)]),
        ("seed chain (one warp)", [A.HorizontalFlip(), A.Rotate(30), A.Scale(0.8, 1.2), A.Translate(0.1),
                                   A.RandomCrop(224, 224)]),
    ]
    fig, axes = plt.subplots(2, 4, figsize=(11, 6))
    for ax, (title, ts) in zip(axes.ravel(), panels, strict=True):
        out = s if ts is None else A.Compose(ts, min_visibility=0.2)(**s, seed=3)
        draw(ax, out, title)
    return save(fig, "geometry.png")


def noise_figure() -> Path:
    img = cv2.resize(data.chelsea(), (SIZE, int(SIZE * 300 / 451)), interpolation=cv2.INTER_AREA)
    fig, axes = plt.subplots(1, 4, figsize=(12, 2.9))
    draw(axes[0], {"image": img}, "input")
    for ax, std in zip(axes[1:3], (0.05, 0.15), strict=True):
        draw(ax, A.Compose([A.GaussianNoise(std)])(image=img, seed=0), f"gaussian-noise std={std}")
    grey = np.full((128, 128, 3), 128, np.uint8)
    resid = A.Compose([A.GaussianNoise(0.05)])(image=grey, seed=0)["image"].astype(float) - 128
    axes[3].hist(resid.ravel(), bins=np.arange(-50.5, 51), color="gray")
    axes[3].set_title(f"residual on grey 128: std {resid.std():.2f} (target 12.75)", fontsize=8)
    return save(fig, "noise.png")


def cutout_figure() -> Path:
    s = astronaut_sample()
    fig, axes = plt.subplots(1, 4, figsize=(12, 3.3))
    draw(axes[0], s, "input")
    draw(axes[1], A.Compose([A.Cutout(holes=1, size=64)])(**s, seed=2), "cutout: 1 hole of 64 px")
    draw(axes[2], A.Compose([A.Cutout(holes=4, size=48, fill=128, mask_fill=0, hide_keypoints=True)])(**s, seed=5),
         "4 x 48 px, fill 128, mask_fill 0,\nhide_keypoints")
    digit = np.zeros((28, 28), np.uint8)
    cv2.putText(digit, "7", (6, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.9, 255, 3)
    light = A.load(Path(__file__).resolve().parents[2] / "recipes" / "augment-light.yaml")
    tiles = np.concatenate([light(image=digit, seed=i)["image"] for i in range(6)], axis=1)
    draw(axes[3], {"image": tiles}, "recipes/augment-light.yaml on a 28x28 digit")
    return save(fig, "cutout.png")


def main() -> int:
    cv2.setNumThreads(1)
    for make in (geometry_figure, noise_figure, cutout_figure):
        path = make()
        print(f"{path} {path.stat().st_size // 1024} KB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
