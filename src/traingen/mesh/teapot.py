"""The Utah teapot, tessellated from Newell's 32 bicubic Bézier patches (public domain, 1975).

The patch data is written here in its compact, generative form rather than as a table of 306 points:

- 28 patches are surfaces of revolution: a profile of four control points ``(r, z)`` swept through
  four quadrants, each quadrant a cubic Bézier arc whose inner control points sit at ``r`` along one
  axis and ``k`` (the arc handle, ``0.56·r`` for most rows) along the other. Profiles: rim, upper
  body, lower body, bottom (the teapot), lid knob and lid skirt (the lid).
- 4 patches for the handle and 4 for the spout: two patches each for the ``y ≤ 0`` half, mirrored
  in ``y`` for the other half.

Every point below is one of the published control points; the teapot is about 6.4 wide and 3.15
tall (z up, spout toward +x). Each part gets a canonical UV chart: ``u`` runs around the part (the
quadrant or half), ``v`` along its profile.

Example:
    >>> m = teapot(6)
    >>> m.n_faces, sorted(m.part_names)
    (2256, ['body', 'handle', 'lid', 'spout'])

References:
    Newell, M., the Utah teapot (1975), patch data as published in Crow, "The Origins of the
    Teapot", IEEE Computer Graphics and Applications 7(1), 1987.
"""

from __future__ import annotations

import numpy as np

from .mesh import Mesh, check_mesh

# (part, [(r, z, k) for the four profile rows]); k = the arc handle (0.56·r except the knob's 0.45).
_REVOLVED = (
    ("lid", [(0.0, 3.15, 0.0), (0.8, 3.15, 0.45), (0.0, 2.85, 0.0), (0.2, 2.7, 0.112)]),
    ("lid", [(0.2, 2.7, 0.112), (0.4, 2.55, 0.224), (1.3, 2.55, 0.728), (1.3, 2.4, 0.728)]),
    ("body", [(1.4, 2.4, 0.784), (1.3375, 2.53125, 0.749), (1.4375, 2.53125, 0.805), (1.5, 2.4, 0.84)]),
    ("body", [(1.5, 2.4, 0.84), (1.75, 1.875, 0.98), (2.0, 1.35, 1.12), (2.0, 0.9, 1.12)]),
    ("body", [(2.0, 0.9, 1.12), (2.0, 0.45, 1.12), (1.5, 0.225, 0.84), (1.5, 0.15, 0.84)]),
    ("body", [(1.5, 0.15, 0.84), (1.5, 0.075, 0.84), (1.425, 0.0, 0.798), (0.0, 0.0, 0.0)]),
)

# The y <= 0 halves of handle and spout: 4×4 control points (rows along the part, columns across).
_HANDLE = (
    [[(-1.6, 0.0, 2.025), (-1.6, -0.3, 2.025), (-1.5, -0.3, 2.25), (-1.5, 0.0, 2.25)],
     [(-2.3, 0.0, 2.025), (-2.3, -0.3, 2.025), (-2.5, -0.3, 2.25), (-2.5, 0.0, 2.25)],
     [(-2.7, 0.0, 2.025), (-2.7, -0.3, 2.025), (-3.0, -0.3, 2.25), (-3.0, 0.0, 2.25)],
     [(-2.7, 0.0, 1.8), (-2.7, -0.3, 1.8), (-3.0, -0.3, 1.8), (-3.0, 0.0, 1.8)]],
    [[(-2.7, 0.0, 1.8), (-2.7, -0.3, 1.8), (-3.0, -0.3, 1.8), (-3.0, 0.0, 1.8)],
     [(-2.7, 0.0, 1.575), (-2.7, -0.3, 1.575), (-3.0, -0.3, 1.35), (-3.0, 0.0, 1.35)],
     [(-2.5, 0.0, 1.125), (-2.5, -0.3, 1.125), (-2.65, -0.3, 0.9375), (-2.65, 0.0, 0.9375)],
     [(-2.0, 0.0, 0.9), (-2.0, -0.3, 0.9), (-1.9, -0.3, 0.6), (-1.9, 0.0, 0.6)]],
)
_SPOUT = (
    [[(1.7, 0.0, 1.425), (1.7, -0.66, 1.425), (1.7, -0.66, 0.6), (1.7, 0.0, 0.6)],
     [(2.6, 0.0, 1.425), (2.6, -0.66, 1.425), (3.1, -0.66, 0.825), (3.1, 0.0, 0.825)],
     [(2.3, 0.0, 2.1), (2.3, -0.25, 2.1), (2.4, -0.25, 2.025), (2.4, 0.0, 2.025)],
     [(2.7, 0.0, 2.4), (2.7, -0.25, 2.4), (3.3, -0.25, 2.4), (3.3, 0.0, 2.4)]],
    [[(2.7, 0.0, 2.4), (2.7, -0.25, 2.4), (3.3, -0.25, 2.4), (3.3, 0.0, 2.4)],
     [(2.8, 0.0, 2.475), (2.8, -0.25, 2.475), (3.525, -0.25, 2.49375), (3.525, 0.0, 2.49375)],
     [(2.9, 0.0, 2.475), (2.9, -0.15, 2.475), (3.45, -0.15, 2.5125), (3.45, 0.0, 2.5125)],
     [(2.8, 0.0, 2.4), (2.8, -0.15, 2.4), (3.2, -0.15, 2.4), (3.2, 0.0, 2.4)]],
)


def revolved_patch(profile, quadrant: int) -> np.ndarray:
    """4×4×3 control points of one quadrant (0: +x → −y, then clockwise seen from above)."""
    pts = np.zeros((4, 4, 3))
    for i, (r, z, k) in enumerate(profile):
        local = np.array([[r, 0.0], [r, -k], [k, -r], [0.0, -r]])
        for _ in range(quadrant):  # rotate by −90°: (x, y) -> (y, −x)
            local = np.stack([local[:, 1], -local[:, 0]], axis=1)
        pts[i, :, :2] = local
        pts[i, :, 2] = z
    return pts


def patches() -> list[tuple[str, int, int, np.ndarray]]:
    """All 32 patches as ``(part, row in part, column in part, 4×4×3 control points)``."""
    out = []
    rows: dict[str, int] = {}
    for part, profile in _REVOLVED:
        row = rows.get(part, 0)
        rows[part] = row + 1
        for q in range(4):
            out.append((part, row, q, revolved_patch(profile, q)))
    for part, halves in (("handle", _HANDLE), ("spout", _SPOUT)):
        for row, half in enumerate(halves):
            p = np.asarray(half, dtype=np.float64)
            mirrored = p[:, ::-1].copy()
            mirrored[..., 1] *= -1.0
            out.append((part, row, 0, p))
            out.append((part, row, 1, mirrored))
    return out


def bezier_patch(ctrl: np.ndarray, n: int) -> np.ndarray:
    """Evaluate a bicubic Bézier patch on an (n+1)×(n+1) grid: returns (n+1)×(n+1)×3."""
    t = np.linspace(0.0, 1.0, n + 1)
    basis = np.stack([(1 - t) ** 3, 3 * t * (1 - t) ** 2, 3 * t**2 * (1 - t), t**3], axis=1)
    return np.einsum("ai,bj,ijk->abk", basis, basis, ctrl)


def teapot(segments: int = 6, *, name: str | None = None) -> Mesh:
    """The Utah teapot with ``segments``² quads per patch (2,256 faces at 6, 9,120 at 12).

    Degenerate triangles at the lid knob and the bottom centre are dropped. Vertices are not shared
    between patches (each part has its own UV chart); :meth:`Mesh.welded` joins them.
    """
    n = int(segments)
    part_names = ("body", "lid", "handle", "spout")
    n_cols = {"body": 4, "lid": 4, "handle": 2, "spout": 2}
    n_rows = {"body": 4, "lid": 2, "handle": 2, "spout": 2}
    verts, faces, uvs, parts = [], [], [], []
    offset = 0
    s = np.linspace(0.0, 1.0, n + 1)
    ii, jj = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    a = (ii * (n + 1) + jj).ravel()
    b, c, d = a + 1, a + (n + 1), a + (n + 1) + 1
    quad_faces = np.concatenate([np.stack([a, c, b], 1), np.stack([b, c, d], 1)])
    for part, row, col, ctrl in patches():
        grid = bezier_patch(ctrl, n)
        u = (col + s) / n_cols[part]
        v = 1.0 - (row + s) / n_rows[part]
        uu, vv = np.meshgrid(u, v, indexing="xy")  # rows follow the profile (v), columns go around (u)
        f = quad_faces.copy()
        tri = grid.reshape(-1, 3)[f]
        area = np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
        f = f[area > 1e-12]
        verts.append(grid.reshape(-1, 3))
        uvs.append(np.stack([uu.ravel(), vv.ravel()], axis=1))
        faces.append(f + offset)
        parts.append(np.full(len(f), part_names.index(part)))
        offset += (n + 1) ** 2
    mesh = Mesh(np.concatenate(verts), np.concatenate(faces), uv=np.concatenate(uvs),
                face_parts=np.concatenate(parts), part_names=part_names,
                name=name or f"teapot-{n}", meta={"source": "Utah teapot (Newell 1975), Bézier patches",
                                                  "segments": n})
    return check_mesh(mesh)
