"""``traingen quickstart`` on a slice of mnist5k: dataset, grid and page are written."""

import json

import cv2
from typer.testing import CliRunner

from traingen.cli.main import app


def test_quickstart_small(tmp_path):
    out = tmp_path / "qs"
    res = CliRunner().invoke(app, ["quickstart", "--out", str(out), "--limit", "60", "--json"])
    assert res.exit_code == 0, res.output
    info = json.loads(res.stdout)
    assert info["samples"] == 60
    manifest = json.loads((out / "augmented" / "manifest.json").read_text())
    assert sum(s["count"] for s in manifest["shards"]) == 60
    grid = cv2.imread(str(out / "grid.png"))
    assert grid is not None and grid.shape[0] > 100 and grid.shape[1] > 300
    html = (out / "index.html").read_text()
    assert "data:image/png;base64," in html and "augment-light.yaml" in html
    rows = (out / "augmented" / "metadata.jsonl").read_text().splitlines()
    assert len(rows) == 60
    # the exported originals are there too, one PNG per image
    assert len(list((out / "mnist5k").rglob("*.png"))) == 60
