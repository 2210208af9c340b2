"""Procedural, part-labelled mesh families, each part with a canonical UV chart.

Primitives (pure functions of their parameters): :func:`lathe` (surface of revolution of a profile),
:func:`box`, :func:`cylinder`, :func:`torus` (or a torus arc), :func:`superquadric`,
:func:`icosphere`, :func:`blob` (a noisy genus-0 sphere). Families assemble them into labelled objects
and draw their proportions from an ``rng`` (``None`` gives the canonical member):

==============  =========================================  ==================================
family          parts                                      made of
==============  =========================================  ==================================
``cup``         body, handle                               lathe (thick wall) + torus arc
``bottle``      body, neck, cap                            lathe profiles
``vase``        body                                       lathe with a random smooth profile
``rocket``      body, nose, fins                           lathe + boxes
``chair``       seat, back, legs                           boxes
``table``       top, legs                                  box + cylinders
``torus``       torus                                      torus
``superquadric`` surface                                   Barr's superquadric
``blob``        surface                                    icosphere + low-frequency noise
==============  =========================================  ==================================

UV charts: lathe and torus ``u`` goes around (seam duplicated), ``v`` along the profile by arc
length; a box lays its six sides in a 3×2 atlas; superquadric and blob use latitude–longitude.

Example:
    >>> import numpy as np
    >>> m = cup(np.random.default_rng(0))
    >>> m.part_names
    ('body', 'handle')

References:
    Barr, "Superquadrics and Angle-Preserving Transformations", IEEE CG&A 1981. Procedural part
    labels with canonical UVs follow Wang et al., "Unsupervised Texture Transfer from Images to
    Model Collections", SIGGRAPH Asia 2016 (their model collections carry part segmentations).
"""

from __future__ import annotations

import math

import numpy as np

from .mesh import Mesh, check_mesh, concatenate


def _grid_faces(rows: int, cols: int) -> np.ndarray:
    """Two triangles per cell of a rows×cols vertex grid (row-major)."""
    i, j = np.meshgrid(np.arange(rows - 1), np.arange(cols - 1), indexing="ij")
    a = (i * cols + j).ravel()
    b, c, d = a + 1, a + cols, a + cols + 1
    return np.concatenate([np.stack([a, b, d], 1), np.stack([a, d, c], 1)])


def _drop_degenerate(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    t = vertices[faces]
    area = np.linalg.norm(np.cross(t[:, 1] - t[:, 0], t[:, 2] - t[:, 0]), axis=1)
    return faces[area > 1e-12]


def _part(vertices, faces, uv, name: str) -> Mesh:
    faces = _drop_degenerate(vertices, faces)
    return Mesh(np.asarray(vertices, dtype=np.float64), faces.astype(np.int64), uv=np.asarray(uv, dtype=np.float64),
                face_parts=np.zeros(len(faces), dtype=np.int64), part_names=(name,), name=name)


def lathe(profile, segments: int = 32, *, part: str = "body") -> Mesh:
    """Surface of revolution about ``z`` of a profile ``[(r, z), ...]`` (bottom to top, outside CCW).

    A point with ``r = 0`` closes the surface there (its triangles collapse and are dropped).
    """
    prof = np.asarray(profile, dtype=np.float64)
    theta = np.linspace(0.0, 2 * math.pi, segments + 1)
    r, z = prof[:, 0:1], prof[:, 1:2]
    verts = np.stack([r * np.cos(theta), r * np.sin(theta), np.repeat(z, segments + 1, axis=1)],
                     axis=-1).reshape(-1, 3)
    seg = np.linalg.norm(np.diff(prof, axis=0), axis=1)
    arc = np.concatenate([[0.0], np.cumsum(seg)]) / max(seg.sum(), 1e-12)
    uu, vv = np.meshgrid(theta / (2 * math.pi), arc, indexing="xy")
    return _part(verts, _grid_faces(len(prof), segments + 1), np.stack([uu.ravel(), vv.ravel()], 1), part)


def box(size=(1.0, 1.0, 1.0), centre=(0.0, 0.0, 0.0), *, part: str = "box") -> Mesh:
    """Axis-aligned box; each side its own four vertices and a cell of a 3×2 UV atlas."""
    sx, sy, sz = (np.asarray(size, dtype=np.float64) / 2)
    c = np.asarray(centre, dtype=np.float64)
    # (normal axis, sign): each side's corners counter-clockwise seen from outside.
    sides = []
    for axis in range(3):
        for sign in (1.0, -1.0):
            u_ax, v_ax = [(1, 2), (2, 0), (0, 1)][axis]
            if sign < 0:
                u_ax, v_ax = v_ax, u_ax
            corners = []
            for du, dv in ((-1, -1), (1, -1), (1, 1), (-1, 1)):
                p = np.zeros(3)
                p[axis] = sign
                p[u_ax], p[v_ax] = du, dv
                corners.append(p)
            sides.append(np.array(corners))
    verts, faces, uv = [], [], []
    for k, corners in enumerate(sides):
        verts.append(corners * [sx, sy, sz] + c)
        faces.append(np.array([[0, 1, 2], [0, 2, 3]]) + 4 * k)
        cu, cv = k % 3, k // 3
        uv.append((np.array([[0, 0], [1, 0], [1, 1], [0, 1]]) + [cu, cv]) / [3.0, 2.0])
    return _part(np.concatenate(verts), np.concatenate(faces), np.concatenate(uv), part)


def cylinder(radius: float = 0.5, height: float = 1.0, centre=(0.0, 0.0, 0.0), segments: int = 24, *,
             part: str = "cylinder") -> Mesh:
    """Closed cylinder along ``z``, centred at ``centre``."""
    h = height / 2
    m = lathe([(0.0, -h), (radius, -h), (radius, h), (0.0, h)], segments, part=part)
    return m.transformed(1.0, centre)


def torus(major: float = 1.0, minor: float = 0.25, segments: int = 32, tube_segments: int = 12, *,
          arc: float = 2 * math.pi, part: str = "torus") -> Mesh:
    """Torus about ``z`` (or an arc of it from angle 0 to ``arc``, open at both ends)."""
    a = np.linspace(0.0, arc, segments + 1)
    b = np.linspace(0.0, 2 * math.pi, tube_segments + 1)
    A, Bb = np.meshgrid(a, b, indexing="ij")
    rr = major + minor * np.cos(Bb)
    verts = np.stack([rr * np.cos(A), rr * np.sin(A), minor * np.sin(Bb)], -1).reshape(-1, 3)
    uv = np.stack([(A / max(arc, 1e-12)).ravel(), (Bb / (2 * math.pi)).ravel()], 1)
    return _part(verts, _grid_faces(segments + 1, tube_segments + 1), uv, part)


def superquadric(e1: float = 0.5, e2: float = 0.5, scale=(1.0, 1.0, 1.0), segments: int = 32, *,
                 part: str = "surface") -> Mesh:
    """Barr's superquadric ellipsoid with shape exponents ``e1`` (latitude) and ``e2`` (longitude)."""
    def spow(x, e):
        return np.sign(x) * np.abs(x) ** e

    lat = np.linspace(-math.pi / 2, math.pi / 2, segments // 2 + 1)
    lon = np.linspace(-math.pi, math.pi, segments + 1)
    La, Lo = np.meshgrid(lat, lon, indexing="ij")
    x = spow(np.cos(La), e1) * spow(np.cos(Lo), e2)
    y = spow(np.cos(La), e1) * spow(np.sin(Lo), e2)
    z = spow(np.sin(La), e1)
    verts = np.stack([x, y, z], -1).reshape(-1, 3) * np.asarray(scale, dtype=np.float64)
    uv = np.stack([((Lo + math.pi) / (2 * math.pi)).ravel(), ((La + math.pi / 2) / math.pi).ravel()], 1)
    return _part(verts, _grid_faces(len(lat), len(lon)), uv, part)


def icosphere(subdivisions: int = 2, radius: float = 1.0) -> Mesh:
    """Geodesic sphere: an icosahedron subdivided ``subdivisions`` times (642 vertices at 3)."""
    t = (1 + 5**0.5) / 2
    v = [(-1, t, 0), (1, t, 0), (-1, -t, 0), (1, -t, 0), (0, -1, t), (0, 1, t), (0, -1, -t), (0, 1, -t),
         (t, 0, -1), (t, 0, 1), (-t, 0, -1), (-t, 0, 1)]
    f = [(0, 11, 5), (0, 5, 1), (0, 1, 7), (0, 7, 10), (0, 10, 11), (1, 5, 9), (5, 11, 4), (11, 10, 2),
         (10, 7, 6), (7, 1, 8), (3, 9, 4), (3, 4, 2), (3, 2, 6), (3, 6, 8), (3, 8, 9), (4, 9, 5), (2, 4, 11),
         (6, 2, 10), (8, 6, 7), (9, 8, 1)]
    verts = [np.asarray(p, dtype=np.float64) / np.linalg.norm(p) for p in v]
    faces = np.asarray(f, dtype=np.int64)
    for _ in range(subdivisions):
        cache: dict[tuple[int, int], int] = {}
        new = []
        for a, b, c in faces:
            mids = []
            for p, q in ((a, b), (b, c), (c, a)):
                key = (min(p, q), max(p, q))
                if key not in cache:
                    m = verts[p] + verts[q]
                    verts.append(m / np.linalg.norm(m))
                    cache[key] = len(verts) - 1
                mids.append(cache[key])
            ab, bc, ca = mids
            new += [(a, ab, ca), (b, bc, ab), (c, ca, bc), (ab, bc, ca)]
        faces = np.asarray(new, dtype=np.int64)
    vv = np.asarray(verts) * radius
    uv = _sphere_uv(vv)
    return Mesh(vv, faces, uv=uv, face_parts=np.zeros(len(faces), dtype=np.int64), part_names=("surface",),
                name=f"icosphere-{subdivisions}")


def _sphere_uv(v: np.ndarray) -> np.ndarray:
    d = v / np.linalg.norm(v, axis=1, keepdims=True)
    return np.stack([(np.arctan2(d[:, 1], d[:, 0]) / (2 * math.pi)) % 1.0, np.arccos(-d[:, 2]) / math.pi], 1)


def blob(rng: np.random.Generator | None = None, *, subdivisions: int = 3, amplitude: float = 0.45,
         waves: int = 6) -> Mesh:
    """A noisy genus-0 blob: an icosphere displaced radially by a few random low-frequency waves."""
    rng = rng if rng is not None else np.random.default_rng(0)
    s = icosphere(subdivisions)
    d = s.vertices
    dirs = rng.normal(size=(waves, 3))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    freq = rng.uniform(1.0, 3.0, size=waves)
    phase = rng.uniform(0, 2 * math.pi, size=waves)
    amp = rng.uniform(0.3, 1.0, size=waves)
    noise = (amp * np.sin(d @ dirs.T * freq + phase)).sum(1) / amp.sum()
    verts = d * (1.0 + amplitude * noise)[:, None]
    return check_mesh(Mesh(verts, s.faces, uv=s.uv, face_parts=s.face_parts, part_names=("surface",), name="blob"))


# --------------------------------------------------------------------------------------------- families
def _u(rng, lo, hi, default):
    return float(rng.uniform(lo, hi)) if rng is not None else default


def cup(rng: np.random.Generator | None = None, segments: int = 32) -> Mesh:
    """A cup: a thick-walled lathe body and a torus-arc handle."""
    r = _u(rng, 0.35, 0.5, 0.42)
    h = _u(rng, 0.7, 1.1, 0.9)
    taper = _u(rng, 0.75, 1.0, 0.85)
    wall = 0.04
    body = lathe([(0.0, 0.0), (r * taper, 0.0), (r, h), (r - wall, h), (r * taper - wall, wall), (0.0, wall)],
                 segments, part="body")
    hr = h * _u(rng, 0.22, 0.32, 0.27)
    handle = torus(hr, 0.035, 16, 8, arc=math.pi, part="handle")
    # The arc's ends touch the wall: rotate it into the x–z plane, centre it on the cup's side.
    # The arc lies in the x–y plane from +x over +y to −x: turn it into the x–z plane (+z over +x to
    # −z) and put its ends on the cup's side at mid-height.
    v = handle.vertices
    handle.vertices = np.stack([v[:, 1] + r * (taper + 1) / 2, v[:, 2], v[:, 0] + h * 0.5], 1)
    return check_mesh(concatenate([body, handle], name="cup"))


def bottle(rng: np.random.Generator | None = None, segments: int = 32) -> Mesh:
    """A bottle: body, neck and cap, three lathe parts."""
    r = _u(rng, 0.25, 0.4, 0.32)
    h = _u(rng, 0.9, 1.4, 1.1)
    nr = r * _u(rng, 0.3, 0.45, 0.38)
    nh = _u(rng, 0.25, 0.45, 0.35)
    body = lathe([(0.0, 0.0), (r, 0.0), (r, h), (nr, h + 0.2)], segments, part="body")
    neck = lathe([(nr, h + 0.2), (nr, h + 0.2 + nh)], segments, part="neck")
    cap = lathe([(nr * 1.1, h + 0.2 + nh - 0.02), (nr * 1.1, h + 0.3 + nh), (0.0, h + 0.3 + nh)], segments,
                part="cap")
    return check_mesh(concatenate([body, neck, cap], name="bottle"))


def vase(rng: np.random.Generator | None = None, segments: int = 32) -> Mesh:
    """A vase: a lathe body with a smooth random profile."""
    zs = np.linspace(0.0, 1.4, 9)
    if rng is None:
        rs = 0.3 + 0.15 * np.sin(zs * 2.6)
    else:
        k, ph = rng.uniform(1.5, 4.0), rng.uniform(0, math.pi)
        rs = rng.uniform(0.25, 0.35) + rng.uniform(0.08, 0.18) * np.sin(zs * k + ph)
    prof = [(0.0, 0.0)] + list(zip(rs, zs, strict=True)) + [(rs[-1] - 0.03, zs[-1]), (rs[-1] - 0.05, 0.05), (0.0, 0.05)]
    m = lathe(prof, segments, part="body")
    m.name = "vase"
    return check_mesh(m)


def rocket(rng: np.random.Generator | None = None, segments: int = 32) -> Mesh:
    """A rocket: a cylindrical body, an ogive nose cone and three or four fins."""
    r = _u(rng, 0.18, 0.28, 0.22)
    h = _u(rng, 1.0, 1.6, 1.3)
    body = lathe([(0.0, 0.0), (r, 0.0), (r, h)], segments, part="body")
    t = np.linspace(0.0, 1.0, 8)
    nose = lathe(list(zip(r * np.cos(t * math.pi / 2), h + 0.5 * r * 2.5 * np.sin(t * math.pi / 2), strict=True)),
                 segments, part="nose")
    n_fins = 4 if rng is None else int(rng.integers(3, 5))
    fins = []
    for k in range(n_fins):
        f = box((0.3, 0.03, 0.35), (r + 0.12, 0.0, 0.17), part="fins")
        a = 2 * math.pi * k / n_fins
        rot = np.array([[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0], [0, 0, 1]])
        f.vertices = f.vertices @ rot.T
        fins.append(f)
    return check_mesh(concatenate([body, nose, *fins], name="rocket"))


def chair(rng: np.random.Generator | None = None) -> Mesh:
    """A chair: seat, back and four legs, all boxes."""
    w = _u(rng, 0.4, 0.55, 0.45)
    d = _u(rng, 0.4, 0.55, 0.45)
    hs = _u(rng, 0.4, 0.5, 0.45)
    hb = _u(rng, 0.35, 0.6, 0.45)
    leg = 0.04
    seat = box((w, d, 0.05), (0, 0, hs), part="seat")
    back = box((w, 0.04, hb), (0, -d / 2 + 0.02, hs + hb / 2), part="back")
    legs = [box((leg, leg, hs), (sx * (w / 2 - leg), sy * (d / 2 - leg), hs / 2), part="legs")
            for sx in (-1, 1) for sy in (-1, 1)]
    return check_mesh(concatenate([seat, back, *legs], name="chair"))


def table(rng: np.random.Generator | None = None, segments: int = 16) -> Mesh:
    """A table: a box top on four cylindrical legs."""
    w = _u(rng, 0.8, 1.4, 1.0)
    d = _u(rng, 0.5, 0.9, 0.7)
    h = _u(rng, 0.6, 0.8, 0.72)
    top = box((w, d, 0.05), (0, 0, h), part="top")
    legs = [cylinder(0.03, h, (sx * (w / 2 - 0.06), sy * (d / 2 - 0.06), h / 2), segments, part="legs")
            for sx in (-1, 1) for sy in (-1, 1)]
    return check_mesh(concatenate([top, *legs], name="table"))


FAMILIES = {
    "cup": cup,
    "bottle": bottle,
    "vase": vase,
    "rocket": rocket,
    "chair": chair,
    "table": table,
    "torus": lambda rng=None: torus(1.0, _u(rng, 0.15, 0.4, 0.3), 32, 16),
    "superquadric": lambda rng=None: superquadric(_u(rng, 0.2, 1.5, 0.4), _u(rng, 0.2, 1.5, 0.4)),
    "blob": lambda rng=None: blob(rng),
}


def family_member(family: str, rng: np.random.Generator | None = None) -> Mesh:
    """One member of a family (``rng=None``: the canonical member), validated and named."""
    m = FAMILIES[family](rng)
    m.name = family
    return check_mesh(m)
