"""The render job end to end: COCO read back by pycocotools, planes, KITTI, WebDataset, determinism, resume, CLI."""

from __future__ import annotations

import json
import os

os.environ.setdefault("LP_NUM_THREADS", "1")

import numpy as np
import pytest

from traingen.render.job import SceneRenderer, run_render
from traingen.render.scene import scene_from_dict

SMALL = {"version": 1, "width": 64, "height": 48, "objects": {"count": [2, 5], "area": 1.5},
         "distractors": {"count": [0, 4]}, "textures": {"pool": 6, "size": 32},
         "background": {"pool": 3, "size": 32}}


def small_scene(**over):
    d = json.loads(json.dumps(SMALL))
    for k, v in over.items():
        d[k] = {**d.get(k, {}), **v} if isinstance(v, dict) else v
    return scene_from_dict(d)


@pytest.fixture(scope="module")
def coco_out(tmp_path_factory):
    out = tmp_path_factory.mktemp("render") / "coco"
    res = run_render(out, n=10, scene=small_scene(), seed=3, fmt="coco", shard_size=4)
    assert res.total == 10 and res.shards == 3
    return out


def test_coco_reads_back_with_pycocotools(coco_out):
    import cv2
    from pycocotools.coco import COCO

    coco = COCO(str(coco_out / "annotations.json"))
    assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == ["car", "chair", "mug"]
    assert len(coco.getImgIds()) == 10
    n_ann = 0
    for img_id in coco.getImgIds():
        info = coco.loadImgs(img_id)[0]
        key = info["file_name"].split(".")[0]
        inst = cv2.imread(str(coco_out / "instances" / f"{key}.png"), cv2.IMREAD_UNCHANGED)
        depth = cv2.imread(str(coco_out / "depth" / f"{key}.png"), cv2.IMREAD_UNCHANGED)
        assert inst.dtype == np.uint16 and depth.dtype == np.uint16 and inst.shape == (48, 64)
        anns = coco.loadAnns(coco.getAnnIds(imgIds=img_id))
        # The instance plane holds exactly the annotated ids 1..N, one per annotation, in order.
        assert set(np.unique(inst).tolist()) - {0} == set(range(1, len(anns) + 1))
        for k, a in enumerate(anns):
            m = coco.annToMask(a).astype(bool)
            assert np.array_equal(m, inst == k + 1)
            ys, xs = np.nonzero(m)
            assert a["bbox"] == [xs.min(), ys.min(), xs.max() + 1 - xs.min(), ys.max() + 1 - ys.min()]
            assert a["area"] == m.sum() == a["visible_px"]
            assert 0.0 <= a["truncation"] <= 1.0 and 0.0 <= a["occlusion"] < 1.0
            assert (depth[m] > 0).all()  # objects have depth in millimetres
            n_ann += 1
        params = info["traingen"]["params"]
        assert len(params["P2"]) == 3 and len(params["P2"][0]) == 4
        assert len(params["annotations"]) == len(anns)
    assert n_ann > 5


def test_same_seed_same_bytes_any_workers(coco_out, tmp_path):
    again = run_render(tmp_path / "w2", n=10, scene=small_scene(), seed=3, fmt="coco", shard_size=4, workers=2)
    a = json.loads((coco_out / "manifest.json").read_text())
    b = json.loads(again.manifest.read_text())
    assert a["shards"] == b["shards"] and a["files"] == b["files"]
    assert (coco_out / "annotations.json").read_bytes() == (tmp_path / "w2" / "annotations.json").read_bytes()
    other = run_render(tmp_path / "s4", n=4, scene=small_scene(), seed=4, fmt="coco", shard_size=4)
    assert json.loads(other.manifest.read_text())["shards"][0]["sha256"] != a["shards"][0]["sha256"]


def test_rerun_skips_finished_shards(coco_out):
    res = run_render(coco_out, n=10, scene=small_scene(), seed=3, fmt="coco", shard_size=4)
    assert res.skipped == 3


def test_renderer_samples_repeat_and_no_leak_of_state():
    r = SceneRenderer(small_scene(), seed=1)
    try:
        a = r.sample(5)
        for i in range(3):
            r.sample(i)
        b = r.sample(5)
    finally:
        r.close()
    assert np.array_equal(a.image, b.image) and np.array_equal(a.instance_mask, b.instance_mask)
    assert np.array_equal(a.boxes, b.boxes) and a.meta["params"] == b.meta["params"]
    # class mask agrees with the instance mask and the labels
    for k, lab in enumerate(a.box_labels):
        assert (a.mask[a.instance_mask == k + 1] == lab + 1).all()
    assert ((a.mask > 0) == (a.instance_mask > 0)).all()


def test_kitti_output(tmp_path):
    from traingen.data.kitti import read_labels

    out = tmp_path / "kitti"
    run_render(out, n=4, scene=small_scene(), seed=2, fmt="kitti", shard_size=2)
    assert (out / "classes.txt").read_text().split() == ["car", "chair", "mug"]
    r = SceneRenderer(small_scene(), seed=2)
    try:
        for i in range(4):
            key = f"{i:08d}"
            lines = (out / "label_2" / f"{key}.txt").read_text().splitlines()
            assert all(len(line.split()) == 15 for line in lines)
            labels = read_labels(out / "label_2" / f"{key}.txt")
            s = r.sample(i)
            assert [lab["type"] for lab in labels] == [["car", "chair", "mug"][c] for c in s.box_labels]
            np.testing.assert_allclose([lab["bbox"] for lab in labels], s.boxes.reshape(-1, 4), atol=0.006)
            calib = {ln.split(":")[0]: np.array(ln.split()[1:], float) for ln in
                     (out / "calib" / f"{key}.txt").read_text().splitlines()}
            P2, Tr = calib["P2"].reshape(3, 4), calib["Tr_velo_to_cam"].reshape(3, 4)
            full = P2 @ np.vstack([Tr, [0, 0, 0, 1]])
            np.testing.assert_allclose(full, np.array(s.meta["params"]["P2"]), rtol=1e-6, atol=1e-4)
            for lab, f in zip(labels, s.meta["params"]["annotations"], strict=True):
                # 3D fields: camera-frame location (cm precision in the file), positive sizes
                np.testing.assert_allclose(lab["location"], f["location"], atol=0.006)
                assert all(d > 0 for d in lab["dimensions"]) and -np.pi <= lab["rotation_y"] <= np.pi
            assert (out / "image_2" / f"{key}.png").is_file() and (out / "depth" / f"{key}.png").is_file()
    finally:
        r.close()


def test_webdataset_output_reads_back(tmp_path):
    from traingen.data import open_source

    out = tmp_path / "wds"
    run_render(out, n=4, scene=small_scene(), seed=0, fmt="webdataset", shard_size=2)
    src = open_source(str(out))
    assert len(src) == 4 and src.classes == ["car", "chair", "mug"]
    s = src[1]
    assert s.image.shape == (48, 64, 3) and s.instance_mask is not None
    # the depth plane: millimetres in <key>.depth.png, back in metres, against the renderer's float depth
    r = SceneRenderer(small_scene(), seed=0)
    try:
        want = r.sample(1).meta["depth"]
    finally:
        r.close()
    got = s.meta["depth"]
    assert got.shape == (48, 64) and got.dtype == np.float32 and (want > 0).any()
    assert np.abs(got - want).max() <= 0.0005 + 1e-6
    assert ((got == 0) == (want < 0.0005)).all()


def test_bad_mesh_in_scene_fails_before_writing(tmp_path):
    from traingen.core.errors import DataError

    (tmp_path / "s.yaml").write_text("version: 1\nobjects:\n  meshes:\n    - {path: nope.obj, class_name: x}\n")
    with pytest.raises(DataError, match="nope.obj"):
        run_render(tmp_path / "out", n=2, scene=tmp_path / "s.yaml")
    assert not (tmp_path / "out").exists()


def test_cli_render(tmp_path):
    from typer.testing import CliRunner

    from traingen.cli.main import app

    scene = tmp_path / "s.yaml"
    import yaml

    scene.write_text(yaml.safe_dump(SMALL))
    res = CliRunner().invoke(app, ["render", str(tmp_path / "o"), "--scene", str(scene), "--n", "3", "--seed", "1",
                                   "--format", "coco", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["images"] == 3
    assert (tmp_path / "o" / "annotations.json").is_file()
    bad = CliRunner().invoke(app, ["render", str(tmp_path / "o2"), "--n", "2", "--format", "voc"])
    assert bad.exit_code != 0
