"""Writers checked by the reference readers: pycocotools for COCO, webdataset for tars, our readers back."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from traingen.core import Sample
from traingen.core.errors import TargetError
from traingen.data import open_source, open_writer, plan_shards
from traingen.data.coco import boxes_from_instances

CLASSES = ["cat", "dog", "bird"]


def make_sample(i: int, h: int = 24, w: int = 32, grey: bool = False) -> Sample:
    """An image with two objects: a rectangle and a disc, their instance map, boxes and labels."""
    rng = np.random.default_rng(i)
    image = rng.integers(0, 256, (h, w) if grey else (h, w, 3), dtype=np.uint8)
    inst = np.zeros((h, w), np.int32)
    inst[2 + i % 3: 10, 3: 12 + i % 5] = 1
    yy, xx = np.mgrid[0:h, 0:w]
    inst[(yy - 16) ** 2 + (xx - 22) ** 2 <= 25] = 2
    boxes = boxes_from_instances(inst)
    return Sample(image=image, instance_mask=inst, boxes=boxes, box_labels=np.array([i % 3, (i + 1) % 3]),
                  label=i % 3, meta={"source": "synthetic", "key": f"s{i}", "seed": 7, "technique": "test",
                                     "params": {"i": i, "scale": np.float32(0.5)}})


def write_all(fmt, out, samples, shard_size=3, **kw):
    w = open_writer(fmt, out, classes=CLASSES, config={"n": len(samples)}, seed=7, **kw)
    shards = plan_shards(len(samples), shard_size)
    for sh in shards:
        w.write_shard(sh, [samples[i] for i in sh.indices])
    return w.finalize({"workers": 1}, shards=shards)


@pytest.fixture(scope="module")
def samples():
    return [make_sample(i) for i in range(7)]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # pycocotools' own numpy 2 warning
def test_coco_read_back_with_pycocotools(tmp_path, samples):
    from pycocotools.coco import COCO

    write_all("coco", tmp_path / "c", samples)
    coco = COCO(str(tmp_path / "c" / "annotations.json"))
    assert sorted(coco.getImgIds()) == list(range(7))
    assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == CLASSES
    for i, s in enumerate(samples):
        img = coco.loadImgs(i)[0]
        assert img["file_name"] == f"{i:08d}.png" and (img["height"], img["width"]) == (24, 32)
        pixels = np.asarray(Image.open(tmp_path / "c" / "images" / img["file_name"]))
        assert np.array_equal(pixels, s.image)
        anns = coco.loadAnns(sorted(coco.getAnnIds(imgIds=i)))
        assert len(anns) == 2
        for k, ann in enumerate(anns):
            assert np.array_equal(coco.annToMask(ann), (s.instance_mask == k + 1).astype(np.uint8))
            x0, y0, x1, y1 = s.boxes[k]
            assert ann["bbox"] == pytest.approx([x0, y0, x1 - x0, y1 - y0])
            assert ann["category_id"] - 1 == s.box_labels[k]
            assert ann["area"] == (s.instance_mask == k + 1).sum()
    ids = [a["id"] for a in coco.dataset["annotations"]]
    assert ids == list(range(1, 15))


def test_coco_read_back_with_our_reader(tmp_path, samples):
    write_all("coco", tmp_path / "c", samples)
    src = open_source(tmp_path / "c")
    assert src.classes == CLASSES and len(src) == 7
    for s, r in zip(samples, src, strict=True):
        assert np.array_equal(r.image, s.image) and r.label == s.label
        assert np.allclose(r.boxes, s.boxes) and r.box_labels.tolist() == s.box_labels.tolist()
        assert np.array_equal(r.instance_mask, s.instance_mask)


def test_webdataset_read_back_with_webdataset(tmp_path, samples):
    import webdataset as wds

    write_all("webdataset", tmp_path / "w", samples)
    tars = sorted(str(p) for p in (tmp_path / "w").glob("shard-*.tar"))
    assert [p.rsplit("/", 1)[1] for p in tars] == ["shard-000000.tar", "shard-000001.tar", "shard-000002.tar"]
    ds = wds.WebDataset(tars, shardshuffle=False, empty_check=False).decode("rgb8")
    got = list(ds)
    assert [g["__key__"] for g in got] == [f"{i:08d}" for i in range(7)]
    for g, s in zip(got, samples, strict=True):
        assert np.array_equal(g["png"], s.image)
        assert int(g["cls"]) == s.label
        assert np.allclose(g["json"]["boxes"], s.boxes)
        assert g["json"]["params"] == {"i": int(g["__key__"]), "scale": 0.5}
    raw = next(iter(wds.WebDataset(tars[:1], shardshuffle=False, empty_check=False)))
    inst = np.asarray(Image.open(io.BytesIO(raw["instances.png"])))
    assert np.array_equal(inst, samples[0].instance_mask)


def test_webdataset_read_back_with_our_reader(tmp_path, samples):
    write_all("webdataset", tmp_path / "w", samples)
    for spec in (str(tmp_path / "w" / "shard-{000000..000002}.tar"), str(tmp_path / "w" / "shard-*.tar"),
                 str(tmp_path / "w")):
        src = open_source(spec)
        assert len(src) == 7 and src.classes == CLASSES
        for s, r in zip(samples, src, strict=True):
            assert np.array_equal(r.image, s.image) and r.label == s.label
            assert np.array_equal(r.instance_mask, s.instance_mask)
            assert np.allclose(r.boxes, s.boxes)


def test_same_input_gives_identical_bytes(tmp_path, samples):
    for fmt in ("webdataset", "coco", "imagefolder"):
        a = write_all(fmt, tmp_path / f"{fmt}-a", samples)
        b = write_all(fmt, tmp_path / f"{fmt}-b", samples)
        assert a.read_bytes() == b.read_bytes()
        files_a = sorted(p.relative_to(tmp_path / f"{fmt}-a") for p in (tmp_path / f"{fmt}-a").rglob("*")
                         if p.is_file() and ".traingen" not in p.parts)
        for rel in files_a:
            assert (tmp_path / f"{fmt}-a" / rel).read_bytes() == (tmp_path / f"{fmt}-b" / rel).read_bytes(), rel
    manifest = json.loads(a.read_text())
    assert "time" not in json.dumps(manifest) and "workers" not in json.dumps(manifest)
    assert json.loads((tmp_path / "imagefolder-a" / "run.json").read_text()) == {"workers": 1}


def test_imagefolder_layout_and_metadata_rows(tmp_path, samples):
    extra = [Sample(image=make_sample(7).image, label=np.array([0.2, 0.7, 0.1], np.float32)),
             Sample(image=make_sample(8, grey=True).image)]
    write_all("imagefolder", tmp_path / "f", samples + extra)
    rows = [json.loads(line) for line in (tmp_path / "f" / "metadata.jsonl").read_text().splitlines()]
    assert [r["key"] for r in rows] == [f"{i:08d}" for i in range(9)]
    r0 = rows[0]
    assert r0["path"] == "cat/00000000.png" and r0["label"] == 0
    assert np.allclose(r0["boxes"], samples[0].boxes) and r0["box_labels"] == [0, 1]
    assert (r0["source"], r0["source_key"], r0["seed"], r0["technique"]) == ("synthetic", "s0", 7, "test")
    assert r0["params"] == {"i": 0, "scale": 0.5}
    assert rows[7]["path"] == "dog/00000007.png" and rows[7]["label"] == pytest.approx([0.2, 0.7, 0.1])
    assert rows[8]["path"] == "00000008.png" and rows[8]["label"] is None
    assert not (tmp_path / "f" / ".parts").exists()
    src = open_source(tmp_path / "f")
    assert len(src) == 9 and src.classes == CLASSES
    for s, r in zip(samples + extra, src, strict=True):
        assert np.array_equal(r.image, s.image)
        if isinstance(s.label, np.ndarray):
            assert np.allclose(r.label, s.label)
        else:
            assert r.label == s.label
    assert np.allclose(src[3].boxes, samples[3].boxes)


def test_images_png_cannot_hold_are_npy(tmp_path):
    f = np.random.default_rng(0).random((6, 5, 3)).astype(np.float32)
    six = np.random.default_rng(1).integers(0, 256, (6, 5, 6), dtype=np.uint8)
    out = tmp_path / "n"
    w = open_writer("imagefolder", out, classes=CLASSES)
    w.write_shard(plan_shards(2, 2)[0], [Sample(image=f, label=0), Sample(image=six, label=1)])
    w.finalize()
    assert np.array_equal(np.load(out / "cat" / "00000000.npy"), f)
    src = open_source(out)
    assert np.array_equal(src[1].image, six)


def test_bad_targets_are_refused(tmp_path):
    w = open_writer("coco", tmp_path / "x", classes=CLASSES)
    s = make_sample(0)
    with pytest.raises(TargetError, match="label 5"):
        w.write_shard(plan_shards(1, 1)[0], [s.replace(label=5)])
    with pytest.raises(TargetError, match="box_labels"):
        w.write_shard(plan_shards(1, 1)[0], [s.replace(box_labels=np.array([0]))])
    with pytest.raises(TargetError, match="instance_mask"):
        w.write_shard(plan_shards(1, 1)[0], [s.replace(instance_mask=np.zeros((3, 3), np.int32))])
    assert not w.is_done(0)
