"""Result dataclasses of the metrics, the :class:`MetricWarning`, and the input checks they share.

Every metric returns a small frozen dataclass: the number(s), the settings that decide them (N, seed,
splits or subsets, k) and provenance fields (``extractor``, ``weights``, ``resize``, ``real``,
``fake``) that :func:`traingen.metrics.evaluate` fills in; a bare call on feature arrays leaves them
``None``. ``to_dict()`` gives plain JSON types for ``--json`` output and reports.

Inputs: feature arrays are ``(N, D)`` numpy arrays, torch tensors (any device or float dtype) or
nested lists. They are converted to float64 once here; a wrong rank, an empty set, a non-finite value
or mismatched dimensions raise :class:`~traingen.core.errors.DataError` naming the argument.

Example:
    >>> from traingen.metrics import fid
    >>> r = fid(real_feats, fake_feats)
    >>> r.value, r.n_real, r.to_dict()["metric"]
    (3.1, 1000, 'fid')
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..core.errors import DataError


class MetricWarning(UserWarning):
    """A metric was computed, but under conditions that make it hard to compare (small N, sorted input,
    a clamped subset size). Filter it with ``warnings.filterwarnings("ignore", category=MetricWarning)``."""


@dataclass(frozen=True, kw_only=True)
class MetricResult:
    """Fields every result carries: what computed the features and on which data (set by ``evaluate``)."""

    metric: ClassVar[str] = ""

    extractor: str | None = None
    weights: str | None = None
    resize: str | None = None
    real: str | None = None
    fake: str | None = None

    @property
    def value(self) -> float:
        """The headline number (the mean where there is a spread)."""
        raise NotImplementedError

    def with_provenance(self, **fields: Any) -> MetricResult:
        """A copy with provenance fields set (``extractor``, ``weights``, ``resize``, ``real``, ``fake``)."""
        allowed = {"extractor", "weights", "resize", "real", "fake"}
        unknown = set(fields) - allowed
        if unknown:
            raise TypeError(f"unknown provenance field(s) {sorted(unknown)}; allowed: {sorted(allowed)}")
        return dataclasses.replace(self, **fields)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types: ``{"metric": ..., every field ..., "value": ...}``."""
        out: dict[str, Any] = {"metric": self.metric}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            out[f.name] = v.item() if isinstance(v, np.generic) else v
        out["value"] = self.value
        return out

    def summary(self) -> str:
        """One human-readable line (the CLI prints it)."""
        raise NotImplementedError


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.6g}"


@dataclass(frozen=True, kw_only=True)
class ISResult(MetricResult):
    """Inception Score. ``mean``/``std``: the compat protocol (splits, ``np.std`` with ddof=0);
    ``exact``: exp(E[KL(p(y|x) || p(y))]) over all ``n`` samples at once."""

    metric: ClassVar[str] = "is"

    mean: float
    std: float
    exact: float
    n: int
    num_classes: int
    splits: int
    seed: int | None
    permutation: str  # "seed", "given" or "none"

    @property
    def value(self) -> float:
        return self.mean

    def summary(self) -> str:
        return (f"IS {self.mean:.4f} ± {self.std:.4f} (compat, {self.splits} splits, seed {self.seed}); "
                f"exact {self.exact:.4f}; N={self.n}")


@dataclass(frozen=True, kw_only=True)
class FIDResult(MetricResult):
    """Fréchet distance between Gaussians fitted to two feature sets.

    ``mean_term`` = ||mu_r - mu_f||², ``trace_term`` = Tr(S_r + S_f - 2 (S_r S_f)^½); ``fid`` is their sum.
    """

    metric: ClassVar[str] = "fid"

    fid: float
    mean_term: float
    trace_term: float
    n_real: int
    n_fake: int
    dims: int

    @property
    def value(self) -> float:
        return self.fid

    @property
    def mean(self) -> float:
        """Alias of :attr:`fid` so every result has ``.mean``."""
        return self.fid

    def summary(self) -> str:
        return f"FID {self.fid:.4f} (N real {self.n_real}, N fake {self.n_fake}, {self.dims}-d)"


@dataclass(frozen=True, kw_only=True)
class KIDResult(MetricResult):
    """Kernel Inception Distance: mean and std (ddof=0) of unbiased MMD² over random subsets."""

    metric: ClassVar[str] = "kid"

    mean: float
    std: float
    subsets: int
    subset_size: int
    n_real: int
    n_fake: int
    seed: int | None

    @property
    def value(self) -> float:
        return self.mean

    def summary(self) -> str:
        return (f"KID {self.mean:.6f} ± {self.std:.6f} ({self.subsets} subsets of {self.subset_size}, "
                f"seed {self.seed}; N real {self.n_real}, N fake {self.n_fake})")


@dataclass(frozen=True, kw_only=True)
class PRResult(MetricResult):
    """Improved precision and recall (k-NN manifolds); ``value`` is their F1.

    ``density`` and ``coverage`` (with their own ``density_k``) are filled when computed through
    :func:`traingen.metrics.evaluate` (``traingen eval pr``); :func:`precision_recall` leaves them None.
    """

    metric: ClassVar[str] = "pr"

    precision: float
    recall: float
    k: int
    n_real: int
    n_fake: int
    density: float | None = None
    coverage: float | None = None
    density_k: int | None = None

    @property
    def f1(self) -> float:
        s = self.precision + self.recall
        return 0.0 if s == 0 else 2 * self.precision * self.recall / s

    @property
    def value(self) -> float:
        return self.f1

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "f1": self.f1}

    def summary(self) -> str:
        dc = "" if self.density is None else (f"; density {self.density:.4f}, coverage {self.coverage:.4f} "
                                               f"(k={self.density_k})")
        return (f"precision {self.precision:.4f}, recall {self.recall:.4f} (k={self.k}){dc}; "
                f"N real {self.n_real}, N fake {self.n_fake}")


@dataclass(frozen=True, kw_only=True)
class DCResult(MetricResult):
    """Density (can exceed 1) and coverage (in [0, 1]) of Naeem et al.; ``value`` is the coverage."""

    metric: ClassVar[str] = "dc"

    density: float
    coverage: float
    k: int
    n_real: int
    n_fake: int

    @property
    def value(self) -> float:
        return self.coverage

    def summary(self) -> str:
        return (f"density {self.density:.4f}, coverage {self.coverage:.4f} (k={self.k}; "
                f"N real {self.n_real}, N fake {self.n_fake})")


# --------------------------------------------------------------------------------------------------
# Input checks shared by every metric


def as_features(x: Any, name: str, *, min_rows: int = 1, ndim: int = 2) -> np.ndarray:
    """``x`` as a C-contiguous float64 array of rank ``ndim`` with at least ``min_rows`` finite rows.

    Accepts numpy arrays, torch tensors (detached and moved to the CPU without importing torch here)
    and nested sequences. Raises :class:`DataError` with ``field=name`` otherwise.
    """
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # a torch tensor: float64 handles bf16/half too
        x = x.detach().cpu()
        x = x.double() if x.is_floating_point() else x
        x = x.numpy()
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError) as e:
        raise DataError(f"cannot be read as an array: {e}", field=name) from e
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise DataError(f"expected a numeric array, got dtype {arr.dtype}", field=name)
    if np.iscomplexobj(arr):
        raise DataError("expected real numbers, got a complex array", field=name)
    if arr.ndim != ndim:
        want = "(N, D)" if ndim == 2 else f"rank {ndim}"
        raise DataError(f"expected a {want} array, got shape {tuple(arr.shape)}", field=name)
    if arr.shape[0] < min_rows:
        raise DataError(f"needs at least {min_rows} sample(s), got {arr.shape[0]}", field=name)
    if ndim == 2 and arr.shape[1] < 1:
        raise DataError("has zero feature dimensions", field=name)
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    if not np.isfinite(arr).all():
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise DataError(f"holds NaN or infinite values (first at row {bad[0]})", field=name)
    return arr


def check_same_dims(real: np.ndarray, fake: np.ndarray, real_name: str, fake_name: str) -> None:
    """DataError naming ``fake_name`` when the two feature sets have different widths."""
    if real.shape[1] != fake.shape[1]:
        raise DataError(f"has {fake.shape[1]} feature dimensions but {real_name} has {real.shape[1]}; "
                        "both sets must come from the same extractor and layer", field=fake_name)


def check_int(value: Any, name: str, *, minimum: int) -> int:
    """``value`` as an int >= ``minimum`` (bools refused), else DataError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise DataError(f"expected an integer, got {value!r}", field=name)
    if value < minimum:
        raise DataError(f"must be at least {minimum}, got {value}", field=name)
    return int(value)

