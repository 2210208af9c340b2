"""``builtin:render-mask2rgb``: renderer label maps (class mask + depth) -> rendered RGB, 64×64 A|B pairs.

Built with the project's domain-randomization renderer (:class:`traingen.render.job.SceneRenderer`,
default scene at 64×64, seed fixed): image ``i`` is a pure function of ``(SEED, i)``. A encodes the
labels as an RGB image: channels 0 and 1 hold the class map (``class_mask``: 0 background, label + 1
for objects) scaled by ``255 // (classes + 1)``, channel 2 the depth (linear, 0 at the far plane of the
image's valid pixels, 255 at the nearest; 0 where nothing was hit). B is the rendered image. 500 pairs,
split 80/20 by the fixed rule (one class: "scene").

``builtin:render-mask2rgb-classtex`` is the same renderer, seed and label encoding with the scene of
:data:`VARIANTS` ``"class-textures"``: every object of a class wears its class's one texture (car a checker,
chair stripes, mug value noise; distractors all dead leaves; one background image, no ground plane, no random
UV or tint), while layout, pose, camera and lights stay random. A class's appearance is then predictable from
its label map, as a Cityscapes class's is (road grey, vegetation green): the labels -> photo setting of
Isola et al. (2017), which the default domain-randomised textures are not (the best L1 answer for a random
texture is a flat grey object).

``builtin:render-mask2rgb-classfam`` (:data:`VARIANTS` ``"class-families"``) sits between the two: each class
has a family of four textures of its kind (four checkers, four stripe patterns, four noises, differing in
colours and scales) and every object draws one. A class's *kind* follows from its label map, its colours do
not, as a Cityscapes car's shape does and its paint does not: the conditional mean that an L1 generator
learns is then a blend of the family, which a conditional GAN need not draw.

:func:`render_range` gives more pairs of the same renderer beyond the dataset's ``COUNT`` (images
``start .. start + count - 1``, cached as ``datasets/render-mask2rgb-range-<start>-<count>-v1.npz``): the
FCN-score experiment draws its separate segmenter-training renders and held-out label maps from there;
``variant="class-textures"`` gives the same ranges of the class-texture scene. Every cache (the datasets'
and the ranges') is checked on load against a fresh render of its first image and re-rendered when the
renderer has changed (:func:`cache_is_current`).

Rendering needs moderngl with an EGL/OSMesa context (the ``[render]`` extra); without it loading the
dataset is a clear DataError.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from .builtin import DATASETS, DatasetInfo

SEED = 20_240_803
COUNT = 500
SIZE = 64
#: Scene overrides per variant (a :func:`~traingen.render.scene.scene_from_dict` dict). ``default`` is the
#: dataset's scene (its bytes never change); ``class-textures`` fixes the texture of each class: with
#: ``textures.randomize`` off the renderer gives class ``k`` pool layer ``k`` (the kinds below, in order),
#: every distractor the last layer, the background layer 0 unscaled; the ground plane would share class 0's
#: layer, so it is off.
VARIANTS: dict[str, dict] = {
    "default": {},
    "class-textures": {"textures": {"randomize": False, "pool": 4,
                                    "procedural": ["checker", "stripes", "noise", "dead-leaves"]},
                       "background": {"pool": 1}, "ground": {"p_visible": 0.0}},
    "class-families": {"textures": {"randomize": False, "pool": 16, "per_class": 4,
                                    "procedural": ["checker", "stripes", "noise", "dead-leaves"]},
                       "background": {"pool": 1}, "ground": {"p_visible": 0.0}},
}
#: The builtin dataset of each variant (also the prefix of its range caches).
DATASET_NAMES = {"default": "render-mask2rgb", "class-textures": "render-mask2rgb-classtex",
                 "class-families": "render-mask2rgb-classfam"}


def labels_to_rgb(class_mask: np.ndarray, depth: np.ndarray, n_classes: int) -> np.ndarray:
    """The A image of a pair (module docstring)."""
    step = 255 // (n_classes + 1)
    cls = (np.asarray(class_mask, np.int64) * step).clip(0, 255).astype(np.uint8)
    d = np.asarray(depth, np.float64)
    valid = np.isfinite(d) & (d > 0) & (class_mask >= 0)
    out = np.zeros(d.shape, np.uint8)
    if valid.any():
        lo, hi = float(d[valid].min()), float(d[valid].max())
        out[valid] = np.rint(255.0 * (hi - d[valid]) / (hi - lo if hi > lo else 1.0)).astype(np.uint8)
    return np.stack([cls, cls, out], axis=-1)


def _check_variant(variant: str) -> None:
    from ..core.errors import DataError

    if variant not in VARIANTS:
        raise DataError(f"unknown variant {variant!r}; expected one of {sorted(VARIANTS)}", where="render-mask2rgb",
                        field="variant")


def _render(start: int, count: int, variant: str = "default") -> np.ndarray:
    from ..render.job import SceneRenderer
    from ..render.scene import scene_from_dict

    _check_variant(variant)
    scene = {"version": 1, "width": SIZE, "height": SIZE, **VARIANTS[variant]}
    r = SceneRenderer(scene_from_dict(scene), seed=SEED)
    try:
        n_classes = len(r.catalogue.classes)
        images = []
        for i in range(start, start + count):
            s = r.sample(i)
            a = labels_to_rgb(s.mask, s.meta["depth"], n_classes)
            images.append(np.concatenate([a, np.asarray(s.image, np.uint8)[..., :3]], axis=1))
    finally:
        r.close()
    return np.stack(images)


def cache_is_current(images: np.ndarray, start: int, variant: str = "default") -> bool:
    """Does a cached range still match the renderer? Its first image is rendered afresh and compared.

    The cache names carry :data:`~traingen.data.builtin.CACHE_VERSION`, which does not follow renderer
    changes: in session 7, 26 % of the pixels of images 0-5 of a cached ``render-mask2rgb`` differed from a
    fresh render with the same seed. A mismatch makes the caller re-render the whole range. Without a
    renderer (no moderngl / GL context) the cache cannot be checked and is kept.
    """
    try:
        fresh = _render(start, 1, variant)[0]
    except (ImportError, OSError):
        return True
    return len(images) > 0 and np.array_equal(images[0], fresh)


def _load() -> dict[str, np.ndarray]:
    return {"images": _render(0, COUNT), "labels": np.zeros(COUNT, np.int64)}


def _load_variant(variant: str) -> dict[str, np.ndarray]:
    return {"images": _render(0, COUNT, variant), "labels": np.zeros(COUNT, np.int64)}


def render_range(start: int, count: int, *, variant: str = "default") -> np.ndarray:
    """A|B pairs (``count`` × 64 × 128 × 3 uint8) of renderer images ``start .. start + count - 1``.

    Image ``i`` is the same as the ``variant``'s dataset's image ``i`` would be (a pure function of
    ``(SEED, i)``), so ranges starting at or after ``COUNT`` hold scenes the dataset does not. Cached after
    the first call (``render-mask2rgb[-classtex]-range-<start>-<count>-v1.npz``).

    Example:
        >>> pairs = render_range(500, 1000)      # 1,000 renders none of the 500 dataset pairs share
        >>> fixed = render_range(500, 1000, variant="class-textures")   # the same scenes, class textures
    """
    from ..core.errors import DataError
    from .builtin import CACHE_VERSION
    from .cache import cache_dir, load_npz, save_npz_atomic

    if start < 0 or count < 1:
        raise DataError(f"need start >= 0 and count >= 1, got start={start}, count={count}",
                        where="render-mask2rgb")
    _check_variant(variant)
    path = cache_dir() / "datasets" / f"{DATASET_NAMES[variant]}-range-{start}-{count}-v{CACHE_VERSION}.npz"
    arrays = load_npz(path) if path.exists() else None
    if (arrays is None or arrays.get("images") is None or len(arrays["images"]) != count
            or not cache_is_current(arrays["images"], start, variant)):
        try:
            arrays = {"images": _render(start, count, variant)}
        except (ImportError, OSError) as e:
            raise DataError(f"cannot render: {e}", where="render-mask2rgb") from e
        save_npz_atomic(path, **arrays)
    return arrays["images"]


DATASETS.register("render-mask2rgb")(DatasetInfo(
    "render-mask2rgb", "renderer class mask + depth | rendered RGB, 64x64 pairs side by side (A|B)",
    "traingen.render default scene (procedural textures), seed fixed", "generated by traingen (MIT)",
    COUNT, "64x128 RGB (A|B)", ("scene",), {"train": 400, "test": 100}, loader=_load,
    current=lambda arrays: cache_is_current(arrays["images"], 0)))

#: How each non-default variant's dataset describes its textures.
_VARIANT_TEXTURES = {"class-textures": "one fixed texture per class",
                     "class-families": "a family of 4 textures per class (one procedural kind, different colours)"}

for _variant, _textures in _VARIANT_TEXTURES.items():
    DATASETS.register(DATASET_NAMES[_variant])(DatasetInfo(
        DATASET_NAMES[_variant], f"renderer class mask + depth | rendered RGB, {_textures}, 64x64 pairs side by side "
        "(A|B)", f"traingen.render scene VARIANTS[{_variant!r}], seed fixed", "generated by traingen (MIT)", COUNT,
        "64x128 RGB (A|B)", ("scene",), {"train": 400, "test": 100}, loader=partial(_load_variant, _variant),
        current=lambda arrays, v=_variant: cache_is_current(arrays["images"], 0, v)))
