"""``builtin:edges2photos``: Canny edges of crops of the embedded photos, paired with the crops.

Each of the 7 embedded photographs (``builtin:photos``) gives 40 square crops (side 30–60 % of the
photo's short side, uniformly placed, drawn from ``numpy_rng(SEED, "edges2photos", photo, k)``) resized
to 128×128. A is the Canny edge map of the crop (OpenCV, thresholds 100/200 on the grey crop after a 3×3
Gaussian blur), drawn black on white as in pix2pix's edges2shoes; B is the crop. Images are stored as
A|B side by side (:mod:`traingen.data.paired`); the label is the photo, and the fixed 80/20 split keeps
32 crops of each photo for training (crops of one photo overlap, so test crops are not unseen scenes).

References:
    Canny. "A Computational Approach to Edge Detection", TPAMI 1986.
    Isola et al., CVPR 2017 (edges2shoes / edges2handbags built with HED edges).
"""

from __future__ import annotations

import numpy as np

from ..core.seeding import numpy_rng
from .builtin import DATASETS, PHOTO_ITEMS, DatasetInfo, load_builtin

SEED = 20_240_802
CROPS_PER_PHOTO = 40
SIZE = 128


def canny_edges(rgb: np.ndarray) -> np.ndarray:
    """Black-on-white Canny edges (H×W×3 uint8) of an RGB uint8 image."""
    import cv2

    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    edges = cv2.Canny(cv2.GaussianBlur(grey, (3, 3), 0), 100, 200)
    return np.repeat((255 - edges)[..., None], 3, axis=2)


def _rgb(img: np.ndarray) -> np.ndarray:
    return np.repeat(img[..., None], 3, axis=2) if img.ndim == 2 else img[..., :3]


def _load() -> dict[str, np.ndarray]:
    import cv2

    photos = load_builtin("photos")
    images, labels = [], []
    for p, name in enumerate(PHOTO_ITEMS):
        img = _rgb(photos.items[name])
        h, w = img.shape[:2]
        for k in range(CROPS_PER_PHOTO):
            rng = numpy_rng(SEED, "edges2photos", p, k)
            side = int(min(h, w) * rng.uniform(0.3, 0.6))
            y, x = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
            crop = cv2.resize(img[y:y + side, x:x + side], (SIZE, SIZE), interpolation=cv2.INTER_AREA)
            images.append(np.concatenate([canny_edges(crop), crop], axis=1))
            labels.append(p)
    return {"images": np.stack(images), "labels": np.asarray(labels, np.int64)}


DATASETS.register("edges2photos")(DatasetInfo(
    "edges2photos", "Canny edges | photo crops, 128x128 pairs side by side (A|B)",
    "crops of builtin:photos, edges by OpenCV Canny", "as builtin:photos (per photo)",
    CROPS_PER_PHOTO * len(PHOTO_ITEMS), "128x256 RGB (A|B)", PHOTO_ITEMS,
    {"train": 32 * len(PHOTO_ITEMS), "test": 8 * len(PHOTO_ITEMS)}, loader=_load))
