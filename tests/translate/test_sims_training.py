"""SIMS training and export: seeded determinism, exact resume, ``traingen train translate`` and
``traingen translate RUN LABELS OUT`` giving (image, mask) pairs with COCO instances."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch
from pycocotools import mask as mask_utils
from typer.testing import CliRunner

from traingen.cli.main import app
from traingen.core.errors import DataError
from traingen.core.sample import Sample
from traingen.core.seeding import torch_generator
from traingen.translate import load_translate_config, train_translation
from traingen.translate.sims_data import _label_map, decode_labels, instances

SIZE, STEP = 16, 255 // 4


def _scene(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A 16×16 label map with two or three rectangles, its nearness and a coloured image."""
    lm = np.zeros((SIZE, SIZE), np.int64)
    depth = np.zeros((SIZE, SIZE), np.uint8)
    for k in range(int(rng.integers(2, 4))):
        y, x = rng.integers(0, 10, 2)
        h, w = rng.integers(4, 8, 2)
        lm[y:y + h, x:x + w] = k + 1
        depth[y:y + h, x:x + w] = 80 + 60 * k
    colours = np.array([[30, 30, 40], [200, 40, 40], [40, 200, 40], [40, 40, 200]], np.float64)
    img = colours[lm] + rng.normal(0, 12, (SIZE, SIZE, 3))
    return lm, depth, img.clip(0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def pairs_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("sims-pairs")
    (root / "A").mkdir()
    (root / "B").mkdir()
    rng = np.random.default_rng(0)
    for i in range(10):
        lm, depth, img = _scene(rng)
        a = np.stack([lm * STEP, lm * STEP, depth], -1).astype(np.uint8)
        cv2.imwrite(str(root / "A" / f"{i:03d}.png"), a[..., ::-1])
        cv2.imwrite(str(root / "B" / f"{i:03d}.png"), img[..., ::-1])
    return root


def _recipe(tmp_path, pairs_dir, **extra) -> str:
    mc = {"image_size": SIZE, "num_classes": 4, "ngf": 4, "n_scales": 3, "max_channels": 8, "stn_width": 4,
          "order_width": 4, "k": 2, "min_pixels": 2, "bank": str(pairs_dir),
          "backbone_options": {"kernel_sizes": [3, 5], "maps": 4}}
    cfg = {"version": 1, "model": "sims", "model_config": mc, "data_a": str(pairs_dir), "steps": 4,
           "batch_size": 2, "checkpoint_every": 2, "tensorboard": False, **extra}
    path = tmp_path / "sims.yaml"
    path.write_text(json.dumps(cfg))  # JSON is YAML
    return str(path)


def _weights(model) -> dict[str, torch.Tensor]:
    return {f"{n}.{k}": v.clone() for n, net in model.nets.items() for k, v in net.state_dict().items()}


def test_decode_labels_round_trip_and_errors():
    lm = np.array([[0, 1], [2, 3]])
    a = np.stack([lm * STEP, lm * STEP, np.array([[0, 255], [10, 20]])], -1).astype(np.uint8)
    cls, depth = decode_labels(a, 4)
    assert np.array_equal(cls, lm) and depth[0, 1] == 1.0
    with pytest.raises(DataError, match="num_classes"):
        decode_labels(a, 2)
    with pytest.raises(DataError, match="no mask"):
        _label_map(Sample(image=np.zeros((4, 4, 3), np.uint8)), False, 4, "src")
    mask = np.array([[0, 2], [2, 0]])
    assert np.array_equal(_label_map(Sample(image=np.zeros((2, 2, 3), np.uint8), mask=mask), False, 4, "s"), mask)
    inst, boxes, labels = instances(np.array([[1, 0, 1], [1, 0, 0], [0, 0, 3]]))
    assert labels.tolist() == [0, 0, 2] and inst.max() == 3
    assert boxes.tolist() == [[0, 0, 1, 2], [2, 0, 3, 1], [2, 2, 3, 3]]


def test_training_is_seeded_and_resume_is_exact(tmp_path, pairs_dir):
    cfg = load_translate_config(_recipe(tmp_path, pairs_dir))
    full = train_translation(cfg, tmp_path / "full")
    assert full.steps_run == 4 and {"crn_loss", "semantic", "stn_iou"} <= set(full.losses)
    again = train_translation(cfg, tmp_path / "again")
    wa, wb = _weights(full.model), _weights(again.model)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    half = train_translation(cfg, tmp_path / "half", until=2)
    assert half.step == 2
    resumed = train_translation(cfg, tmp_path / "half", resume=True)
    assert resumed.steps_run == 2
    wr = _weights(resumed.model)
    assert all(torch.equal(wa[k], wr[k]) for k in wa)
    other = train_translation(load_translate_config(_recipe(tmp_path, pairs_dir), seed=1), tmp_path / "other")
    wo = _weights(other.model)
    assert any(not torch.equal(wa[k], wo[k]) for k in wa)
    # synthesis: images, canvases empty on the elided boundaries, one retrieval per segment
    lm = torch.from_numpy(_scene(np.random.default_rng(5))[0])[None]
    res = full.model.synthesize(lm, generator=torch_generator(0, "t"))
    assert res.images.shape == (1, 3, SIZE, SIZE) and res.images.abs().max() <= 1
    from traingen.translate.sims_canvas import boundary_band

    assert (res.canvas_masks[0, 0][boundary_band(lm, 1)[0]] == 0).all()
    assert res.canvas_masks.sum() > 0 and min(res.retrieved[0]) >= 0
    # clip_to_query (synthesis only): the same retrievals, pasted only inside their query segments
    import dataclasses

    full.model.config = dataclasses.replace(full.model.config, clip_to_query=True)
    clipped = full.model.synthesize(lm, generator=torch_generator(0, "t"))
    assert clipped.retrieved == res.retrieved
    assert bool((clipped.canvas_masks <= res.canvas_masks).all())


def test_cli_train_and_translate_give_image_mask_pairs(tmp_path, pairs_dir):
    runner = CliRunner()
    recipe = _recipe(tmp_path, pairs_dir, steps=2)
    res = runner.invoke(app, ["train", "translate", "--config", recipe, "--out", str(tmp_path / "run"), "--json",
                              "--quiet"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["model"] == "sims"
    outs = []
    for k in range(2):
        out = tmp_path / f"out{k}"
        res = runner.invoke(app, ["translate", str(tmp_path / "run"), str(pairs_dir), str(out), "--pairs",
                                  "--format", "coco", "--limit", "4", "--seed", "2", "--json"])
        assert res.exit_code == 0, res.output
        outs.append(out)
    doc = json.loads((outs[0] / "annotations.json").read_text())
    assert len(doc["images"]) == 4
    assert [c["name"] for c in doc["categories"]] == ["class-1", "class-2", "class-3"]
    from traingen.data.paired import open_paired, split_pair

    src = open_paired(str(pairs_dir))
    for img in doc["images"]:
        i = int(img["file_name"].split("/")[-1].split(".")[0])
        lm = decode_labels(split_pair(src[i].image)[0], 4)[0]
        anns = [a for a in doc["annotations"] if a["image_id"] == img["id"]]
        union = np.zeros_like(lm)
        for a in anns:
            m = mask_utils.decode(a["segmentation"]).astype(bool)
            assert (lm[m] == a["category_id"]).all()  # category class-k sits on class k of the map
            union |= m
        assert np.array_equal(union.astype(bool), lm > 0)
    manifest = json.loads((outs[0] / "manifest.json").read_text())
    assert manifest["config"]["technique"] == "translate-sims"
    same = [p.read_bytes() for p in sorted((outs[0] / "images").iterdir())]
    assert same == [p.read_bytes() for p in sorted((outs[1] / "images").iterdir())]
