"""TextureGAN data and command line: the render-sketch2rgb pairs, the texture bank, training through
``traingen train translate`` and a labelled COCO export through ``traingen translate``."""

from __future__ import annotations

import json

import numpy as np
from pycocotools import mask as mask_utils
from typer.testing import CliRunner

from traingen.cli.main import app
from traingen.data import open_source
from traingen.data.builtin import load_builtin
from traingen.data.paired import split_pair
from traingen.data.render_sketch2rgb import decode_a, encode_a, sketch_from_geometry
from traingen.translate.texturegan_data import load_texture_bank, pair_tensors


def _outline(m: np.ndarray) -> np.ndarray:
    """Mask pixels with a 4-neighbour outside the mask (the image border counts as outside), by numpy."""
    p = np.pad(m, 1)
    return m & ~(p[:-2, 1:-1] & p[2:, 1:-1] & p[1:-1, :-2] & p[1:-1, 2:])


def test_sketch_is_the_outline_plus_depth_edges():
    m = np.zeros((24, 24), bool)
    m[4:20, 3:21] = True
    depth = np.full((24, 24), 5.0)
    depth[:, 12:] = 3.0  # a step in depth inside the object: a crease line
    sk = sketch_from_geometry(m, depth)
    assert np.array_equal(sk & ~m, np.zeros_like(m))
    assert (sk & _outline(m)).sum() == _outline(m).sum()
    interior = sk & ~_outline(m)
    assert interior.any() and set(np.nonzero(interior)[1]) <= {11, 12}
    flat = sketch_from_geometry(m, np.full((24, 24), 5.0))
    assert np.array_equal(flat, _outline(m))
    a = encode_a(sk, m)
    assert all(np.array_equal(x, y) for x, y in zip(decode_a(a), (sk, m), strict=True))


def test_render_sketch2rgb_pairs_and_the_texture_bank():
    d = load_builtin("render-sketch2rgb")
    assert d.images.shape == (600, 64, 128, 3)
    assert len(d.splits["train"]) == 480 and len(d.splits["test"]) == 120
    assert set(np.unique(d.labels)) == {0, 1, 2}
    for i in range(0, 600, 60):
        a, b = split_pair(d.images[i])
        sketch, mask = decode_a(a)
        assert mask.mean() > 0.03                          # an object is visible
        assert np.array_equal(sketch & ~mask, np.zeros_like(mask))
        outline = _outline(mask)
        assert (sketch & outline).sum() == outline.sum()   # the whole outline is drawn
        assert (b[~mask] == 255).all()                     # white outside the object
        assert (b[mask].min(axis=1) < 250).mean() > 0.7    # the object is mostly not white (highlights)
    bank = load_builtin("texture-bank")
    assert bank.images.shape == (112, 96, 96, 3)
    assert len(bank.splits["test"]) == 21 and np.array_equal(np.bincount(bank.labels[bank.splits["test"]]),
                                                              [3] * 7)
    t = load_texture_bank("builtin:texture-bank@test", 64)
    assert t.shape == (21, 3, 96, 96) and 0 <= float(t.min()) and float(t.max()) <= 1
    assert load_texture_bank("builtin:textures", 64).shape == (3, 3, 512, 512)  # grey -> RGB
    a, b = pair_tensors([split_pair(d.images[0])[0]], [split_pair(d.images[0])[1]], size=32, where="t")
    assert a.shape == (1, 2, 32, 32) and b.shape == (1, 3, 32, 32)
    assert set(a.unique().tolist()) == {-1.0, 1.0}


def test_train_translate_and_export_keep_labels_and_object_masks(tmp_path):
    runner = CliRunner()
    recipe = tmp_path / "tgan.yaml"
    recipe.write_text("version: 1\nmodel: texturegan\n"
                      "model_config: {image_size: 32, ngf: 4, n_res: 1, ndf: 4, local_ndf: 4, n_layers: 1, "
                      "local_n_layers: 1, patch_min: 4, patch_max: 8, local_patch: 8, erode: 3, pretrain_steps: 1}\n"
                      "data_a: builtin:render-sketch2rgb@train\nlimit_a: 8\nsteps: 2\nbatch_size: 2\n"
                      "tensorboard: false\n")
    res = runner.invoke(app, ["train", "translate", "--config", str(recipe), "--out", str(tmp_path / "run"),
                              "--json", "--quiet"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["step"] == 2
    outs = []
    for k in range(2):
        out = tmp_path / f"out{k}"
        res = runner.invoke(app, ["translate", str(tmp_path / "run"), "builtin:render-sketch2rgb@test", str(out),
                                  "--pairs", "--limit", "5", "--format", "coco", "--seed", "3", "--json"])
        assert res.exit_code == 0, res.output
        outs.append(out)
    doc = json.loads((outs[0] / "annotations.json").read_text())
    assert len(doc["images"]) == 5 and len(doc["annotations"]) == 5
    src = open_source("builtin:render-sketch2rgb@test")
    names = [c["name"] for c in sorted(doc["categories"], key=lambda c: c["id"])]
    for img, ann in zip(sorted(doc["images"], key=lambda r: r["id"]),
                        sorted(doc["annotations"], key=lambda r: r["image_id"]), strict=True):
        i = int(img["file_name"].split("/")[-1].split(".")[0])
        s = src[i]
        _, mask = decode_a(split_pair(s.image)[0])
        assert np.array_equal(mask_utils.decode(ann["segmentation"]).astype(bool), mask)
        cat = next(c["name"] for c in doc["categories"] if c["id"] == ann["category_id"])
        assert cat == names[s.label] == src.classes[s.label]
        assert (img["width"], img["height"]) == (64, 64)
    manifest = json.loads((outs[0] / "manifest.json").read_text())
    assert manifest["config"]["technique"] == "translate-texturegan"
    assert manifest["config"]["texture_bank"] == "builtin:texture-bank@test"
    same = [(p.relative_to(outs[0]), p.read_bytes()) for p in sorted((outs[0] / "images").iterdir())]
    assert same == [(p.relative_to(outs[1]), p.read_bytes()) for p in sorted((outs[1] / "images").iterdir())]
    res = runner.invoke(app, ["translate", str(tmp_path / "run"), "builtin:render-sketch2rgb@test",
                              str(tmp_path / "bad"), "--limit", "2"])
    assert res.exit_code != 0 and "--pairs" in str(res.exception) + res.output
