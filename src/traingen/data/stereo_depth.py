"""``builtin:stereo-depth2rgb``: the motorcycle stereo pair's disparity -> left image, tiled.

scikit-image ships one Middlebury 2014 scene (``data.stereo_motorcycle()``: left and right images and
the ground-truth disparity of the left view). A is the disparity (invalid, infinite values set to 0,
then scaled by the largest valid disparity to 0..255, grey repeated to 3 channels), B the left image;
both are cut into 64×64 tiles with stride 32 and stored as A|B side by side. Label 0 (one scene), so
the split is a fixed random 80/20 of the tiles: neighbouring tiles overlap, so the test tiles are not
unseen content.

References:
    Scharstein et al. "High-Resolution Stereo Datasets with Subpixel-Accurate Ground Truth", GCPR 2014.
"""

from __future__ import annotations

import numpy as np

from .builtin import DATASETS, DatasetInfo

TILE, STRIDE = 64, 32


def disparity_u8(disp: np.ndarray) -> np.ndarray:
    """Valid disparities scaled to 0..255 by the largest valid value; invalid (inf, NaN, <= 0) -> 0."""
    d = np.asarray(disp, np.float64)
    valid = np.isfinite(d) & (d > 0)
    top = float(d[valid].max()) if valid.any() else 1.0
    return np.where(valid, np.rint(np.clip(d, 0, top) * (255.0 / top)), 0).astype(np.uint8)


def _load() -> dict[str, np.ndarray]:
    from skimage import data

    left, _, disp = data.stereo_motorcycle()
    a_full = np.repeat(disparity_u8(disp)[..., None], 3, axis=2)
    images = []
    for y in range(0, left.shape[0] - TILE + 1, STRIDE):
        for x in range(0, left.shape[1] - TILE + 1, STRIDE):
            images.append(np.concatenate([a_full[y:y + TILE, x:x + TILE], left[y:y + TILE, x:x + TILE]], axis=1))
    return {"images": np.stack(images), "labels": np.zeros(len(images), np.int64)}


DATASETS.register("stereo-depth2rgb")(DatasetInfo(
    "stereo-depth2rgb", "disparity | left image of the Middlebury motorcycle, 64x64 tiles (A|B)",
    "scikit-image data.stereo_motorcycle()", "Middlebury stereo data (research use; D. Scharstein)",
    308, "64x128 RGB (A|B)", ("motorcycle",), {}, loader=_load))
