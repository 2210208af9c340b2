"""``traingen mesh texture-transfer``: outputs, seeded byte-identical reruns, clear errors."""

from __future__ import annotations

import json

import numpy as np
from typer.testing import CliRunner

from traingen.cli.main import app
from traingen.mesh.builtin import load_mesh
from traingen.mesh.io import read_mesh
from traingen.mesh.texture_pose import Pose, silhouette
from traingen.report.grid import save_png

ARGS = ["--members", "2", "--size", "48", "--steps", "2", "--texture-size", "16", "--seed", "3", "--quiet"]


def _photo(tmp_path):
    cup = load_mesh("builtin:mesh/cup/1")
    cam = Pose(30.0, 20.0, 3.0, tuple(cup.bounds().mean(0))).camera(48, 48, 40.0)
    mask = silhouette(cup, cam)
    img = np.where(mask[..., None] > 0, np.array([0.8, 0.4, 0.2]), np.array([0.1, 0.2, 0.6]))
    save_png(tmp_path / "photo.png", (img * 255).astype(np.uint8))
    save_png(tmp_path / "mask.png", (mask * 255).astype(np.uint8))
    return tmp_path / "photo.png", tmp_path / "mask.png"


def test_cli_writes_textured_models_and_is_seeded(tmp_path):
    photo, mask = _photo(tmp_path)
    runner = CliRunner()
    outs = []
    for k in range(2):
        out = tmp_path / f"out{k}"
        r = runner.invoke(app, ["mesh", "texture-transfer", str(photo), "builtin:mesh/cup", str(out),
                                "--mask", str(mask), *ARGS])
        assert r.exit_code == 0, r.output
        outs.append(out)
    res = json.loads((outs[0] / "result.json").read_text())
    assert res["per_photo"][0]["iou"] > 0.5 and len(res["models"]) == 2
    m = read_mesh(outs[0] / "model_0.obj")
    assert m.texture is not None and m.uv is not None
    # The texture's dominant colour is the object's orange (scaled by 1 / shading), not the blue background.
    med = np.median(m.texture.reshape(-1, 3).astype(float) / 255.0, 0)
    assert med[0] > med[1] > med[2] and med[0] > 0.6 and med[2] < 0.5
    for name in ("model_0.png", "model_1.png", "model_0.obj", "photos.png"):
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes(), name
    r2 = json.loads((outs[1] / "result.json").read_text())
    assert res["per_photo"] == r2["per_photo"]


def test_cli_errors_are_clear(tmp_path):
    photo, mask = _photo(tmp_path)
    runner = CliRunner()
    r = runner.invoke(app, ["mesh", "texture-transfer", str(photo), "builtin:mesh/cup", str(tmp_path / "o"),
                            "--mask", f"{mask},{mask}", *ARGS])
    assert r.exit_code != 0 and "2 masks for 1 photos" in r.output
    r = runner.invoke(app, ["mesh", "texture-transfer", str(tmp_path / "missing.png"), "builtin:mesh/cup",
                            str(tmp_path / "o"), *ARGS])
    assert r.exit_code != 0 and "missing.png" in r.output
    r = runner.invoke(app, ["mesh", "texture-transfer", str(photo), "builtin:mesh/nosuch", str(tmp_path / "o"),
                            *ARGS])
    assert r.exit_code != 0 and "nosuch" in r.output
