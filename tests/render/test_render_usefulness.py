"""The usefulness demo's pure parts (bench/render_usefulness.py): boundary targets, instance decoding, COCO scoring.

References are independent of the script: scipy's grey morphology for the boundary pixels, hand-drawn masks
for the decoding, pycocotools for the AP of a perfect prediction (100) and of a wrong one (0).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "render_usefulness.py"


@pytest.fixture(scope="module")
def ru():
    spec = importlib.util.spec_from_file_location("render_usefulness_bench", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def two_cars(touching: bool) -> tuple[np.ndarray, np.ndarray]:
    """One 32×32 image: two rectangles of class 1 (instances 1 and 2), touching or 3 px apart."""
    inst = np.zeros((1, 32, 32), np.int32)
    inst[0, 4:20, 3:13] = 1
    x0 = 13 if touching else 16
    inst[0, 6:26, x0:x0 + 9] = 2
    return (inst > 0).astype(np.int64), inst


def test_with_boundaries_matches_scipy_morphology(ru):
    from scipy import ndimage

    rng = np.random.default_rng(0)
    inst = rng.integers(0, 4, (2, 20, 24)).astype(np.int32)
    inst = ndimage.median_filter(inst, size=(1, 3, 3))  # blobs, not noise
    masks = np.where(inst > 0, 1 + inst % 2, 0).astype(np.int64)
    out = ru.with_boundaries(masks, inst, boundary=3)
    cross = np.zeros((1, 3, 3), bool)
    cross[0, 1, :] = cross[0, :, 1] = True
    hi = ndimage.grey_dilation(inst, footprint=cross, mode="nearest")
    lo = ndimage.grey_erosion(inst, footprint=cross, mode="nearest")
    edge = ((hi != inst) | (lo != inst)) & (inst > 0)
    assert edge.any() and (~edge & (inst > 0)).any()
    np.testing.assert_array_equal(out, np.where(edge, 3, masks))


@pytest.mark.parametrize("touching", [True, False])
def test_instances_split_touching_objects_along_the_boundary_class(ru, touching):
    masks, inst = two_cars(touching)
    target = ru.with_boundaries(masks, inst, boundary=2)[0]
    prob = np.eye(3, dtype=np.float32)[target].transpose(2, 0, 1)
    found = ru.instances(prob, boundary=True, min_area=4)
    assert len(found) == 2
    got = sorted((m.sum(), c) for c, m, _ in found)
    want = sorted(((inst[0] == k).sum(), 1) for k in (1, 2))
    if touching:  # the shared 2-px line goes back to one side or the other: each object within a line of pixels
        assert sum(n for n, _ in got) == sum(n for n, _ in want)
        assert all(abs(g - w) <= 20 for (g, _), (w, _) in zip(got, want, strict=True))
    else:  # separate objects are recovered exactly
        masks_found = sorted((m.astype(np.uint8).tobytes() for _, m, _ in found))
        assert masks_found == sorted((inst[0] == k).astype(np.uint8).tobytes() for k in (1, 2))
    plain = ru.instances(np.eye(2, dtype=np.float32)[masks[0]].transpose(2, 0, 1), boundary=False)
    assert len(plain) == (1 if touching else 2)  # without the boundary class touching objects merge


def write_doc(folder: Path, inst: np.ndarray) -> dict:
    from pycocotools import mask as mask_utils

    anns = []
    for k in range(1, int(inst.max()) + 1):
        m = np.asfortranarray((inst[0] == k).astype(np.uint8))
        rle = mask_utils.encode(m)
        ys, xs = np.nonzero(m)
        anns.append({"id": k, "image_id": 1, "category_id": 1, "iscrowd": 0, "area": float(m.sum()),
                     "bbox": [float(xs.min()), float(ys.min()), float(np.ptp(xs) + 1), float(np.ptp(ys) + 1)],
                     "segmentation": {"size": list(rle["size"]), "counts": rle["counts"].decode()},
                     "occlusion": 0.6 if k == 2 else 0.0})
    doc = {"images": [{"id": 1, "file_name": "a.png", "width": 32, "height": 32}], "annotations": anns,
           "categories": [{"id": 1, "name": "car"}]}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "annotations.json").write_text(json.dumps(doc))
    return doc


def test_evaluate_perfect_and_wrong_predictions_with_cocoeval(ru, tmp_path):
    masks, inst = two_cars(touching=False)
    write_doc(tmp_path, inst)
    images = np.zeros((1, 32, 32, 3), np.uint8)
    target = ru.with_boundaries(masks, inst, boundary=2)
    perfect = np.eye(3, dtype=np.float32)[target].transpose(0, 3, 1, 2)
    res = ru.evaluate(None, tmp_path, images, masks, boundary=True, probs=perfect)
    assert res["segm_AP"] == pytest.approx(100.0) and res["bbox_AP"] == pytest.approx(100.0)
    assert res["IoU"] == pytest.approx(100.0)
    assert (res["px_precision"], res["px_recall"], res["bg_as_object"]) == pytest.approx((100.0, 100.0, 0.0))
    shifted = np.roll(perfect, 12, axis=2)  # every object 12 px down: IoU with its truth below 0.5
    res = ru.evaluate(None, tmp_path, images, masks, boundary=True, probs=shifted)
    assert res["segm_AP50"] == pytest.approx(0.0) and res["IoU"] < 50
    pred, true = shifted.argmax(1) > 0, masks > 0  # object pixels, counted directly
    want = (100 * (pred & true).sum() / pred.sum(), 100 * (pred & true).sum() / true.sum(),
            100 * (pred & ~true).sum() / (~true).sum())
    assert (res["px_precision"], res["px_recall"], res["bg_as_object"]) == pytest.approx(want)


def test_easy_ignore_marks_small_and_occluded_objects_crowd(ru):
    doc = {"annotations": [{"id": 1, "area": 10.0}, {"id": 2, "area": 100.0, "occlusion": 0.7},
                           {"id": 3, "area": 100.0, "occlusion": 0.2}]}
    assert [a["iscrowd"] for a in ru.easy_ignore(doc)["annotations"]] == [1, 1, 0]
