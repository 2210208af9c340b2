"""The ``texture`` and ``translate`` steps: labels kept, per-index randomness, composite formula, run wiring."""

import json

import numpy as np
import pytest

from traingen.core.errors import ConfigError
from traingen.core.sample import Sample
from traingen.core.seeding import derive_seed
from traingen.data import open_source
from traingen.pipeline.steps import STEPS, step_config

TEX = {"options": {"block": 8, "exemplar_size": 32}}


class _Src:
    """A tiny in-memory source: a grey ramp digit-like image and an RGB image with a mask."""

    classes = ["a", "b"]

    def __init__(self, items):
        self.items = items

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        s = self.items[i]
        return s.replace(meta=dict(s.meta))


def test_texture_images_mode_labels_and_seeds():
    cls = STEPS.get("texture")
    ex = open_source("builtin:textures")
    step = cls(step_config("texture", {**TEX, "size": 16}), seed=3)
    assert step.input is None and step.classes == list(ex.classes)
    got = step.make(0, 6)
    again = step.make(2, 4)
    for i, s in enumerate(got):
        k = derive_seed(3, i) % len(ex)
        assert s.label == ex[k].label and s.meta["params"]["exemplar_index"] == k
        assert s.image.shape == (16, 16) and s.image.dtype == np.uint8
    for a, b in zip(got[2:4], again, strict=True):
        np.testing.assert_array_equal(a.image, b.image)
    assert not np.array_equal(got[0].image, got[1].image)
    # quilting copies exemplar pixels: every output value occurs in the (resized) exemplar it grew from
    import cv2
    k0 = got[0].meta["params"]["exemplar_index"]
    small = cv2.resize(ex[k0].image, (32, 32), interpolation=cv2.INTER_AREA)
    assert set(np.unique(got[0].image)) <= set(np.unique(small))
    with pytest.raises(ConfigError, match="mix"):
        step.default_count()
    with pytest.raises(ConfigError, match="options"):
        step_config("texture", {"options": {"size": 32}})
    with pytest.raises(ConfigError):
        cls(step_config("texture", {"options": {"blockk": 8}}))


def test_texture_background_composite_matches_formula():
    grey = np.zeros((20, 20), np.uint8)
    grey[5:15, 8:12] = 255
    grey[0, 0] = 128
    rgb = np.full((20, 20, 3), 200, np.uint8)
    mask = np.zeros((20, 20), np.uint8)
    mask[2:6, 2:6] = 1
    src = _Src([Sample(image=grey, label=0, meta={"key": "g"}),
                Sample(image=rgb, label=1, mask=mask, boxes=np.array([[2, 2, 6, 6]], np.float32),
                       box_labels=np.array([1]), meta={"key": "c"})])
    step = STEPS.get("texture")(step_config("texture", {**TEX, "mode": "background"}), input=src, seed=9)
    assert step.default_count() == 2
    a, b = step.make(0, 2)
    # grey: a = value / 255 (float64 formula here), texture from the same seed, BT.601 luma if colour
    tex, _ = step.texture(0, 20)
    bg = tex[:20, :20].astype(np.float64)
    if bg.ndim == 3:
        bg = bg[..., :3] @ np.array([0.299, 0.587, 0.114])
    bg = np.round(bg)
    w = grey / 255.0
    want = np.clip(np.round(w * grey + (1 - w) * bg), 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(a.image, want)
    assert a.label == 0 and a.image.dtype == np.uint8
    assert (a.image[5:15, 8:12] == 255).all() and not (a.image == 0).all()
    # colour with a mask: the object's pixels stay, the rest is texture; targets unchanged
    assert b.image.shape == (20, 20, 3) and (b.image[2:6, 2:6] == 200).all()
    assert not (b.image[10:, 10:] == 200).all()
    np.testing.assert_array_equal(b.mask, mask)
    np.testing.assert_array_equal(b.boxes, [[2, 2, 6, 6]])
    assert b.label == 1
    with pytest.raises(ConfigError, match="needs an input"):
        STEPS.get("texture")(step_config("texture", {"mode": "background"}), input=None)


def test_texture_background_in_a_run(tmp_path):
    from traingen.pipeline.run import run

    recipe = {"version": 1, "source": "builtin:mnist5k@train",
              "steps": [{"step": "texture", "mode": "background", **TEX}],
              "mix": {"texture": 6}, "output": {"format": "webdataset", "shard_size": 4}, "report": False}
    res = run(recipe, tmp_path / "run")
    assert res.counts == {"texture": 6}
    data = open_source(str(tmp_path / "run" / "data"))
    src = open_source("builtin:mnist5k@train")
    assert [data[i].label for i in range(6)] == [src[i].label for i in range(6)]
    doc = (tmp_path / "run" / "recipe.yaml").read_text()
    assert "mode: background" in doc


def _tiny_cyclegan(tmp_path):
    from traingen.core.config import from_dict
    from traingen.translate.config import TranslateTrainConfig
    from traingen.translate.trainer import train_translation

    cfg = from_dict(TranslateTrainConfig, {
        "model": "cyclegan", "model_config": {"channels_a": 1, "channels_b": 1, "image_size": 16, "ngf": 4,
                                              "ndf": 4, "n_blocks": 1, "n_layers": 1, "pool_size": 2},
        "data_a": "builtin:digits2mnist@train", "data_b": "builtin:mnist5k@train", "limit_a": 4, "limit_b": 4,
        "steps": 2, "batch_size": 2, "log_every": 1, "checkpoint_every": 2, "tensorboard": False})
    run_dir = tmp_path / "cyclegan"
    train_translation(cfg, run_dir)
    return run_dir


def test_translate_step_equals_the_export_and_keeps_labels(tmp_path):
    from traingen.translate.export import translate_dataset

    run_dir = _tiny_cyclegan(tmp_path)
    src = open_source("builtin:digits2mnist@test")
    step = STEPS.get("translate")(step_config("translate", {"run": str(run_dir)}), input=src, seed=0)
    got = step.make(0, 4)
    assert [s.label for s in got] == [src[i].label for i in range(4)]
    assert got[0].image.shape == np.asarray(src[0].image).shape[:2]
    key = next(iter(step.checkpoints()))
    assert key.startswith("translate:") and len(step.checkpoints()[key]) == 64
    # the same generator through `traingen translate` (batched, eval mode) gives the same images
    translate_dataset(run_dir, "builtin:digits2mnist@test", tmp_path / "ref", limit=4, batch_size=1)
    ref = open_source(str(tmp_path / "ref"))
    for i in range(4):
        np.testing.assert_array_equal(np.asarray(ref[i].image).squeeze(), got[i].image)
    manifest = json.loads((tmp_path / "ref" / "manifest.json").read_text())
    assert manifest["config"]["checkpoint_sha256"] == step.sha256
    with pytest.raises(ConfigError, match="pix2pix translates AtoB only|run folder"):
        step_config("translate", {})
