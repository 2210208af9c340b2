"""Kernel Inception Distance: unbiased MMD² with a cubic polynomial kernel, averaged over subsets.

    k(x, y) = (x·y / D + 1)³
    MMD²_u(X, Y) = [sum_{i≠j} k(x_i, x_j) + sum_{i≠j} k(y_i, y_j)] / (m (m-1)) - 2 sum_{i,j} k(x_i, y_j) / m²

computed on ``subsets`` pairs of random subsets of ``subset_size`` rows drawn without replacement from
each set; the result is the mean and the standard deviation (ddof=0) of the subset values. Unlike FID
the estimator is unbiased: its expectation does not depend on N, so values at different N compare
(their spread differs). It can be slightly negative when the two distributions are close.

The subsets are drawn exactly as torch-fidelity draws them: ``rng = np.random.RandomState(seed)``,
then for each subset ``rng.choice(N_fake, m, replace=False)`` and ``rng.choice(N_real, m,
replace=False)`` (generated first: its ``input1``); with ``seed=2020`` (torch-fidelity's default) the two
give the same subsets and the same numbers. ``subset_size`` larger than a set is clamped to the smaller set's size with a
:class:`~traingen.metrics.MetricWarning` (torch-fidelity and torchmetrics stop with an error).

All arithmetic is float64: the three kernel sums are ~1 per pair and cancel down to KID values of 1e-4
or less, and torch-fidelity's float32 kernels on the same subsets were off by 0.02% at KID = 2e-4 and
by 1% at KID = 4e-6 in ``bench/metrics.py``. The kernel sums are computed in cache-sized row blocks, and
``K_XX``, ``K_YY`` from their upper triangles (:func:`poly_kernel_sum`); the rows are lifted to
``[x / sqrt(D), 1]`` once so that one matrix product gives ``x·y / D + 1`` directly.

Example:
    >>> import numpy as np
    >>> from traingen.metrics import kid
    >>> rng = np.random.default_rng(0)
    >>> r = kid(rng.normal(size=(500, 16)), rng.normal(size=(500, 16)), subsets=10, subset_size=200)
    >>> abs(r.mean) < 0.05
    True

References:
    Bińkowski, Sutherland, Arbel, Gretton. "Demystifying MMD GANs", ICLR 2018 (arXiv 1801.01401).
    Gretton, Borgwardt, Rasch, Schölkopf, Smola. "A Kernel Two-Sample Test", JMLR 13, 2012.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from .results import KIDResult, MetricWarning, as_features, check_int, check_same_dims


def polynomial_kernel(x: np.ndarray, y: np.ndarray | None = None, *, degree: int = 3,
                      gamma: float | None = None, coef0: float = 1.0) -> np.ndarray:
    """``(gamma * x @ y.T + coef0) ** degree``; ``gamma`` defaults to ``1 / D``; ``y=None`` means ``x``."""
    gram = x @ x.T if y is None else x @ y.T
    g = 1.0 / x.shape[1] if gamma is None else gamma
    gram *= g
    gram += coef0
    if degree == 3:  # explicit products: several times faster than ** on large matrices
        out = gram * gram
        out *= gram
        return out
    return gram**degree


def mmd2_unbiased(k_xx: np.ndarray, k_xy: np.ndarray, k_yy: np.ndarray) -> float:
    """Unbiased MMD² from the three kernel matrices of two samples of equal size m >= 2."""
    m = k_xx.shape[0]
    sum_xx = k_xx.sum() - np.trace(k_xx)
    sum_yy = k_yy.sum() - np.trace(k_yy)
    return float((sum_xx + sum_yy) / (m * (m - 1)) - 2.0 * k_xy.sum() / (m * m))


def lift(x: np.ndarray) -> np.ndarray:
    """``[x / sqrt(D), 1]``: rows whose plain dot products are the kernel's base ``x·y / D + 1``."""
    out = np.empty((x.shape[0], x.shape[1] + 1))
    np.multiply(x, 1.0 / np.sqrt(x.shape[1]), out=out[:, :-1])
    out[:, -1] = 1.0
    return out


def poly_kernel_sum(u: np.ndarray, v: np.ndarray | None = None, *, block: int = 64) -> float:
    """sum_{i,j} (u_i·v_j)³ over all pairs of *lifted* rows (:func:`lift`); ``v=None``: ``u`` with itself.

    With lifted rows that is sum_{i,j} (x_i·y_j / D + 1)³. The Gram matrix is formed ``block`` rows at a
    time, so each slice is cubed and summed while it sits in cache (about 3x faster than forming the
    m×m kernel matrices at m=1000, D=64); against itself only the blocks on and right of the diagonal
    are computed and the off-diagonal part counted twice.
    """
    total = 0.0
    for lo in range(0, u.shape[0], block):
        g = u[lo:lo + block] @ (u[lo:] if v is None else v).T
        sq = g * g
        if v is None:
            w = g.shape[0]  # the diagonal block g[:, :w] is counted once, the rest twice (symmetry)
            total += 2.0 * float(np.vdot(sq, g)) - float((sq[:, :w] * g[:, :w]).sum())
        else:
            total += float(np.vdot(sq, g))
    return total


def _mmd2_lifted(xl: np.ndarray, yl: np.ndarray) -> float:
    m = xl.shape[0]
    diag_x = float((np.einsum("ij,ij->i", xl, xl) ** 3).sum())  # k(x_i, x_i) = (|x_i|²/D + 1)³
    diag_y = float((np.einsum("ij,ij->i", yl, yl) ** 3).sum())
    sum_xx = poly_kernel_sum(xl) - diag_x
    sum_yy = poly_kernel_sum(yl) - diag_y
    return (sum_xx + sum_yy) / (m * (m - 1)) - 2.0 * poly_kernel_sum(xl, yl) / (m * m)


def mmd2_poly(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD² of two ``(m, D)`` float64 samples with the cubic polynomial kernel of KID.

    Equals ``mmd2_unbiased(polynomial_kernel(x), polynomial_kernel(x, y), polynomial_kernel(y))``
    without forming the three m×m matrices; the diagonals come from the row norms.
    """
    return _mmd2_lifted(lift(x), lift(y))


def subset_indices(n_real: int, n_fake: int, subsets: int, subset_size: int,
                   seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The ``(real_rows, fake_rows)`` of every subset, drawn as torch-fidelity does (module docstring)."""
    rng = np.random.RandomState(seed)
    out = []
    for _ in range(subsets):
        fake_rows = rng.choice(n_fake, subset_size, replace=False)
        real_rows = rng.choice(n_real, subset_size, replace=False)
        out.append((real_rows, fake_rows))
    return out


def kid(
    real_feats: Any,
    fake_feats: Any,
    subsets: int = 100,
    subset_size: int = 1000,
    seed: int = 0,
) -> KIDResult:
    """Kernel Inception Distance: mean and std of unbiased MMD² over random subsets.

    Args:
        real_feats: ``(N_r, D)`` features of the real images, N_r >= 2.
        fake_feats: ``(N_f, D)`` features of the generated images, same D, N_f >= 2.
        subsets: number of subset pairs (100 in the KID paper's code).
        subset_size: rows per subset (1000); clamped to ``min(N_r, N_f)`` with a warning.
        seed: seed of ``np.random.RandomState`` that draws the subsets.

    Returns:
        :class:`KIDResult` with ``mean``, ``std`` (ddof=0), ``subsets``, the (clamped)
        ``subset_size``, ``n_real``, ``n_fake`` and ``seed``.

    Raises:
        DataError: fewer than 2 rows, NaN/inf values, different D, or bad ``subsets``/``seed``.

    Example:
        >>> x = np.random.default_rng(1).normal(size=(300, 8))
        >>> kid(x, x + 1.0, subsets=5, subset_size=100).mean > 0.1
        True
    """
    real = as_features(real_feats, "real_feats", min_rows=2)
    fake = as_features(fake_feats, "fake_feats", min_rows=2)
    check_same_dims(real, fake, "real_feats", "fake_feats")
    subsets = check_int(subsets, "subsets", minimum=1)
    subset_size = check_int(subset_size, "subset_size", minimum=2)
    seed = check_int(seed, "seed", minimum=0)
    n_real, n_fake = real.shape[0], fake.shape[0]
    smallest = min(n_real, n_fake)
    if subset_size > smallest:
        warnings.warn(f"KID subset_size={subset_size} is larger than the smaller set ({smallest} rows): "
                      f"clamped to {smallest}", MetricWarning, stacklevel=2)
        subset_size = smallest

    real_l, fake_l = lift(real), lift(fake)
    values = np.empty(subsets)
    for i, (real_rows, fake_rows) in enumerate(subset_indices(n_real, n_fake, subsets, subset_size, seed)):
        values[i] = _mmd2_lifted(real_l[real_rows], fake_l[fake_rows])
    return KIDResult(mean=float(values.mean()), std=float(values.std()), subsets=subsets,
                     subset_size=subset_size, n_real=n_real, n_fake=n_fake, seed=seed)
