"""The dataset operation (labels, masks and boxes kept; deterministic; resumable) and the CLI verbs."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from traingen.cli.main import app
from traingen.core.sample import Sample
from traingen.style.restyle import match_image, run_restyle

runner = CliRunner()
FAST = {"size": 16, "evaluations": 3}


@pytest.fixture(scope="module")
def coco_source(tmp_path_factory):
    """A 3-image COCO dataset with boxes, labels and instance masks (objects are filled rectangles)."""
    from traingen.data import open_writer

    out = tmp_path_factory.mktemp("coco-src")
    rng = np.random.default_rng(0)
    samples = []
    for i in range(3):
        img = (rng.random((24, 30, 3)) * 120).astype(np.uint8)
        inst = np.zeros((24, 30), np.int32)
        inst[2:10, 3 + i:12 + i] = 1
        inst[12:22, 15:28] = 2
        img[inst == 1] = (200, 40, 40)
        img[inst == 2] = (40, 200, 40)
        boxes = np.array([[3 + i, 2, 12 + i, 10], [15, 12, 28, 22]], np.float32)
        samples.append(Sample(image=img, instance_mask=inst, boxes=boxes, box_labels=np.array([0, 1]), label=i % 2,
                              meta={"key": f"{i:08d}"}))
    w = open_writer("coco", out, classes=["red", "green"], config={"test": 1}, seed=0)
    w.write_shard(0, samples, start=0)
    w.finalize({}, shards=None)
    return out / "annotations.json"


def test_restyle_keeps_boxes_labels_and_masks(coco_source, tmp_path):
    from traingen.data import open_source

    res = run_restyle(str(coco_source), "builtin:textures/brick", tmp_path / "out", method="gatys", config=FAST,
                      fmt="coco", seed=1, shard_size=2)
    assert res.total == 3 and res.shards == 2
    src, out = open_source(str(coco_source)), open_source(str(tmp_path / "out" / "annotations.json"))
    assert len(out) == 3
    for a, b in zip(src, out, strict=True):
        np.testing.assert_array_equal(a.boxes, b.boxes)
        np.testing.assert_array_equal(a.box_labels, b.box_labels)
        np.testing.assert_array_equal(a.instance_mask, b.instance_mask)
        assert b.image.shape == a.image.shape
        assert np.abs(a.image.astype(int) - b.image.astype(int)).mean() > 3  # restyled, not copied
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert "restyle" in json.dumps(manifest)


def test_restyle_labels_kept_deterministic_and_grey_stays_grey(tmp_path):
    from traingen.data import open_source

    kw = dict(method="gatys", config=FAST, fmt="webdataset", seed=5, limit=4, shard_size=2)
    a = run_restyle("builtin:digits@train", "builtin:textures", tmp_path / "a", **kw)
    run_restyle("builtin:digits@train", "builtin:textures", tmp_path / "b", **kw)
    files = sorted(p.name for p in (tmp_path / "a").glob("shard-*.tar"))
    assert files and all((tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes() for f in files)
    src = open_source("builtin:digits@train")
    out = open_source(str(tmp_path / "a" / "shard-{000000..000001}.tar"))
    assert a.total == len(out) == 4
    for i, s in enumerate(out):
        orig = src[i * len(src) // 4]
        assert s.label == orig.label
        assert s.image.shape[:2] == orig.image.shape[:2] and (s.image.ndim == 2 or s.image.shape[2] == 1)
    again = run_restyle("builtin:digits@train", "builtin:textures", tmp_path / "a", **kw)
    assert again.skipped == again.shards  # a rerun skips finished shards


def test_match_image_keeps_size_channels_and_alpha():
    out = np.full((20, 20, 3), 100, np.uint8)
    assert match_image(out, np.zeros((8, 10), np.uint8)).shape == (8, 10)
    rgba = np.zeros((8, 10, 4), np.uint8)
    rgba[..., 3] = 77
    m = match_image(out, rgba)
    assert m.shape == (8, 10, 4) and (m[..., 3] == 77).all() and (m[..., :3] == 100).all()
    f = match_image(out, np.zeros((8, 10, 3), np.float32))
    assert f.dtype == np.float32 and abs(float(f.max()) - 100 / 255) < 1e-6


def test_cli_single_image_and_json(tmp_path):
    out = tmp_path / "cat.png"
    r = runner.invoke(app, ["style", "builtin:photos/chelsea", "builtin:textures/brick", str(out), "--size", "24",
                            "--evaluations", "3", "--seed", "2", "--json"])
    assert r.exit_code == 0, r.output
    info = json.loads(r.output)
    assert info["method"] == "gatys" and len(info["losses"]) >= 1 and out.exists()
    from traingen.data.imageio import read_image

    assert read_image(out).shape == (16, 24, 3)
    assert json.loads((tmp_path / "cat.json").read_text())["config"]["evaluations"] == 3


def test_cli_dataset_mode_and_facial_faces(tmp_path):
    r = runner.invoke(app, ["style", "builtin:digits@test", "builtin:textures/grass", str(tmp_path / "ds"),
                            "--size", "16", "--evaluations", "2", "--limit", "3", "--format", "imagefolder",
                            "--quiet"])
    assert r.exit_code == 0, r.output
    assert len(list((tmp_path / "ds").rglob("*.png"))) == 3
    r = runner.invoke(app, ["style", "face:astronaut", "face:grace_hopper", str(tmp_path / "face"), "--method",
                            "facial", "--size", "24", "--evaluations", "2"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "face" / "stylized.png").exists() and (tmp_path / "face" / "result.json").exists()


def test_cli_train_style_then_use_checkpoint(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("version: 1\nmethod: adain\nsteps: 2\nbatch: 1\nsize: 32\nmax_items: 2\n"
                      "contents: [builtin:photos]\nstyles: [builtin:textures]\nmodel: {width: 0.125}\n")
    r = runner.invoke(app, ["train", "style", "--config", str(recipe), "--out", str(tmp_path / "run"), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["steps"] == 2
    r = runner.invoke(app, ["style", "builtin:photos/coffee", "builtin:textures/brick", str(tmp_path / "o.png"),
                            "--method", "adain", "--checkpoint", str(tmp_path / "run"), "--size", "32"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["style", "builtin:photos/coffee", "builtin:textures/brick", str(tmp_path / "o.png"),
                            "--method", "adain", "--checkpoint", str(tmp_path / "run"), "--evaluations", "3"])
    assert r.exit_code != 0 and "optimisation methods" in r.output


def test_cli_errors_are_one_line(tmp_path):
    from traingen.core.errors import TraingenError

    r = runner.invoke(app, ["style", "builtin:photos/coffee", "builtin:textures/brick", str(tmp_path / "x.png"),
                            "--method", "nope"])
    assert r.exit_code != 0 and isinstance(r.exception, TraingenError) and "gatys" in str(r.exception)
    r = runner.invoke(app, ["style", "builtin:photos/coffee", "builtin:textures/brick", str(tmp_path / "x.png"),
                            "--method", "sanet"])
    assert isinstance(r.exception, TraingenError) and "traingen train style" in str(r.exception)
    r = runner.invoke(app, ["style", "builtin:photos/coffee", str(tmp_path / "missing.png"), str(tmp_path / "x.png")])
    assert r.exit_code != 0 and not (tmp_path / "x.png").exists()
