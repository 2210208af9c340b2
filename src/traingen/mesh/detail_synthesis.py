"""Multi-resolution guided non-parametric synthesis of a target's displacement map (Berkiten et al. 2017, §6).

Given the source's texel features and displacement at each level of a pyramid (coarse to fine) and the
target's texel features at the same levels, every covered target texel picks a source texel:

- candidates: the ``candidates`` nearest source texels in the weighted feature space
  (``√w · f``, a k-d tree), plus as many drawn at random (exploration); with ``weights=None`` (the
  feature-free baseline) only random candidates;
- cost of candidate ``c`` at target texel ``t``:
  ``Σ_k w_k (f_tk − f_ck)² / s_f  +  α · (D_c − m_t)² / var(D)``, where ``m_t`` is the mean of the
  already-synthesised displacement of ``t``'s covered 3×3 neighbours (the coherence term; atlas charts
  have arbitrary orientation, so the neighbourhood is compared through its mean) and ``s_f`` the mean
  feature distance of the best candidates;
- the estimate starts at the best feature match (coarsest level) or at the previous level's result
  upsampled; ``passes`` Jacobi passes then re-pick every texel against the current neighbourhoods.

The high-frequency step (:func:`high_frequency_step`): the finest result is low-passed and the source's
high-pass detail ``D − G_σ * D`` is added back through the final correspondence, so that fine detail is
copied intact rather than averaged by the coherence passes.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> f = np.linspace(0, 1, 64)[None, :, None] * np.ones((64, 64, 1))
    >>> m = np.ones((64, 64), bool)
    >>> d = np.sin(12 * f[..., 0])
    >>> out, corr = synthesize([f], [m], [d], [f], [m], np.ones(1), rng)
    >>> float(np.corrcoef(out[m], d[m])[0, 1]) > 0.99
    True

References:
    Berkiten, Halber, Solomon, Ma, Li & Rusinkiewicz, "Learning Detail Transfer based on Geometric
    Features", Computer Graphics Forum (Eurographics) 2017. Hertzmann, Jacobs, Oliver, Curless & Salesin,
    "Image Analogies", SIGGRAPH 2001. Ashikhmin, "Synthesizing Natural Textures", I3D 2001.
"""

from __future__ import annotations

import numpy as np

from ..core.errors import DataError
from .detail_metric import masked_blur


def neighbour_mean(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean over the covered 8-neighbours of each texel (the texel itself where it has none)."""
    from scipy.ndimage import convolve

    k = np.ones((3, 3))
    k[1, 1] = 0
    m = mask.astype(np.float64)
    num = convolve(np.where(mask, image, 0.0), k, mode="constant")
    den = convolve(m, k, mode="constant")
    return np.where(den > 0, num / np.maximum(den, 1e-12), image)


def _upsample(prev: np.ndarray, prev_mask: np.ndarray, size: int) -> np.ndarray:
    from .atlas import fill_gutters

    full = fill_gutters(prev, prev_mask)
    f = size // prev.shape[0]
    return np.repeat(np.repeat(full, f, 0), f, 1)[:size, :size]


def synthesize(src_feats: list[np.ndarray], src_masks: list[np.ndarray], src_disp: list[np.ndarray],
               tgt_feats: list[np.ndarray], tgt_masks: list[np.ndarray], weights: np.ndarray | None,
               rng: np.random.Generator, *, candidates: int = 8, coherence: float = 0.5,
               passes: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Synthesise the target's displacement map level by level (module doc).

    Args:
        src_feats, src_masks, src_disp: per level (coarse to fine) the source's S×S×K features, S×S
            coverage and S×S displacement.
        tgt_feats, tgt_masks: the target's features and coverage at the same sizes.
        weights: K non-negative feature weights, or ``None`` for feature-free synthesis.
        rng: random stream (random candidates, the feature-free start).
        candidates: nearest-feature candidates per texel (and as many random ones).
        coherence: weight α of the neighbourhood term.
        passes: Jacobi re-picking passes per level.

    Returns:
        ``(displacement, correspondence)`` at the finest level: an S×S map (0 where uncovered) and, per
        covered target texel (row-major order of the mask), the index of its source texel among the
        source's covered texels (row-major).
    """
    from scipy.spatial import cKDTree

    levels = len(src_feats)
    if not (levels == len(src_masks) == len(src_disp) == len(tgt_feats) == len(tgt_masks)) or levels == 0:
        raise DataError("source and target need the same, non-empty list of levels", where="detail-synthesis")
    prev = prev_mask = None
    cur_map = corr = None
    for lvl in range(levels):
        ms, mt = src_masks[lvl], tgt_masks[lvl]
        if not ms.any() or not mt.any():
            raise DataError(f"level {lvl}: no covered texels on the {'source' if not ms.any() else 'target'}",
                            where="detail-synthesis")
        fs, ft = src_feats[lvl][ms], tgt_feats[lvl][mt]
        ds = src_disp[lvl][ms]
        n_t, n_s = len(ft), len(fs)
        k = min(candidates, n_s)
        rand = rng.integers(0, n_s, (n_t, k))
        if weights is None:
            cand = rand
            fdist = np.zeros(cand.shape)
        else:
            sw = np.sqrt(np.asarray(weights, np.float64))
            _, near = cKDTree(fs * sw).query(ft * sw, k=k)
            cand = np.concatenate([near.reshape(n_t, k), rand], 1)
            fdist = (((ft[:, None, :] - fs[cand]) * sw) ** 2).sum(-1)
        values = ds[cand]
        scale = max(float(fdist[:, 0].mean()), 1e-12) if weights is not None else 1.0
        var = max(float(ds.var()), 1e-30)
        size = mt.shape[0]
        if prev is None:
            pick = np.argmin(fdist, 1) if weights is not None else np.zeros(n_t, np.int64)
            cur = values[np.arange(n_t), pick]
        else:
            up = _upsample(prev, prev_mask, size)
            cur = None
        for _ in range(passes + (0 if prev is None else 1)):
            if cur is None:  # first pass on a finer level: the coherence target is the coarser result
                m = up[mt]
            else:
                img = np.zeros((size, size))
                img[mt] = cur
                m = neighbour_mean(img, mt)[mt]
            cost = fdist / scale + coherence * (values - m[:, None]) ** 2 / var
            pick = np.argmin(cost, 1)
            cur = values[np.arange(n_t), pick]
        corr = cand[np.arange(n_t), pick]
        cur_map = np.zeros((size, size))
        cur_map[mt] = cur
        prev, prev_mask = cur_map, mt
    return cur_map, corr


def high_frequency_step(disp: np.ndarray, mask: np.ndarray, corr: np.ndarray, src_disp: np.ndarray,
                        src_mask: np.ndarray, sigma: float = 1.0) -> np.ndarray:
    """Low-pass of the synthesised map plus the source's high-pass detail through ``corr`` (module doc)."""
    if sigma <= 0:
        return disp.copy()
    low = masked_blur(disp, mask, sigma)
    src_high = (src_disp - masked_blur(src_disp, src_mask, sigma))[src_mask]
    out = np.zeros_like(disp)
    out[mask] = low[mask] + src_high[corr]
    return out
