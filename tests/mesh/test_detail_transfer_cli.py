"""``traingen mesh detail-transfer``: outputs (16-bit displacement, normal map, OBJ), seeded reruns, errors."""

from __future__ import annotations

import json

import cv2
import numpy as np
import trimesh
from typer.testing import CliRunner

from traingen.cli.main import app
from traingen.mesh.geometric_features import vertex_normals, weld
from traingen.mesh.io import save_mesh
from traingen.mesh.mesh import Mesh
from traingen.mesh.procedural import blob

ARGS = ["--size", "32", "--levels", "2", "--steps", "1", "--seed", "2", "--quiet"]


def _source(tmp_path):
    m = weld(blob(np.random.default_rng(4), subdivisions=3))
    h = m.vertices[:, 2]
    d = 0.02 * np.sin(2 * np.pi * 4 * (h - h.min()) / np.ptp(h))
    path = tmp_path / "src.obj"
    save_mesh(Mesh(m.vertices + d[:, None] * vertex_normals(m.vertices, m.faces), m.faces, name="src"), path)
    return path


def test_cli_writes_outputs_and_is_seeded(tmp_path):
    src = _source(tmp_path)
    runner = CliRunner()
    outs = []
    for k in range(2):
        out = tmp_path / f"out{k}"
        r = runner.invoke(app, ["mesh", "detail-transfer", str(src), "builtin:mesh/icosphere", str(out), *ARGS])
        assert r.exit_code == 0, r.output
        outs.append(out)
    res = json.loads((outs[0] / "result.json").read_text())
    assert abs(sum(res["weights"].values()) - 1) < 1e-9 and res["config"]["size"] == 32
    disp = cv2.imread(str(outs[0] / "displacement.png"), cv2.IMREAD_UNCHANGED)
    assert disp.dtype == np.uint16 and disp.shape == (32, 32) and disp.max() == 65535 and disp.min() == 0
    nrm = cv2.imread(str(outs[0] / "normal.png"), cv2.IMREAD_UNCHANGED)
    assert nrm.shape == (32, 32, 3) and nrm.dtype == np.uint8
    tm = trimesh.load(outs[0] / "detailed.obj", process=False, force="mesh")
    assert len(tm.faces) == 4 * 1280 and res["faces"] == 4 * 1280  # icosphere-3, one midpoint subdivision
    for name in ("displacement.png", "normal.png", "detailed.obj"):
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes()


def test_cli_bad_mesh_fails_clearly(tmp_path):
    bad = tmp_path / "bad.obj"
    bad.write_text("v 0 0 0\nv 1 0 0\nv 0 1 nan\nf 1 2 3\n")
    r = CliRunner().invoke(app, ["mesh", "detail-transfer", str(bad), "builtin:mesh/icosphere", str(tmp_path / "o"),
                                 *ARGS])
    assert r.exit_code != 0
    assert "nan" in r.output.lower() or "NaN" in r.output
