"""The soft mode's custom autograd functions and row-wise pair enumeration, against independent references."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from traingen.mesh.builtin import load_mesh
from traingen.mesh.raster import Attributes, Lighting, RasterSettings, rasterize
from traingen.mesh.raster_common import Cameras, as_batched_vertices, setup_faces
from traingen.mesh.raster_pairs import enumerate_near_pairs
from traingen.mesh.raster_soft_ops import (
    SoftAggregate,
    SoftGeometry,
    SortedGather,
    SortedInterpolate,
    segment_matrix,
)
from traingen.render.camera import Camera

# Two triangles in pixel units (one obtuse, one wound the other way) with their depths.
TRIS = np.array([[2.0, 3.0, 9.0, 4.0, 5.0, 10.0, 3.0, 4.0, 5.0],
                 [1.0, 1.0, 2.0, 8.0, 8.5, 2.0, 2.0, 2.5, 3.0]])


def _pairs(n=80, seed=0):
    g = torch.Generator().manual_seed(seed)
    fi = torch.sort(torch.randint(0, 2, (n,), generator=g)).values
    X = torch.rand(n, dtype=torch.float64, generator=g) * 12 - 1.5
    Y = torch.rand(n, dtype=torch.float64, generator=g) * 12 - 1.5
    crow = torch.cat([torch.zeros(1, dtype=torch.long), torch.bincount(fi, minlength=2).cumsum(0)])
    return fi, X, Y, crow


def _reference_geometry(tri, x, y):
    """float64 numpy: distance to the closest boundary point, barycentrics by a linear solve, clipping."""
    P = np.array([[tri[0], tri[1]], [tri[2], tri[3]], [tri[4], tri[5]]])
    z = tri[6:9]
    p = np.array([x, y])
    d2 = min(np.sum((p - (a + np.clip(np.dot(p - a, b - a) / np.dot(b - a, b - a), 0, 1) * (b - a))) ** 2)
             for a, b in ((P[0], P[1]), (P[1], P[2]), (P[2], P[0])))
    A = np.vstack([P.T, np.ones(3)])
    w = np.linalg.solve(A, np.array([x, y, 1.0]))
    inside = bool((w >= 0).all())
    if not inside:
        w = np.clip(w, 0, 1)
        w = w / w.sum()
    q = w / z
    return d2, 1 / q.sum(), q / q.sum(), inside


def test_soft_geometry_forward_matches_float64_reference():
    fi, X, Y, _ = _pairs(200, seed=1)
    d2, zp, wp, inside = SoftGeometry.apply(torch.tensor(TRIS)[fi], X, Y)
    assert 10 < int(inside.sum()) < 190
    for i in range(len(fi)):
        rd2, rzp, rwp, rin = _reference_geometry(TRIS[int(fi[i])], float(X[i]), float(Y[i]))
        assert bool(inside[i]) == rin
        np.testing.assert_allclose([float(d2[i]), float(zp[i])], [rd2, rzp], rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(wp[i].numpy(), rwp, rtol=1e-10, atol=1e-10)


def test_soft_geometry_and_gather_gradcheck_float64():
    fi, X, Y, crow = _pairs()
    seg = segment_matrix(crow, torch.float64)

    def fn(t):
        d2, zp, wp, _ = SoftGeometry.apply(SortedGather.apply(t, fi, seg), X, Y)
        return d2, zp, wp

    tri = torch.tensor(TRIS, requires_grad=True)
    assert torch.autograd.gradcheck(fn, (tri,), eps=1e-6, atol=1e-6, rtol=1e-4)


@pytest.mark.parametrize("uniform", [False, True])
def test_soft_aggregate_gradcheck_float64_with_dropped_pairs(uniform):
    g = torch.Generator().manual_seed(2)
    P, n_pix = 60, 10
    pix = torch.randint(0, n_pix, (P,), generator=g)
    inside = (torch.rand(P, generator=g) > 0.6).double()
    keep = torch.maximum((torch.rand(P, generator=g) > 0.2).double(), inside)
    assert float(keep.min()) == 0.0
    d2 = (torch.rand(P, dtype=torch.float64, generator=g) * 0.3).requires_grad_(True)
    zp = (1.0 + torch.rand(P, dtype=torch.float64, generator=g)).requires_grad_(True)
    col = torch.rand(1 if uniform else P, 3, dtype=torch.float64, generator=g).requires_grad_(True)

    def fn(d2, zp, col):
        # An expanded single row takes the one-reduction path.
        return SoftAggregate.apply(d2, zp, col.expand(P, 3), pix, n_pix, inside, keep, 0.05, 0.1, 1e-4,
                                   (0.2, 0.3, 0.4), 0.5, 3.0)

    assert torch.autograd.gradcheck(fn, (d2, zp, col), eps=1e-6, atol=1e-6, rtol=1e-4)


@pytest.mark.parametrize("size", [32, 96])
def test_row_enumeration_is_a_sorted_superset_of_the_cutoff_region(size):
    mesh = load_mesh("builtin:mesh/cup")
    cam = Camera.orbit(3.0, 40, 25, target=(0.1, 0, 0.45), width=size, height=size)
    cams = Cameras.from_cameras(cam, dtype=torch.float64)
    settings = RasterSettings(sigma=3e-4)
    setup = setup_faces(as_batched_vertices(torch.tensor(mesh.vertices), 1), torch.tensor(mesh.faces), cams,
                        settings)
    r = settings.blur_radius() * size / 2.0
    pairs = enumerate_near_pairs(setup, size, size, r)
    assert bool((pairs.fi[1:] >= pairs.fi[:-1]).all())
    assert torch.equal(pairs.crow[1:] - pairs.crow[:-1], torch.bincount(pairs.fi, minlength=len(mesh.faces)))
    assert torch.equal(pairs.X, (pairs.pix % size).double() + 0.5)
    assert torch.equal(pairs.Y, (pairs.pix // size).double() + 0.5)
    got = set(zip(pairs.fi.tolist(), pairs.pix.tolist(), strict=True))
    assert len(got) == len(pairs.fi)
    # Dense reference (numpy): every pixel centre against every valid face, inside or within r.
    uv = setup.uv.numpy()
    jj, ii = np.meshgrid(np.arange(size) + 0.5, np.arange(size) + 0.5, indexing="ij")
    pts = np.stack([ii.ravel(), jj.ravel()], 1)
    want = set()
    for f in np.flatnonzero(setup.valid.numpy()):
        A, B, C = uv[f]
        d2 = np.full(len(pts), np.inf)
        for a, b in ((A, B), (B, C), (C, A)):
            e = b - a
            t = np.clip((pts - a) @ e / (e @ e), 0, 1)
            d2 = np.minimum(d2, ((pts - a - t[:, None] * e) ** 2).sum(1))
        M = np.vstack([np.array([A, B, C]).T, np.ones(3)])
        w = np.linalg.solve(M, np.vstack([pts.T, np.ones(len(pts))]))
        hit = (w >= 0).all(0) | (d2 < r * r)
        want.update((int(f), int(p)) for p in np.flatnonzero(hit))
    assert len(want) > 100
    assert want <= got, len(want - got)
    assert len(got) < 1.6 * len(want)  # the superset stays tight


def test_float32_render_tracks_float64():
    # (A mesh without near-degenerate faces: a face whose area rounds to 0 in float32 only is culled
    # in float32 only.)
    mesh = load_mesh("builtin:mesh/blob/4")
    cam = Camera.orbit(3.5, 35, 20, width=48, height=48, fov_y_deg=50)
    colors = np.random.default_rng(0).uniform(0, 1, (mesh.n_vertices, 3))
    outs = {}
    for dt in (torch.float32, torch.float64):
        v = torch.tensor(mesh.vertices, dtype=dt, requires_grad=True)
        o = rasterize(v, torch.tensor(mesh.faces), cam, attributes=Attributes(vertex_colors=torch.tensor(colors, dtype=dt)),
                      lighting=Lighting(), settings=RasterSettings(sigma=1e-4, gamma=1e-3))
        (o.rgb.sum() + o.alpha.sum()).backward()
        outs[dt] = (o.rgb.detach().double(), o.alpha.detach().double(), v.grad.double())
    (r32, a32, g32), (r64, a64, g64) = outs[torch.float32], outs[torch.float64]
    assert float((r32 - r64).abs().max()) < 1e-4
    assert float((a32 - a64).abs().max()) < 2e-5
    assert float((g32 - g64).norm() / g64.norm()) < 1e-3


def test_ambient_only_light_broadcast_equals_gathered_shading():
    """Without a directional term the light factor is broadcast instead of gathered per pair; same numbers."""
    mesh = load_mesh("builtin:mesh/blob/2")
    cam = Camera.orbit(3.5, 10, 10, width=40, height=40)
    colors = torch.tensor(np.random.default_rng(1).uniform(0, 1, (mesh.n_vertices, 3)))
    results = []
    for light in (Lighting(ambient=0.7, directional=0.0), Lighting(ambient=0.7, directional=1e-300)):
        v = torch.tensor(mesh.vertices, requires_grad=True)
        c = colors.clone().requires_grad_(True)
        o = rasterize(v, torch.tensor(mesh.faces), cam, attributes=Attributes(vertex_colors=c), lighting=light)
        (o.rgb * torch.linspace(0, 1, 40)).sum().backward()
        results.append((o.rgb.detach(), v.grad, c.grad))
    for a, b in zip(*results, strict=True):
        assert torch.allclose(a, b, rtol=1e-12, atol=1e-12)
    assert math.isclose(float(results[0][0].max()), 0.7 * float(colors.max()), rel_tol=0.05)


def test_sorted_interpolate_matches_formula_and_gradcheck_float64():
    """The fused lit-colour node: Σ_k w_k·values[fi, k] against a numpy loop, and gradcheck (values and w)."""
    fi, _, _, crow = _pairs(70, seed=3)
    seg = segment_matrix(crow, torch.float64)
    g = torch.Generator().manual_seed(4)
    values = torch.rand(2, 3, 3, dtype=torch.float64, generator=g, requires_grad=True)
    w = torch.rand(len(fi), 3, dtype=torch.float64, generator=g, requires_grad=True)
    out = SortedInterpolate.apply(values, w, fi, seg)
    vn, wn = values.detach().numpy(), w.detach().numpy()
    ref = np.array([sum(wn[p, k] * vn[int(fi[p]), k] for k in range(3)) for p in range(len(fi))])
    np.testing.assert_allclose(out.detach().numpy(), ref, rtol=1e-14, atol=1e-14)
    assert torch.autograd.gradcheck(lambda a, b: SortedInterpolate.apply(a, b, fi, seg), (values, w), eps=1e-6,
                                     atol=1e-8, rtol=1e-6)


def test_sorted_gather_backward_same_for_both_layouts():
    """Column-major gradients (what SoftGeometry hands back) and row-major ones sum to the same rows."""
    fi, _, _, crow = _pairs(50, seed=5)
    seg = segment_matrix(crow, torch.float64)
    grad = torch.rand(len(fi), 9, dtype=torch.float64, generator=torch.Generator().manual_seed(6))
    grads = []
    for gin in (grad.contiguous(), grad.t().contiguous().t()):
        v = torch.zeros(2, 9, dtype=torch.float64, requires_grad=True)
        SortedGather.apply(v, fi, seg).backward(gin)
        grads.append(v.grad)
    want = torch.stack([grad[fi == r].sum(0) for r in range(2)])
    for got in grads:
        assert torch.allclose(got, want, rtol=1e-13, atol=1e-13)
