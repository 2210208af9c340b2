"""Bad input and bad configs give clear errors naming the field."""

from __future__ import annotations

import numpy as np
import pytest

import traingen.augment as A
from traingen.augment import Compose, RandomCrop
from traingen.core.errors import ConfigError, DataError, TargetError

IMG = np.zeros((10, 12, 3), np.uint8)


@pytest.mark.parametrize("image,match", [
    (np.zeros(10, np.uint8), "1-D"),
    (np.zeros((0, 5), np.uint8), "empty"),
    (np.zeros((4, 4), np.int32), "dtype"),
    (np.zeros((4, 4), np.complex64), "dtype"),
    (np.full((4, 4), np.nan, np.float32), "NaN"),
    ([[1, 2], [3, 4]], "numpy"),
])
def test_bad_images(image, match):
    with pytest.raises(DataError, match=match) as e:
        Compose([A.HorizontalFlip()])(image=image)
    assert e.value.field == "image"


@pytest.mark.parametrize("targets,field,match", [
    ({"boxes": [[5, 1, 2, 4]], "box_labels": [0]}, "boxes", "x1 < x0"),
    ({"boxes": [[np.nan, 1, 2, 4]], "box_labels": [0]}, "boxes", "NaN"),
    ({"boxes": [[1, 2, 3]], "box_labels": [0]}, "boxes", "Nx4"),
    ({"boxes": [[1, 1, 2, 2]], "box_labels": [0, 1]}, "box_labels", "expected 1 labels"),
    ({"mask": np.zeros((10, 11), np.uint8)}, "mask", "does not match"),
    ({"mask": np.zeros((10, 12), np.float32)}, "mask", "integers"),
    ({"keypoints": [[1, np.inf]]}, "keypoints", "NaN"),
    ({"keypoints": [[1, 1]], "keypoint_visible": [True, False]}, "keypoint_visible", "visibility"),
    ({"masks": np.zeros((10, 12), np.uint8)}, "masks", "unknown target"),
])
def test_bad_targets(targets, field, match):
    with pytest.raises(TargetError, match=match) as e:
        Compose([A.HorizontalFlip()])(image=IMG, **targets)
    assert e.value.field == field


def test_crop_larger_than_image():
    with pytest.raises(DataError, match="pad_if_needed") as e:
        Compose([RandomCrop(8, 20)])(image=IMG)
    assert e.value.field == "width"
    assert Compose([RandomCrop(8, 20, pad_if_needed=True)])(image=IMG)["image"].shape == (8, 20, 3)
    with pytest.raises(DataError):
        Compose([A.CenterCrop(11, 5)])(image=IMG)


@pytest.mark.parametrize("make,field", [
    (lambda: A.RandomCrop(-1, 4), "height"),
    (lambda: A.RandomCrop(4, 0), "width"),
    (lambda: A.Resize(3.5, 4), "height"),
    (lambda: A.Rotate(-5), "degrees"),
    (lambda: A.Rotate((10, -10)), "degrees"),
    (lambda: A.Scale(1.2, 0.8), "high"),
    (lambda: A.Scale(0, 1), "low"),
    (lambda: A.Translate(1.5), "fraction"),
    (lambda: A.Translate((0.1, 0.2, 0.3)), "fraction"),
    (lambda: A.HorizontalFlip(p=1.5), "p"),
    (lambda: A.GaussianNoise(-0.1), "std"),
    (lambda: A.Cutout(holes=0), "holes"),
    (lambda: A.Cutout(mask_fill=1.5), "mask_fill"),
    (lambda: A.RandomResizedCrop(8, 8, scale=(0.5, 1.5)), "scale"),
    (lambda: A.RandomResizedCrop(8, 8, ratio=(0, 1)), "ratio"),
    (lambda: A.OneOf([], p=1.0), "transforms"),
    (lambda: Compose([A.Rotate(3)], interpolation="cubic-ish"), "interpolation"),
    (lambda: Compose([A.Rotate(3)], min_visibility=2.0), "min_visibility"),
])
def test_bad_configs(make, field):
    with pytest.raises(ConfigError) as e:
        make()
    assert e.value.field == field


def _doc(transforms, **pipe):
    return {"version": 1, "pipeline": {"seed": 0, "transforms": transforms, **pipe}}


def test_yaml_unknown_key_names_key_and_allowed():
    with pytest.raises(ConfigError, match="'angle'") as e:
        A.from_dict(_doc([{"name": "rotate", "angle": 3}]))
    assert "degrees" in str(e.value) and e.value.field == "pipeline.transforms[0].angle"
    with pytest.raises(ConfigError, match="'sed'") as e:
        A.from_dict({"version": 1, "pipeline": {"sed": 0, "transforms": []}})
    assert "seed" in str(e.value)
    with pytest.raises(ConfigError, match="'extra'"):
        A.from_dict({"version": 1, "pipeline": {"transforms": []}, "extra": 1})
    with pytest.raises(ConfigError, match="'q'") as e:
        A.from_dict(_doc([{"name": "one-of", "q": 1, "transforms": []}]))


def test_yaml_other_errors():
    with pytest.raises(ConfigError, match="version"):
        A.from_dict({"pipeline": {"transforms": []}})
    with pytest.raises(ConfigError, match="unknown name 'rotat'") as e:
        A.from_dict(_doc([{"name": "rotate"}, {"name": "rotat"}]))
    assert e.value.field == "pipeline.transforms[1].name"
    with pytest.raises(ConfigError) as e:
        A.from_dict(_doc([{"name": "random-crop", "height": -3}]))
    assert e.value.field == "pipeline.transforms[0].height"
    with pytest.raises(ConfigError) as e:
        A.from_dict(_doc([{"name": "rotate", "degrees": "lots"}]))
    assert e.value.field == "pipeline.transforms[0].degrees"
    with pytest.raises(ConfigError, match="missing 'name'"):
        A.from_dict(_doc([{"p": 1.0}]))


def test_load_bad_file(tmp_path):
    p = tmp_path / "p.yaml"
    p.write_text("pipeline: {transforms: []}\n")
    with pytest.raises(ConfigError, match="version") as e:
        A.load(p)
    assert str(p) in str(e.value)
    with pytest.raises(ConfigError, match="cannot read"):
        A.load(tmp_path / "missing.yaml")
