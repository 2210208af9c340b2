"""Mesh files: round trips keep geometry, UVs and texture; bad meshes give clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from traingen.core.errors import DataError, OutputError
from traingen.mesh.builtin import load_mesh
from traingen.mesh.io import read_mesh, save_mesh
from traingen.mesh.mesh import Mesh, check_mesh


def _textured_cup():
    m = load_mesh("builtin:mesh/cup")
    yy, xx = np.mgrid[0:16, 0:24]
    m.texture = np.stack([xx * 10, yy * 15, (xx + yy) * 5], -1).astype(np.uint8)
    return m


def test_obj_round_trip_keeps_uv_texture_and_parts(tmp_path):
    m = _textured_cup()
    path = save_mesh(m, tmp_path / "cup.obj")
    assert (tmp_path / "cup.mtl").is_file() and (tmp_path / "cup.png").is_file()
    assert "g handle" in path.read_text()
    back = read_mesh(path)
    assert back.n_faces == m.n_faces
    # trimesh may reorder/merge vertices: compare per face corner.
    np.testing.assert_allclose(back.vertices[back.faces], m.vertices[m.faces], atol=1e-7)
    np.testing.assert_allclose(back.uv[back.faces], m.uv[m.faces], atol=1e-7)
    np.testing.assert_array_equal(back.texture, m.texture)
    assert not list(tmp_path.glob(".*"))  # no temporary files left


@pytest.mark.parametrize("suffix", [".ply", ".glb"])
def test_ply_glb_round_trip(tmp_path, suffix):
    m = _textured_cup() if suffix == ".glb" else load_mesh("builtin:mesh/table")
    back = read_mesh(save_mesh(m, tmp_path / f"m{suffix}"))
    np.testing.assert_allclose(back.vertices[back.faces], m.vertices[m.faces], atol=1e-6)
    if suffix == ".glb":
        np.testing.assert_allclose(back.uv[back.faces], m.uv[m.faces], atol=1e-6)
        np.testing.assert_array_equal(back.texture, m.texture)


def test_missing_texture_file_names_it(tmp_path):
    path = save_mesh(_textured_cup(), tmp_path / "cup.obj")
    (tmp_path / "cup.png").unlink()
    with pytest.raises(DataError, match=r"texture file 'cup.png' is missing") as e:
        read_mesh(path)
    assert "cup.mtl" in str(e.value)
    (tmp_path / "cup.mtl").unlink()
    with pytest.raises(DataError, match="material library 'cup.mtl' is missing"):
        read_mesh(path)


def test_bad_meshes_give_clear_errors(tmp_path):
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1.0]])
    with pytest.raises(DataError, match="empty"):
        check_mesh(Mesh(v, np.zeros((0, 3), dtype=np.int64), name="e"))
    nan = v.copy()
    nan[2, 1] = np.nan
    with pytest.raises(DataError, match=r"NaN or infinite \(first: index 2\)"):
        check_mesh(Mesh(nan, np.array([[0, 1, 2]]), name="n"))
    with pytest.raises(DataError, match="face indices"):
        check_mesh(Mesh(v, np.array([[0, 1, 7]]), name="o"))
    # Three faces on one edge: fine for rendering, an error where a manifold is required.
    fan = Mesh(np.vstack([v, [[0, 0, -1.0]]]), np.array([[0, 1, 2], [0, 1, 3], [0, 1, 4]]), name="fan")
    check_mesh(fan)
    with pytest.raises(DataError, match="not manifold: 1 edges"):
        check_mesh(fan, require_manifold=True)
    (tmp_path / "empty.obj").write_text("# nothing\n")
    with pytest.raises(DataError, match="empty"):
        read_mesh(tmp_path / "empty.obj")
    (tmp_path / "nan.obj").write_text("v 0 0 0\nv 1 0 0\nv nan 1 0\nf 1 2 3\n")
    with pytest.raises(DataError, match="NaN"):
        read_mesh(tmp_path / "nan.obj")
    with pytest.raises(DataError, match="not found"):
        read_mesh(tmp_path / "absent.obj")
    with pytest.raises(DataError, match="unknown mesh format"):
        (tmp_path / "x.txt").write_text("hello")
        read_mesh(tmp_path / "x.txt")
    with pytest.raises(OutputError, match="cannot write"):
        save_mesh(load_mesh("builtin:mesh/chair"), tmp_path / "x.stl")
    with pytest.raises(DataError, match="unknown embedded mesh 'kettle'"):
        load_mesh("builtin:mesh/kettle")
