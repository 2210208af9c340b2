"""Inception Score: exp(E_x[KL(p(y|x) || p(y))]) over a classifier's predictions.

Two numbers in one result, because the literature mixes them up:

- **compat** (``mean``, ``std``): the protocol of the original code -- shuffle, cut into ``splits``
  contiguous parts (part ``i`` is rows ``i*N//splits .. (i+1)*N//splits``), score each part against
  its own marginal, report the mean and ``np.std`` (ddof=0) of the part scores. The shuffle uses
  ``np.random.RandomState(seed).permutation(N)`` -- the frozen legacy stream, so the permutation never
  changes with the NumPy version, and ``seed=2020`` reproduces torch-fidelity's default order. An
  explicit ``permutation=`` replaces it (e.g. torchmetrics' ``torch.randperm`` draw), and
  ``shuffle=False`` keeps the input order as the original code did.
- **exact** (``exact``): the same expectation over all N samples against the full marginal. It does
  not depend on the split count nor on the order, so it is the number to compare across papers that
  used different splits; splitting biases IS downwards (each part's marginal is noisier).

Warnings (:class:`~traingen.metrics.MetricWarning`): N below the 50,000 of the original protocol (IS
grows with N, so numbers at different N do not compare), and part order that looks sorted by class
(each part then sees few classes and the compat score collapses).

Example:
    >>> import numpy as np
    >>> from traingen.metrics import inception_score
    >>> logits = np.eye(10)[np.arange(50_000) % 10] * 50.0   # confident, uniform over 10 classes
    >>> r = inception_score(logits, shuffle=False)           # every split holds 500 of each class
    >>> round(r.mean, 6), round(r.exact, 6)
    (10.0, 10.0)

References:
    Salimans, Goodfellow, Zaremba, Cheung, Radford, Chen. "Improved Techniques for Training GANs",
    NeurIPS 2016 (arXiv 1606.03498); the original code is openai/improved-gan ``inception_score``.
    Barratt, Sharma. "A Note on the Inception Score", ICML 2018 workshop (arXiv 1801.01973).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..core.errors import DataError
from .results import ISResult, MetricWarning, as_features, check_int

#: The sample count of the original protocol; below it the score is biased and a warning says so.
RECOMMENDED_N = 50_000


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax in float64, stable for large logits."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def _mean_kl(p: np.ndarray, log_p: np.ndarray) -> float:
    """mean_i KL(p_i || mean_j p_j), with 0 · log 0 = 0."""
    q = p.mean(axis=0)
    log_q = np.log(q, out=np.full_like(q, -np.inf), where=q > 0)
    diff = np.zeros_like(p)
    np.subtract(log_p, log_q, out=diff, where=p > 0)  # rows with p = 0 add nothing (and no -inf - -inf)
    return float((p * diff).sum(axis=1).mean())


def split_scores(p: np.ndarray, log_p: np.ndarray, splits: int) -> np.ndarray:
    """The per-part scores exp(mean KL) of the compat protocol, parts in row order."""
    n = p.shape[0]
    scores = np.empty(splits)
    for i in range(splits):
        lo, hi = i * n // splits, (i + 1) * n // splits
        scores[i] = np.exp(_mean_kl(p[lo:hi], log_p[lo:hi]))
    return scores


def looks_sorted(labels: np.ndarray) -> bool:
    """True when consecutive predicted classes repeat far more often than a random order would.

    A random order repeats with probability sum_c f_c² (f_c the class frequencies); a class-sorted
    order repeats almost always. The threshold sits halfway between the two.
    """
    if labels.size < 4:
        return False
    freq = np.bincount(labels) / labels.size
    if (freq > 0).sum() < 2:
        return False
    expected = float((freq**2).sum())
    observed = float((labels[1:] == labels[:-1]).mean())
    return observed > expected + 0.5 * (1.0 - expected)


def _resolve_order(n: int, seed: int | None, permutation: Any, shuffle: bool) -> tuple[np.ndarray | None, str]:
    if permutation is not None:
        perm = as_features(permutation, "permutation", ndim=1)
        if perm.shape[0] != n or not np.array_equal(np.sort(perm), np.arange(n)):
            raise DataError(f"must be a permutation of 0..{n - 1} (one index per row of logits)",
                            field="permutation")
        return perm.astype(np.int64), "given"
    if not shuffle:
        return None, "none"
    if seed is None:
        raise DataError("a seed is required to shuffle (or pass shuffle=False or permutation=)", field="seed")
    return np.random.RandomState(check_int(seed, "seed", minimum=0)).permutation(n), "seed"


def inception_score(
    logits: Any,
    splits: int = 10,
    seed: int | None = 0,
    *,
    probs: bool = False,
    permutation: Sequence[int] | np.ndarray | None = None,
    shuffle: bool = True,
) -> ISResult:
    """Inception Score of class predictions, compat (split mean and std) and exact.

    Args:
        logits: ``(N, K)`` classifier outputs (numpy, torch or lists); softmax is applied here. With the
            Inception network these are the 1008 logits without the final bias, as the original code.
        splits: number of contiguous parts for the compat protocol (10 in the original code).
        seed: seed of the shuffle (``np.random.RandomState(seed).permutation(N)``).
        probs: ``logits`` already holds probabilities (rows non-negative, summing to 1).
        permutation: an explicit row order for the compat protocol (overrides ``seed``).
        shuffle: ``False`` keeps the input order (the original code, which did not shuffle).

    Returns:
        :class:`ISResult` with ``mean``, ``std`` (compat), ``exact``, ``n``, ``num_classes``,
        ``splits``, ``seed`` and ``permutation`` (``"seed"``, ``"given"`` or ``"none"``).

    Raises:
        DataError: not a finite ``(N, K)`` array, fewer rows than ``splits``, invalid probabilities,
            or a bad ``permutation``.

    Example:
        >>> r = inception_score(np.random.default_rng(0).normal(size=(1000, 10)), splits=10, seed=0)
        >>> r.exact >= 1.0
        True
    """
    x = as_features(logits, "logits")
    splits = check_int(splits, "splits", minimum=1)
    n, k = x.shape
    if n < splits:
        raise DataError(f"has {n} rows, fewer than splits={splits}; every part needs a sample", field="logits")
    if probs:
        sums = x.sum(axis=1)
        if (x < 0).any() or not np.allclose(sums, 1.0, rtol=0, atol=1e-4):
            raise DataError("with probs=True every row must be non-negative and sum to 1", field="logits")
        p = x / sums[:, None]
        log_p = np.log(p, out=np.full_like(p, -np.inf), where=p > 0)
    else:
        log_p = log_softmax(x)
        p = np.exp(log_p)

    order, how = _resolve_order(n, seed, permutation, shuffle)
    if n < RECOMMENDED_N:
        warnings.warn(f"Inception Score on N={n} samples, below the {RECOMMENDED_N:,} of the original "
                      "protocol: IS grows with N, compare only numbers computed with the same N",
                      MetricWarning, stacklevel=2)
    p_split, log_p_split = (p, log_p) if order is None else (p[order], log_p[order])
    if splits > 1 and looks_sorted(p_split.argmax(axis=1)):
        warnings.warn("the predicted classes look sorted in split order: each split sees few classes and "
                      "the compat score is biased low; shuffle (the default) or pass a random permutation",
                      MetricWarning, stacklevel=2)

    scores = split_scores(p_split, log_p_split, splits)
    return ISResult(
        mean=float(np.mean(scores)),
        std=float(np.std(scores)),
        exact=float(np.exp(_mean_kl(p, log_p))),
        n=n,
        num_classes=k,
        splits=splits,
        seed=seed if how == "seed" else None,
        permutation=how,
    )
