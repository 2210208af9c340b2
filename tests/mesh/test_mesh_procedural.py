"""Procedural families and the Utah teapot: topology, parts, UV charts, seeding; the CLI listing."""

from __future__ import annotations

import json

import numpy as np
import pytest
import trimesh
from typer.testing import CliRunner

from traingen.cli.main import app
from traingen.mesh.builtin import MESHES, load_mesh
from traingen.mesh.procedural import FAMILIES, icosphere
from traingen.mesh.teapot import bezier_patch, patches, teapot


def test_teapot_patches_join_and_bound():
    assert len(patches()) == 32
    for n, faces in ((6, 2256), (12, 9120)):
        m = teapot(n)
        assert m.n_faces == faces
        _, counts = m.welded(1e-6).edges_unique()
        # Watertight except its open ends: lid and rim rings (4 quadrants each), handle and spout ends.
        assert counts.max() == 2
        assert (counts == 1).sum() == 16 * n
    lo, hi = teapot(4).bounds()
    np.testing.assert_allclose(lo, [-3.0, -2.0, 0.0], atol=1e-9)
    np.testing.assert_allclose(hi[1:], [2.0, 3.15], atol=1e-9)
    # A Bézier patch interpolates its corner control points.
    part, _, _, ctrl = patches()[9]
    grid = bezier_patch(ctrl, 3)
    np.testing.assert_allclose(grid[[0, 0, -1, -1], [0, -1, 0, -1]], ctrl[[0, 0, 3, 3], [0, 3, 0, 3]])


def test_teapot_ray_cast_is_closed_from_the_side():
    """trimesh: a ray through the body hits the surface an even number of times (in and out)."""
    m = teapot(6).welded(1e-6)
    tm = trimesh.Trimesh(m.vertices, m.faces, process=False)
    hits = tm.ray.intersects_location([[0.0, -10, 1.2]], [[0.0, 1.0, 0.0]])[0]
    assert len(hits) == 2
    np.testing.assert_allclose(sorted(hits[:, 1]), [-2.0, 2.0], atol=0.05)


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_families_have_parts_and_canonical_uvs(name):
    canon = load_mesh(f"builtin:mesh/{name}")
    a, b = load_mesh(f"builtin:mesh/{name}/7"), load_mesh(f"builtin:mesh/{name}/7")
    assert np.array_equal(a.vertices, b.vertices)  # seeded
    other = load_mesh(f"builtin:mesh/{name}/8")
    assert a.n_faces != other.n_faces or not np.allclose(a.vertices, other.vertices)
    for m in (canon, a):
        assert m.uv is not None and m.uv.min() >= -1e-9 and m.uv.max() <= 1 + 1e-9
        assert m.face_parts is not None and len(np.unique(m.face_parts)) == len(m.part_names)
        assert np.isfinite(m.vertices).all()


def test_blob_and_icosphere_are_genus_zero():
    s = icosphere(3)
    assert (s.n_vertices, s.n_faces) == (642, 1280)
    np.testing.assert_allclose(np.linalg.norm(s.vertices, axis=1), 1.0)
    for m in (s, load_mesh("builtin:mesh/blob/2")):
        e, counts = m.edges_unique()
        assert (counts == 2).all()
        assert m.n_vertices - len(e) + m.n_faces == 2  # Euler characteristic of a sphere
        assert trimesh.Trimesh(m.vertices, m.faces, process=False).is_watertight


def test_cli_mesh_list_and_info():
    runner = CliRunner()
    res = runner.invoke(app, ["mesh", "list", "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)["meshes"]
    assert [r["name"] for r in rows] == list(MESHES)
    assert next(r for r in rows if r["name"] == "teapot")["faces"] == 2256
    res = runner.invoke(app, ["mesh", "list"])
    assert "teapot" in res.output and "cup/K" in res.output
    res = runner.invoke(app, ["mesh", "info", "builtin:mesh/teapot", "--json"])
    assert json.loads(res.output)["boundary_edges"] == 96
    res = runner.invoke(app, ["mesh", "info", "builtin:mesh/nothing"])
    assert res.exit_code == 2 and "unknown embedded mesh" in res.output


def test_mesh_package_and_listing_do_not_import_torch():
    import subprocess
    import sys

    code = ("import sys, traingen.mesh; from traingen.mesh.builtin import load_mesh; "
            "load_mesh('builtin:mesh/cup'); import traingen.cli.mesh; print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
