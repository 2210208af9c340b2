"""The triangle mesh record shared by the rasterizer, the IO and the procedural families.

A :class:`Mesh` is plain numpy: ``vertices`` (V×3 float64, world units, z up), ``faces`` (F×3 int64,
counter-clockwise seen from outside where the maker knows the outside), optional per-vertex ``uv``
(V×2, OBJ convention: ``u`` right, ``v`` up, ``(0, 0)`` the bottom-left corner of the texture image),
an optional ``texture`` (H×W×3 uint8 or float in [0, 1], row 0 the top), optional ``vertex_colors``
(V×3 float in [0, 1]) and part labels: ``face_parts`` (F int) indexing ``part_names``.

Vertices are duplicated along UV seams and part boundaries (each part has its own canonical UV
chart), so ``uv`` is per vertex. :func:`check_mesh` is the one validator: every loader and builder
calls it, and its errors name the mesh and what is wrong.

Example:
    >>> import numpy as np
    >>> m = Mesh(np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0.]]), np.array([[0, 1, 2]]), name="tri")
    >>> check_mesh(m).n_faces
    1
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..core.errors import DataError


@dataclass(eq=False)
class Mesh:
    """A triangle mesh with optional UVs, texture, vertex colours and part labels (see module doc)."""

    vertices: np.ndarray
    faces: np.ndarray
    uv: np.ndarray | None = None
    texture: np.ndarray | None = None
    vertex_colors: np.ndarray | None = None
    face_parts: np.ndarray | None = None
    part_names: tuple[str, ...] = ()
    name: str = "mesh"
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def n_vertices(self) -> int:
        return int(len(self.vertices))

    @property
    def n_faces(self) -> int:
        return int(len(self.faces))

    def bounds(self) -> np.ndarray:
        """2×3 array: the minimum and maximum corner of the axis-aligned bounding box."""
        return np.stack([self.vertices.min(0), self.vertices.max(0)])

    def face_normals(self) -> np.ndarray:
        """Unit normals (F×3) by the right-hand rule on each face's vertex order."""
        v = self.vertices[self.faces]
        n = np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0])
        return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-300)

    def transformed(self, scale: float = 1.0, offset=(0.0, 0.0, 0.0)) -> Mesh:
        """A copy scaled about the origin, then moved by ``offset``."""
        return replace(self, vertices=self.vertices * float(scale) + np.asarray(offset, dtype=np.float64))

    def normalized(self, radius: float = 1.0) -> Mesh:
        """A copy centred on its bounding-box centre and scaled to fit a sphere of ``radius``."""
        lo, hi = self.bounds()
        centre = (lo + hi) / 2
        r = float(np.linalg.norm(self.vertices - centre, axis=1).max())
        return replace(self, vertices=(self.vertices - centre) * (radius / max(r, 1e-12)))

    def edges_unique(self) -> tuple[np.ndarray, np.ndarray]:
        """Unique undirected edges (E×2, sorted pairs) and how many faces use each (E)."""
        e = np.sort(self.faces[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2), axis=1)
        uniq, counts = np.unique(e, axis=0, return_counts=True)
        return uniq, counts

    def welded(self, tol: float = 1e-9) -> Mesh:
        """A geometry-only copy with coincident vertices merged (for topology checks across UV seams)."""
        key = np.round(self.vertices / tol).astype(np.int64)
        _, first, inverse = np.unique(key, axis=0, return_index=True, return_inverse=True)
        faces = inverse.reshape(-1)[self.faces]
        keep = (faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2]) & (faces[:, 2] != faces[:, 0])
        return Mesh(self.vertices[first], faces[keep], name=self.name)

    def part_mask(self, part: str) -> np.ndarray:
        """Boolean F-vector of the faces labelled ``part``."""
        if self.face_parts is None or part not in self.part_names:
            raise DataError(f"no part named {part!r}; parts: {list(self.part_names)}", where=self.name,
                            field="part")
        return self.face_parts == self.part_names.index(part)


def check_mesh(mesh: Mesh, *, require_manifold: bool = False, where: str | None = None) -> Mesh:
    """Validate a mesh and return it with canonical dtypes; raise :class:`DataError` naming the fault.

    Args:
        mesh: the mesh to check.
        require_manifold: also require every edge to be shared by at most two faces (after welding
            coincident vertices), as the Laplacian and reconstruction code needs.
        where: the file or address to name in errors (default ``mesh.name``).

    Returns:
        The same mesh with ``vertices`` float64 and ``faces`` int64 (C-contiguous).
    """
    where = where or mesh.name
    v = np.asarray(mesh.vertices)
    f = np.asarray(mesh.faces)
    if v.ndim != 2 or v.shape[1] != 3:
        raise DataError(f"vertices must be V×3, got shape {v.shape}", where=where, field="vertices")
    if len(v) == 0 or f.size == 0:
        raise DataError("the mesh is empty (no vertices or no faces)", where=where, field="faces")
    if f.ndim != 2 or f.shape[1] != 3:
        raise DataError(f"faces must be F×3 triangles, got shape {f.shape}", where=where, field="faces")
    if not np.issubdtype(f.dtype, np.integer):
        raise DataError(f"faces must be integers, got {f.dtype}", where=where, field="faces")
    bad = ~np.isfinite(v).all(axis=1)
    if bad.any():
        raise DataError(f"{int(bad.sum())} vertices are NaN or infinite (first: index {int(np.argmax(bad))})",
                        where=where, field="vertices")
    if f.min() < 0 or f.max() >= len(v):
        raise DataError(f"face indices must be in [0, {len(v) - 1}], got [{int(f.min())}, {int(f.max())}]",
                        where=where, field="faces")
    mesh.vertices = np.ascontiguousarray(v, dtype=np.float64)
    mesh.faces = np.ascontiguousarray(f, dtype=np.int64)
    n = len(v)
    for name, width in (("uv", 2), ("vertex_colors", 3)):
        arr = getattr(mesh, name)
        if arr is not None:
            arr = np.asarray(arr, dtype=np.float64)
            if arr.shape != (n, width) or not np.isfinite(arr).all():
                raise DataError(f"{name} must be finite V×{width} = {n}×{width}, got {arr.shape}", where=where,
                                field=name)
            setattr(mesh, name, arr)
    if mesh.texture is not None:
        t = np.asarray(mesh.texture)
        if t.ndim != 3 or t.shape[2] not in (3, 4) or min(t.shape[:2]) < 1:
            raise DataError(f"texture must be H×W×3 (or ×4), got {t.shape}", where=where, field="texture")
        mesh.texture = t[..., :3]
    if mesh.face_parts is not None:
        p = np.asarray(mesh.face_parts, dtype=np.int64)
        if p.shape != (len(f),) or p.min() < 0 or p.max() >= max(len(mesh.part_names), 1):
            raise DataError(f"face_parts must be F={len(f)} indices into part_names {list(mesh.part_names)}",
                            where=where, field="face_parts")
        mesh.face_parts = p
    if require_manifold:
        _, counts = mesh.welded().edges_unique()
        if (counts > 2).any():
            raise DataError(f"the mesh is not manifold: {int((counts > 2).sum())} edges are shared by more "
                            f"than two faces", where=where, field="faces")
    return mesh


def texture_float(mesh: Mesh) -> np.ndarray | None:
    """The texture as float32 in [0, 1] (uint8 and uint16 scaled), or ``None``."""
    if mesh.texture is None:
        return None
    t = np.asarray(mesh.texture)
    if t.dtype == np.uint8:
        return t.astype(np.float32) / 255.0
    if t.dtype == np.uint16:
        return t.astype(np.float32) / 65535.0
    return np.clip(t.astype(np.float32), 0.0, 1.0)


def concatenate(meshes: list[Mesh], name: str = "mesh") -> Mesh:
    """Join meshes into one; part names are merged in first-seen order, UVs kept when all have them."""
    verts, faces, uvs, parts, names = [], [], [], [], []
    offset = 0
    for m in meshes:
        verts.append(m.vertices)
        faces.append(m.faces + offset)
        offset += len(m.vertices)
        uvs.append(m.uv)
        local = m.part_names or (m.name,)
        mp = m.face_parts if m.face_parts is not None else np.zeros(len(m.faces), dtype=np.int64)
        ids = []
        for pn in local:
            if pn not in names:
                names.append(pn)
            ids.append(names.index(pn))
        parts.append(np.asarray(ids, dtype=np.int64)[mp])
    uv = np.concatenate(uvs) if all(u is not None for u in uvs) else None
    return Mesh(np.concatenate(verts), np.concatenate(faces), uv=uv, face_parts=np.concatenate(parts),
                part_names=tuple(names), name=name)
