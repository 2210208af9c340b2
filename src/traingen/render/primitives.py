"""Procedural meshes with normals and UVs: the flying distractors and the built-in object classes.

Every mesh is a :class:`MeshData` of unwelded-or-welded triangles (``vertices`` V×3 float32, ``normals``
V×3, ``uvs`` V×2 in [0, 1] before the per-object texture transform, ``faces`` F×3 int32), in metres,
z up, resting on ``z = 0`` (its lowest point) and centred on the z axis, so a pose only needs a
rotation about z (objects of interest) or any rotation (flying distractors) plus a translation.

Distractor shapes (Tremblay et al. 2018 name cones, pyramids, spheres, cylinders, partial toroids and
arrows; we add cubes, capsules and icosahedra): see :data:`DISTRACTOR_TYPES`. Built-in object classes
used when a scene names no user meshes: ``car``, ``chair`` and ``mug``, each a union of primitives
(:data:`BUILTIN_CLASSES`).

Example:
    >>> m = cone(radius=0.5, height=1.0)
    >>> m.vertices.shape[1], float(m.vertices[:, 2].min())
    (3, 0.0)

References:
    Tremblay et al., "Training Deep Networks with Synthetic Data: Bridging the Reality Gap by Domain
    Randomization", CVPRW 2018 (arXiv 1804.06516), §3 (the distractor shapes).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass
class MeshData:
    """A triangle mesh ready for upload: float32 vertices, normals, uvs and int32 faces."""

    vertices: np.ndarray
    normals: np.ndarray
    uvs: np.ndarray
    faces: np.ndarray

    def interleaved(self) -> np.ndarray:
        """The per-corner vertex stream (F·3 × 8: position, normal, uv) as drawn without an index buffer."""
        corners = self.faces.reshape(-1)
        return np.hstack([self.vertices[corners], self.normals[corners], self.uvs[corners]]).astype(np.float32)

    def bounds(self) -> np.ndarray:
        return np.stack([self.vertices.min(0), self.vertices.max(0)])


def _finish(v: np.ndarray, n: np.ndarray, uv: np.ndarray, f: np.ndarray) -> MeshData:
    n = n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
    return MeshData(v.astype(np.float32), n.astype(np.float32), uv.astype(np.float32), f.astype(np.int32))


def vertex_normals(v: np.ndarray, f: np.ndarray) -> np.ndarray:
    """Area-weighted vertex normals (smooth shading for welded parametric surfaces)."""
    fn = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    n = np.zeros_like(v)
    for k in range(3):
        np.add.at(n, f[:, k], fn)
    return n


def flat(v: np.ndarray, f: np.ndarray, uv: np.ndarray | None = None) -> MeshData:
    """Unweld a mesh so each triangle has its own face normal (flat shading); planar UVs by default."""
    corners = f.reshape(-1)
    vv = v[corners]
    fn = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    nn = np.repeat(fn, 3, axis=0)
    if uv is None:
        span = np.maximum(np.ptp(v, axis=0), 1e-9)
        rel = (vv - v.min(0)) / span
        # Project each face on the plane its normal is closest to.
        axis = np.argmax(np.abs(nn), axis=1)
        uv = np.where(axis[:, None] == 0, rel[:, [1, 2]], np.where(axis[:, None] == 1, rel[:, [0, 2]], rel[:, [0, 1]]))
    else:
        uv = uv[corners] if len(uv) == len(v) else uv
    faces = np.arange(len(vv)).reshape(-1, 3)
    return _finish(vv, nn, uv, faces)


def _grid(fn: Callable[[np.ndarray, np.ndarray], np.ndarray], nu: int, nv: int, *, wrap_u: bool) -> MeshData:
    """A parametric surface ``fn(u, v) -> xyz`` on a (nu+1)×(nv+1) grid of u, v in [0, 1], smooth normals."""
    u, v = np.meshgrid(np.linspace(0, 1, nu + 1), np.linspace(0, 1, nv + 1), indexing="ij")
    xyz = fn(u, v).reshape(-1, 3)
    idx = np.arange((nu + 1) * (nv + 1)).reshape(nu + 1, nv + 1)
    a, b, c, d = idx[:-1, :-1], idx[1:, :-1], idx[1:, 1:], idx[:-1, 1:]
    f = np.concatenate([np.stack([a, b, c], -1).reshape(-1, 3), np.stack([a, c, d], -1).reshape(-1, 3)])
    n = vertex_normals(xyz, f)
    if wrap_u:  # the seam's two columns are the same points: share their normals
        seam = n[idx[0]] + n[idx[-1]]
        n[idx[0]], n[idx[-1]] = seam, seam
    uv = np.stack([u.reshape(-1), v.reshape(-1)], -1)
    return _finish(xyz, n, uv, f)


def _disk(radius: float, z: float, segments: int, up: bool) -> MeshData:
    ang = np.linspace(0, 2 * math.pi, segments, endpoint=False)
    rim = np.stack([radius * np.cos(ang), radius * np.sin(ang), np.full(segments, z)], -1)
    v = np.vstack([[0.0, 0.0, z], rim])
    f = np.array([[0, 1 + k, 1 + (k + 1) % segments] for k in range(segments)])
    if not up:
        f = f[:, ::-1]
    uv = 0.5 + 0.5 * v[:, :2] / max(radius, 1e-9)
    n = np.tile([0.0, 0.0, 1.0 if up else -1.0], (len(v), 1))
    return _finish(v, n, uv, f)


def merge(parts: list[MeshData]) -> MeshData:
    """Concatenate meshes into one (faces re-indexed)."""
    offs = np.cumsum([0] + [len(p.vertices) for p in parts[:-1]])
    return _finish(np.vstack([p.vertices for p in parts]), np.vstack([p.normals for p in parts]),
                   np.vstack([p.uvs for p in parts]), np.vstack([p.faces + o for p, o in zip(parts, offs, strict=True)]))


def transformed(m: MeshData, *, scale=(1.0, 1.0, 1.0), rotate: np.ndarray | None = None,
                translate=(0.0, 0.0, 0.0)) -> MeshData:
    """Scale (per axis), then rotate (3×3), then translate a mesh; normals follow (inverse transpose)."""
    s = np.asarray(scale, np.float64)
    r = np.eye(3) if rotate is None else np.asarray(rotate, np.float64)
    v = (m.vertices * s) @ r.T + np.asarray(translate, np.float64)
    n = (m.normals / s) @ r.T
    return _finish(v, n, m.uvs, m.faces)


def cube(size: float = 1.0) -> MeshData:
    """An axis-aligned cube of edge ``size`` resting on z = 0, each face with its own [0, 1]² UVs."""
    h = size / 2
    quads = []
    for axis in range(3):
        for sign in (-1.0, 1.0):
            o = [a for a in range(3) if a != axis]
            corners = []
            for a, b in ((-1, -1), (1, -1), (1, 1), (-1, 1)):
                p = [0.0, 0.0, 0.0]
                p[axis], p[o[0]], p[o[1]] = sign * h, a * h, b * h
                corners.append(p)
            quads.append(np.array(corners))
    v = np.vstack(quads) + [0.0, 0.0, h]
    f = np.vstack([[4 * q, 4 * q + 1, 4 * q + 2, 4 * q, 4 * q + 2, 4 * q + 3] for q in range(6)]).reshape(-1, 3)
    uv = np.tile([[0, 0], [1, 0], [1, 1], [0, 1]], (6, 1)).astype(float)
    return flat(v, f, uv)


def box(sx: float, sy: float, sz: float) -> MeshData:
    """A box of extents ``sx × sy × sz`` resting on z = 0."""
    return transformed(cube(1.0), scale=(sx, sy, sz))


def sphere(radius: float = 0.5, segments: int = 24, rings: int = 12) -> MeshData:
    def fn(u, v):
        th, ph = 2 * math.pi * u, math.pi * v
        return np.stack([radius * np.sin(ph) * np.cos(th), radius * np.sin(ph) * np.sin(th),
                         radius - radius * np.cos(ph)], -1)
    return _grid(fn, segments, rings, wrap_u=True)


def cylinder(radius: float = 0.5, height: float = 1.0, segments: int = 24) -> MeshData:
    def fn(u, v):
        th = 2 * math.pi * u
        return np.stack([radius * np.cos(th), radius * np.sin(th), height * v], -1)
    return merge([_grid(fn, segments, 1, wrap_u=True), _disk(radius, 0.0, segments, False),
                  _disk(radius, height, segments, True)])


def cone(radius: float = 0.5, height: float = 1.0, segments: int = 24) -> MeshData:
    def fn(u, v):
        th = 2 * math.pi * u
        r = radius * (1 - v) + 1e-4 * v  # a tiny tip ring keeps the tip normals defined
        return np.stack([r * np.cos(th), r * np.sin(th), height * v], -1)
    return merge([_grid(fn, segments, 4, wrap_u=True), _disk(radius, 0.0, segments, False)])


def pyramid(base: float = 1.0, height: float = 1.0) -> MeshData:
    """A square pyramid."""
    h = base / 2
    v = np.array([[-h, -h, 0], [h, -h, 0], [h, h, 0], [-h, h, 0], [0, 0, height]], float)
    f = np.array([[0, 2, 1], [0, 3, 2], [0, 1, 4], [1, 2, 4], [2, 3, 4], [3, 0, 4]])
    return flat(v, f)


def torus(major: float = 0.4, minor: float = 0.12, arc_deg: float = 360.0, segments: int = 32,
          sides: int = 12) -> MeshData:
    """A torus around the z axis; ``arc_deg < 360`` gives a partial toroid (open ends)."""
    arc = math.radians(arc_deg)

    def fn(u, v):
        th, ph = arc * u, 2 * math.pi * v
        r = major + minor * np.cos(ph)
        return np.stack([r * np.cos(th), r * np.sin(th), minor + minor * np.sin(ph)], -1)
    return _grid(fn, max(3, int(segments * arc_deg / 360)), sides, wrap_u=arc_deg >= 360)


def capsule(radius: float = 0.3, height: float = 1.0, segments: int = 20) -> MeshData:
    body = max(height - 2 * radius, 1e-3)

    def fn(u, v):
        th = 2 * math.pi * u
        # v in [0, 1]: lower hemisphere, body, upper hemisphere in one profile.
        t = v * (math.pi + body / radius)
        ph = np.clip(t, 0, math.pi / 2) + np.clip(t - math.pi / 2 - body / radius, 0, math.pi / 2)
        z = radius - radius * np.cos(ph) + np.clip(t - math.pi / 2, 0, body / radius) * radius
        r = radius * np.sin(ph)
        return np.stack([r * np.cos(th), r * np.sin(th), z], -1)
    return _grid(fn, segments, 24, wrap_u=True)


def icosahedron(radius: float = 0.5) -> MeshData:
    p = (1 + math.sqrt(5)) / 2
    v = np.array([[-1, p, 0], [1, p, 0], [-1, -p, 0], [1, -p, 0], [0, -1, p], [0, 1, p], [0, -1, -p],
                  [0, 1, -p], [p, 0, -1], [p, 0, 1], [-p, 0, -1], [-p, 0, 1]], float)
    v = v / np.linalg.norm(v[0]) * radius
    v[:, 2] -= v[:, 2].min()
    f = np.array([[0, 11, 5], [0, 5, 1], [0, 1, 7], [0, 7, 10], [0, 10, 11], [1, 5, 9], [5, 11, 4],
                  [11, 10, 2], [10, 7, 6], [7, 1, 8], [3, 9, 4], [3, 4, 2], [3, 2, 6], [3, 6, 8],
                  [3, 8, 9], [4, 9, 5], [2, 4, 11], [6, 2, 10], [8, 6, 7], [9, 8, 1]])
    return flat(v, f)


def arrow(length: float = 1.0, shaft_radius: float = 0.06, head_radius: float = 0.15,
          head_length: float = 0.3) -> MeshData:
    """A cylinder shaft with a cone head, pointing up."""
    shaft = cylinder(shaft_radius, length - head_length, 16)
    head = transformed(cone(head_radius, head_length, 16), translate=(0, 0, length - head_length))
    return merge([shaft, head])


# ---------------------------------------------------------------------------- built-in object classes
def car() -> MeshData:
    """A toy car about 4 m long: body, cabin, four wheels."""
    parts = [transformed(box(4.0, 1.8, 0.7), translate=(0, 0, 0.35)),
             transformed(box(2.0, 1.6, 0.6), translate=(-0.3, 0, 1.05))]
    rot = np.array([[1, 0, 0], [0, 0, -1], [0, 1, 0]], float)  # wheel axis along y
    for x in (-1.3, 1.3):
        for y in (-0.95, 0.95):
            parts.append(transformed(cylinder(0.38, 0.3, 16), rotate=rot, translate=(x, y + 0.15, 0.38)))
    return merge(parts)


def chair() -> MeshData:
    """A chair about 1 m tall: seat, four legs and a back."""
    parts = [transformed(box(0.5, 0.5, 0.06), translate=(0, 0, 0.45))]
    for x in (-0.21, 0.21):
        for y in (-0.21, 0.21):
            parts.append(transformed(box(0.06, 0.06, 0.45), translate=(x, y, 0)))
    parts.append(transformed(box(0.06, 0.5, 0.5), translate=(-0.22, 0, 0.51)))
    return merge(parts)


def mug() -> MeshData:
    """A mug scaled up to about 1 m: a cylinder and a half-torus handle."""
    rot = np.array([[1, 0, 0], [0, 0, -1], [0, 1, 0]], float)
    handle = transformed(torus(0.22, 0.06, 200.0, 24, 8), rotate=rot, translate=(0.4, 0.06, 0.35))
    return merge([cylinder(0.4, 0.9, 24), handle])


#: Flying distractor shapes, each a function of an rng-free size of about 1 m.
DISTRACTOR_TYPES: dict[str, Callable[[], MeshData]] = {
    "cone": lambda: cone(0.5, 1.0),
    "pyramid": lambda: pyramid(1.0, 1.0),
    "sphere": lambda: sphere(0.5),
    "cylinder": lambda: cylinder(0.4, 1.0),
    "partial-torus": lambda: torus(0.4, 0.12, 240.0),
    "arrow": lambda: arrow(1.0),
    "cube": lambda: cube(0.8),
    "capsule": lambda: capsule(0.25, 1.0),
    "icosahedron": lambda: icosahedron(0.5),
}

#: Built-in object classes (used when a scene names no user meshes).
BUILTIN_CLASSES: dict[str, Callable[[], MeshData]] = {"car": car, "chair": chair, "mug": mug}


def ground_plane(half: float = 50.0, tiles: float = 10.0, cells: int = 48) -> MeshData:
    """A square at z = 0 with UVs repeating ``tiles`` times (the texture wraps).

    The square is a ``cells`` × ``cells`` grid, finest near the origin (spacing grows quadratically, ~0.09 m
    at the centre for the defaults) so that per-vertex (Gouraud) lighting resolves point lights placed
    among the objects.
    """
    t = np.linspace(-1.0, 1.0, cells + 1)
    x = half * np.sign(t) * t * t
    gx, gy = np.meshgrid(x, x, indexing="xy")
    v = np.stack([gx.ravel(), gy.ravel(), np.zeros(gx.size)], 1)
    uv = (v[:, :2] + half) * (tiles / (2 * half))
    n = np.tile([0.0, 0.0, 1.0], (len(v), 1))
    i = np.arange(cells)
    a = (i[:, None] * (cells + 1) + i[None, :]).ravel()  # lower-left corner of each cell
    f = np.concatenate([np.stack([a, a + 1, a + cells + 2], 1), np.stack([a, a + cells + 2, a + cells + 1], 1)])
    return _finish(v, n, uv, f)
