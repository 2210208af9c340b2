"""The recipe's evaluate block: metrics with provenance, in metrics.json and in the report."""

import json

import numpy as np

from traingen.data import open_source
from traingen.pipeline.run import run


def test_evaluate_fid_and_classifier(tmp_path):
    recipe = {"version": 1, "source": "builtin:digits@train",
              "steps": [{"step": "augment", "pipeline": {"version": 1, "pipeline": {"transforms": [
                  {"name": "rotate", "degrees": 10}]}}}],
              "mix": {"augment": 60}, "output": {"format": "parquet", "shard_size": 30},
              "evaluate": {"metrics": ["fid", "classifier"], "reference": "builtin:digits@test", "n": 24,
                           "epochs": 2}}
    res = run(recipe, tmp_path / "RUN")
    m = json.loads((tmp_path / "RUN" / "metrics.json").read_text())
    assert m == json.loads(json.dumps(res.metrics))
    fid = m["fid"]
    assert fid["extractor"] == "random-multiscale" and fid["n"] == 24 and fid["reference"] == "builtin:digits@test"
    assert np.isfinite(fid["value"]) and fid["value"] > 0
    clf = m["classifier"]
    assert 0.0 <= clf["value"] <= 1.0 and clf["n"] == 60 and clf["n_test"] == len(open_source("builtin:digits@test")) and clf["epochs"] == 2
    html = (tmp_path / "RUN" / "report.html").read_text()
    assert 'id="metrics"' in html and "random-multiscale" in html and f"{fid['value']:.4f}" in html
