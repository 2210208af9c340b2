"""Kato's single-image reconstruction network (traingen.mesh.recon_net) and its CLI."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from traingen.cli.main import app
from traingen.core.errors import CheckpointError, ConfigError
from traingen.mesh.recon_net import (
    ReconConfig,
    collection_meshes,
    init_model,
    predict,
    render_collection,
    train,
)

TINY = dict(size=16, views=4, objects=2, widths=(4, 8), hidden=16, subdivisions=1, batch=2)


def test_shapes_and_default_template():
    assert len(init_model(ReconConfig()).template) == 642  # Kato's sphere
    cfg = ReconConfig(**TINY, steps=1)
    net = init_model(cfg)
    sil = render_collection(collection_meshes(cfg), cfg)
    assert tuple(sil.shape) == (2, 4, 1, 16, 16) and set(sil.unique().tolist()) <= {0.0, 1.0}
    assert tuple(net(sil[:, 0]).shape) == (2, 42, 3)
    mesh = predict(net, sil[0, 0, 0].numpy())
    assert mesh.n_vertices == 42 and mesh.n_faces == 80


def test_loss_decreases():
    cfg = ReconConfig(**{**TINY, "batch": 4}, steps=40, lr=3e-3)
    losses = train(cfg).losses
    assert sum(losses[-8:]) / 8 < 0.8 * sum(losses[:8]) / 8, losses


def test_resume_is_exact_and_runs_are_deterministic(tmp_path):
    cfg = ReconConfig(**TINY, steps=4)
    whole = train(cfg)
    assert train(cfg).losses == whole.losses
    train(ReconConfig(**TINY, steps=2), tmp_path / "r", checkpoint_every=1)
    resumed = train(cfg, tmp_path / "r")
    assert resumed.losses == whole.losses
    for a, b in zip(whole.model.state_dict().values(), resumed.model.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    with pytest.raises(CheckpointError, match="another config"):
        train(ReconConfig(**{**TINY, "hidden": 8}, steps=5), tmp_path / "r")


def test_config_errors():
    with pytest.raises(ConfigError, match="families"):
        ReconConfig(families=("spaceship",))
    with pytest.raises(ConfigError, match="divisible"):
        ReconConfig(size=20, widths=(4, 8, 16))


def test_cli_train_and_predict(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("version: 1\nsize: 16\nviews: 4\nobjects: 2\nwidths: [4, 8]\nhidden: 16\nsubdivisions: 1\n"
                   "batch: 2\nsteps: 2\n")
    r = CliRunner().invoke(app, ["mesh", "reconstruct", "train", str(tmp_path / "run"), "--config", str(cfg),
                                 "--quiet"])
    assert r.exit_code == 0, r.output
    assert len(json.loads((tmp_path / "run" / "result.json").read_text())["loss"]) == 2
    r = CliRunner().invoke(app, ["mesh", "reconstruct", "predict", str(tmp_path / "run"), "builtin:mesh/cup",
                                 str(tmp_path / "cup.obj"), "--json"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "cup.obj").read_text().count("\nf ") == 80


def test_recipes_load():
    from pathlib import Path

    from traingen.core.config import from_dict, load_yaml
    from traingen.mesh.dream import DreamConfig
    from traingen.mesh.style import StyleConfig

    root = Path(__file__).resolve().parents[2] / "recipes"
    for name, cls in (("mesh-style.yaml", StyleConfig), ("mesh-style-dream.yaml", DreamConfig),
                      ("mesh-reconstruct.yaml", ReconConfig)):
        raw = {k: v for k, v in load_yaml(root / name).items() if k != "version"}
        assert from_dict(cls, raw).steps == 50
