"""TextureGAN data: ``builtin:render-sketch2rgb`` (sketch + object mask | textured render) and ``builtin:texture-bank``.

``render-sketch2rgb``: 600 objects of the renderer's built-in classes (car, chair, mug), one per image,
centred, no distractors or ground, rendered at 64×64 with the renderer's procedural textures and
composited on white with the exact instance mask. Each sample is an A|B pair (the paired layout of
:mod:`traingen.data.paired`): A's red channel is the sketch (255 on a line, 0 elsewhere), its green
channel the object mask (255 inside), blue is 0; B is the textured object on white. The sketch is drawn
from geometry only, never from the texture: the object's outline (mask pixels with a background
neighbour) plus Canny edges of the object's depth map (creases and self-occlusions). The label is the
object class; the split is the fixed stratified 80/20 rule (480 / 120).

``texture-bank``: 112 external RGB textures of 96×96 for TextureGAN's fine-tuning stage, 16 of each
kind: ``checker``, ``stripes``, ``noise`` (the renderer's procedural generators, drawn from their own
seed), ``brick``, ``grass``, ``gravel`` (random crops of scikit-image's textures at random scales,
mapped between two random colours) and ``photo`` (random crops of the embedded photographs). The label
is the kind; the stratified split holds 3 textures of every kind out (91 train / 21 test), the
held-out textures of the usefulness test.

Everything is a pure function of the fixed seeds below; rendering needs moderngl with an EGL/OSMesa
context (the ``[render]`` extra).

Example:
    >>> from traingen.data import open_source
    >>> from traingen.data.paired import split_pair
    >>> a, b = split_pair(open_source("builtin:render-sketch2rgb@train")[0].image)
    >>> sketch, mask = a[..., 0] > 127, a[..., 1] > 127

References:
    Xian et al. "TextureGAN: Controlling Deep Image Synthesis with Texture Patches", CVPR 2018
    (arXiv 1706.02823): sketches of objects on white, external textures for the fine-tuning stage.
"""

from __future__ import annotations

import numpy as np

from .builtin import DATASETS, DatasetInfo

SEED = 20_261_128
COUNT = 600
SIZE = 64
BANK_SEED = 20_261_129
BANK_SIZE = 96
BANK_PER_KIND = 16
BANK_KINDS = ("checker", "stripes", "noise", "brick", "grass", "gravel", "photo")

#: the scene of every render: one centred object, no distractors, no ground (see the module docstring).
SCENE = {"version": 1, "width": SIZE, "height": SIZE,
         "objects": {"count": [1, 1], "area": 0.0, "p_on_ground": 1.0, "scale": [0.9, 1.1]},
         "distractors": {"count": [0, 0]}, "ground": {"p_visible": 0.0},
         "camera": {"pan": [0, 0], "tilt": [0, 0], "roll": [0, 0], "target_jitter": 0.0,
                    "distance": [3.2, 4.2], "elevation": [10, 35]}}


def sketch_from_geometry(mask: np.ndarray, depth: np.ndarray, *, low: int = 30, high: int = 90) -> np.ndarray:
    """A line drawing of an object from its mask and depth (bool H×W, True on a line).

    Args:
        mask: bool H×W object mask.
        depth: float H×W depth (any units); only values inside ``mask`` are used.
        low, high: Canny thresholds on the depth rescaled to 0..255 inside the object.

    Returns:
        The outline (mask pixels with a 4-neighbour outside the mask) OR the depth edges inside the mask.
    """
    import cv2

    m = np.asarray(mask, bool)
    if not m.any():
        return np.zeros(m.shape, bool)
    inner = cv2.erode(m.astype(np.uint8), np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], np.uint8),
                      borderType=cv2.BORDER_CONSTANT, borderValue=0).astype(bool)
    d = np.asarray(depth, np.float64)
    lo, hi = float(d[m].min()), float(d[m].max())
    dn = np.zeros(m.shape, np.uint8)
    dn[m] = np.clip(np.rint(255.0 * (d[m] - lo) / max(hi - lo, 1e-9)), 0, 255).astype(np.uint8)
    edges = cv2.Canny(dn, low, high) > 0
    return (m & ~inner) | (edges & m)


def encode_a(sketch: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The A half of a pair: sketch in red, object mask in green (uint8 H×W×3)."""
    a = np.zeros((*sketch.shape, 3), np.uint8)
    a[..., 0] = np.where(sketch, 255, 0)
    a[..., 1] = np.where(mask, 255, 0)
    return a


def decode_a(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(sketch, mask)`` bool H×W arrays from an A half written by :func:`encode_a`."""
    a = np.asarray(a)
    if a.ndim != 3 or a.shape[2] < 2:
        from ..core.errors import DataError

        raise DataError(f"a TextureGAN input holds sketch (red) and object mask (green); got shape {a.shape}",
                        field="image")
    return a[..., 0] > 127, a[..., 1] > 127


def _load_pairs() -> dict[str, np.ndarray]:
    from ..render.job import SceneRenderer
    from ..render.scene import scene_from_dict

    r = SceneRenderer(scene_from_dict(SCENE), seed=SEED)
    images, labels = [], []
    try:
        for i in range(COUNT):
            s = r.sample(i)
            m = np.asarray(s.instance_mask) == 1
            sketch = sketch_from_geometry(m, s.meta["depth"])
            b = np.where(m[..., None], np.asarray(s.image, np.uint8)[..., :3], 255).astype(np.uint8)
            images.append(np.concatenate([encode_a(sketch, m), b], axis=1))
            labels.append(int(s.box_labels[0]) if len(s.box_labels) else 0)
    finally:
        r.close()
    return {"images": np.stack(images), "labels": np.asarray(labels, np.int64)}


def _two_colour(rng: np.random.Generator, t: np.ndarray) -> np.ndarray:
    c = rng.uniform(0, 1, size=(2, 3))
    return c[0] * (1.0 - t[..., None]) + c[1] * t[..., None]


def _crop_resized(rng: np.random.Generator, img: np.ndarray, lo: int, hi: int) -> np.ndarray:
    import cv2

    h, w = img.shape[:2]
    s = int(rng.integers(min(lo, h, w), min(hi, h, w) + 1))
    y, x = int(rng.integers(0, h - s + 1)), int(rng.integers(0, w - s + 1))
    crop = np.ascontiguousarray(img[y:y + s, x:x + s])
    return cv2.resize(crop, (BANK_SIZE, BANK_SIZE), interpolation=cv2.INTER_AREA)


def _load_bank() -> dict[str, np.ndarray]:
    from skimage import data as skdata

    from ..core.seeding import numpy_rng
    from ..render.textures import PROCEDURAL
    from .builtin import load_builtin

    photos = load_builtin("photos")
    photo_items = [photos.items[n] for n in ("astronaut", "chelsea", "coffee", "rocket", "china", "flower")]
    images, labels = [], []
    for k, kind in enumerate(BANK_KINDS):
        rng = numpy_rng(BANK_SEED, kind)
        for _ in range(BANK_PER_KIND):
            if kind in ("checker", "stripes", "noise"):
                x = PROCEDURAL[kind](rng, BANK_SIZE)
            elif kind in ("brick", "grass", "gravel"):
                grey = getattr(skdata, kind)().astype(np.float32) / 255.0
                x = _two_colour(rng, _crop_resized(rng, grey, 64, 256))
            else:
                img = photo_items[int(rng.integers(0, len(photo_items)))]
                x = _crop_resized(rng, img, 48, 160).astype(np.float32) / 255.0
            images.append(np.clip(np.rint(np.asarray(x, np.float64) * 255.0), 0, 255).astype(np.uint8))
            labels.append(k)
    return {"images": np.stack(images), "labels": np.asarray(labels, np.int64)}


DATASETS.register("render-sketch2rgb")(DatasetInfo(
    "render-sketch2rgb", "renderer objects: sketch (red) + object mask (green) | textured object on white, "
    "64x64 pairs side by side (A|B)", "traingen.render built-in classes (procedural textures), seed fixed",
    "generated by traingen (MIT)", COUNT, "64x128 RGB (A|B)", ("car", "chair", "mug"),
    {"train": 480, "test": 120}, loader=_load_pairs))

DATASETS.register("texture-bank")(DatasetInfo(
    "texture-bank", "external textures for TextureGAN fine-tuning: procedural, scikit-image and photo crops",
    "traingen.render.textures + scikit-image brick/grass/gravel + the embedded photos, seed fixed",
    "generated by traingen (MIT) from CC0 / public-domain / CC BY 2.0 sources", len(BANK_KINDS) * BANK_PER_KIND,
    f"{BANK_SIZE}x{BANK_SIZE} RGB", BANK_KINDS, {"train": 91, "test": 21}, loader=_load_bank))
