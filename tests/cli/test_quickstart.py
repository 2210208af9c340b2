"""``traingen quickstart`` at toy size: the three arms, the table, the dataset and the report."""

import json

from typer.testing import CliRunner

from traingen.cli.main import app


def test_quickstart_small(tmp_path):
    out = tmp_path / "qs"
    res = CliRunner().invoke(app, ["quickstart", "--out", str(out), "--per-class", "3", "--augmented", "30",
                                   "--gan", "20", "--seeds", "0", "--budget", "60", "--test-limit", "50", "--json"])
    assert res.exit_code == 0, res.output
    info = json.loads(res.stdout)
    assert [a["name"][:3] for a in info["arms"]] == ["(a)", "(b)", "(c)"]
    assert info["arms"][0]["real"] == 30 and info["arms"][1]["augmented"] == 30
    for a in info["arms"]:
        assert len(a["per_seed"]) == 1 and 0.0 <= a["mean"] <= 1.0
    assert 0 <= info["arms"][2]["gan_kept"][0] <= 20
    manifest = json.loads((out / "run" / "data" / "manifest.json").read_text())
    assert manifest["total"] == 30 + 30 + 20
    html = (out / "run" / "report.html").read_text()
    assert 'id="accuracy"' in html and "data:image/png;base64," in html and "(c) real + augmented + GAN" in html
    summary = json.loads((out / "quickstart.json").read_text())
    assert summary["arms"][1]["mean"] == info["arms"][1]["mean"]
