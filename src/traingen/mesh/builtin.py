"""Embedded meshes: ``builtin:mesh/NAME`` addresses a procedural family member or the Utah teapot.

=====================  ===============================================================
address                mesh
=====================  ===============================================================
``builtin:mesh/teapot``      Utah teapot, 6×6 quads per patch (2,256 faces)
``builtin:mesh/teapot-hi``   Utah teapot, 12×12 quads per patch (9,120 faces)
``builtin:mesh/icosphere``   geodesic sphere, 3 subdivisions (642 vertices, 1,280 faces)
``builtin:mesh/FAMILY``      the canonical member of a procedural family (cup, bottle, ...)
``builtin:mesh/FAMILY/K``    member ``K`` of the family, drawn from seed ``(0, FAMILY, K)``
=====================  ===============================================================

Anything else is a file path read by :func:`traingen.mesh.io.read_mesh`.

Example:
    >>> load_mesh("builtin:mesh/teapot").n_faces
    2256
    >>> load_mesh("builtin:mesh/cup/3").name
    'cup-3'
"""

from __future__ import annotations

from collections.abc import Callable

from ..core.errors import DataError
from ..core.seeding import numpy_rng
from .mesh import Mesh
from .procedural import FAMILIES, family_member, icosphere
from .teapot import teapot

PREFIX = "builtin:mesh/"

#: name -> (builder, description)
MESHES: dict[str, tuple[Callable[[], Mesh], str]] = {
    "teapot": (lambda: teapot(6, name="teapot"), "Utah teapot (Newell 1975), 32 Bézier patches at 6×6"),
    "teapot-hi": (lambda: teapot(12, name="teapot-hi"), "Utah teapot at 12×12 quads per patch"),
    "icosphere": (lambda: icosphere(3), "geodesic sphere, 642 vertices (Kato's template)"),
}
for _fam in FAMILIES:
    MESHES[_fam] = ((lambda f=_fam: family_member(f)), f"procedural family '{_fam}' (canonical member)")


def builtin_names() -> list[str]:
    """Every embedded mesh name (families accept ``/K`` for member K)."""
    return list(MESHES)


def describe() -> list[dict]:
    """Name, faces, vertices, parts and description of every embedded mesh (builds each once)."""
    rows = []
    for name, (build, desc) in MESHES.items():
        m = build()
        rows.append({"name": name, "faces": m.n_faces, "vertices": m.n_vertices, "parts": list(m.part_names),
                     "family": name in FAMILIES, "description": desc})
    return rows


def load_mesh(spec: str, *, require_manifold: bool = False) -> Mesh:
    """A mesh from ``builtin:mesh/NAME[/K]`` or a file path (see module doc)."""
    if not str(spec).startswith(PREFIX):
        from .io import read_mesh

        return read_mesh(spec, require_manifold=require_manifold)
    rest = str(spec)[len(PREFIX):]
    name, _, member = rest.partition("/")
    if name not in MESHES:
        raise DataError(f"unknown embedded mesh {name!r}; known: {', '.join(MESHES)}", where=str(spec))
    if member:
        if name not in FAMILIES or not member.isdigit():
            raise DataError(f"'/K' (an integer) applies to families only: {', '.join(FAMILIES)}", where=str(spec))
        m = family_member(name, numpy_rng(0, name, int(member)))
        m.name = f"{name}-{member}"
    else:
        m = MESHES[name][0]()
        m.name = name
    if require_manifold:
        from .mesh import check_mesh

        check_mesh(m, require_manifold=True, where=str(spec))
    return m
