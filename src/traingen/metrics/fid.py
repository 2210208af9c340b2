"""Fréchet Inception Distance: the Fréchet (2-Wasserstein) distance between two Gaussians.

    FID = ||mu_r - mu_f||² + Tr(S_r) + Tr(S_f) - 2 Tr((S_r S_f)^½)

fitted to two feature sets (mean and unbiased covariance, float64). The trace of the matrix square
root is computed without ``scipy.linalg.sqrtm`` -- which pytorch-fid and clean-fid call and which can
return complex or non-finite values on near-singular covariances -- and without taking square roots of
eigenvalues that are only rounding noise:

- from feature arrays (:func:`fid`): with the centred data ``X_c`` and its QR factor ``F`` (so
  ``S = F^T F / (n-1)`` exactly, no square root), the eigenvalues of ``S_r S_f`` are the squared
  singular values of ``F_r F_f^T / sqrt((n_r-1)(n_f-1))``, so ``Tr((S_r S_f)^½)`` is its nuclear norm
  (sum of singular values). Real by construction, and its error is rounding times the largest singular
  value -- not the square root of rounding, which is what eigenvalue methods add for every
  near-zero eigenvalue (N < D, or features with dead dimensions);
- from statistics only (:func:`fid_from_stats`, :func:`frechet_distance`): ``S_r S_f`` is similar to
  the symmetric positive semi-definite ``A = S_r^½ S_f S_r^½``, so the trace is
  ``sum_i sqrt(max(lambda_i(A), 0))`` through ``numpy.linalg.eigh`` -- always real, accurate for
  well-conditioned covariances (N well above D), less so for singular ones.

Two identical sets give 0 up to rounding (~1e-10 for unit-scale features).

FID is biased upwards at finite N (it decreases as N grows, differently for different models), so
compare only numbers computed with the same N on both sides and the same extractor; KID is the
unbiased alternative (:mod:`traingen.metrics.kid`).

Example:
    >>> import numpy as np
    >>> from traingen.metrics import fid
    >>> rng = np.random.default_rng(0)
    >>> a, b = rng.normal(size=(2000, 16)), rng.normal(0.5, 1.0, size=(2000, 16))
    >>> r = fid(a, b)               # ~16 * 0.5² = 4, plus a small finite-N bias
    >>> 3.8 < r.value < 4.4
    True

References:
    Heusel, Ramsauer, Unterthiner, Nessler, Hochreiter. "GANs Trained by a Two Time-Scale Update Rule
    Converge to a Local Nash Equilibrium", NeurIPS 2017 (arXiv 1706.08500).
    Dowson, Landau. "The Fréchet distance between multivariate normal distributions", J. Multivariate
    Analysis 12(3), 1982.
    Chong, Forsyth. "Effectively Unbiased FID and Inception Score and where to find them", CVPR 2020
    (arXiv 1911.07023) -- the bias of FID with N.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.errors import DataError
from .results import FIDResult, as_features, check_same_dims


@dataclass(frozen=True)
class GaussianStats:
    """Mean ``mu`` (D,) and unbiased covariance ``sigma`` (D, D) of a feature set of ``n`` rows."""

    mu: np.ndarray
    sigma: np.ndarray
    n: int


def feature_stats(feats: Any, name: str = "feats") -> GaussianStats:
    """Mean and unbiased covariance (ddof=1) of ``(N, D)`` features in float64.

    Args:
        feats: ``(N, D)`` features, N >= 2.
        name: the argument name used in errors.

    Returns:
        :class:`GaussianStats`.

    Example:
        >>> s = feature_stats(np.random.default_rng(0).normal(size=(100, 4)))
        >>> s.mu.shape, s.sigma.shape
        ((4,), (4, 4))
    """
    x = as_features(feats, name, min_rows=2)
    mu = x.mean(axis=0)
    xc = x - mu
    sigma = (xc.T @ xc) / (x.shape[0] - 1)
    return GaussianStats(mu=mu, sigma=(sigma + sigma.T) * 0.5, n=x.shape[0])


def _sqrt_psd(sigma: np.ndarray) -> np.ndarray:
    """Symmetric square root of a positive semi-definite matrix (negative rounding clipped at 0)."""
    w, v = np.linalg.eigh(sigma)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """Tr((S1 S2)^½) for symmetric PSD ``S1``, ``S2`` through eigenvalues of S1^½ S2 S1^½ (real)."""
    root = _sqrt_psd(sigma1)
    a = root @ sigma2 @ root
    lam = np.linalg.eigvalsh((a + a.T) * 0.5)
    return float(np.sqrt(np.clip(lam, 0.0, None)).sum())


def frechet_distance(mu1: Any, sigma1: Any, mu2: Any, sigma2: Any) -> tuple[float, float, float]:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2).

    Args:
        mu1, mu2: means, shape (D,).
        sigma1, sigma2: covariances, shape (D, D), symmetric positive semi-definite.

    Returns:
        ``(distance, mean_term, trace_term)``.

    Raises:
        DataError: shapes that do not match, or non-finite values.
    """
    m1 = as_features(mu1, "mu1", ndim=1)
    m2 = as_features(mu2, "mu2", ndim=1)
    s1 = as_features(sigma1, "sigma1")
    s2 = as_features(sigma2, "sigma2")
    d = m1.shape[0]
    for name, arr, shape in (("mu2", m2, (d,)), ("sigma1", s1, (d, d)), ("sigma2", s2, (d, d))):
        if arr.shape != shape:
            raise DataError(f"expected shape {shape} to match mu1, got {arr.shape}", field=name)
    diff = m1 - m2
    mean_term = float(diff @ diff)
    trace_term = float(np.trace(s1) + np.trace(s2) - 2.0 * trace_sqrt_product(s1, s2))
    return mean_term + trace_term, mean_term, trace_term


def fid_from_stats(real: GaussianStats, fake: GaussianStats) -> FIDResult:
    """FID from precomputed statistics (e.g. reference statistics stored once for a dataset)."""
    if real.mu.shape != fake.mu.shape:
        raise DataError(f"has {fake.mu.shape[0]} feature dimensions but the real statistics have "
                        f"{real.mu.shape[0]}", field="fake")
    value, mean_term, trace_term = frechet_distance(real.mu, real.sigma, fake.mu, fake.sigma)
    return FIDResult(fid=value, mean_term=mean_term, trace_term=trace_term, n_real=real.n, n_fake=fake.n,
                     dims=int(real.mu.shape[0]))


def fid(real_feats: Any, fake_feats: Any) -> FIDResult:
    """Fréchet Inception Distance between two feature sets.

    Args:
        real_feats: ``(N_r, D)`` features of the real images (numpy, torch or lists), N_r >= 2.
        fake_feats: ``(N_f, D)`` features of the generated images, same D, N_f >= 2.

    Returns:
        :class:`FIDResult` with ``fid`` (also ``value`` and ``mean``), ``mean_term``, ``trace_term``,
        ``n_real``, ``n_fake`` and ``dims``.

    Raises:
        DataError: fewer than 2 rows, NaN/inf values, or different D (naming the argument).

    Example:
        >>> x = np.random.default_rng(0).normal(size=(500, 8))
        >>> abs(fid(x, x).value) < 1e-8
        True
    """
    real = as_features(real_feats, "real_feats", min_rows=2)
    fake = as_features(fake_feats, "fake_feats", min_rows=2)
    check_same_dims(real, fake, "real_feats", "fake_feats")
    mu_r, f_r, tr_r = _centred_factor(real)
    mu_f, f_f, tr_f = _centred_factor(fake)
    scale = np.sqrt((real.shape[0] - 1) * (fake.shape[0] - 1))
    trace_sqrt = float(np.linalg.svd(f_r @ f_f.T, compute_uv=False).sum() / scale)
    diff = mu_r - mu_f
    mean_term = float(diff @ diff)
    trace_term = tr_r + tr_f - 2.0 * trace_sqrt
    return FIDResult(fid=mean_term + trace_term, mean_term=mean_term, trace_term=trace_term,
                     n_real=real.shape[0], n_fake=fake.shape[0], dims=real.shape[1])


def _centred_factor(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(mean, F, Tr S) with ``F^T F = X_c^T X_c = (n-1) S``: the R of a QR of the centred data."""
    mu = x.mean(axis=0)
    xc = x - mu
    trace = float(np.einsum("ij,ij->", xc, xc) / (x.shape[0] - 1))
    return mu, np.linalg.qr(xc, mode="r"), trace
