"""Compose: Sample API, seeding, OneOf, YAML files and the shipped recipes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import traingen.augment as A
from traingen.augment import Compose, OneOf
from traingen.core.sample import Sample
from traingen.core.seeding import derive_seed

ROOT = Path(__file__).resolve().parents[2]
IMG = (np.arange(40 * 48 * 3) % 251).astype(np.uint8).reshape(40, 48, 3)


def _chain(seed=0):
    return Compose([A.HorizontalFlip(), A.Rotate(30), A.Scale(0.8, 1.2), A.Translate(0.1), A.RandomCrop(32, 32),
                    A.GaussianNoise(0.05)], seed=seed)


def test_sample_in_sample_out_with_meta():
    s = Sample(image=IMG, boxes=np.array([[5, 5, 20, 20]], np.float32), box_labels=np.array([2]),
               keypoints=np.array([[10, 10]], np.float32), label=3, meta={"source": "x"})
    out = _chain()(s, seed=42)
    assert isinstance(out, Sample) and out.image.shape == (32, 32, 3)
    assert out.label == 3 and out.keypoint_visible.shape == (1,)
    assert out.meta["source"] == "x" and out.meta["technique"] == "augment" and out.meta["seed"] == 42
    names = [p["name"] for p in out.meta["params"]]
    assert names == ["horizontal-flip", "rotate", "scale", "translate", "random-crop", "gaussian-noise"]
    d = _chain()(image=IMG, boxes=s.boxes, box_labels=s.box_labels, keypoints=s.keypoints, label=3, seed=42)
    assert d["image"].tobytes() == out.image.tobytes() and np.array_equal(d["boxes"], out.boxes)
    assert set(d) == {"image", "boxes", "box_labels", "keypoints", "keypoint_visible", "label"}


def test_calls_without_seed_use_the_call_counter():
    a, b = _chain(seed=7), _chain(seed=7)
    first = [a(image=IMG)["image"].tobytes() for _ in range(3)]
    assert len(set(first)) == 3
    assert [b(image=IMG)["image"].tobytes() for _ in range(3)] == first
    assert _chain()(image=IMG, seed=derive_seed(7, 1))["image"].tobytes() == first[1]


def test_positional_image_and_same_bytes_across_dtypes_of_input_lists():
    out = _chain()(IMG, seed=1)
    assert out["image"].shape == (32, 32, 3)
    o1 = _chain()(image=IMG, boxes=[[1, 2, 30, 30]], box_labels=[1], seed=2)
    o2 = _chain()(image=IMG, boxes=np.array([[1, 2, 30, 30]], np.float64), box_labels=np.array([1]), seed=2)
    np.testing.assert_array_equal(o1["boxes"], o2["boxes"])


def test_one_of_picks_each_and_fuses_when_geometric():
    pipe = Compose([OneOf([A.HorizontalFlip(p=1.0), A.VerticalFlip(p=1.0)])])
    outs = {pipe(image=IMG, seed=s)["image"].tobytes() for s in range(12)}
    assert outs == {IMG[:, ::-1].tobytes(), IMG[::-1].tobytes()}
    assert pipe._plan[0][0] == "geo"
    mixed = Compose([OneOf([A.Rotate(10), A.GaussianNoise(0.1)], p=1.0), A.CenterCrop(20, 20)])
    assert [k for k, _ in mixed._plan] == ["one-of", "geo"]
    assert mixed(image=IMG, seed=3)["image"].shape == (20, 20, 3)
    skip = Compose([OneOf([A.Rotate(10)], p=0.0)])
    assert skip(image=IMG, seed=0)["image"].tobytes() == IMG.tobytes()


def test_save_and_load_round_trip(tmp_path):
    pipe = Compose([A.HorizontalFlip(), A.Rotate((-10, 25)), OneOf([A.Scale(0.8, 1.2), A.Translate(0.1)], p=0.7),
                    A.RandomResizedCrop(24, 24), A.Cutout(2, 5, fill=3, mask_fill=0), A.GaussianNoise(0.02)],
                   seed=5, interpolation="bicubic", fill=9, mask_fill=255, min_visibility=0.25)
    path = pipe.save(tmp_path / "sub" / "pipe.yaml")
    assert not [p for p in path.parent.iterdir() if p.name != "pipe.yaml"]  # no temp file left
    loaded = A.load(path)
    assert loaded.to_dict() == pipe.to_dict()
    mask = (IMG[..., 0] % 3).astype(np.uint8)
    for s in range(4):
        a = pipe(image=IMG, mask=mask, boxes=[[4, 4, 30, 30]], box_labels=[1], seed=s)
        b = loaded(image=IMG, mask=mask, boxes=[[4, 4, 30, 30]], box_labels=[1], seed=s)
        for k in a:
            assert np.asarray(a[k]).tobytes() == np.asarray(b[k]).tobytes()
    assert "version: 1" in path.read_text()


def test_issue_yaml_example_loads():
    import yaml

    text = """
version: 1
pipeline:
  seed: 0
  transforms:
    - {name: horizontal-flip, p: 0.5}
    - {name: rotate, degrees: 30}
    - {name: one-of, p: 1.0, transforms: [{name: scale, low: 0.8, high: 1.2}, {name: translate, fraction: 0.1}]}
"""
    pipe = A.from_dict(yaml.safe_load(text))
    assert len(pipe.transforms) == 3 and pipe.transforms[2].geometric
    assert pipe(image=IMG, seed=0)["image"].shape == IMG.shape


@pytest.mark.parametrize("recipe,shape,out", [
    ("augment-chain.yaml", (256, 256, 3), (224, 224, 3)),
    ("augment-light.yaml", (28, 28), (28, 28)),
])
def test_recipes(recipe, shape, out):
    pipe = A.load(ROOT / "recipes" / recipe)
    img = np.random.default_rng(0).integers(0, 256, shape).astype(np.uint8)
    res = pipe(image=img, seed=1)["image"]
    assert res.shape == out and res.dtype == np.uint8
    names = [t.registry_name for t in pipe.transforms]
    if recipe == "augment-light.yaml":
        assert "horizontal-flip" not in names and "cutout" in names
    else:
        assert names == ["horizontal-flip", "rotate", "scale", "translate", "random-crop", "gaussian-noise"]


def test_import_does_not_load_torch():
    import subprocess
    import sys

    code = "import sys, traingen.augment; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
