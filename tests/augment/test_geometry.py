"""Geometry against OpenCV and against the content it moves (DESIGN §3 coordinate convention)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from traingen.augment import (
    CenterCrop,
    Compose,
    HorizontalFlip,
    RandomCrop,
    RandomResizedCrop,
    Resize,
    Rotate,
    Scale,
    Translate,
    VerticalFlip,
    fuse,
    to_opencv,
    warp_image,
)
from traingen.core.seeding import Rng


def _cv_full(m23: np.ndarray) -> np.ndarray:
    return np.vstack([m23, [0.0, 0.0, 1.0]])


def _photo(h: int, w: int, c: int = 3, seed: int = 0) -> np.ndarray:
    """Smooth structured content (bilinear differences stay small where matrices differ by ulps)."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    chans = [127 + 120 * np.sin(x / (5 + k) + y / (7 + 2 * k) + seed) for k in range(c)]
    return np.clip(np.stack(chans, -1), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("angle", [-37.5, -5.0, 12.0, 90.0, 171.0])
@pytest.mark.parametrize("hw", [(40, 40), (33, 50)])
def test_rotate_matches_opencv_rotation_matrix(angle, hw):
    h, w = hw
    img = _photo(h, w)
    out = Compose([Rotate((angle, angle))])(image=img, seed=1)["image"]
    # Independent: OpenCV's own rotation about the centre in its integer-centre convention.
    ref_m = cv2.getRotationMatrix2D(((w - 1) / 2.0, (h - 1) / 2.0), angle, 1.0)
    ref = cv2.warpAffine(img, ref_m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    diff = np.abs(out.astype(int) - ref.astype(int))
    assert diff.max() <= 1 and diff.mean() < 0.02


@pytest.mark.parametrize("s", [0.7, 1.0 + 1 / 3, 1.9])
def test_scale_matches_opencv(s):
    img = _photo(31, 44)
    out = Compose([Scale(s, s)])(image=img, seed=0)["image"]
    ref_m = cv2.getRotationMatrix2D((43 / 2.0, 30 / 2.0), 0.0, s)
    ref = cv2.warpAffine(img, ref_m, (44, 31), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    diff = np.abs(out.astype(int) - ref.astype(int))
    assert diff.max() <= 1 and diff.mean() < 0.02


@pytest.mark.parametrize("seed", range(6))
def test_fused_chain_equals_independently_built_opencv_matrix(seed):
    """fuse() of rotate -> scale -> translate -> crop vs the product of OpenCV-convention matrices built
    from the drawn params with cv2.getRotationMatrix2D (centres at (W-1)/2)."""
    h, w = 48, 56
    ts = [Rotate(40), Scale(0.7, 1.3), Translate((0.2, 0.1)), RandomCrop(32, 40)]
    log: list = []
    m, out_hw = fuse(ts, Rng(seed), h, w, params_out=log)
    assert out_hw == (32, 40)
    rot, sc, tr, cr = log
    ref = _cv_full(cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), rot["angle"], 1.0))
    ref = _cv_full(cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), 0.0, sc["factor"])) @ ref
    ref = np.array([[1, 0, tr["dx"]], [0, 1, tr["dy"]], [0, 0, 1]]) @ ref
    ref = np.array([[1, 0, -cr["x0"]], [0, 1, -cr["y0"]], [0, 0, 1]]) @ ref
    np.testing.assert_allclose(to_opencv(m), ref[:2], atol=1e-9)
    img = _photo(h, w, seed=seed)
    out = warp_image(img, m, out_hw)
    expect = cv2.warpAffine(img, ref[:2], (40, 32), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    assert np.abs(out.astype(int) - expect.astype(int)).max() <= 1


def test_warp_image_matches_remap_of_explicit_pixel_centres():
    """Map every output pixel centre (j + 0.5, i + 0.5) back through M^-1 by hand and sample with
    cv2.remap at (x - 0.5, y - 0.5): an independent path to the same pixels."""
    rng = np.random.default_rng(3)
    img = _photo(37, 45, c=3).astype(np.float32) / 255
    for _ in range(5):
        a = rng.normal(size=(2, 2)) * 0.3 + np.eye(2)
        m = np.eye(3)
        m[:2, :2] = a
        m[:2, 2] = rng.uniform(-8, 8, 2)
        out = warp_image(img, m, (30, 41))
        inv = np.linalg.inv(m)
        yy, xx = np.mgrid[0:30, 0:41]
        pts = np.stack([xx + 0.5, yy + 0.5, np.ones_like(xx)], -1) @ inv.T
        mapx = (pts[..., 0] - 0.5).astype(np.float32)
        mapy = (pts[..., 1] - 0.5).astype(np.float32)
        ref = cv2.remap(img, mapx, mapy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        assert np.abs(out - ref).max() < 2e-2  # both quantise coordinates to 1/32 pixel


def test_flip_convention_boxes_and_keypoints():
    img = np.zeros((100, 256, 3), np.uint8)
    out = Compose([HorizontalFlip(p=1.0)])(image=img, boxes=[[10, 20, 60, 80]], box_labels=[1],
                                             keypoints=[[10, 20]])
    np.testing.assert_array_equal(out["boxes"], [[196, 20, 246, 80]])
    np.testing.assert_array_equal(out["keypoints"], [[246, 20]])
    out = Compose([VerticalFlip(p=1.0)])(image=img, boxes=[[10, 20, 60, 80]], box_labels=[1],
                                           keypoints=[[10, 20]])
    np.testing.assert_array_equal(out["boxes"], [[10, 20, 60, 80]])
    np.testing.assert_array_equal(out["keypoints"], [[10, 80]])


@pytest.mark.parametrize("shape", [(17, 23), (17, 23, 1), (17, 23, 3), (17, 23, 7)])
def test_two_flips_are_identity_bytes(shape):
    img = np.random.default_rng(0).integers(0, 256, shape).astype(np.uint8)
    mask = np.random.default_rng(1).integers(0, 5, shape[:2]).astype(np.int64)
    for t in (HorizontalFlip(p=1.0), VerticalFlip(p=1.0)):
        out = Compose([t, t])(image=img, mask=mask)
        assert out["image"].tobytes() == img.tobytes() and out["mask"].tobytes() == mask.tobytes()
    out = Compose([HorizontalFlip(p=1.0)])(image=img)["image"]
    assert out.tobytes() == np.ascontiguousarray(img[:, ::-1]).tobytes()


def _blob(h: int, w: int, cx: float, cy: float, sigma: float = 2.0) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w] + 0.5
    return np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * sigma**2)).astype(np.float32)


def _centroid(img: np.ndarray) -> tuple[float, float]:
    y, x = np.mgrid[0 : img.shape[0], 0 : img.shape[1]] + 0.5
    s = img.sum()
    return float((x * img).sum() / s), float((y * img).sum() / s)


CHAINS = {
    "rotate": [Rotate(45)],
    "scale": [Scale(0.6, 1.5)],
    "translate": [Translate(0.2)],
    "random-crop": [RandomCrop(40, 44)],
    "center-crop": [CenterCrop(41, 37)],
    "flip": [HorizontalFlip(p=1.0), VerticalFlip(p=0.5)],
    "resize": [Resize(31, 70)],
    "random-resized-crop": [RandomResizedCrop(50, 40, scale=(0.5, 1.0))],
    "chain": [HorizontalFlip(), Rotate(30), Scale(0.8, 1.2), Translate(0.1), RandomCrop(44, 48)],
}


@pytest.mark.parametrize("name", list(CHAINS))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_keypoint_follows_the_content(name, seed):
    h, w = 56, 64
    cx, cy = 30.5, 25.5  # the centre of pixel (30, 25)
    img = _blob(h, w, cx, cy)
    img[25, 30] += 1.0  # a bright pixel on top of a smooth blob
    out = Compose(CHAINS[name])(image=img, keypoints=[[cx, cy]], seed=seed)
    kx, ky = out["keypoints"][0]
    assert out["keypoint_visible"][0]
    moved = out["image"]
    # The intensity centroid is an affine-covariant point: it lands where the keypoint went.
    gx, gy = _centroid(moved)
    assert abs(gx - kx) < 0.3 and abs(gy - ky) < 0.3, (gx, gy, kx, ky)
    if name in ("flip", "random-crop", "center-crop", "translate", "rotate"):
        r, c = np.unravel_index(np.argmax(moved), moved.shape)
        assert (c, r) == (int(np.floor(kx)), int(np.floor(ky)))


@pytest.mark.parametrize("ts", [
    [HorizontalFlip(p=1.0)], [VerticalFlip(p=1.0)], [RandomCrop(30, 34)], [CenterCrop(29, 33)],
    [Rotate((90, 90))], [Rotate((-90, -90))], [Translate(0.25)], [HorizontalFlip(p=1.0), RandomCrop(36, 30)],
])
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_box_of_mask_rectangle_stays_box_of_rectangle(ts, seed):
    h = w = 40
    mask = np.zeros((h, w), np.uint8)
    mask[8:21, 12:31] = 3  # box (12, 8, 31, 21) in continuous coordinates
    img = np.zeros((h, w, 3), np.uint8)
    out = Compose(ts)(image=img, mask=mask, boxes=[[12, 8, 31, 21]], box_labels=[3], seed=seed)
    ys, xs = np.nonzero(out["mask"] == 3)
    oh, ow = out["mask"].shape
    assert len(xs) > 0
    expect = [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
    tol = 0.51 if isinstance(ts[0], Translate) else 1e-4  # a fractional shift rounds the mask by < 1/2 px
    np.testing.assert_allclose(out["boxes"][0], expect, atol=tol)


def test_boxes_leaving_the_canvas_are_clipped_or_dropped_with_labels():
    img = np.zeros((40, 40), np.uint8)
    boxes = [[0, 0, 10, 10], [15, 15, 25, 25], [2, 15, 12, 25], [36, 0, 40, 4]]
    labels = [7, 8, 9, 10]
    # CenterCrop 20x20 keeps [10, 30): box 0 leaves, box 1 stays whole, box 2 is 20% visible,
    # box 3 is outside.
    out = Compose([CenterCrop(20, 20)])(image=img, boxes=boxes, box_labels=labels)
    np.testing.assert_array_equal(out["boxes"], [[5, 5, 15, 15], [0, 5, 2, 15]])
    np.testing.assert_array_equal(out["box_labels"], [8, 9])
    out = Compose([CenterCrop(20, 20)], min_visibility=0.3)(image=img, boxes=boxes, box_labels=labels)
    np.testing.assert_array_equal(out["boxes"], [[5, 5, 15, 15]])
    np.testing.assert_array_equal(out["box_labels"], [8])


def test_rotated_box_is_box_of_rotated_corners():
    img = np.zeros((60, 60), np.uint8)
    out = Compose([Rotate((45, 45))])(image=img, boxes=[[20, 20, 40, 40]], box_labels=[0])
    half = 10 * np.sqrt(2)
    np.testing.assert_allclose(out["boxes"][0], [30 - half, 30 - half, 30 + half, 30 + half], atol=1e-4)


def test_keypoints_outside_keep_slot_and_turn_invisible():
    img = np.zeros((20, 20), np.uint8)
    kps = [[1, 1], [10, 10], [19.5, 3]]
    out = Compose([CenterCrop(10, 10)])(image=img, keypoints=kps)
    assert out["keypoints"].shape == (3, 2)
    np.testing.assert_array_equal(out["keypoint_visible"], [False, True, False])
    np.testing.assert_allclose(out["keypoints"][1], [5, 5])


def test_pad_if_needed_crop_centres_the_image():
    img = np.full((10, 12), 200, np.uint8)
    out = Compose([RandomCrop(14, 12, pad_if_needed=True)], fill=7)(image=img, keypoints=[[0.5, 0.5]])
    assert out["image"].shape == (14, 12)
    assert (out["image"][:2] == 7).all() and (out["image"][2:12] == 200).all() and (out["image"][12:] == 7).all()
    np.testing.assert_allclose(out["keypoints"][0], [0.5, 2.5])


def test_instance_ids_follow_dropped_boxes():
    img = np.zeros((20, 20), np.uint8)
    inst = np.zeros((20, 20), np.int32)
    inst[0:4, 0:4] = 1
    inst[8:12, 8:12] = 2
    out = Compose([CenterCrop(10, 10)])(image=img, instance_mask=inst, boxes=[[0, 0, 4, 4], [8, 8, 12, 12]],
                                          box_labels=[5, 6])
    np.testing.assert_array_equal(out["box_labels"], [6])
    assert set(np.unique(out["instance_mask"])) == {0, 1}
    ys, xs = np.nonzero(out["instance_mask"] == 1)
    np.testing.assert_array_equal([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], out["boxes"][0])


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.uint16, np.int8, bool])
def test_mask_dtypes_survive_nearest_warp(dtype):
    rng = np.random.default_rng(0)
    vals = [0, 1] if dtype is bool else ([0, 3, 70000, 2**40] if dtype == np.int64 else [0, 3, 100])
    mask = rng.choice(vals, size=(25, 30)).astype(dtype)
    out = Compose([Rotate(25)], mask_fill=0)(image=np.zeros((25, 30), np.float32), mask=mask, seed=4)["mask"]
    assert out.dtype == mask.dtype and out.shape == mask.shape
    assert set(np.unique(out)) <= set(np.unique(mask))


@pytest.mark.parametrize("ts,out_hw", [([Resize(31, 70)], (31, 70)), ([Resize(90, 20)], (90, 20)),
                                       ([CenterCrop(30, 40), Resize(45, 60)], (45, 60))])
def test_resize_path_matches_warp_affine_of_the_scaling(ts, out_hw):
    """The cv2.resize fast path equals warpAffine of the scaling built here by hand from pixel
    centres: x_out + 0.5 = s (x_in + 0.5) in OpenCV's integer-centre coordinates."""
    img = _photo(48, 56)
    out = Compose(ts)(image=img)["image"]
    oh, ow = out_hw
    x0, y0, cw, ch = (8, 9, 40, 30) if len(ts) == 2 else (0, 0, 56, 48)
    sx, sy = ow / cw, oh / ch
    ref_m = np.array([[sx, 0, sx * (0.5 - x0) - 0.5], [0, sy, sy * (0.5 - y0) - 0.5]])
    ref = cv2.warpAffine(img, ref_m, (ow, oh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    diff = np.abs(out.astype(int) - ref.astype(int))
    # Both quantise: warpAffine the coordinates to 1/32 px, resize the weights to 1/2048.
    assert diff[1:-1, 1:-1].max() <= 1 and diff[1:-1, 1:-1].mean() < 0.2
    if len(ts) == 1:
        assert diff.max() <= 1  # edges replicate in both; a window's edge samples the window only
