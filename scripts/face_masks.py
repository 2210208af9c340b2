"""Write the facial region masks used by ``traingen style --method facial`` on package-shipped faces.

The faces are scikit-image's ``astronaut`` (Eileen Collins, NASA, public domain; ``builtin:photos/astronaut``)
and matplotlib's ``grace_hopper.jpg`` (US Navy, public domain). Their regions are ellipses placed by
hand on a 10-pixel grid over each photo (the numbers below, in pixel coordinates of the full image,
centre x, centre y, half-width, half-height); later ellipses overwrite earlier ones. Labels: 0
background, 1 skin, 2 hair (or hat), 3 eyes, 4 nose, 5 mouth (:data:`traingen.style.facial.REGIONS`).

Run (about a second):
    .venv/bin/python scripts/face_masks.py            # -> src/traingen/style/faces/<name>.png
    .venv/bin/python scripts/face_masks.py --preview docs/style/face_masks.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

OUT = Path(__file__).resolve().parents[1] / "src" / "traingen" / "style" / "faces"

# (label, cx, cy, rx, ry) in paint order.
ELLIPSES = {
    "astronaut": [
        (2, 226, 75, 74, 58), (1, 228, 124, 45, 48),
        (3, 203, 100, 12, 5), (3, 245, 101, 12, 5), (4, 225, 118, 9, 14), (5, 223, 145, 20, 9),
    ],
    "grace_hopper": [
        (2, 262, 92, 112, 72), (1, 263, 233, 100, 95),
        (3, 222, 190, 15, 8), (3, 305, 187, 15, 8), (4, 267, 225, 15, 25), (5, 263, 278, 33, 10),
    ],
}


def load_face(name: str) -> np.ndarray:
    """The HxWx3 uint8 photo of a shipped face."""
    if name == "astronaut":
        from skimage import data

        return data.astronaut()
    if name == "grace_hopper":
        import matplotlib.cbook as cbook
        from PIL import Image

        with Image.open(cbook.get_sample_data("grace_hopper.jpg")) as im:
            return np.asarray(im.convert("RGB"))
    raise SystemExit(f"unknown face {name!r}; known: {', '.join(ELLIPSES)}")


def draw_mask(shape: tuple[int, int], ellipses: list[tuple[int, int, int, int, int]]) -> np.ndarray:
    """An HxW uint8 label map with the ellipses filled in order."""
    mask = np.zeros(shape, np.uint8)
    for label, cx, cy, rx, ry in ellipses:
        cv2.ellipse(mask, (cx, cy), (rx, ry), 0, 0, 360, int(label), thickness=-1)
    return mask


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--preview", type=Path, help="also write an overlay of every mask on its photo")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    previews = []
    palette = np.array([[0, 0, 0], [255, 200, 150], [120, 60, 20], [0, 120, 255], [0, 220, 0], [255, 0, 0]],
                       np.uint8)
    for name, ell in ELLIPSES.items():
        img = load_face(name)
        mask = draw_mask(img.shape[:2], ell)
        cv2.imwrite(str(args.out / f"{name}.png"), mask)
        print(f"{name}: {img.shape[1]}x{img.shape[0]}, labels {sorted(np.unique(mask).tolist())}")
        over = (0.55 * img + 0.45 * palette[mask]).astype(np.uint8)
        previews.append(cv2.resize(over, (256, round(256 * img.shape[0] / img.shape[1]))))
    if args.preview:
        h = max(p.shape[0] for p in previews)
        row = np.concatenate([np.pad(p, ((0, h - p.shape[0]), (0, 0), (0, 0))) for p in previews], 1)
        args.preview.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(args.preview), row[:, :, ::-1])


if __name__ == "__main__":
    main()
