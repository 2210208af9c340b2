"""Mesh files: OBJ (+MTL and texture images), PLY and GLB, read through trimesh with UVs kept.

Reading checks what trimesh would let pass silently: an OBJ whose ``mtllib`` or ``map_Kd`` names a
file that is not there is an error naming both files (trimesh would drop the texture with a log
line); empty meshes, NaN vertices and out-of-range faces are errors (:func:`~traingen.mesh.mesh.check_mesh`);
non-manifold edges are an error when the caller needs a manifold (``require_manifold=True``).

Writing is atomic (a temporary name, then ``os.replace``): OBJ writes ``NAME.obj``, ``NAME.mtl``
and ``NAME.png`` (when the mesh has a texture) with ``v``/``vt``/``f v/vt`` lines and one ``g``
group per part; PLY and GLB go through trimesh.

Example:
    >>> from traingen.mesh.builtin import load_mesh
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> p = save_mesh(load_mesh("builtin:mesh/cup"), d / "cup.obj")
    >>> read_mesh(p).n_faces
    512
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from ..core.atomic import atomic_write_bytes, atomic_write_text
from ..core.errors import DataError, OutputError
from .mesh import Mesh, check_mesh

READ_SUFFIXES = (".obj", ".ply", ".glb", ".gltf", ".off", ".stl")
WRITE_SUFFIXES = (".obj", ".ply", ".glb")


def _referenced_files(obj_path: Path) -> None:
    """Raise if an OBJ's material library or a texture it names is missing."""
    text = obj_path.read_text(errors="replace")
    for lib in re.findall(r"^\s*mtllib\s+(.+?)\s*$", text, flags=re.M):
        mtl = obj_path.parent / lib
        if not mtl.is_file():
            raise DataError(f"material library {lib!r} is missing (looked for {mtl})", where=str(obj_path),
                            field="mtllib")
        mtext = mtl.read_text(errors="replace")
        for key, name in re.findall(r"^\s*(map_Kd|map_Ka|map_Bump|bump|map_d)\s+(?:-\S+\s+\S+\s+)*(.+?)\s*$",
                                    mtext, flags=re.M):
            tex = mtl.parent / name
            if not tex.is_file():
                raise DataError(f"texture file {name!r} is missing (looked for {tex})", where=str(mtl), field=key)


def read_mesh(path: str | os.PathLike, *, require_manifold: bool = False) -> Mesh:
    """Read a mesh file (OBJ/MTL, PLY, GLB/glTF, OFF, STL); multi-object files are joined.

    Args:
        path: the file.
        require_manifold: raise when an edge is shared by more than two faces.

    Returns:
        A checked :class:`Mesh` with UVs and the base-colour texture when the file has them.
    """
    import trimesh

    p = Path(path)
    if not p.is_file():
        raise DataError("mesh file not found", where=str(p))
    if p.suffix.lower() not in READ_SUFFIXES:
        raise DataError(f"unknown mesh format {p.suffix!r}; known: {', '.join(READ_SUFFIXES)}", where=str(p))
    if p.suffix.lower() == ".obj":
        _referenced_files(p)
    try:
        loaded = trimesh.load(str(p), force="mesh", process=False)
    except Exception as e:  # trimesh raises many types for corrupt files
        raise DataError(f"cannot read mesh: {type(e).__name__}: {e}", where=str(p)) from None
    if not isinstance(loaded, trimesh.Trimesh) or len(loaded.faces) == 0:
        raise DataError("the mesh is empty (no faces)", where=str(p), field="faces")
    uv = texture = colors = None
    visual = loaded.visual
    if getattr(visual, "kind", None) == "texture" and getattr(visual, "uv", None) is not None:
        if len(visual.uv) == len(loaded.vertices):
            uv = np.asarray(visual.uv, dtype=np.float64)
        mat = getattr(visual, "material", None)
        img = getattr(mat, "image", None) or getattr(mat, "baseColorTexture", None)
        if img is not None and uv is not None:
            texture = np.asarray(img.convert("RGB"))
    elif getattr(visual, "kind", None) == "vertex":
        vc = np.asarray(visual.vertex_colors)
        if len(vc) == len(loaded.vertices):
            colors = vc[:, :3].astype(np.float64) / 255.0
    mesh = Mesh(np.asarray(loaded.vertices, dtype=np.float64), np.asarray(loaded.faces, dtype=np.int64), uv=uv,
                texture=texture, vertex_colors=colors, name=p.stem, meta={"source": str(p)})
    return check_mesh(mesh, require_manifold=require_manifold, where=str(p))


def _obj_text(mesh: Mesh, mtl_name: str | None) -> str:
    lines = [f"# traingen mesh {mesh.name}: {mesh.n_vertices} vertices, {mesh.n_faces} faces"]
    if mtl_name:
        lines += [f"mtllib {mtl_name}", "usemtl material0"]
    lines += [f"v {x:.9g} {y:.9g} {z:.9g}" for x, y, z in mesh.vertices]
    has_uv = mesh.uv is not None
    if has_uv:
        lines += [f"vt {u:.9g} {v:.9g}" for u, v in mesh.uv]
    parts = mesh.face_parts if mesh.face_parts is not None else np.zeros(mesh.n_faces, dtype=np.int64)
    names = mesh.part_names or (mesh.name,)
    for k, name in enumerate(names):
        sel = np.nonzero(parts == k)[0]
        if len(sel) == 0:
            continue
        lines.append(f"g {name}")
        for a, b, c in mesh.faces[sel] + 1:
            lines.append(f"f {a}/{a} {b}/{b} {c}/{c}" if has_uv else f"f {a} {b} {c}")
    return "\n".join(lines) + "\n"


def save_mesh(mesh: Mesh, path: str | os.PathLike) -> Path:
    """Write ``mesh`` to ``path`` (.obj with .mtl/.png beside it, .ply, .glb), atomically; returns the path."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in WRITE_SUFFIXES:
        raise OutputError(f"cannot write {suffix!r}; known: {', '.join(WRITE_SUFFIXES)}", where=str(p))
    check_mesh(mesh)
    if suffix == ".obj":
        mtl_name = None
        if mesh.texture is not None and mesh.uv is not None:
            from ..report.grid import save_png
            from .mesh import texture_float

            png = p.with_suffix(".png")
            save_png(png, (texture_float(mesh) * 255 + 0.5).astype(np.uint8))  # atomic itself
            mtl_name = p.with_suffix(".mtl").name
            mtl = f"newmtl material0\nKa 1 1 1\nKd 1 1 1\nKs 0 0 0\nmap_Kd {png.name}\n"
            atomic_write_text(p.with_suffix(".mtl"), mtl)
        text = _obj_text(mesh, mtl_name)
        atomic_write_text(p, text)
        return p
    import trimesh

    visual = None
    if mesh.uv is not None and mesh.texture is not None:
        from PIL import Image

        from .mesh import texture_float

        img = Image.fromarray((texture_float(mesh) * 255 + 0.5).astype(np.uint8))
        visual = trimesh.visual.TextureVisuals(uv=mesh.uv, image=img)
    elif mesh.vertex_colors is not None:
        visual = trimesh.visual.ColorVisuals(vertex_colors=(np.clip(mesh.vertex_colors, 0, 1) * 255).astype(np.uint8))
    tm = trimesh.Trimesh(mesh.vertices, mesh.faces, visual=visual, process=False)
    data = tm.export(file_type=suffix[1:])
    atomic_write_bytes(p, data if isinstance(data, bytes) else data.encode())
    return p
