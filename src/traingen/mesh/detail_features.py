"""Geometric features for detail transfer, per vertex and baked per texel (Berkiten et al. 2017, §4).

The features that guide detail transfer, each computed on a *base* surface (the smoothed source, or the
plain target), then normalised per mesh so that two meshes of different size and shape are comparable:

===================  =====================================================  ============================
name                 what                                                   normalised per mesh
===================  =====================================================  ============================
``mean_curv_k``      mean curvature (cotangent Laplacian) after k = 0, 4,   clipped at the 1st/99th
                     16 Taubin steps (3 scales)                             percentile, zero mean, unit sd
``gauss_curv_k``     Gaussian curvature (angle deficit), same 3 scales      as above
``ao``               ambient occlusion: cosine-weighted visible fraction    raw, in [0, 1]
                     of the hemisphere, from 64 shadow maps
``n_dot_up``         the unit normal's z component                          raw, in [−1, 1]
``height``           z                                                      min–max to [0, 1]
``boundary_dist``    geodesic (edge-graph) distance to the boundary, or to  divided by its 99th percentile
                     crease edges on a closed mesh
``thickness``        inner-ball diameter by the shrinking-ball algorithm    divided by its 99th percentile
===================  =====================================================  ============================

Statistics are taken over the covered texels of the finest map (area-weighted, as the paper's
per-texel features are) and applied to every level.

Example:
    >>> from traingen.mesh.procedural import icosphere
    >>> s = icosphere(3)
    >>> f = vertex_feature_table(s.vertices, s.faces)
    >>> f.shape, bool(np.all(f[:, FEATURES.index("ao")] > 0.9))
    ((642, 11), True)

References:
    Berkiten, Halber, Solomon, Ma, Li & Rusinkiewicz, "Learning Detail Transfer based on Geometric
    Features", Computer Graphics Forum (Eurographics) 2017. Ma, Bae, Choi, Nomura & Santos, "3D medial axis
    point approximation using nearest neighbors and the normal field", The Visual Computer 2012 (the
    shrinking ball). Williams, "Casting curved shadows on curved surfaces", SIGGRAPH 1978 (shadow maps).
"""

from __future__ import annotations

import numpy as np

from .atlas import Atlas, TexelMap, bake, rasterize_uv
from .geometric_features import (
    boundary_distance,
    gaussian_curvature,
    mean_curvature,
    taubin_smooth,
    vertex_normals,
)

FEATURES = ("mean_curv_0", "gauss_curv_0", "mean_curv_4", "gauss_curv_4", "mean_curv_16", "gauss_curv_16",
            "ao", "n_dot_up", "height", "boundary_dist", "thickness")
_ZSCORE = {"mean_curv_0", "gauss_curv_0", "mean_curv_4", "gauss_curv_4", "mean_curv_16", "gauss_curv_16"}
_MAXNORM = {"boundary_dist", "thickness"}


def sphere_directions(n: int) -> np.ndarray:
    """``n`` unit vectors on a Fibonacci spiral (deterministic, nearly uniform)."""
    k = np.arange(n) + 0.5
    z = 1 - 2 * k / n
    phi = np.pi * (1 + 5 ** 0.5) * k
    r = np.sqrt(1 - z * z)
    return np.stack([r * np.cos(phi), r * np.sin(phi), z], 1)


def _surface_samples(v: np.ndarray, f: np.ndarray) -> np.ndarray:
    """Vertices, face centroids and the points halfway from each corner to the centroid."""
    t = v[f]
    c = t.mean(1)
    return np.concatenate([v, c, ((t + c[:, None]) / 2).reshape(-1, 3)])


def _cells(p: np.ndarray, centre: np.ndarray, basis: np.ndarray, cell: float, grid: int) -> np.ndarray:
    return np.clip(((p - centre) @ basis / cell + grid / 2).astype(np.int64), 0, grid - 1)


def ambient_occlusion(vertices: np.ndarray, faces: np.ndarray, *, directions: int = 64, grid: int = 96) -> np.ndarray:
    """Cosine-weighted visible fraction of each vertex's hemisphere (1 = unoccluded).

    For each of ``directions`` directions ``d``, the surface is splatted (dense surface samples) into an
    orthographic ``grid × grid`` depth map seen from ``+∞·d``; a vertex sees the sky along ``d`` when no
    sample in its cell (3×3 neighbourhood, against splatting holes) lies higher along ``d`` by more than a
    slope-scaled bias (one cell plus three cells × tan of the angle between ``d`` and the normal).
    """
    v = np.asarray(vertices, np.float64)
    n = vertex_normals(v, faces)
    pts = _surface_samples(v, faces)
    ext = float(np.ptp(pts, 0).max()) or 1.0
    cell = ext * 1.5 / grid
    num = np.zeros(len(v))
    den = np.zeros(len(v))
    centre = pts.mean(0)
    from scipy.ndimage import maximum_filter

    for d in sphere_directions(directions):
        a = np.cross(d, [1.0, 0, 0] if abs(d[0]) < 0.9 else [0, 1.0, 0])
        a /= np.linalg.norm(a)
        b = np.cross(d, a)
        basis = np.stack([a, b], 1)
        depth = np.full((grid, grid), -np.inf)
        q = _cells(pts, centre, basis, cell, grid)
        np.maximum.at(depth, (q[:, 0], q[:, 1]), pts @ d)
        depth = maximum_filter(depth, size=3, mode="nearest")
        qv = _cells(v, centre, basis, cell, grid)
        cos = n @ d
        tan = np.sqrt(np.maximum(1 - cos ** 2, 0)) / np.maximum(cos, 0.1)
        vis = (v @ d) >= depth[qv[:, 0], qv[:, 1]] - cell * (1 + 3 * tan)  # slope-scaled bias
        w = np.maximum(cos, 0.0)
        num += w * vis
        den += w
    return num / np.maximum(den, 1e-12)


def thickness(vertices: np.ndarray, faces: np.ndarray, *, iterations: int = 30,
              min_angle_deg: float = 30.0) -> np.ndarray:
    """Diameter of the largest inner ball touching each vertex (shrinking-ball algorithm, Ma et al. 2012).

    The ball tangent at ``x`` with centre ``x − r·n`` shrinks to pass through the nearest surface sample
    inside it, ``r = |x − q|² / (2 (x − q)·n)``, until it holds none; open meshes are capped at the
    bounding-box diagonal. A sample whose separation angle (at the new centre, from ``x``) is below
    ``min_angle_deg`` does not shrink the ball (Ma et al.'s noise threshold). The samples are the vertices (points on flat facets would sit inside a curved
    surface and shrink the ball).
    """
    from scipy.spatial import cKDTree

    v = np.asarray(vertices, np.float64)
    n = vertex_normals(v, faces)
    pts = v
    tree = cKDTree(pts)
    rmax = float(np.linalg.norm(np.ptp(v, 0))) / 2 or 1.0
    r = np.full(len(v), rmax)
    active = np.ones(len(v), bool)
    for _ in range(iterations):
        idx = np.nonzero(active)[0]
        if len(idx) == 0:
            break
        c = v[idx] - r[idx, None] * n[idx]
        dist, q = tree.query(c)
        diff = v[idx] - pts[q]
        proj = (diff * n[idx]).sum(1)
        d2 = (diff * diff).sum(1)
        inside = (dist < r[idx] * (1 - 1e-6)) & (d2 > 1e-18) & (proj > 1e-12)
        new = np.where(inside, d2 / (2 * np.maximum(proj, 1e-300)), r[idx])
        # Ma et al.'s denoising: a sample seen from the new centre at a small separation angle from x is a
        # neighbour on the same sheet (a slightly tilted normal), not the opposite side: keep the ball
        sep = 2 * np.arcsin(np.clip(np.sqrt(d2) / (2 * np.maximum(new, 1e-300)), 0, 1))
        inside &= sep > np.radians(min_angle_deg)
        new = np.where(inside, new, r[idx])
        done = ~inside | (np.abs(new - r[idx]) < 1e-9 * rmax)
        r[idx] = np.minimum(r[idx], new)
        active[idx[done]] = False
    return 2 * r


def vertex_feature_table(vertices: np.ndarray, faces: np.ndarray, *, up=(0.0, 0.0, 1.0)) -> np.ndarray:
    """The raw (un-normalised) features of :data:`FEATURES`, V×11, for a welded mesh."""
    v = np.asarray(vertices, np.float64)
    cols = []
    for it in (0, 4, 16):
        vs = taubin_smooth(v, faces, it) if it else v
        cols += [mean_curvature(vs, faces), gaussian_curvature(vs, faces)]
    up = np.asarray(up, np.float64) / np.linalg.norm(up)
    cols += [ambient_occlusion(v, faces), vertex_normals(v, faces) @ up, v @ up, boundary_distance(v, faces),
             thickness(v, faces)]
    return np.stack(cols, 1)


def normalise_texels(maps: list[np.ndarray], mask: np.ndarray) -> list[np.ndarray]:
    """Per-mesh normalisation (module table) with statistics over ``mask`` of ``maps[-1]`` (the finest)."""
    ref = maps[-1][mask]
    out = [m.copy() for m in maps]
    for k, name in enumerate(FEATURES):
        x = ref[:, k]
        if name in _ZSCORE:
            lo, hi = np.percentile(x, [1, 99])
            xc = np.clip(x, lo, hi)
            mu, sd = xc.mean(), xc.std()
            for m in out:
                m[..., k] = (np.clip(m[..., k], lo, hi) - mu) / (sd if sd > 1e-12 else 1.0)
        elif name == "height":
            lo, span = x.min(), np.ptp(x)
            for m in out:
                m[..., k] = (m[..., k] - lo) / (span if span > 1e-12 else 1.0)
        elif name in _MAXNORM:
            hi = np.percentile(x, 99)
            for m in out:
                m[..., k] = np.minimum(m[..., k], hi) / (hi if hi > 1e-12 else 1.0)
    return out


def texel_features(atlas: Atlas, table: np.ndarray, sizes: list[int]) -> tuple[list[TexelMap], list[np.ndarray]]:
    """Texel maps at ``sizes`` (coarse to fine) and the normalised features baked into each (S×S×11)."""
    tmaps = [rasterize_uv(atlas, s) for s in sizes]
    maps = [bake(atlas, t, table) for t in tmaps]
    return tmaps, normalise_texels(maps, tmaps[-1].mask)
