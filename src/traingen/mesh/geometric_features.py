"""Geometric features per vertex for detail transfer (Berkiten et al. 2017), and Taubin smoothing.

Building blocks of ``traingen mesh detail-transfer`` (the synthesis itself is not implemented yet):

- :func:`taubin_smooth`: the non-shrinking λ|μ Laplacian smoothing (uniform "umbrella" weights,
  a shrinking step ``λ > 0`` then an inflating step ``μ < −λ``), which gives the base surface;
- :func:`detail_offsets`: the signed offset of each vertex from its base along the base normals;
- :func:`mean_curvature` (cotangent Laplacian: ``Δx = −2H n`` over the barycentric area) and
  :func:`gaussian_curvature` (angle deficit over the barycentric area, so that ``Σ K·A = 2πχ``
  exactly on a closed mesh);
- :func:`vertex_features`: mean and Gaussian curvature at 3 scales (the mesh after 0, 4 and 16 Taubin
  steps), ``n·up``, height and the graph distance to the boundary (or to crease edges when there is
  no boundary), each normalised per mesh (zero mean, unit variance).

Vertices are welded first, in first-occurrence order (:func:`weld`; procedural meshes duplicate
them along UV seams).

Example:
    >>> from traingen.mesh.procedural import icosphere
    >>> s = icosphere(3, 2.0)
    >>> round(float(np.median(mean_curvature(s.vertices, s.faces))), 2)
    0.5

References:
    Berkiten, Halber, Solomon, Ma, Li & Rusinkiewicz, "Learning Detail Transfer based on Geometric
    Features", Computer Graphics Forum (Eurographics) 2017. Taubin, "A Signal Processing Approach to
    Fair Surface Design", SIGGRAPH 1995. Meyer, Desbrun, Schröder & Barr, "Discrete Differential-Geometry
    Operators for Triangulated 2-Manifolds", VisMath 2002.
"""

from __future__ import annotations

import numpy as np

from ..core.errors import DataError
from .mesh import Mesh, check_mesh

FEATURE_NAMES = ("mean_curv_0", "gauss_curv_0", "mean_curv_4", "gauss_curv_4", "mean_curv_16", "gauss_curv_16",
                 "n_dot_up", "height", "boundary_distance")


def _adjacency(faces: np.ndarray, n: int):
    from scipy.sparse import coo_matrix

    e = faces[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2)
    e = np.concatenate([e, e[:, ::-1]])
    a = coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n, n)).tocsr()
    a.data[:] = 1.0
    return a


def taubin_smooth(vertices: np.ndarray, faces: np.ndarray, iterations: int = 10, lam: float = 0.5,
                  mu: float = -0.53) -> np.ndarray:
    """λ|μ smoothing: ``iterations`` pairs of ``x += λ·L x`` and ``x += μ·L x`` (uniform Laplacian)."""
    if not (lam > 0 and mu < -lam):
        raise DataError(f"need lam > 0 and mu < -lam, got {lam}, {mu}", where="taubin", field="mu")
    a = _adjacency(faces, len(vertices))
    deg = np.maximum(np.asarray(a.sum(1)).ravel(), 1)[:, None]
    x = np.asarray(vertices, np.float64).copy()
    for _ in range(iterations):
        for f in (lam, mu):
            x = x + f * (a @ x / deg - x)
    return x


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals."""
    t = vertices[faces]
    fn = np.cross(t[:, 1] - t[:, 0], t[:, 2] - t[:, 0])
    n = np.zeros_like(vertices)
    for k in range(3):
        np.add.at(n, faces[:, k], fn)
    return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-300)


def detail_offsets(vertices: np.ndarray, base: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Signed offset of each vertex from its base position along the base's vertex normal."""
    return ((vertices - base) * vertex_normals(base, faces)).sum(1)


def _angles_and_areas(v: np.ndarray, faces: np.ndarray):
    t = v[faces]
    ang = np.zeros((len(faces), 3))
    for k in range(3):
        a, b = t[:, (k + 1) % 3] - t[:, k], t[:, (k + 2) % 3] - t[:, k]
        cos = (a * b).sum(1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-300)
        ang[:, k] = np.arccos(np.clip(cos, -1, 1))
    area = 0.5 * np.linalg.norm(np.cross(t[:, 1] - t[:, 0], t[:, 2] - t[:, 0]), axis=1)
    return ang, area


def gaussian_curvature(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Angle deficit ``(2π − Σθ) / (A/3)`` per vertex (boundary vertices: ``π − Σθ``)."""
    ang, area = _angles_and_areas(vertices, faces)
    n = len(vertices)
    s = np.zeros(n)
    a = np.zeros(n)
    for k in range(3):
        np.add.at(s, faces[:, k], ang[:, k])
        np.add.at(a, faces[:, k], area / 3)
    full = np.where(_boundary_vertices(faces, n), np.pi, 2 * np.pi)
    return (full - s) / np.maximum(a, 1e-300)


def mean_curvature(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Signed mean curvature ``H`` from the cotangent Laplacian (positive on a sphere, outward normals)."""
    ang, area = _angles_and_areas(vertices, faces)
    n = len(vertices)
    lap = np.zeros((n, 3))
    for k in range(3):
        i, j, o = faces[:, (k + 1) % 3], faces[:, (k + 2) % 3], k  # edge (i, j) opposite corner k
        w = 0.5 / np.tan(np.clip(ang[:, o], 1e-6, np.pi - 1e-6))
        d = vertices[j] - vertices[i]
        np.add.at(lap, i, w[:, None] * d)
        np.add.at(lap, j, -w[:, None] * d)
    a = np.zeros(n)
    for k in range(3):
        np.add.at(a, faces[:, k], area / 3)
    hn = lap / np.maximum(a, 1e-300)[:, None] / 2  # Δx / 2 = −H n (outward n)
    return -(hn * vertex_normals(vertices, faces)).sum(1)


def _boundary_vertices(faces: np.ndarray, n: int) -> np.ndarray:
    e = np.sort(faces[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2), axis=1)
    u, c = np.unique(e, axis=0, return_counts=True)
    b = np.zeros(n, bool)
    b[u[c == 1].ravel()] = True
    return b


def _crease_vertices(v: np.ndarray, faces: np.ndarray, angle_deg: float = 60.0) -> np.ndarray:
    e = np.sort(faces[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2), axis=1)
    owner = np.repeat(np.arange(len(faces)), 3)
    order = np.lexsort((e[:, 1], e[:, 0]))
    e, owner = e[order], owner[order]
    same = (e[1:] == e[:-1]).all(1)
    t = v[faces]
    fn = np.cross(t[:, 1] - t[:, 0], t[:, 2] - t[:, 0])
    fn /= np.maximum(np.linalg.norm(fn, axis=1, keepdims=True), 1e-300)
    cos = (fn[owner[:-1][same]] * fn[owner[1:][same]]).sum(1)
    out = np.zeros(len(v), bool)
    out[e[:-1][same][cos < np.cos(np.radians(angle_deg))].ravel()] = True
    return out


def boundary_distance(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Edge-graph (Dijkstra) distance to the nearest boundary vertex, else to the nearest crease vertex
    (dihedral angle > 60°); zeros when the mesh has neither."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import dijkstra

    n = len(vertices)
    src = _boundary_vertices(faces, n)
    if not src.any():
        src = _crease_vertices(vertices, faces)
    if not src.any():
        return np.zeros(n)
    e = np.unique(np.sort(faces[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2), axis=1), axis=0)
    w = np.linalg.norm(vertices[e[:, 0]] - vertices[e[:, 1]], axis=1)
    g = coo_matrix((w, (e[:, 0], e[:, 1])), shape=(n, n)).tocsr()
    d = dijkstra(g, directed=False, indices=np.nonzero(src)[0], min_only=True)
    return np.where(np.isfinite(d), d, d[np.isfinite(d)].max(initial=0.0))


def weld(mesh: Mesh, tol: float = 1e-9) -> Mesh:
    """Geometry-only copy with coincident vertices merged, keeping first-occurrence vertex order (an
    already welded mesh comes back in its own order, unlike :meth:`Mesh.welded`)."""
    key = np.round(np.asarray(mesh.vertices) / tol).astype(np.int64)
    _, first, inverse = np.unique(key, axis=0, return_index=True, return_inverse=True)
    order = np.argsort(first)
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    faces = rank[inverse.reshape(-1)][mesh.faces]
    keep = (faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2]) & (faces[:, 2] != faces[:, 0])
    return Mesh(np.asarray(mesh.vertices)[first[order]], faces[keep], name=mesh.name)


def _normalise(x: np.ndarray) -> np.ndarray:
    s = x.std()
    return (x - x.mean()) / s if s > 1e-12 else np.zeros_like(x)


def vertex_features(mesh: Mesh, *, up=(0.0, 0.0, 1.0)) -> tuple[np.ndarray, Mesh]:
    """Per-vertex features (V×9, :data:`FEATURE_NAMES`) of the welded mesh, normalised per mesh.

    Returns:
        ``(features, welded mesh)``.
    """
    check_mesh(mesh)
    w = weld(mesh)
    if w.n_faces == 0:
        raise DataError("the mesh has no non-degenerate faces", where=mesh.name, field="faces")
    v, f = w.vertices, w.faces
    cols = []
    for it in (0, 4, 16):
        vs = taubin_smooth(v, f, it) if it else v
        cols += [mean_curvature(vs, f), gaussian_curvature(vs, f)]
    n = vertex_normals(v, f)
    up = np.asarray(up, np.float64) / np.linalg.norm(up)
    h = v @ up
    cols += [n @ up, (h - h.min()) / max(np.ptp(h), 1e-12), boundary_distance(v, f)]
    feats = np.stack([_normalise(np.clip(c, *np.percentile(c, [1, 99]))) for c in cols], 1)
    return feats, w
