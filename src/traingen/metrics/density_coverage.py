"""Density and coverage: precision and recall made robust to outliers.

With B(x_i, r_i) the ball around real sample x_i whose radius is the distance to its k-th nearest real
neighbour (itself excluded), N real and M generated samples:

    density  = 1 / (k M) · sum_j sum_i 1[y_j ∈ B(x_i, r_i)]
    coverage = 1 / N · sum_i 1[some y_j ∈ B(x_i, r_i)]

Density counts how many real neighbourhoods each generated sample falls in (about 1 when the two
distributions match; above 1 when samples crowd the dense real regions), so a single real outlier with
a huge ball no longer makes bad samples look precise. Coverage asks whether each real sample has a
generated sample nearby, built from the real manifold only (no generated-manifold balls that outliers
inflate). Both use the real manifold only; "inside" is strict (``<``) as in the authors' code. k = 5
is the paper's default.

Distances are float64 Euclidean, computed in memory-bounded row chunks (helpers shared with
:mod:`traingen.metrics.precision_recall`).

Example:
    >>> import numpy as np
    >>> from traingen.metrics import density_coverage
    >>> rng = np.random.default_rng(0)
    >>> r = density_coverage(rng.normal(size=(1000, 8)), rng.normal(size=(1000, 8)), k=5)
    >>> 0.8 < r.density < 1.2 and r.coverage > 0.9
    True

References:
    Naeem, Oh, Uh, Choi, Yoo. "Reliable Fidelity and Diversity Metrics for Generative Models",
    ICML 2020 (arXiv 2002.09797).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .precision_recall import Lifted, auto_chunk, check_k, knn_radii, row_chunks
from .results import DCResult, as_features, check_same_dims


def density_coverage(
    real_feats: Any,
    fake_feats: Any,
    k: int = 5,
    *,
    chunk_size: int | None = None,
) -> DCResult:
    """Density and coverage of generated features against real ones.

    Args:
        real_feats: ``(N, D)`` features of the real images, N > k.
        fake_feats: ``(M, D)`` features of the generated images, same D, M >= 1.
        k: neighbourhood size of the real balls (5 in the paper).
        chunk_size: rows per distance chunk (None: automatic, about 16 MB of distances at once).

    Returns:
        :class:`DCResult` with ``density``, ``coverage``, ``k``, ``n_real`` and ``n_fake``.

    Raises:
        DataError: too few real rows for k, NaN/inf values, or different D (naming the argument).

    Example:
        >>> x = np.random.default_rng(0).normal(size=(300, 8))
        >>> density_coverage(x, x).coverage
        1.0
    """
    real = as_features(real_feats, "real_feats")
    fake = as_features(fake_feats, "fake_feats")
    check_same_dims(real, fake, "real_feats", "fake_feats")
    k = check_k(k, real.shape[0])
    lr, lf = Lifted(real), Lifted(fake)
    r_real = knn_radii(lr, k, chunk_size=chunk_size)

    inside_count = 0
    nearest_fake = np.full(real.shape[0], np.inf)
    for lo, hi in row_chunks(fake.shape[0], auto_chunk(real.shape[0], chunk_size)):
        d = lf.sq_distances(lo, hi, lr)  # (chunk of fakes) x (reals)
        inside_count += int((d < r_real[None, :]).sum())
        np.minimum(nearest_fake, d.min(axis=0), out=nearest_fake)
    density = inside_count / (k * fake.shape[0])
    coverage = float((nearest_fake < r_real).mean())
    return DCResult(density=density, coverage=coverage, k=k, n_real=real.shape[0], n_fake=fake.shape[0])
