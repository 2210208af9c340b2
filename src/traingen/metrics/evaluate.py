"""``evaluate``: images -> feature network -> metric, with provenance. What ``traingen eval`` calls.

One call opens the source(s) (an address such as ``builtin:mnist5k@test``, a folder, COCO json or
WebDataset shards, or an already open :class:`~traingen.data.Source` or image array), extracts features
through a registered extractor (:mod:`traingen.features`) with the content-keyed cache
(:mod:`traingen.metrics.cache`), runs the metric, and returns its result with the provenance filled in:
extractor, weights id, resize, and the two sources' names.

=======  =====================  ==========  ========================================================
metric   function               features    options (``**metric_options``)
=======  =====================  ==========  ========================================================
``is``   inception_score        ``logits``  ``splits``, ``permutation``, ``shuffle``, ``probs``
``fid``  fid                    ``pool``    --
``kid``  kid                    ``pool``    ``subsets``, ``subset_size``
``pr``   precision_recall       ``pool``    ``k``, ``chunk_size``, ``density_k`` (5; 0 skips)
``dc``   density_coverage       ``pool``    ``k``, ``chunk_size``
=======  =====================  ==========  ========================================================

``pr`` also fills the result's density and coverage (Naeem et al., with their own ``density_k``, 5 by
default) from the same features, so ``traingen eval pr`` reports all four. ``seed`` goes to the metrics that draw at random (IS shuffle, KID subsets). IS needs an extractor with
logits: ``inception-v3-fid`` (with its weight file) or the shipped digit classifiers
(``mnist5k-classifier``, ``digits-classifier``).

Example:
    >>> from traingen.metrics import evaluate
    >>> r = evaluate("fid", "builtin:mnist5k@test", "builtin:mnist5k@train", features="random-multiscale")
    >>> r.summary(), r.extractor, r.weights
    >>> evaluate("is", "out/generated", features="mnist5k-classifier").to_dict()

References:
    See the metric modules: Salimans et al. 2016 (IS), Heusel et al. 2017 (FID), Bińkowski et al. 2018
    (KID), Kynkäänniemi et al. 2019 (precision/recall), Naeem et al. 2020 (density/coverage).
"""

from __future__ import annotations

import dataclasses
import inspect
import os
from collections.abc import Callable
from typing import Any

import numpy as np

from ..core.errors import ConfigError
from .density_coverage import density_coverage
from .fid import fid
from .inception_score import inception_score
from .kid import kid
from .precision_recall import precision_recall
from .results import MetricResult

#: metric name -> (function, feature output it reads, whether it takes real data, whether it takes a seed)
METRICS: dict[str, tuple[Callable[..., MetricResult], str, bool, bool]] = {
    "is": (inception_score, "logits", False, True),
    "fid": (fid, "pool", True, False),
    "kid": (kid, "pool", True, True),
    "pr": (precision_recall, "pool", True, False),
    "dc": (density_coverage, "pool", True, False),
}

#: Arguments of the metric functions that evaluate sets itself (not allowed in ``**metric_options``).
_RESERVED = {"logits", "real_feats", "fake_feats", "seed"}

#: Options evaluate adds to a metric's own (metric -> option names).
_EXTRA = {"pr": ("density_k",)}


def _metric_options(metric: str, fn: Callable[..., Any], options: dict[str, Any]) -> dict[str, Any]:
    allowed = [p for p in inspect.signature(fn).parameters if p not in _RESERVED] + list(_EXTRA.get(metric, ()))
    unknown = [k for k in options if k not in allowed]
    if unknown:
        raise ConfigError(f"unknown option(s) {unknown} for metric '{metric}'; allowed: "
                          f"{', '.join(allowed) or '(none)'}", where=f"metric '{metric}'", field=unknown[0])
    return options


def open_images(data: Any, field: str, limit: int | None) -> tuple[Any, str]:
    """An address, Source, array or iterable -> (something ``extract`` takes, a display name)."""
    if isinstance(data, (str, os.PathLike)):
        from ..data import open_source

        data = open_source(data)
    name = getattr(data, "name", None) or f"<{type(data).__name__}>"
    if limit is not None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ConfigError(f"limit must be a positive integer, got {limit!r}", field="limit")
        if hasattr(data, "subset") and hasattr(data, "__len__"):
            if limit < len(data):
                data = data.subset(range(limit))
                name = data.name
        elif isinstance(data, np.ndarray) or hasattr(data, "detach"):
            data = data[:limit]
            name = f"{name}[:{limit}]"
        else:
            raise ConfigError(f"limit needs a Source or an array, got {type(data).__name__}", field=field)
    return data, name


def get_features_for(extractor: Any, data: Any, output: str, field: str, *, cache: Any, batch_size: int,
                     device: str, progress: Callable[[int], Any] | None) -> tuple[np.ndarray, dict[str, Any]]:
    """One output (``pool`` or ``logits``) of ``extractor`` on ``data``, through the feature cache."""
    from .cache import cached_features

    feats = cached_features(extractor, data, cache=cache, batch_size=batch_size, device=device,
                            progress=progress)
    arr = getattr(feats, output)
    if arr is None:
        raise ConfigError(f"extractor '{extractor.name}' returned no {output}", field="features")
    if arr.shape[0] == 0:
        from ..core.errors import DataError

        raise DataError("holds no images", where=getattr(data, "name", None), field=field)
    return arr, feats.provenance


def evaluate(
    metric: str,
    fake: Any,
    real: Any = None,
    *,
    features: Any = "random-multiscale",
    weights: str | None = None,
    resize: str | None = None,
    feature_options: dict[str, Any] | None = None,
    device: str = "cpu",
    batch_size: int = 64,
    seed: int = 0,
    limit: int | None = None,
    cache: Any = True,
    progress: Callable[[int], Any] | None = None,
    **metric_options: Any,
) -> MetricResult:
    """Compute ``metric`` on images: open, extract features (cached), score, record provenance.

    Args:
        metric: ``is``, ``fid``, ``kid``, ``pr`` or ``dc`` (table in the module docstring).
        fake: the generated images: an address, a Source, an image array or an iterable of images.
        real: the real images (same kinds); required by every metric but ``is``.
        features: a registered extractor name or a :class:`~traingen.features.FeatureExtractor`.
        weights: weight file for extractors that need one (e.g. ``inception-v3-fid``).
        resize: the extractor's resize method (``tf1-bilinear``, ``pil-bicubic``, ...); None = its default.
        feature_options: other options of the named extractor (e.g. ``{"seed": 1, "min_size": 32}``).
        device: ``cpu``, ``cuda``, ``cuda:N``.
        batch_size: images per forward pass.
        seed: seed of the IS shuffle and of the KID subsets.
        limit: use only the first ``limit`` images of each set.
        cache: True (default folder), a :class:`~traingen.metrics.cache.FeatureCache`, or False.
        progress: called with a count after each extracted batch (both sets, fake first).
        **metric_options: passed to the metric (``splits``, ``subsets``, ``subset_size``, ``k``, ...).

    Returns:
        The metric's result dataclass with ``extractor``, ``weights``, ``resize``, ``real`` and ``fake``
        set.

    Raises:
        ConfigError: unknown metric, option or extractor, a missing ``real``, or an extractor without
            the output the metric needs. DataError / CheckpointError from the data and weights.

    Example:
        >>> evaluate("kid", "builtin:digits@test", "builtin:digits@train", subsets=10, subset_size=300)
    """
    if metric not in METRICS:
        raise ConfigError(f"unknown metric '{metric}'; known: {', '.join(METRICS)}", field="metric")
    fn, output, needs_real, takes_seed = METRICS[metric]
    options = _metric_options(metric, fn, dict(metric_options))
    if needs_real and real is None:
        raise ConfigError(f"metric '{metric}' compares two sets: pass the real images", field="real")
    if not needs_real and real is not None:
        raise ConfigError(f"metric '{metric}' scores one set: real images are not used", field="real")

    extractor = _extractor(features, weights=weights, resize=resize, options=feature_options, device=device)
    if output not in extractor.outputs:
        raise ConfigError(f"extractor '{extractor.name}' has no {output} (outputs: {', '.join(extractor.outputs)});"
                          " the Inception Score needs a classifier: inception-v3-fid (with its weight file), "
                          "mnist5k-classifier or digits-classifier", field="features")

    common = {"cache": cache, "batch_size": batch_size, "device": device, "progress": progress}
    fake_data, fake_name = open_images(fake, "fake", limit)
    fake_arr, prov = get_features_for(extractor, fake_data, output, "fake", **common)
    if takes_seed:
        options["seed"] = seed
    density_k = options.pop("density_k", 5) if metric == "pr" else 0
    if needs_real:
        real_data, real_name = open_images(real, "real", limit)
        real_arr, _ = get_features_for(extractor, real_data, output, "real", **common)
        result = fn(real_arr, fake_arr, **options)
        if density_k:
            dc = density_coverage(real_arr, fake_arr, k=density_k, chunk_size=options.get("chunk_size"))
            result = dataclasses.replace(result, density=dc.density, coverage=dc.coverage, density_k=dc.k)
    else:
        real_name = None
        result = fn(fake_arr, **options)
    return result.with_provenance(extractor=prov.get("extractor", extractor.name), weights=prov.get("weights"),
                                  resize=prov.get("resize"), real=real_name, fake=fake_name)


def _extractor(features: Any, *, weights: str | None, resize: str | None, options: dict[str, Any] | None,
               device: str) -> Any:
    if not isinstance(features, str):
        if weights is not None or resize is not None or options:
            raise ConfigError("weights=, resize= and feature_options= apply to an extractor named by a string; "
                              "configure the instance itself", field="features")
        return features.to(device)
    from ..features import get_extractor

    opts = dict(options or {})
    if resize is not None:
        opts["resize"] = resize
    return get_extractor(features, weights=weights, device=device, **opts)
