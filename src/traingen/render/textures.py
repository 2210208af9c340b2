"""Random textures for domain randomization: procedural patterns and pools of image textures.

Procedural kinds (each a pure function of an ``rng`` and a size): ``checker``, ``stripes``, ``noise``
(multi-octave value noise), ``gradient``, ``flat`` (one colour), ``dead-leaves`` (occluding discs of
random colours with power-law radii: the statistics of natural images without any photograph). :func:`texture_pool` builds a fixed
stack of textures once per renderer from ``(seed, name)`` -- procedural ones, images from a folder, or
both -- and each rendered object picks a layer and a random UV transform per image, so the pool never
has to be re-uploaded and the choice is still a draw of the image's own rng.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> checker(rng, 64).shape
    (64, 64, 3)

References:
    Tremblay et al., "Training Deep Networks with Synthetic Data: Bridging the Reality Gap by Domain
    Randomization", CVPRW 2018 (arXiv 1804.06516): random textures on objects and distractors, random
    background photographs (Flickr 8K in the paper; any folder here).
    Lee, Mumford & Huang, "Occlusion Models for Natural Images: A Statistical Study of a Scale-Invariant
    Dead Leaves Model", IJCV 2001; Baradad et al., "Learning to See by Looking at Noise", NeurIPS 2021
    (dead-leaves images as a photograph-free training source).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..core.errors import ConfigError, DataError


def _colours(rng: np.random.Generator, k: int) -> np.ndarray:
    return rng.uniform(0, 1, size=(k, 3))


def checker(rng: np.random.Generator, size: int) -> np.ndarray:
    """Two random colours in squares of a random count per side."""
    c = _colours(rng, 2)
    n = int(rng.integers(2, 12))
    ij = (np.arange(size) * n // size)
    sel = (ij[:, None] + ij[None, :]) % 2
    return c[sel]


def stripes(rng: np.random.Generator, size: int) -> np.ndarray:
    """Stripes of 2-4 random colours at a random angle and period."""
    k = int(rng.integers(2, 5))
    c = _colours(rng, k)
    ang = rng.uniform(0, np.pi)
    period = rng.uniform(4, size / 2)
    y, x = np.mgrid[0:size, 0:size].astype(np.float64)
    t = (x * np.cos(ang) + y * np.sin(ang)) / period
    return c[(np.floor(t).astype(np.int64) % k)]


def noise(rng: np.random.Generator, size: int) -> np.ndarray:
    """Value noise: 1-4 octaves of bilinearly upsampled random grids, mapped between two colours."""
    import cv2

    acc = np.zeros((size, size), np.float32)
    amp, total = 1.0, 0.0
    base = int(rng.integers(2, 9))
    for o in range(int(rng.integers(1, 5))):
        cells = min(size, base * 2**o)
        grid = rng.uniform(0, 1, (cells, cells)).astype(np.float32)
        acc += amp * cv2.resize(grid, (size, size), interpolation=cv2.INTER_LINEAR)
        total += amp
        amp *= 0.5
    t = (acc / total)[..., None]
    c = _colours(rng, 2)
    return c[0] * (1 - t) + c[1] * t


def gradient(rng: np.random.Generator, size: int) -> np.ndarray:
    """A linear gradient between two random colours at a random angle."""
    c = _colours(rng, 2)
    ang = rng.uniform(0, 2 * np.pi)
    y, x = np.mgrid[0:size, 0:size].astype(np.float64) / size
    t = (x - 0.5) * np.cos(ang) + (y - 0.5) * np.sin(ang)
    t = ((t - t.min()) / max(np.ptp(t), 1e-9))[..., None]
    return c[0] * (1 - t) + c[1] * t


def flat_colour(rng: np.random.Generator, size: int) -> np.ndarray:
    return np.broadcast_to(_colours(rng, 1)[0], (size, size, 3)).copy()


def dead_leaves(rng: np.random.Generator, size: int, *, alpha: float = 3.0, r_min: float = 0.02,
                r_max: float = 0.4, discs: int = 300) -> np.ndarray:
    """Dead leaves: ``discs`` opaque discs of random colours at uniform places over a random ground colour,
    each new disc on top, radii (in texture sides) drawn from the density ``r^-alpha`` on ``[r_min, r_max]``
    (alpha = 3 is scale-invariant, Lee et al. 2001). Half of the textures draw their colours around one
    random colour (a family, as many surfaces have), the rest uniformly.

    Example:
        >>> dead_leaves(np.random.default_rng(0), 32).shape
        (32, 32, 3)
    """
    import cv2

    img = np.empty((size, size, 3), np.float32)
    img[:] = _colours(rng, 1)[0]
    family = rng.random() < 0.5
    u = rng.uniform(0, 1, discs)
    a1 = 1.0 - alpha  # inverse CDF of p(r) ~ r^-alpha on [r_min, r_max] (alpha != 1)
    radii = (r_min**a1 + u * (r_max**a1 - r_min**a1)) ** (1.0 / a1) * size
    centres = rng.uniform(0, size, (discs, 2))
    colours = _colours(rng, discs)
    if family:
        colours = np.clip(img[0, 0] + (colours - 0.5) * 0.6, 0, 1)
    for k in range(discs):  # 4 fractional bits: sub-pixel centres and radii
        cv2.circle(img, (int(round(centres[k, 0] * 16)), int(round(centres[k, 1] * 16))),
                   max(1, int(round(radii[k] * 16))), tuple(float(v) for v in colours[k]), -1,
                   lineType=cv2.LINE_8, shift=4)
    return img.astype(np.float64)


PROCEDURAL: dict[str, Callable[[np.random.Generator, int], np.ndarray]] = {
    "checker": checker, "stripes": stripes, "noise": noise, "gradient": gradient, "flat": flat_colour,
    "dead-leaves": dead_leaves,
}

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def folder_images(folder: str | Path, *, where: str, field: str) -> list[Path]:
    """Image files in ``folder`` (recursive, sorted); a clear error when there are none."""
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise ConfigError(f"texture/background folder not found: {root}", where=where, field=field)
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))
    if not files:
        raise ConfigError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {root}", where=where, field=field)
    return files


def _load_square(path: Path, size: int) -> np.ndarray:
    import cv2

    from ..data.imageio import read_image

    img = read_image(path)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    img = img[..., :3]
    h, w = img.shape[:2]
    s = min(h, w)  # centre square crop, then resize
    img = img[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
    img = cv2.resize(np.ascontiguousarray(img), (size, size), interpolation=cv2.INTER_AREA)
    return img.astype(np.float32) / 255.0


def texture_pool(rng: np.random.Generator, *, size: int, count: int, kinds: list[str] | tuple[str, ...],
                 folder: str | None = None, where: str = "scene", field: str = "textures") -> np.ndarray:
    """A ``count × size × size × 3`` uint8 stack: images from ``folder`` (up to ``count``, spread over the
    sorted files) else procedural textures of the given ``kinds`` drawn from ``rng``.

    Raises:
        ConfigError: an unknown kind, an empty or missing folder.
        DataError: an unreadable image in the folder (names the file).
    """
    unknown = [k for k in kinds if k not in PROCEDURAL]
    if unknown:
        raise ConfigError(f"unknown procedural texture {unknown[0]!r}; known: {sorted(PROCEDURAL)}",
                          where=where, field=field)
    layers: list[np.ndarray] = []
    if folder:
        files = folder_images(folder, where=where, field=f"{field}.folder")
        pick = [files[i * len(files) // min(count, len(files))] for i in range(min(count, len(files)))]
        for p in pick:
            try:
                layers.append(_load_square(p, size))
            except DataError:
                raise
            except Exception as e:  # noqa: BLE001 - any decoder failure becomes a DataError naming the file
                raise DataError(f"cannot read texture image ({e})", where=str(p)) from e
    else:
        if not kinds:
            raise ConfigError("needs a folder or at least one procedural kind", where=where, field=field)
        for i in range(count):
            layers.append(PROCEDURAL[kinds[i % len(kinds)]](rng, size))
    return np.clip(np.stack(layers) * 255.0 + 0.5, 0, 255).astype(np.uint8)
