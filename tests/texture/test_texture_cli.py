"""``traingen texture`` and ``traingen eval texture`` end to end on the embedded brick texture."""

from __future__ import annotations

import json

import numpy as np
from typer.testing import CliRunner

from traingen.cli.main import app
from traingen.core.errors import ConfigError, OutputError
from traingen.data.imageio import read_image
from traingen.texture import synthesize


def test_texture_cli_writes_pngs_and_result(tmp_path):
    out = tmp_path / "q"
    res = CliRunner().invoke(app, ["texture", "builtin:textures/brick", str(out), "--method", "quilting",
                                   "--size", "64", "--n", "2", "--seed", "5", "--json"])
    assert res.exit_code == 0, res.output
    brief = json.loads(res.output)
    assert brief["n"] == 2 and brief["config"]["size"] == 64
    full = json.loads((out / "result.json").read_text())
    assert [t["file"] for t in full["textures"]] == ["texture_000.png", "texture_001.png"]
    assert full["textures"][0]["info"]["largest_copied_region"]["area"] > 0
    a, b = read_image(out / "texture_000.png"), read_image(out / "texture_001.png")
    assert a.shape[:2] == (64, 64) and not np.array_equal(a, b)
    # texture 0 uses --seed itself: equal to the Python API
    from traingen.data import open_source

    api = synthesize("quilting", open_source("builtin:textures/brick")[0].image, size=64, seed=5)
    assert np.array_equal(np.squeeze(a), api.image)
    again = CliRunner().invoke(app, ["texture", "builtin:textures/brick", str(out), "--method", "quilting"])
    assert isinstance(again.exception, OutputError)


def test_texture_cli_gatys_records_losses(tmp_path):
    out = tmp_path / "g"
    # a 128 px exemplar: on the 512² one the k23 convolution alone costs ~120 CPU s (docs/texture.md, session 7)
    cfg = tmp_path / "gatys.yaml"
    cfg.write_text("version: 1\nexemplar_size: 128\n")
    res = CliRunner().invoke(app, ["texture", "builtin:textures/grass", str(out), "--method", "gatys", "--size", "16",
                                   "--steps", "3", "--quiet", "--config", str(cfg)])
    assert res.exit_code == 0, res.output
    full = json.loads((out / "result.json").read_text())
    assert full["config"]["exemplar_size"] == 128
    assert 1 <= len(full["textures"][0]["losses"]) <= 3
    assert full["config"]["backbone"] == "random-multiscale" and full["textures"][0]["seconds"] > 0
    bad = CliRunner().invoke(app, ["texture", "builtin:textures/grass", str(tmp_path / "x"), "--method", "gatys",
                                   "--backbone", "resnet", "--size", "16", "--steps", "1"])
    assert isinstance(bad.exception, ConfigError)


def test_eval_texture_cli_scores_and_filters(tmp_path):
    import skimage.data

    from traingen.report.grid import save_png

    g = skimage.data.gravel()
    save_png(tmp_path / "ex.png", g[:256, :256])
    save_png(tmp_path / "good.png", g[256:, 256:])
    save_png(tmp_path / "bad.png", skimage.data.brick()[256:, 256:])
    res = CliRunner().invoke(app, ["eval", "texture", str(tmp_path / "ex.png"), str(tmp_path / "good.png"),
                                   str(tmp_path / "bad.png"), "--threshold", "0.8", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    scores = {r["image"].rsplit("/", 1)[-1]: r["score"] for r in out["scores"]}
    assert scores["good.png"] > scores["bad.png"]
    assert out["kept"] == [str(tmp_path / "good.png")]
