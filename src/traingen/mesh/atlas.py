"""UV atlases through xatlas, and baking of per-vertex attributes into per-texel maps.

- :func:`build_atlas`: an xatlas parametrisation of a (welded) mesh: charts cut and flattened, packed
  into ``[0, 1]²``; the result keeps the map from atlas vertices (split along chart seams) back to the
  mesh's vertices (``vmapping``).
- :func:`rasterize_uv`: which face covers each texel centre of an ``S×S`` map, and the barycentric
  coordinates there (texel ``(row i, column j)`` covers ``u ∈ [j, j+1)/S`` and ``v ∈ [S−1−i, S−i)/S``:
  row 0 is the top of the image, OBJ's ``v`` points up, as :mod:`traingen.mesh.mesh` states).
- :func:`bake` interpolates per-vertex values into a :class:`TexelMap`; :func:`fill_gutters` copies the
  nearest covered texel into the uncovered ones (so that bilinear lookups near chart borders never read
  empty texels); :func:`sample` reads a map bilinearly at UVs.

xatlas is an optional dependency (``pip install xatlas``); without it :func:`build_atlas` raises a
:class:`~traingen.core.errors.ConfigError` saying so.

Example:
    >>> from traingen.mesh.procedural import icosphere
    >>> atlas = build_atlas(icosphere(2))
    >>> tm = rasterize_uv(atlas, 64)
    >>> bool(tm.mask.mean() > 0.3)
    True

References:
    Young, "xatlas" (github.com/jpcy/xatlas), after Lévy, Petitjean, Ray & Maillot, "Least Squares
    Conformal Maps for Automatic Texture Atlas Generation", SIGGRAPH 2002, and Sander, Wood, Gortler,
    Snyder & Hoppe, "Multi-Chart Geometry Images", SGP 2003.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.errors import ConfigError, DataError
from .mesh import Mesh, check_mesh


@dataclass(eq=False)
class Atlas:
    """An atlas mesh: ``vertices`` (A×3), ``faces`` (F×3, same order as the input's faces), ``uv`` (A×2 in
    [0, 1]) and ``vmapping`` (A: the input vertex each atlas vertex copies)."""

    vertices: np.ndarray
    faces: np.ndarray
    uv: np.ndarray
    vmapping: np.ndarray
    n_charts: int
    face_chart: np.ndarray  # F: the chart of each face (connected through shared atlas vertices)

    def per_atlas_vertex(self, values: np.ndarray) -> np.ndarray:
        """Per-input-vertex values (V×…) re-indexed to the atlas vertices (A×…)."""
        return np.asarray(values)[self.vmapping]

    def mesh(self, name: str = "atlas") -> Mesh:
        """The atlas as a :class:`Mesh` with UVs (vertices duplicated along the chart seams)."""
        return Mesh(self.vertices.copy(), self.faces.copy(), uv=self.uv.copy(), name=name)


@dataclass(eq=False)
class TexelMap:
    """Which atlas face covers each texel centre of an ``size × size`` map (``-1``: none) and where."""

    size: int
    face: np.ndarray  # S×S int64
    bary: np.ndarray  # S×S×3 float64
    mask: np.ndarray  # S×S bool

    @property
    def n_texels(self) -> int:
        return int(self.mask.sum())


def build_atlas(mesh: Mesh, *, padding: int = 2, resolution: int = 256) -> Atlas:
    """Cut, flatten and pack ``mesh`` into a UV atlas with xatlas.

    Args:
        mesh: a triangle mesh (weld it first: xatlas cuts seams where vertices are split already).
        padding: texels between charts, at ``resolution``.
        resolution: the texel resolution the packing is planned for.

    Returns:
        An :class:`Atlas` whose faces are the input's faces, in order.
    """
    check_mesh(mesh)
    try:
        import xatlas
    except ImportError as e:  # pragma: no cover - xatlas is installed with the mesh tools
        raise ConfigError("UV atlases need the 'xatlas' package: pip install xatlas", where="atlas") from e
    area = np.linalg.norm(np.cross(*(mesh.vertices[mesh.faces[:, k]] - mesh.vertices[mesh.faces[:, 0]]
                                     for k in (1, 2))), axis=1)
    if not (area > 0).any():
        raise DataError("every face is degenerate (zero area): nothing to parametrise", where=mesh.name,
                        field="faces")
    atlas = xatlas.Atlas()
    atlas.add_mesh(mesh.vertices.astype(np.float32), mesh.faces.astype(np.uint32))
    pack = xatlas.PackOptions()
    pack.padding = int(padding)
    pack.resolution = int(resolution)
    pack.bilinear = True
    atlas.generate(xatlas.ChartOptions(), pack)
    vmapping, indices, uvs = atlas[0]
    vmapping = np.asarray(vmapping, np.int64)
    faces = np.asarray(indices, np.int64)
    if atlas.chart_count == 0 or not np.isfinite(uvs).all():
        raise DataError(f"xatlas could not parametrise the mesh ({int((~np.isfinite(uvs)).any(1).sum())} vertices "
                        "without UVs): nearly degenerate faces (a coarse mesh collapsed by smoothing?)",
                        where=mesh.name, field="faces")
    if faces.shape != mesh.faces.shape:
        raise DataError(f"xatlas returned {len(faces)} faces for {mesh.n_faces}", where=mesh.name, field="faces")
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    e = faces[:, [0, 1, 1, 2]].reshape(-1, 2)
    g = coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(len(vmapping),) * 2)
    _, comp = connected_components(g, directed=False)
    return Atlas(mesh.vertices[vmapping].copy(), faces, np.asarray(uvs, np.float64), vmapping,
                 int(atlas.chart_count), comp[faces[:, 0]].astype(np.int64))


def rasterize_uv(atlas: Atlas, size: int) -> TexelMap:
    """Face id and barycentrics at every texel centre of a ``size × size`` map (see module doc)."""
    if size < 2:
        raise ConfigError(f"map size must be >= 2, got {size}", where="atlas", field="size")
    face = np.full((size, size), -1, np.int64)
    bary = np.zeros((size, size, 3))
    # texel-space coordinates: x = u·S (column), y = (1 − v)·S (row); centres at k + 0.5
    p = np.stack([atlas.uv[:, 0] * size, (1.0 - atlas.uv[:, 1]) * size], 1)
    t = p[atlas.faces]
    lo = np.clip(np.floor(t.min(1) - 0.5).astype(np.int64), 0, size - 1)
    hi = np.clip(np.ceil(t.max(1) - 0.5).astype(np.int64), 0, size - 1)
    a, b, c = t[:, 0], t[:, 1], t[:, 2]
    den = (b[:, 1] - c[:, 1]) * (a[:, 0] - c[:, 0]) + (c[:, 0] - b[:, 0]) * (a[:, 1] - c[:, 1])
    for f in np.nonzero(np.abs(den) > 1e-18)[0]:
        ys, xs = np.mgrid[lo[f, 1]:hi[f, 1] + 1, lo[f, 0]:hi[f, 0] + 1]
        px, py = xs + 0.5, ys + 0.5
        w0 = ((b[f, 1] - c[f, 1]) * (px - c[f, 0]) + (c[f, 0] - b[f, 0]) * (py - c[f, 1])) / den[f]
        w1 = ((c[f, 1] - a[f, 1]) * (px - c[f, 0]) + (a[f, 0] - c[f, 0]) * (py - c[f, 1])) / den[f]
        w2 = 1.0 - w0 - w1
        inside = (w0 >= -1e-9) & (w1 >= -1e-9) & (w2 >= -1e-9)
        if inside.any():
            yy, xx = ys[inside], xs[inside]
            face[yy, xx] = f
            bary[yy, xx] = np.stack([w0[inside], w1[inside], w2[inside]], 1)
    return TexelMap(size, face, bary, face >= 0)


def bake(atlas: Atlas, tmap: TexelMap, values: np.ndarray, *, per_input_vertex: bool = True) -> np.ndarray:
    """Interpolate per-vertex ``values`` (V or V×C) at the texel centres; uncovered texels are 0.

    Args:
        atlas: the atlas.
        tmap: its texel map at some size.
        values: per input-mesh vertex (``per_input_vertex=True``) or per atlas vertex.

    Returns:
        ``S×S`` or ``S×S×C`` float64.
    """
    vals = np.asarray(values, np.float64)
    if per_input_vertex:
        vals = vals[atlas.vmapping]
    squeeze = vals.ndim == 1
    vals = vals[:, None] if squeeze else vals
    out = np.zeros((tmap.size, tmap.size, vals.shape[1]))
    ii, jj = np.nonzero(tmap.mask)
    tri = atlas.faces[tmap.face[ii, jj]]
    out[ii, jj] = np.einsum("nk,nkc->nc", tmap.bary[ii, jj], vals[tri])
    return out[..., 0] if squeeze else out


def fill_gutters(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Copy the nearest covered texel (Euclidean distance transform) into every uncovered one."""
    from scipy.ndimage import distance_transform_edt

    if not mask.any():
        return image.copy()
    _, (iy, ix) = distance_transform_edt(~mask, return_indices=True)
    return image[iy, ix]


def sample(image: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Bilinear lookup of an ``S×S[×C]`` map at UVs (N×2, OBJ convention), clamped at the borders."""
    s = image.shape[0]
    x = np.clip(uv[:, 0] * s - 0.5, 0, s - 1)
    y = np.clip((1.0 - uv[:, 1]) * s - 0.5, 0, s - 1)
    x0, y0 = np.floor(x).astype(np.int64), np.floor(y).astype(np.int64)
    x1, y1 = np.minimum(x0 + 1, s - 1), np.minimum(y0 + 1, s - 1)
    fx, fy = x - x0, y - y0
    if image.ndim == 3:
        fx, fy = fx[:, None], fy[:, None]
    top = image[y0, x0] * (1 - fx) + image[y0, x1] * fx
    bot = image[y1, x0] * (1 - fx) + image[y1, x1] * fx
    return top * (1 - fy) + bot * fy


def texel_charts(tmap: TexelMap, atlas: Atlas) -> np.ndarray:
    """The chart of the face covering each texel (S×S, ``-1`` where uncovered)."""
    return np.where(tmap.mask, atlas.face_chart[np.maximum(tmap.face, 0)], -1)


def vertex_charts(atlas: Atlas) -> np.ndarray:
    """The chart of each atlas vertex (A)."""
    vchart = np.zeros(len(atlas.uv), np.int64)
    vchart[atlas.faces.ravel()] = np.repeat(atlas.face_chart, 3)
    return vchart


def sample_in_chart(image: np.ndarray, chart: np.ndarray, uv: np.ndarray, vchart: np.ndarray) -> np.ndarray:
    """Bilinear lookup at ``uv`` (N×2) that uses only texels of each point's own chart ``vchart`` (N; the
    texel charts ``chart`` from :func:`texel_charts`), falling back to the chart's nearest texel, so that
    values never bleed across chart borders."""
    s = chart.shape[0]
    x = np.clip(uv[:, 0] * s - 0.5, 0, s - 1)
    y = np.clip((1.0 - uv[:, 1]) * s - 0.5, 0, s - 1)
    x0, y0 = np.floor(x).astype(np.int64), np.floor(y).astype(np.int64)
    fx, fy = x - x0, y - y0
    num = np.zeros((len(x),) + image.shape[2:])
    den = np.zeros(len(x))
    for dy, dx, w in ((0, 0, (1 - fx) * (1 - fy)), (0, 1, fx * (1 - fy)), (1, 0, (1 - fx) * fy), (1, 1, fx * fy)):
        yy, xx = np.minimum(y0 + dy, s - 1), np.minimum(x0 + dx, s - 1)
        w = w * (chart[yy, xx] == vchart) + 1e-12 * (chart[yy, xx] == vchart)
        num += (w[:, None] if image.ndim == 3 else w) * image[yy, xx]
        den += w
    out = num / np.maximum(den, 1e-300)[(...,) + (None,) * (image.ndim - 2)]
    for k in np.nonzero(den <= 0)[0]:  # no texel of its chart around it: the chart's nearest texel
        ii, jj = np.nonzero(chart == vchart[k])
        if len(ii) == 0:
            ii, jj = np.nonzero(chart >= 0)
        if len(ii):
            n = np.argmin((ii + 0.5 - y[k] - 0.5) ** 2 + (jj + 0.5 - x[k] - 0.5) ** 2)
            out[k] = image[ii[n], jj[n]]
    return out


def downsample(image: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mask-aware 2×2 average (covered texels only) of an even-sized map and its mask."""
    s = image.shape[0] // 2
    m = mask[: 2 * s, : 2 * s].reshape(s, 2, s, 2).astype(np.float64)
    img = image[: 2 * s, : 2 * s].reshape(s, 2, s, 2, *image.shape[2:])
    w = m.reshape(s, 2, s, 2, *([1] * (image.ndim - 2)))
    num = (img * w).sum((1, 3))
    den = w.sum((1, 3))
    return np.where(den > 0, num / np.maximum(den, 1e-300), 0.0), m.sum((1, 3)) > 0
