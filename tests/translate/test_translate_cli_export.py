"""CLI: ``traingen train translate`` and ``traingen translate RUN SRC OUT`` (labels kept, manifest)."""

from __future__ import annotations

import json
import os

import numpy as np
from typer.testing import CliRunner

from traingen.cli.main import app
from traingen.data import open_source

RECIPE = """version: 1
model: cyclegan
model_config: {channels_a: 1, channels_b: 1, image_size: 28, ngf: 4, ndf: 4, n_blocks: 1, n_layers: 1,
               pool_size: 2}
data_a: builtin:digits2mnist@train
data_b: builtin:mnist5k@train
limit_a: 12
limit_b: 12
steps: 3
batch_size: 2
log_every: 1
checkpoint_every: 2
tensorboard: false
"""


def test_train_translate_and_export_keep_labels(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(RECIPE)
    run = tmp_path / "run"
    runner = CliRunner()
    res = runner.invoke(app, ["train", "translate", "--config", str(recipe), "--out", str(run), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["step"] == 3 and doc["omp_wait_policy"] == "PASSIVE" and len(doc["loadavg"]) == 3
    out = tmp_path / "out"
    res = runner.invoke(app, ["translate", str(run), "builtin:digits2mnist@test", str(out), "--limit", "10",
                              "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["written"] == 10 and doc["rejected"] == 0
    manifest = json.loads((out / "manifest.json").read_text())
    cfg = manifest["config"]
    assert cfg["direction"] == "AtoB" and cfg["eval_mode"] is True and len(cfg["checkpoint_sha256"]) == 64
    written = open_source(str(out))
    src = open_source("builtin:digits2mnist@test")
    assert [written[i].label for i in range(10)] == [src[i].label for i in range(10)]
    assert written[0].image.shape[:2] == (28, 28)
    assert not np.array_equal(np.asarray(written[0].image).squeeze(), src[0].image)  # it was translated
    # the label filter: an untrained generator's output is not a digit, so most are rejected
    out2 = tmp_path / "out2"
    res = runner.invoke(app, ["translate", str(run), "builtin:digits2mnist@test", str(out2), "--limit", "10",
                              "--filter-classifier", "mnist5k-classifier", "--direction", "BtoA", "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    manifest = json.loads((out2 / "manifest.json").read_text())
    assert manifest["label_filter"]["rejected"] == doc["rejected"] == 10 - doc["written"]
    assert manifest["config"]["direction"] == "BtoA"
    # resume continues to more steps
    res = runner.invoke(app, ["train", "translate", "--out", str(run), "--resume", "--steps", "4", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["step"] == 4


def test_bad_recipe_key_names_the_key(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(RECIPE.replace("limit_b: 12", "limit_bb: 12"))
    res = CliRunner().invoke(app, ["train", "translate", "--config", str(recipe), "--out", str(tmp_path / "x")])
    assert res.exit_code != 0
    assert "limit_bb" in str(res.exception) + res.output


def test_pix2pix_export_of_pairs_is_seeded_in_train_mode(tmp_path):
    from traingen.data.imageio import encode_png
    from traingen.translate.config import TranslateTrainConfig, resolved
    from traingen.translate.export import translate_dataset
    from traingen.translate.trainer import train_translation

    rng = np.random.default_rng(0)
    for i in range(4):
        for side in ("A", "B"):
            p = tmp_path / "pairs" / side / f"{i}.png"
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(encode_png(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)))
    cfg = resolved(TranslateTrainConfig(model="pix2pix", data_a=str(tmp_path / "pairs"), steps=2, batch_size=2,
                                        tensorboard=False, model_config={"image_size": 64, "ngf": 4, "ndf": 4}))  # depth 6: one dropout level
    train_translation(cfg, tmp_path / "run")
    # an A|B folder of aligned images as the source
    from traingen.data.paired import open_paired

    joined = tmp_path / "aligned"
    joined.mkdir()
    src = open_paired(tmp_path / "pairs")
    for i in range(len(src)):
        (joined / f"{i}.png").write_bytes(encode_png(src[i].image))
    outs = []
    for name, seed in (("o1", 0), ("o2", 0), ("o3", 1)):
        res = translate_dataset(tmp_path / "run", str(joined), tmp_path / name, pairs=True, seed=seed)
        assert res["eval_mode"] is False and res["written"] == 4
        manifest = json.loads((tmp_path / name / "manifest.json").read_text())
        assert manifest["config"]["dropout_at_inference"] is True
        outs.append(np.stack([np.asarray(s.image) for s in open_source(str(tmp_path / name))]))
    assert outs[0].shape == (4, 64, 64, 3)
    assert np.array_equal(outs[0], outs[1])      # same seed, same bytes (dropout seeded per sample)
    assert not np.array_equal(outs[0], outs[2])  # another seed, other dropout masks


_SPY = """
import json, os, sys
seen = {}
class Spy:  # records the policy in the environment when torch is first imported
    def find_spec(self, name, path=None, target=None):
        if name == "torch" and "policy" not in seen:
            seen["policy"] = os.environ.get("OMP_WAIT_POLICY", "unset")
        return None
sys.meta_path.insert(0, Spy())
from typer.testing import CliRunner
from traingen.cli.main import app
res = CliRunner().invoke(app, ["train", "translate", "--config", sys.argv[1], "--out", sys.argv[2], "--json"])
print(json.dumps({"seen": seen.get("policy"), "exit": res.exit_code, "out": res.output}))
"""


def test_train_translate_sets_the_wait_policy_before_torch_loads(tmp_path):
    import subprocess
    import sys

    recipe = tmp_path / "r.yaml"
    recipe.write_text(RECIPE.replace("steps: 3", "steps: 1"))
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    proc = subprocess.run([sys.executable, "-c", _SPY, str(recipe), str(tmp_path / "run")], env=env,
                          capture_output=True, text=True, timeout=300, check=True)
    doc = json.loads(proc.stdout.strip().splitlines()[-1])
    assert doc["exit"] == 0, doc["out"]
    assert doc["seen"] == "PASSIVE"  # torch first loaded with the policy already set
    result = json.loads(doc["out"])
    assert result["omp_wait_policy"] == "PASSIVE" and result["notices"] == []


def test_every_shipped_translate_recipe_loads_and_the_issue_s_five_exist():
    from traingen.recipes import recipe_path
    from traingen.translate.config import load_translate_config

    folder = recipe_path("translate-pix2pix-render.yaml").parent
    names = sorted(p.name for p in folder.glob("translate-*.yaml"))
    assert {"translate-pix2pix-render.yaml", "translate-pix2pix-edges2photos.yaml",
            "translate-cyclegan-fonts2mnist.yaml", "translate-texturegan-render.yaml",
            "translate-sims-render.yaml"} <= set(names)
    for name in names:
        cfg = load_translate_config(folder / name)  # typed: unknown keys and bad values raise
        assert cfg.model in name and cfg.steps > 0
