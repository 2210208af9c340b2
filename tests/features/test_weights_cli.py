"""``traingen weights check`` (the typer app in traingen.cli.weights, called in-process)."""

from __future__ import annotations

import hashlib
import json

import pytest
from typer.testing import CliRunner

from traingen.cli.weights import app


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    folder = tmp_path / "w"
    folder.mkdir()
    monkeypatch.setenv("TRAINGEN_WEIGHTS", str(folder))
    return folder


def test_check_json_reports_found_files_and_mismatches(env):
    (env / "inception_v3_google-0cc3c7bd.pth").write_bytes(b"truncated")
    result = CliRunner().invoke(app, ["check", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["extractor"]: r for r in json.loads(result.output)["extractors"]}
    tv = rows["inception-v3-torchvision"]
    assert tv["status"] == "mismatch"
    assert tv["found"][0]["path"] == str(env / "inception_v3_google-0cc3c7bd.pth")
    assert tv["found"][0]["sha256"] == hashlib.sha256(b"truncated").hexdigest()
    assert rows["inception-v3-fid"]["status"] == "missing"
    assert rows["random-multiscale"]["status"] == "ok"


def test_check_human_output_names_files_and_places(env):
    result = CliRunner().invoke(app, ["check"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "pt_inception-2015-12-05-6726825d.pth" in out and "vgg19-dcbb9e9d.pth" in out
    assert f"$TRAINGEN_WEIGHTS: {env}" in out
    assert "random-multiscale" in out and "Offline alternatives" in out


def test_check_with_an_explicit_file(env, tmp_path):
    path = tmp_path / "mine.pth"
    path.write_bytes(b"x")
    result = CliRunner().invoke(app, ["check", "--json", "--weights", str(path)])
    rows = {r["extractor"]: r for r in json.loads(result.output)["extractors"]}
    assert rows["vgg19"]["selected"] == str(path) and rows["vgg19"]["found"][0]["status"] == "unverified"
