"""``traingen datasets list|export`` through typer's CliRunner on the sub-app."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from traingen.cli.datasets import app

runner = CliRunner()


@pytest.fixture(scope="module", autouse=True)
def tg_cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TRAINGEN_CACHE", str(tmp_path_factory.getbasetemp() / "traingen-cache"))
        yield


def test_list_text_and_json():
    res = runner.invoke(app, ["list"])
    assert res.exit_code == 0, res.output
    for name in ("mnist5k", "digits", "lfw25", "textures", "photos"):
        assert name in res.output
    assert "CC BY-SA 3.0" in res.output and "train 4000 / test 1000" in res.output
    res = runner.invoke(app, ["list", "--json"])
    rows = {r["name"]: r for r in json.loads(res.output)["datasets"]}
    assert rows["digits"]["splits"] == {"train": 1438, "test": 359}
    assert rows["textures"]["items"] == ["brick", "grass", "gravel"]


def test_export_webdataset_json_and_rerun(tmp_path):
    out = tmp_path / "lfw"
    args = ["export", "lfw25", str(out), "--split", "test", "--format", "webdataset", "--shard-size", "16", "--json"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    result = json.loads(res.output)
    assert (result["total"], result["shards"], result["written"], result["skipped"]) == (40, 3, 3, 0)
    assert result["source"] == "builtin:lfw25@test"
    assert sorted(p.name for p in out.glob("*.tar")) == [f"shard-{i:06d}.tar" for i in range(3)]
    manifest = (out / "manifest.json").read_bytes()
    again = json.loads(runner.invoke(app, args).output)
    assert (again["written"], again["skipped"]) == (0, 3)
    assert (out / "manifest.json").read_bytes() == manifest

    from traingen.data import load_builtin, open_source

    back = open_source(str(out))
    data = load_builtin("lfw25")
    idx = data.splits["test"]
    assert [s.label for s in back] == data.labels[idx].tolist()
    assert np.array_equal(back[5].image, data.images[idx[5]])


def test_export_imagefolder_human_and_quiet(tmp_path):
    res = runner.invoke(app, ["export", "textures", str(tmp_path / "t")])
    assert res.exit_code == 0, res.output
    assert "wrote 3 samples of builtin:textures" in res.output
    assert sorted(p.parent.name for p in (tmp_path / "t").rglob("*.png")) == ["brick", "grass", "gravel"]
    res = runner.invoke(app, ["export", "textures", str(tmp_path / "t"), "--quiet"])
    assert res.exit_code == 0 and res.output == ""


def test_export_errors(tmp_path):
    out = tmp_path / "o"
    assert runner.invoke(app, ["export", "lfw25", str(out), "--split", "test"]).exit_code == 0
    res = runner.invoke(app, ["export", "lfw25", str(out), "--split", "train"])
    assert res.exit_code == 2 and "different run" in res.output
    res = runner.invoke(app, ["export", "lfw25", str(out), "--split", "train", "--overwrite", "--json"])
    assert res.exit_code == 0 and json.loads(res.output)["total"] == 160
    res = runner.invoke(app, ["export", "lfw25", str(tmp_path / "p"), "--format", "tfrecord"])
    assert res.exit_code == 2 and "unknown format" in res.output
    res = runner.invoke(app, ["export", "lfw25", str(tmp_path / "p"), "--split", "val"])
    assert res.exit_code == 2 and "unknown split" in res.output
    res = runner.invoke(app, ["export", str(tmp_path / "nowhere"), str(tmp_path / "p"), "--split", "test"])
    assert res.exit_code == 2 and "--split" in res.output
    res = runner.invoke(app, ["export", str(tmp_path / "nowhere"), str(tmp_path / "p")])
    assert res.exit_code == 2 and "no such file" in res.output
