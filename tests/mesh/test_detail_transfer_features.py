"""Geometric features and Taubin smoothing (building blocks of detail transfer) against formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest

from traingen.core.errors import DataError
from traingen.mesh.geometric_features import (
    FEATURE_NAMES,
    boundary_distance,
    detail_offsets,
    gaussian_curvature,
    mean_curvature,
    taubin_smooth,
    vertex_features,
)
from traingen.mesh.mesh import Mesh
from traingen.mesh.procedural import icosphere, lathe


def _volume(v, f):
    t = v[f]
    return float(np.einsum("ij,ij->i", t[:, 0], np.cross(t[:, 1], t[:, 2])).sum() / 6)


def test_sphere_curvatures_match_formulas():
    s = icosphere(3, 2.0)
    H = mean_curvature(s.vertices, s.faces)
    K = gaussian_curvature(s.vertices, s.faces)
    assert np.abs(np.median(H) - 0.5) < 0.005  # 1 / r
    assert np.abs(H - 0.5).max() < 0.08  # the 12 valence-5 vertices, with barycentric areas
    assert np.abs(np.median(K) - 0.25) < 0.01  # 1 / r²
    # Gauss–Bonnet: Σ K·A = 4π exactly (angle deficits) on a closed genus-0 mesh.
    t = s.vertices[s.faces]
    area = 0.5 * np.linalg.norm(np.cross(t[:, 1] - t[:, 0], t[:, 2] - t[:, 0]), axis=1)
    a = np.zeros(len(s.vertices))
    for k in range(3):
        np.add.at(a, s.faces[:, k], area / 3)
    assert abs((K * a).sum() - 4 * math.pi) < 1e-9


def test_taubin_does_not_shrink_and_offsets_recover_bumps():
    s = icosphere(3, 1.0)
    rng = np.random.default_rng(0)
    bump = 0.03 * rng.standard_normal(len(s.vertices))
    noisy = s.vertices * (1 + bump)[:, None]
    v0 = _volume(s.vertices, s.faces)
    taubin = taubin_smooth(noisy, s.faces, 20)
    lap = taubin_smooth(noisy, s.faces, 20, lam=0.5, mu=-0.5000001)  # μ ≈ −λ: nearly plain Laplacian
    plain = noisy.copy()
    from traingen.mesh.geometric_features import _adjacency

    a = _adjacency(s.faces, len(noisy))
    deg = np.asarray(a.sum(1)).ravel()[:, None]
    for _ in range(40):
        plain = plain + 0.5 * (a @ plain / deg - plain)
    assert abs(_volume(taubin, s.faces) / v0 - 1) < 0.03
    assert _volume(plain, s.faces) / v0 < 0.9
    assert lap.shape == noisy.shape
    d = detail_offsets(noisy, taubin, s.faces)
    assert np.corrcoef(d, bump)[0, 1] > 0.9


def test_boundary_distance_on_open_cylinder():
    m = lathe([(0.5, 0.0), (0.5, 0.5), (0.5, 1.0), (0.5, 1.5), (0.5, 2.0)], 32).welded()
    d = boundary_distance(m.vertices, m.faces)
    z = m.vertices[:, 2]
    assert np.allclose(d, np.minimum(z, 2.0 - z), atol=1e-9)


def test_vertex_features_normalised_and_single_out_height():
    m = lathe([(0.5, z) for z in np.linspace(0, 2, 9)], 24)
    feats, w = vertex_features(m)
    assert feats.shape == (w.n_vertices, len(FEATURE_NAMES))
    assert np.allclose(feats.mean(0), 0, atol=1e-9)
    h = feats[:, FEATURE_NAMES.index("height")]
    assert np.corrcoef(h, w.vertices[:, 2])[0, 1] > 0.999


def test_bad_meshes_give_clear_errors():
    with pytest.raises(DataError, match="empty"):
        vertex_features(Mesh(np.zeros((0, 3)), np.zeros((0, 3), np.int64), name="e"))
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, np.nan]])
    with pytest.raises(DataError, match="NaN"):
        vertex_features(Mesh(v, np.array([[0, 1, 2]]), name="n"))
    with pytest.raises(DataError, match="mu"):
        taubin_smooth(np.zeros((3, 3)), np.array([[0, 1, 2]]), 1, lam=0.5, mu=-0.4)


def test_weld_keeps_first_occurrence_order():
    from traingen.mesh.geometric_features import weld

    m = lathe([(0.5, 0.0), (0.5, 1.0)], 8)  # the seam column is duplicated
    w = weld(m)
    assert w.n_vertices == 16 and np.array_equal(weld(w).vertices, w.vertices)
    assert np.array_equal(w.vertices, m.vertices[[k for k in range(18) if k % 9 != 8]])
