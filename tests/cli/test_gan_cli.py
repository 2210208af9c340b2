"""``traingen train gan`` and ``traingen sample`` through typer's CliRunner, on the shipped recipes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
import yaml
from typer.testing import CliRunner

from traingen.cli import sample as sample_cli
from traingen.cli import train as train_cli
from traingen.core.errors import ConfigError, OutputError
from traingen.recipes import recipe_path

RECIPES = ["gan-cdcgan-mnist5k.yaml", "gan-sagan-mnist5k.yaml", "gan-biggan-mnist5k.yaml", "gan-cdcgan-lfw25.yaml"]


def _app() -> typer.Typer:
    """The wiring cli/main.py does: ``train`` as a group, ``sample`` as a command."""
    app = typer.Typer()
    app.add_typer(train_cli.app, name="train")
    app.command("sample")(sample_cli.sample_cmd)
    return app


def _tiny_recipe(tmp_path: Path, name: str, **model) -> Path:
    """The shipped recipe with a tiny model (tests shorten recipes, they do not replace them)."""
    data = yaml.safe_load(recipe_path(name).read_text())
    data["model_config"].update({"ch": 4, **model})
    data.update(tensorboard=True, image_every=1, log_every=1, checkpoint_every=1, batch_size=16)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


def _invoke(args):
    return CliRunner().invoke(_app(), [str(a) for a in args])


@pytest.mark.parametrize("name", RECIPES)
def test_shipped_recipes_resolve_and_build(name):
    from traingen.gan.train_config import build_model, load_train_config

    cfg = load_train_config(recipe_path(name))
    assert cfg.ema and cfg.steps >= 1000 and cfg.checkpoint_every <= cfg.steps
    model = build_model(cfg)
    assert model.config.image_size in (24, 28)
    assert model.config.num_classes == (2 if "lfw25" in name else 10)


def test_train_then_resume_then_sample(tmp_path):
    run, out = tmp_path / "run", tmp_path / "gen"
    recipe = _tiny_recipe(tmp_path, "gan-cdcgan-mnist5k.yaml", z_dim=8)
    res = _invoke(["train", "gan", "--config", recipe, "--out", run, "--steps", 2, "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert (doc["step"], doc["steps_run"], doc["model"]) == (2, 2, "cdcgan")
    assert Path(doc["checkpoint"]).name == "step-00000002"
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    assert cfg["version"] == 1 and cfg["steps"] == 2 and cfg["model_config"]["ch"] == 4
    assert cfg["model_config"]["beta1"] == 0.5  # resolved: every model field written
    assert [json.loads(x)["step"] for x in (run / "metrics.jsonl").read_text().splitlines()] == [1, 2]
    assert (run / "checkpoints" / "step-00000002.safetensors").is_file()
    assert (run / "samples.png").is_file() and list((run / "tensorboard").glob("events.out.tfevents.*"))

    res = _invoke(["train", "gan", "--out", run, "--resume", "--steps", 3, "--quiet"])
    assert res.exit_code == 0, res.output
    assert res.stdout == ""
    assert yaml.safe_load((run / "config.yaml").read_text())["steps"] == 3
    assert (run / "checkpoints" / "step-00000003.json").is_file()

    res = _invoke(["train", "gan", "--config", recipe, "--out", run, "--steps", 2])
    assert res.exit_code != 0 and isinstance(res.exception, OutputError)

    res = _invoke(["sample", run, "--per-class", 2, "--classes", "1,3", "--truncation", 1.5, "--out", out,
                   "--format", "imagefolder", "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["samples"] == 4 and doc["rejected"] == 0 and doc["step"] == 3 and doc["ema"] is True
    rows = [json.loads(x) for x in (out / "metadata.jsonl").read_text().splitlines()]
    assert [r["label"] for r in rows] == [1, 1, 3, 3]
    assert {r["params"]["truncation"] for r in rows} == {1.5}
    assert {r["params"]["checkpoint"] for r in rows} == {doc["checkpoint_sha256"]}
    assert sorted(p.relative_to(out).as_posix() for p in out.glob("*/*.png")) == [r["path"] for r in rows]

    res = _invoke(["sample", run, "--n", 3, "--out", tmp_path / "wds", "--format", "webdataset"])
    assert res.exit_code == 0, res.output
    assert "wrote 3 images" in res.stdout and list((tmp_path / "wds").glob("shard-*.tar"))

    res = _invoke(["sample", run, "--n", 3, "--per-class", 1, "--out", tmp_path / "bad"])
    assert res.exit_code != 0 and "exactly one" in res.output
    res = _invoke(["sample", run, "--per-class", 1, "--classes", "seven", "--out", tmp_path / "bad"])
    assert res.exit_code != 0 and "unknown class" in res.output


def test_lfw25_recipe_trains_on_face_and_non_face(tmp_path):
    run = tmp_path / "faces"
    recipe = _tiny_recipe(tmp_path, "gan-cdcgan-lfw25.yaml", z_dim=8)
    res = _invoke(["train", "gan", "--config", recipe, "--out", run, "--steps", 1, "--json"])
    assert res.exit_code == 0, res.output
    res = _invoke(["sample", run, "--per-class", 1, "--classes", "face", "--out", tmp_path / "gen", "--json"])
    assert res.exit_code == 0, res.output
    assert [p.parent.name for p in (tmp_path / "gen").glob("*/*.png")] == ["face"]


def test_train_without_config_or_resume_is_an_error(tmp_path):
    res = _invoke(["train", "gan", "--out", tmp_path / "run"])
    assert res.exit_code != 0 and isinstance(res.exception, ConfigError)
    assert "--config" in str(res.exception)
