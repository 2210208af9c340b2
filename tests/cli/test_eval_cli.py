"""``traingen eval``: each metric from the command line, on small slices of the embedded digits."""

import json

import numpy as np
from typer.testing import CliRunner

from traingen.cli.main import app

runner = CliRunner()
SMALL = ["--limit", "60", "--no-cache", "--json"]


def _json(args):
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output + repr(res.exception)
    return json.loads(res.stdout)


def test_fid_same_set_is_zero_and_differs_from_other_set():
    same = _json(["eval", "fid", "builtin:digits@test", "builtin:digits@test", *SMALL])
    other = _json(["eval", "fid", "builtin:digits@test", "builtin:mnist5k@test", *SMALL])
    assert abs(same["value"]) < 1e-6 if "value" in same else abs(same["mean"]) < 1e-6
    key = "value" if "value" in other else "mean"
    assert other[key] > 1.0
    assert other["extractor"] == "random-multiscale"


def test_is_with_digit_classifier_between_1_and_10():
    out = _json(["eval", "is", "builtin:digits@test", "--features", "digits-classifier", "--splits", "2",
                 "--limit", "100", "--no-cache", "--json"])
    key = "mean" if "mean" in out else "value"
    assert 1.0 < out[key] <= 10.0


def test_kid_and_pr_report_their_fields():
    kid = _json(["eval", "kid", "builtin:digits@test", "builtin:digits@train", "--subsets", "5",
                 "--subset-size", "30", *SMALL])
    assert "std" in kid and np.isfinite(kid["mean"])
    pr = _json(["eval", "pr", "builtin:digits@test", "builtin:digits@test", *SMALL])
    flat = json.dumps(pr)
    assert "precision" in flat and "recall" in flat


def test_unknown_feature_network_is_a_clear_error():
    res = runner.invoke(app, ["eval", "fid", "builtin:digits@test", "builtin:digits@test", "--features", "nope",
                              "--limit", "5"])
    assert res.exit_code != 0
    assert "nope" in str(res.exception) + res.output
