"""Image quilting (Efros & Freeman 2001): overlapping exemplar blocks joined by a minimum-error cut.

The output is filled in raster order with ``block``×``block`` blocks placed every ``block -
overlap`` pixels. For each place, every block of the exemplar is scored by the sum of squared
differences (SSD) with what is already there in the overlap (left strip, top strip, or both); one of
the blocks within ``(1 + tolerance)`` of the best score is drawn at random. The new block is then
joined along the minimum-error boundary cut: dynamic programming finds the path through the overlap
error surface ``e = Σ_channels (old − new)²`` of least cumulative error (vertical for the left
overlap, horizontal for the top overlap), and only the new block's pixels beyond the path are
written.

The SSD over all exemplar positions comes from three correlations (``Σ m·E² − 2 Σ m·T·E + Σ m·T²``
with the overlap mask m, the exemplar E and the template T), computed by OpenCV's ``matchTemplate``.

Quilting copies blocks by design. The result records ``largest_copied_region``: the largest
4-connected set of output pixels copied from one exemplar offset (so pixel for pixel from one
contiguous exemplar region), its area, its fraction of the output and its bounding box.

Example:
    >>> res = synthesize(exemplar, size=256, block=48, seed=0)
    >>> res.info["largest_copied_region"]["area"]

References:
    Efros & Freeman, "Image Quilting for Texture Synthesis and Transfer", SIGGRAPH 2001.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.config import to_dict
from ..core.errors import ConfigError, DataError
from ..core.seeding import numpy_rng
from .base import TextureResult, Timer, check_size, register, to_array, to_uint8


@dataclass
class QuiltingConfig:
    """Settings of :func:`synthesize`.

    Args:
        size: output side in pixels.
        block: block side (about the size of the texture's repeating element).
        overlap: overlap width; 0 uses ``block // 6`` (the paper's choice).
        tolerance: blocks within ``(1 + tolerance) · best SSD`` are candidates.
        continuation: allow the exemplar block that continues a neighbour's block (zero overlap
            error; it makes long verbatim copies, so it is off by default).
        exemplar_size: resize the exemplar's shorter side to this first (None keeps it).
        steps: unused by quilting (accepted so every method takes ``--steps``); must be >= 1.
    """

    size: int = 256
    block: int = 32
    overlap: int = 0
    tolerance: float = 0.1
    continuation: bool = False
    exemplar_size: int | None = None
    steps: int = 1

    def __post_init__(self) -> None:
        where = "texture 'quilting'"
        check_size(self.size, where)
        if self.block < 4:
            raise ConfigError(f"block must be >= 4, got {self.block}", where=where, field="block")
        if self.overlap < 0 or self.overlap >= self.block // 2 + 1:
            raise ConfigError(f"overlap must be in 0..block/2, got {self.overlap}", where=where, field="overlap")
        if self.tolerance < 0:
            raise ConfigError(f"tolerance must be >= 0, got {self.tolerance}", where=where, field="tolerance")
        if self.exemplar_size is not None:
            check_size(self.exemplar_size, where)

    @property
    def overlap_px(self) -> int:
        return self.overlap or max(1, self.block // 6)


def min_error_cut(err: np.ndarray) -> np.ndarray:
    """Minimum cumulative-error vertical path through an H×W error surface (DP, 8-connected steps).

    Args:
        err: H×W non-negative errors of the overlap.

    Returns:
        int array of length H: the path's column in each row. Pixels left of it keep the old image,
        the path and right of it take the new block.
    """
    h, w = err.shape
    cost = err.astype(np.float64).copy()
    for i in range(1, h):
        prev = cost[i - 1]
        left = np.concatenate(([np.inf], prev[:-1]))
        right = np.concatenate((prev[1:], [np.inf]))
        cost[i] += np.minimum(np.minimum(left, prev), right)
    path = np.empty(h, np.int64)
    path[-1] = int(np.argmin(cost[-1]))
    for i in range(h - 2, -1, -1):
        j = path[i + 1]
        lo, hi = max(0, j - 1), min(w, j + 2)
        path[i] = lo + int(np.argmin(cost[i, lo:hi]))
    return path


def ssd_map(exemplar: np.ndarray, template: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """SSD of the masked template at every exemplar position: (H−b+1)×(W−b+1) float64, >= 0."""
    import cv2

    e = exemplar.astype(np.float32)
    m = np.repeat(mask[..., None], e.shape[-1], axis=-1).astype(np.float32)
    t = template.astype(np.float32) * m
    a = cv2.matchTemplate(e * e, m, cv2.TM_CCORR)
    b = cv2.matchTemplate(e, t, cv2.TM_CCORR)
    c = float((t * t).sum())
    return np.maximum(a.astype(np.float64) - 2.0 * b + c, 0.0)


def quilt(exemplar: np.ndarray, size: int, block: int, overlap: int, tolerance: float,
          rng: np.random.Generator, continuation: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Quilt an H×W×C float exemplar into a ``size``×``size`` texture.

    ``continuation=False`` rules out the block that continues a neighbour's block in the exemplar:
    its overlap error is exactly 0, so with the relative tolerance it would always win and the output
    would copy the exemplar verbatim in long runs.

    Returns:
        ``(image, source)``: the size×size×C image and a size×size×2 int array giving, for each
        output pixel, the exemplar pixel it was copied from.
    """
    eh, ew, c = exemplar.shape
    if min(eh, ew) < block:
        raise DataError(f"the exemplar ({eh}×{ew}) is smaller than a block ({block})", where="texture 'quilting'",
                        field="block")
    step = block - overlap
    n = max(1, int(np.ceil((size - overlap) / step)))
    full = n * step + overlap
    out = np.zeros((full, full, c), np.float64)
    src = np.full((full, full, 2), -1, np.int64)
    ys, xs = np.mgrid[0:block, 0:block]
    placed: dict[tuple[int, int], tuple[int, int]] = {}
    for bi in range(n):
        for bj in range(n):
            y, x = bi * step, bj * step
            if bi == 0 and bj == 0:
                sy, sx = int(rng.integers(eh - block + 1)), int(rng.integers(ew - block + 1))
                new_mask = np.ones((block, block), bool)
            else:
                mask = np.zeros((block, block), np.float32)
                if bj > 0:
                    mask[:, :overlap] = 1
                if bi > 0:
                    mask[:overlap, :] = 1
                cost = ssd_map(exemplar, out[y:y + block, x:x + block], mask)
                if not continuation:  # the neighbours' own continuations match exactly: rule them out
                    for py, px in ((bi, bj - 1), (bi - 1, bj)):
                        if (py, px) in placed:
                            cy, cx = placed[(py, px)][0] + (bi - py) * step, placed[(py, px)][1] + (bj - px) * step
                            if 0 <= cy < cost.shape[0] and 0 <= cx < cost.shape[1]:
                                cost[cy, cx] = np.inf
                best = cost.min()
                cand = np.flatnonzero(cost.ravel() <= best * (1.0 + tolerance) + 1e-9)
                k = int(cand[rng.integers(len(cand))])
                sy, sx = divmod(k, cost.shape[1])
                patch = exemplar[sy:sy + block, sx:sx + block]
                err = ((out[y:y + block, x:x + block] - patch) ** 2).sum(axis=-1)
                new_mask = np.ones((block, block), bool)
                if bj > 0:
                    path = min_error_cut(err[:, :overlap])
                    new_mask &= xs >= path[:, None]
                if bi > 0:
                    path = min_error_cut(err[:overlap, :].T)
                    new_mask &= ys >= path[None, :]
            placed[(bi, bj)] = (sy, sx)
            patch = exemplar[sy:sy + block, sx:sx + block]
            region = out[y:y + block, x:x + block]
            region[new_mask] = patch[new_mask]
            s = src[y:y + block, x:x + block]
            s[new_mask] = np.stack([ys + sy, xs + sx], axis=-1)[new_mask]
    return out[:size, :size], src[:size, :size]


def largest_copied_region(source: np.ndarray) -> dict[str, Any]:
    """Largest 4-connected set of output pixels whose (exemplar − output) offset is the same.

    Args:
        source: H×W×2 exemplar coordinates of each output pixel (from :func:`quilt`).

    Returns:
        ``{"area", "fraction", "bbox": [y0, x0, y1, x1] (exclusive ends), "offset": [dy, dx]}``.
    """
    from scipy import ndimage

    h, w, _ = source.shape
    yy, xx = np.mgrid[0:h, 0:w]
    off = np.stack([source[..., 0] - yy, source[..., 1] - xx], axis=-1)
    _, ids = np.unique(off.reshape(-1, 2), axis=0, return_inverse=True)
    ids = ids.reshape(h, w)
    best = {"area": 0, "fraction": 0.0, "bbox": [0, 0, 0, 0], "offset": [0, 0]}
    for k in np.unique(ids):
        lab, nlab = ndimage.label(ids == k)
        if nlab == 0:
            continue
        sizes = np.bincount(lab.ravel())[1:]
        j = int(np.argmax(sizes)) + 1
        if sizes[j - 1] > best["area"]:
            py, px = np.nonzero(lab == j)
            best = {"area": int(sizes[j - 1]), "fraction": float(sizes[j - 1] / (h * w)),
                    "bbox": [int(py.min()), int(px.min()), int(py.max()) + 1, int(px.max()) + 1],
                    "offset": [int(off[py[0], px[0], 0]), int(off[py[0], px[0], 1])]}
    return best


def synthesize(exemplar: Any, *, size: int = 256, block: int = 32, seed: int = 0, progress=None,
               **options: Any) -> TextureResult:
    """Quilt a ``size``×``size`` texture from ``exemplar``.

    Args:
        exemplar: the example texture (numpy or torch, see :mod:`traingen.texture.base`).
        size: output side.
        block: block side.
        seed: seed of the block draws.
        progress: called once, ``progress(1, 0.0)``, when done.
        **options: other :class:`QuiltingConfig` fields (``overlap``, ``tolerance``, ``exemplar_size``).

    Returns:
        :class:`~traingen.texture.base.TextureResult`; ``info["largest_copied_region"]``.
    """
    cfg = QuiltingConfig(size=size, block=block, **options)
    return run(exemplar, cfg, seed=seed, progress=progress)


@register("quilting", QuiltingConfig, "overlapping exemplar blocks, minimum-error boundary cut (Efros & Freeman 2001)")
def run(exemplar: Any, cfg: QuiltingConfig, *, seed: int = 0, device: str = "cpu", progress=None) -> TextureResult:
    """Run quilting with a :class:`QuiltingConfig` (the registered entry point; ``device`` is unused)."""
    import cv2

    with Timer() as t:
        ex = to_array(exemplar)
        if cfg.exemplar_size is not None:
            s = cfg.exemplar_size / min(ex.shape[:2])
            dsize = (max(1, round(ex.shape[1] * s)), max(1, round(ex.shape[0] * s)))
            ex = cv2.resize(ex, dsize, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
            ex = ex[..., None] if ex.ndim == 2 else ex
        img, src = quilt(ex, cfg.size, cfg.block, cfg.overlap_px, cfg.tolerance, numpy_rng(seed, "texture-quilting"),
                         cfg.continuation)
        region = largest_copied_region(src)
    if progress is not None:
        progress(1, 0.0)
    info = {"config": to_dict(cfg), "overlap": cfg.overlap_px, "largest_copied_region": region,
            "exemplar_shape": [ex.shape[-1], ex.shape[0], ex.shape[1]]}
    return TextureResult(to_uint8(img), [], t.seconds, "quilting", info)
