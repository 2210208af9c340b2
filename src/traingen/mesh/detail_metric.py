"""Metric learning for detail transfer: non-negative feature weights from the source's own detail.

Berkiten et al. learn how much each geometric feature says about the detail: two surface points whose
features are close (in the learned metric) should carry similar displacement patches. Here, on the
source's texel maps:

1. a rotation-invariant descriptor of the displacement patch around each texel (:func:`patch_descriptors`:
   the mask-aware Gaussian-blurred displacement at σ = 0, 1, 2 texels and the local standard deviation at
   σ = 1, 2; xatlas charts have arbitrary orientation, so raw patches cannot be compared across charts);
2. pairs of texels: each texel with one of its ``neighbours`` nearest neighbours in feature space — the
   small feature differences that the synthesis compares, where the patch distance is close to linear in
   the squared feature differences (uniformly drawn pairs, ``uniform_fraction``, mostly compare unrelated
   patches whose distance has saturated; mixing half of them in spread the weights on a lathe body);
3. non-negative least squares: ``‖P_i − P_j‖² ≈ c + Σ_k w_k (f_ik − f_jk)²`` with ``w ≥ 0, c ≥ 0``
   (:func:`learn_weights`); the weights are normalised to sum to 1 and reported by name.

Example:
    >>> rng = np.random.default_rng(0)
    >>> f = rng.random((500, 3))
    >>> d = np.sin(6 * f[:, 1])  # the detail depends on feature 1 only
    >>> w = learn_weights(f, d[:, None], rng)
    >>> int(np.argmax(w))
    1

References:
    Berkiten, Halber, Solomon, Ma, Li & Rusinkiewicz, "Learning Detail Transfer based on Geometric
    Features", Computer Graphics Forum (Eurographics) 2017, §5. Lawson & Hanson, "Solving Least Squares
    Problems", 1974 (NNLS).
"""

from __future__ import annotations

import numpy as np

from ..core.errors import DataError


def masked_blur(image: np.ndarray, mask: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of ``image`` over the covered texels only (normalised convolution); 0 elsewhere."""
    from scipy.ndimage import gaussian_filter

    if sigma <= 0:
        return np.where(mask, image, 0.0)
    m = mask.astype(np.float64)
    num = gaussian_filter(np.where(mask, image, 0.0), sigma, mode="constant", truncate=3.0)
    den = gaussian_filter(m, sigma, mode="constant", truncate=3.0)
    return np.where(mask & (den > 1e-12), num / np.maximum(den, 1e-12), 0.0)


def patch_descriptors(disp: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Rotation-invariant descriptor (S×S×5) of the displacement patch around each texel (module doc)."""
    cols = [masked_blur(disp, mask, s) for s in (0.0, 1.0, 2.0)]
    for s in (1.0, 2.0):
        mean = masked_blur(disp, mask, s)
        sq = masked_blur(disp * disp, mask, s)
        cols.append(np.sqrt(np.maximum(sq - mean * mean, 0.0)))
    return np.stack(cols, -1)


def sample_pairs(feats: np.ndarray, rng: np.random.Generator, n_pairs: int, *, neighbours: int = 8,
                 uniform_fraction: float = 0.0) -> np.ndarray:
    """``n_pairs`` index pairs (P×2): ``uniform_fraction`` uniform, the rest feature-space nearest neighbours."""
    from scipy.spatial import cKDTree

    n = len(feats)
    if n < 2:
        raise DataError("need at least 2 covered texels to learn feature weights", where="detail-metric")
    near = n_pairs - int(round(n_pairs * uniform_fraction))
    i = rng.integers(0, n, n_pairs - near)
    j = rng.integers(0, n, n_pairs - near)
    k = min(neighbours + 1, n)
    a = rng.integers(0, n, near)
    _, nb = cKDTree(feats).query(feats[a], k=k)
    nb = nb.reshape(near, k)
    b = nb[np.arange(near), rng.integers(1, k, near)] if k > 1 else nb[:, 0]
    return np.stack([np.concatenate([i, a]), np.concatenate([j, b])], 1)


def learn_weights(feats: np.ndarray, desc: np.ndarray, rng: np.random.Generator, *, n_pairs: int = 6000,
                  neighbours: int = 8) -> np.ndarray:
    """Non-negative feature weights (summing to 1) that predict patch-descriptor distances (module doc).

    Args:
        feats: N×K features of the source's covered texels.
        desc: N×D patch descriptors of the same texels.
        rng: the random stream for the pairs.
        n_pairs: pairs in the regression.
        neighbours: how many feature-space neighbours the near pairs are drawn from.

    Returns:
        K non-negative weights summing to 1 (equal weights when NNLS returns all zeros).
    """
    from scipy.optimize import nnls

    if len(feats) != len(desc):
        raise DataError(f"{len(feats)} feature rows for {len(desc)} descriptor rows", where="detail-metric")
    p = sample_pairs(feats, rng, n_pairs, neighbours=neighbours)
    a = (feats[p[:, 0]] - feats[p[:, 1]]) ** 2
    b = ((desc[p[:, 0]] - desc[p[:, 1]]) ** 2).sum(1)
    scale = np.maximum(a.mean(0), 1e-12)  # regress on columns of unit mean, then undo the scaling
    design = np.concatenate([a / scale, np.ones((len(a), 1))], 1)
    sol, _ = nnls(design, b / max(float(b.mean()), 1e-30), maxiter=50 * design.shape[1])
    w = sol[:-1] / scale
    s = w.sum()
    return w / s if s > 0 else np.full(feats.shape[1], 1.0 / feats.shape[1])
