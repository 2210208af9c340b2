"""Metrics of generated data: Inception Score, FID, KID, precision/recall, density/coverage, CAS.

The metric math is pure functions over feature arrays (numpy or torch, float64 inside), usable
without any network:

============================================  ====================================================
``inception_score(logits, splits=10, seed=0)``  IS, compat (split mean/std) and exact
``fid(real_feats, fake_feats)``                 Fréchet Inception Distance
``kid(real_feats, fake_feats, subsets=100,``    Kernel Inception Distance (unbiased MMD², mean/std)
``    subset_size=1000, seed=0)``
``precision_recall(real_feats, fake_feats,``    improved precision and recall (k-NN manifolds)
``    k=3)``
``density_coverage(real_feats, fake_feats,``    density and coverage
``    k=5)``
``evaluate(metric, fake, real=None, ...)``      images -> feature network -> metric, with a cache
``classification_accuracy_score(...)``          train on generated, test on real (``cas.py``)
============================================  ====================================================

Each returns a frozen result dataclass (``.value``, ``.to_dict()``, ``.summary()``) whose provenance
fields (extractor, weights id, resize) :func:`evaluate` fills in. ``import traingen.metrics`` imports
numpy only; :func:`evaluate`, the feature cache and CAS load on first use. See ``docs/metrics.md``.

Example:
    >>> from traingen.metrics import fid, evaluate
    >>> fid(real_feats, fake_feats).value
    >>> evaluate("fid", "out/generated", "builtin:mnist5k@test", features="random-multiscale").summary()
"""

from __future__ import annotations

from ..core.lazy import lazy_attributes
from .density_coverage import density_coverage
from .fid import GaussianStats, feature_stats, fid, fid_from_stats, frechet_distance
from .inception_score import inception_score
from .kid import kid
from .precision_recall import precision_recall
from .results import DCResult, FIDResult, ISResult, KIDResult, MetricResult, MetricWarning, PRResult

_LAZY = {
    "evaluate": ".evaluate",
    "METRICS": ".evaluate",
    "FeatureCache": ".cache",
    "cached_features": ".cache",
    "data_hash": ".cache",
    "CASResult": ".cas",
    "classification_accuracy_score": ".cas",
}

__all__ = [
    "DCResult",
    "FIDResult",
    "GaussianStats",
    "ISResult",
    "KIDResult",
    "MetricResult",
    "MetricWarning",
    "PRResult",
    "density_coverage",
    "feature_stats",
    "fid",
    "fid_from_stats",
    "frechet_distance",
    "inception_score",
    "kid",
    "precision_recall",
    *_LAZY,
]


__getattr__, __dir__ = lazy_attributes(__name__, globals(), _LAZY)
