"""Contract tests looping over the whole `augment` registry (DESIGN §2.8)."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

import traingen.augment as A
from traingen.augment import TRANSFORMS, Compose, OneOf

H, W = 24, 32

#: One configured instance per registry name, sized for the small test images. A new transform
#: that is not listed here fails `test_every_registered_transform_is_covered`.
FACTORIES = {
    "horizontal-flip": lambda: A.HorizontalFlip(p=1.0),
    "vertical-flip": lambda: A.VerticalFlip(p=1.0),
    "rotate": lambda: A.Rotate(30),
    "scale": lambda: A.Scale(0.8, 1.2),
    "translate": lambda: A.Translate((0.1, 0.2)),
    "random-crop": lambda: A.RandomCrop(16, 20),
    "center-crop": lambda: A.CenterCrop(16, 20),
    "random-resized-crop": lambda: A.RandomResizedCrop(12, 14),
    "resize": lambda: A.Resize(20, 18),
    "gaussian-noise": lambda: A.GaussianNoise(0.05),
    "cutout": lambda: A.Cutout(holes=2, size=6, mask_fill=0, hide_keypoints=True),
    "elastic": lambda: A.Elastic(alpha=8.0, sigma=3.0),
    "one-of": lambda: OneOf([A.Rotate(20), A.GaussianNoise(0.1)], p=1.0),
}
NAMES = sorted(FACTORIES)
LAYOUTS = [(), (1,), (3,), (4,), (7,)]


def test_every_registered_transform_is_covered():
    assert set(TRANSFORMS.names()) == set(FACTORIES)


def _targets(layout, dtype, seed=0):
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, (H, W, *layout)).astype(np.uint8)
    if dtype == np.float32:
        img = img.astype(np.float32) / 255
    mask = rng.integers(0, 4, (H, W)).astype(np.int32)
    return {
        "image": img,
        "mask": mask,
        "boxes": np.array([[2, 3, 12, 15], [10, 4, 30, 22], [0, 0, 3, 3]], np.float32),
        "box_labels": np.array([1, 2, 3]),
        "keypoints": np.array([[5.5, 6.5], [20, 10], [31, 23]], np.float32),
        "label": 4,
    }


def _check_consistent(out, t, layout, dtype):
    img = out["image"]
    assert img.dtype == dtype
    assert img.ndim == 2 + len(layout)
    if layout:
        assert img.shape[2] == layout[0]
    assert out["mask"].shape == img.shape[:2] and out["mask"].dtype == np.int32
    assert len(out["boxes"]) == len(out["box_labels"])
    assert out["boxes"].dtype == np.float32 and out["boxes"].shape[1:] == (4,)
    oh, ow = img.shape[:2]
    assert (out["boxes"][:, [0, 2]] >= 0).all() and (out["boxes"][:, [0, 2]] <= ow).all()
    assert (out["boxes"][:, [1, 3]] >= 0).all() and (out["boxes"][:, [1, 3]] <= oh).all()
    assert out["keypoints"].shape == (3, 2) and out["keypoint_visible"].shape == (3,)
    assert out["label"] == 4
    if dtype == np.float32:
        assert img.min() >= 0 and img.max() <= 1


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("layout", LAYOUTS, ids=["HxW", "HxWx1", "HxWx3", "HxWx4", "HxWx7"])
@pytest.mark.parametrize("dtype", [np.uint8, np.float32], ids=["uint8", "float32"])
def test_contract(name, layout, dtype):
    t = FACTORIES[name]()
    pipe = Compose([t], seed=3)
    data = _targets(layout, dtype)
    out = pipe(**data, seed=11)
    _check_consistent(out, t, layout, dtype)
    # Seeded determinism: same seed, same bytes; the inputs are not modified.
    again = pipe(**_targets(layout, dtype), seed=11)
    for k in out:
        assert np.asarray(out[k]).tobytes() == np.asarray(again[k]).tobytes(), k
    assert data["image"].tobytes() == _targets(layout, dtype)["image"].tobytes()
    # YAML round trip gives the same output.
    loaded = A.from_dict(yaml.safe_load(pipe.to_yaml()))
    assert loaded.to_dict() == pipe.to_dict()
    back = loaded(**_targets(layout, dtype), seed=11)
    for k in out:
        assert np.asarray(out[k]).tobytes() == np.asarray(back[k]).tobytes(), k


@pytest.mark.parametrize("name", NAMES)
def test_different_seeds_differ_and_changes_something(name):
    t = FACTORIES[name]()
    data = _targets((3,), np.uint8)
    outs = [Compose([t])(**data, seed=s)["image"] for s in range(4)]
    if name not in ("horizontal-flip", "vertical-flip", "center-crop", "resize"):
        assert len({o.tobytes() for o in outs}) > 1
    assert any(o.shape != data["image"].shape or o.tobytes() != data["image"].tobytes() for o in outs)


@pytest.mark.parametrize("name", [n for n in NAMES if n != "one-of"])
def test_p_zero_is_identity(name):
    t = FACTORIES[name]()
    t.p = 0.0
    data = _targets((3,), np.uint8)
    out = Compose([t])(**data, seed=5)
    assert out["image"].tobytes() == data["image"].tobytes()
    np.testing.assert_array_equal(out["boxes"], data["boxes"])


@pytest.mark.parametrize("name", [n for n in NAMES if A.is_geometric(FACTORIES[n]())])
def test_geometry_contract(name):
    """geometry(rng, h, w) returns a 3x3 float64 matrix and the canvas, and agrees with Compose."""
    from traingen.core.seeding import Rng

    t = FACTORIES[name]()
    m, (oh, ow) = t.geometry(Rng(9), H, W)
    assert m.shape == (3, 3) and m.dtype == np.float64 and np.allclose(m[2], [0, 0, 1])
    img = _targets((3,), np.float32)["image"]
    out = Compose([t])(image=img, seed=9)["image"]
    assert out.shape[:2] == (oh, ow)
    np.testing.assert_allclose(out, A.warp_image(img, m, (oh, ow)), atol=1e-6)
