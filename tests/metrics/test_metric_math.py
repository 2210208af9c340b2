"""The metric math against float64 references written here, known values and edge cases.

References are independent of the code under test: FID through ``scipy.linalg.sqrtm`` and closed forms,
IS through ``scipy.special.rel_entr``, KID through explicit double sums over i != j, precision/recall and
density/coverage through ``scipy.spatial.distance.cdist`` and full sorts.
"""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest
import scipy.linalg
from scipy.spatial.distance import cdist
from scipy.special import rel_entr, softmax

from traingen.core.errors import DataError
from traingen.metrics import (
    MetricWarning,
    density_coverage,
    feature_stats,
    fid,
    fid_from_stats,
    frechet_distance,
    inception_score,
    kid,
    precision_recall,
)

pytestmark = pytest.mark.filterwarnings("ignore:Inception Score on N=:traingen.metrics.MetricWarning")


def _rng(seed=0):
    return np.random.default_rng(seed)


# -- FID -------------------------------------------------------------------------------------------


def test_fid_matches_scipy_sqrtm_reference():
    rng = _rng(1)
    a = rng.normal(size=(400, 12)) @ rng.normal(size=(12, 12))
    b = rng.normal(0.3, 1.2, size=(300, 12)) @ rng.normal(size=(12, 12))
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    ref = float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean.real))
    r = fid(a, b)
    assert r.value == pytest.approx(ref, rel=1e-9)
    assert fid_from_stats(feature_stats(a), feature_stats(b)).value == pytest.approx(ref, rel=1e-9)
    assert r.mean_term == pytest.approx(float(((mu1 - mu2) ** 2).sum()), rel=1e-12)
    assert (r.n_real, r.n_fake, r.dims) == (400, 300, 12)


def test_fid_closed_form_for_diagonal_gaussians():
    # For diagonal covariances FID = |mu1 - mu2|² + sum (sqrt(a_i) - sqrt(b_i))².
    a_var, b_var = np.array([1.0, 4.0, 0.25, 9.0]), np.array([2.0, 1.0, 1.0, 0.0])
    mu1, mu2 = np.array([0.0, 1.0, 2.0, 3.0]), np.array([1.0, 1.0, 0.0, 3.0])
    value, mean_term, trace_term = frechet_distance(mu1, np.diag(a_var), mu2, np.diag(b_var))
    assert mean_term == pytest.approx(5.0)
    assert trace_term == pytest.approx(float(((np.sqrt(a_var) - np.sqrt(b_var)) ** 2).sum()), rel=1e-12)
    assert value == pytest.approx(mean_term + trace_term)


def test_fid_identical_sets_is_zero_and_never_complex():
    x = _rng(2).normal(size=(600, 24))
    assert abs(fid(x, x).value) < 1e-8
    # Fewer samples than dimensions: singular covariances, where sqrtm-based code can go complex.
    y = _rng(3).normal(size=(10, 64)) * 1e3
    r = fid(y, y[::-1].copy())
    assert isinstance(r.value, float) and np.isfinite(r.value) and abs(r.value) < 1e-4
    z = _rng(4).normal(size=(10, 64))
    assert np.isfinite(fid(y, z).value) and fid(y, z).value > 0


def test_feature_stats_are_unbiased():
    x = _rng(5).normal(size=(50, 3))
    s = feature_stats(x)
    np.testing.assert_allclose(s.sigma, np.cov(x, rowvar=False), rtol=1e-12)
    np.testing.assert_allclose(s.mu, x.mean(0), rtol=1e-12)


# -- Inception Score -------------------------------------------------------------------------------


def _is_reference(p: np.ndarray) -> float:
    q = p.mean(axis=0, keepdims=True)
    return float(np.exp(rel_entr(p, q).sum(axis=1).mean()))


@pytest.mark.parametrize("k", [2, 10, 37])
def test_is_uniform_one_hot_is_k(k):
    n = k * 10 * 3
    onehot = np.eye(k)[np.arange(n) % k]
    r = inception_score(onehot, splits=10, probs=True, shuffle=False)
    assert r.exact == pytest.approx(k, rel=1e-12)
    assert r.mean == pytest.approx(k, rel=1e-12) and r.std == pytest.approx(0.0, abs=1e-12)
    logits = np.log(np.clip(onehot, 1e-300, None))  # softmax gives back the one-hot rows
    assert inception_score(logits, shuffle=False).exact == pytest.approx(k, rel=1e-9)


def test_is_matches_numpy_reference_per_split():
    logits = _rng(6).normal(scale=3.0, size=(230, 7))
    p = softmax(logits, axis=1)
    perm = np.random.RandomState(11).permutation(230)
    r = inception_score(logits, splits=4, seed=11)
    pp = p[perm]
    parts = [_is_reference(pp[i * 230 // 4:(i + 1) * 230 // 4]) for i in range(4)]
    assert r.mean == pytest.approx(np.mean(parts), rel=1e-12)
    assert r.std == pytest.approx(np.std(parts, ddof=0), rel=1e-10)
    assert r.exact == pytest.approx(_is_reference(p), rel=1e-12)
    assert (r.n, r.num_classes, r.splits, r.seed, r.permutation) == (230, 7, 4, 11, "seed")
    # An explicit permutation gives the same numbers as the seed that drew it.
    r2 = inception_score(logits, splits=4, permutation=perm)
    assert (r2.mean, r2.std, r2.permutation) == (r.mean, r.std, "given")


def test_is_probs_with_zeros_and_extreme_logits():
    p = np.array([[1.0, 0.0, 0.0], [0.0, 0.5, 0.5], [0.2, 0.3, 0.5], [0.0, 0.0, 1.0]])
    assert inception_score(p, splits=1, probs=True).exact == pytest.approx(_is_reference(p), rel=1e-12)
    big = np.array([[1e4, 0.0], [0.0, 1e4]])
    assert inception_score(big, splits=1).exact == pytest.approx(2.0, rel=1e-12)


def test_is_warnings_small_n_and_sorted_order():
    logits = np.eye(5)[np.repeat(np.arange(5), 40)] * 20.0  # class-sorted
    with pytest.warns(MetricWarning, match="below the 50,000"):
        inception_score(logits, splits=10, seed=0)
    with pytest.warns(MetricWarning, match="look sorted"):
        inception_score(logits, splits=10, shuffle=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", MetricWarning)
        warnings.filterwarnings("ignore", "Inception Score on N=", MetricWarning)
        inception_score(logits, splits=10, seed=0)  # shuffled: not sorted any more


def test_is_errors_name_the_argument():
    with pytest.raises(DataError, match="fewer than splits") as e:
        inception_score(np.zeros((1, 10)))
    assert e.value.field == "logits"
    with pytest.raises(DataError) as e:
        inception_score(np.array([[0.5, 0.6]]), splits=1, probs=True)
    assert e.value.field == "logits"
    with pytest.raises(DataError) as e:
        inception_score(np.zeros((20, 3)), splits=2, permutation=np.arange(19))
    assert e.value.field == "permutation"


# -- KID -------------------------------------------------------------------------------------------


def _mmd2_reference(x: np.ndarray, y: np.ndarray) -> float:
    d, m = x.shape[1], x.shape[0]

    def k(a, b):
        return (float(a @ b) / d + 1.0) ** 3

    sxx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j)
    syy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j)
    sxy = sum(k(x[i], y[j]) for i in range(m) for j in range(m))
    return sxx / (m * (m - 1)) + syy / (m * (m - 1)) - 2 * sxy / (m * m)


def test_kid_matches_double_sum_reference():
    rng = _rng(7)
    x, y = rng.normal(size=(25, 6)), rng.normal(0.4, 1.0, size=(25, 6))
    r = kid(x, y, subsets=1, subset_size=25)
    assert r.mean == pytest.approx(_mmd2_reference(x, y), rel=1e-12)
    assert r.std == 0.0


def test_kid_subsets_use_the_documented_draws():
    rng = _rng(8)
    x, y = rng.normal(size=(40, 5)), rng.normal(size=(30, 5)) + 0.2
    r = kid(x, y, subsets=4, subset_size=12, seed=3)
    draw = np.random.RandomState(3)
    vals = []
    for _ in range(4):
        yi = draw.choice(30, 12, replace=False)  # generated first, as torch-fidelity
        xi = draw.choice(40, 12, replace=False)
        vals.append(_mmd2_reference(x[xi], y[yi]))
    assert r.mean == pytest.approx(np.mean(vals), rel=1e-10)
    assert r.std == pytest.approx(np.std(vals), rel=1e-8)


def test_kid_clamps_subset_size_with_a_warning():
    x = _rng(9).normal(size=(30, 4))
    with pytest.warns(MetricWarning, match="clamped to 20"):
        r = kid(x, x[:20], subsets=2, subset_size=1000)
    assert r.subset_size == 20


# -- precision / recall, density / coverage ------------------------------------------------------


def _kth(d_self: np.ndarray, k: int) -> np.ndarray:
    return np.sort(d_self, axis=1)[:, k]  # column 0 is the point itself


def test_precision_recall_density_coverage_match_brute_force():
    rng = _rng(10)
    real, fake = rng.normal(size=(120, 8)), rng.normal(0.3, 0.8, size=(90, 8))
    d_rr, d_ff, d_fr = cdist(real, real), cdist(fake, fake), cdist(fake, real)
    r3, f3, r5 = _kth(d_rr, 3), _kth(d_ff, 3), _kth(d_rr, 5)
    precision = (d_fr <= r3[None, :]).any(axis=1).mean()
    recall = (d_fr.T <= f3[None, :]).any(axis=1).mean()
    density = (d_fr < r5[None, :]).sum() / (5 * 90)
    coverage = (d_fr.min(axis=0) < r5).mean()
    for chunk in (None, 7):
        pr = precision_recall(real, fake, k=3, chunk_size=chunk)
        dc = density_coverage(real, fake, k=5, chunk_size=chunk)
        assert (pr.precision, pr.recall) == (pytest.approx(precision), pytest.approx(recall))
        assert (dc.density, dc.coverage) == (pytest.approx(density), pytest.approx(coverage))
    assert 0.0 < precision < 1.0 and 0.0 < recall < 1.0  # the case is not trivial
    assert pr.f1 == pytest.approx(2 * precision * recall / (precision + recall))


def test_identical_sets_give_full_precision_recall_coverage():
    x = _rng(11).normal(size=(200, 16))
    pr = precision_recall(x, x.copy())
    dc = density_coverage(x, x.copy())
    assert (pr.precision, pr.recall, dc.coverage) == (1.0, 1.0, 1.0)
    assert dc.density > 0.5


def test_torch_tensors_are_accepted():
    import torch
    x = torch.from_numpy(_rng(12).normal(size=(50, 4))).float()
    y = x + 0.5
    assert fid(x, y).value == pytest.approx(fid(x.double().numpy(), y.double().numpy()).value)
    assert precision_recall(x, y).precision == precision_recall(x.numpy(), y.numpy()).precision


# -- edge cases shared by every metric ------------------------------------------------------------

TWO_SET = [
    ("fid", lambda a, b: fid(a, b)),
    ("kid", lambda a, b: kid(a, b, subsets=2, subset_size=10)),
    ("pr", lambda a, b: precision_recall(a, b)),
    ("dc", lambda a, b: density_coverage(a, b)),
]


@pytest.mark.parametrize("name,fn", TWO_SET, ids=[n for n, _ in TWO_SET])
def test_errors_name_the_argument(name, fn):
    good = _rng(13).normal(size=(20, 6))
    with pytest.raises(DataError, match="feature dimensions") as e:
        fn(good, good[:, :5])
    assert e.value.field == "fake_feats"
    bad = good.copy()
    bad[3, 2] = np.nan
    with pytest.raises(DataError, match="NaN") as e:
        fn(bad, good)
    assert e.value.field == "real_feats"
    with pytest.raises(DataError) as e:
        fn(good[:1], good)  # N=1: no covariance, no subset of 2, no k-th neighbour
    assert e.value.field == "real_feats"
    if name != "dc":  # density/coverage is defined for a single generated sample
        with pytest.raises(DataError) as e:
            fn(good, good[:1])
        assert e.value.field == "fake_feats"
    with pytest.raises(DataError) as e:
        fn(good[0], good)  # 1-d input
    assert e.value.field == "real_feats"


def test_import_does_not_load_torch():
    code = ("import sys, traingen.metrics as m; m.fid, m.evaluate, m.FeatureCache; "
            "assert 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_results_serialise_to_plain_json():
    import json

    x = _rng(14).normal(size=(30, 4))
    r = kid(x, x + 1, subsets=2, subset_size=10).with_provenance(extractor="e", weights="w", resize="r")
    d = json.loads(json.dumps(r.to_dict()))
    assert d["metric"] == "kid" and d["extractor"] == "e" and d["value"] == r.mean and d["seed"] == 0
    with pytest.raises(TypeError):
        r.with_provenance(colour="red")


def test_kid_blocked_kernel_sums_equal_the_kernel_matrices():
    from traingen.metrics.kid import mmd2_poly, mmd2_unbiased, polynomial_kernel

    rng = _rng(15)
    x, y = rng.normal(size=(150, 9)), rng.normal(0.1, 1.0, size=(150, 9))  # 150: blocks of 64 + a rest
    ref = mmd2_unbiased(polynomial_kernel(x), polynomial_kernel(x, y), polynomial_kernel(y))
    assert mmd2_poly(x, y) == pytest.approx(ref, rel=1e-10)
