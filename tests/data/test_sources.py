"""Readers on data traingen did not write: ImageFolder trees, COCO files, WebDataset tars."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from traingen.core.errors import DataError
from traingen.data import open_source
from traingen.data.coco import CocoSource
from traingen.data.imagefolder import ImageFolderSource
from traingen.data.sources import detect_reader
from traingen.data.wds import WebDatasetSource, expand_braces


def _img(seed: int, shape=(10, 12, 3)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "pets"
    for c, name in enumerate(["dog", "cat", "bird"]):
        (root / name / "sub").mkdir(parents=True)
        for k in range(3):
            Image.fromarray(_img(10 * c + k)).save(root / name / f"{k}.png")
        Image.fromarray(_img(99)).save(root / name / "sub" / "deep.png")
    (root / "cat" / "notes.txt").write_text("not an image")
    return root


def test_imagefolder_matches_torchvision(tree):
    from torchvision.datasets import ImageFolder

    ref = ImageFolder(str(tree))
    src = open_source(tree)
    assert isinstance(src, ImageFolderSource)
    assert src.classes == ref.classes == ["bird", "cat", "dog"]
    assert len(src) == len(ref.samples) == 12
    for i, (path, label) in enumerate(ref.samples):
        s = src[i]
        assert s.label == label
        assert np.array_equal(s.image, np.asarray(Image.open(path).convert("RGB")))
        assert str(tree / s.meta["key"]) == path


def test_imagefolder_skips_hidden_and_empty(tree):
    # Unlike torchvision, hidden folders (.ipynb_checkpoints) and empty folders are not classes.
    (tree / "cat" / ".hidden.png").write_bytes(b"junk")
    (tree / ".ipynb_checkpoints").mkdir()
    Image.fromarray(_img(5)).save(tree / ".ipynb_checkpoints" / "x.png")
    (tree / "empty").mkdir()
    src = open_source(tree)
    assert src.classes == ["bird", "cat", "dog"] and len(src) == 12


def test_flat_folder_is_unlabelled(tmp_path):
    for k in range(3):
        Image.fromarray(_img(k, (6, 7))).save(tmp_path / f"{k}.png")
    src = open_source(tmp_path)
    assert src.classes == [] and len(src) == 3
    assert src[2].label is None and np.array_equal(src[2].image, _img(2, (6, 7)))


def test_empty_folder_and_missing_path(tmp_path):
    with pytest.raises(DataError, match="no images"):
        open_source(tmp_path)
    with pytest.raises(DataError, match="no such file"):
        open_source(tmp_path / "nope")


def _coco_doc():
    h, w = 20, 30
    return {
        "images": [{"id": 11, "file_name": "a.png", "height": h, "width": w},
                   {"id": 12, "file_name": "sub/b.png", "height": h, "width": w}],
        "categories": [{"id": 7, "name": "zebra"}, {"id": 3, "name": "ant"}],
        "annotations": [
            {"id": 2, "image_id": 11, "category_id": 7, "bbox": [5, 4, 10, 6], "iscrowd": 0, "area": 60,
             "segmentation": [[5, 4, 15, 4, 15, 10, 5, 10]]},
            {"id": 1, "image_id": 11, "category_id": 3, "bbox": [1, 1, 3, 3], "iscrowd": 0, "area": 9,
             "segmentation": {"size": [h, w], "counts": [h * 1 + 1, 3, h - 3, 3, h - 3, 3, h * w]}},
            {"id": 3, "image_id": 12, "category_id": 3, "bbox": [0, 0, 30, 20], "iscrowd": 0, "area": 600},
        ],
    }


@pytest.fixture
def coco_dir(tmp_path):
    (tmp_path / "sub").mkdir()
    Image.fromarray(_img(1, (20, 30, 3))).save(tmp_path / "a.png")
    Image.fromarray(_img(2, (20, 30))).save(tmp_path / "sub" / "b.png")
    doc = _coco_doc()
    doc["annotations"][1]["segmentation"]["counts"][-1] = 20 * 30 - sum(doc["annotations"][1]["segmentation"]["counts"][:-1])
    (tmp_path / "ann.json").write_text(json.dumps(doc))
    return tmp_path


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # pycocotools' own numpy 2 warning
def test_coco_reader_against_pycocotools(coco_dir):
    from pycocotools.coco import COCO

    ref = COCO(str(coco_dir / "ann.json"))
    src = open_source(coco_dir / "ann.json")
    assert isinstance(src, CocoSource)
    assert src.classes == ["ant", "zebra"]  # sorted by category id: 3 -> 0, 7 -> 1
    s = src[0]
    assert np.array_equal(s.image, _img(1, (20, 30, 3)))
    # annotations in id order: id 1 (ant) then id 2 (zebra)
    assert s.box_labels.tolist() == [0, 1]
    assert np.allclose(s.boxes, [[1, 1, 4, 4], [5, 4, 15, 10]])
    for k, ann_id in enumerate([1, 2]):
        want = ref.annToMask(ref.loadAnns(ann_id)[0]).astype(bool)
        assert want.any()
        assert np.array_equal(s.instance_mask == k + 1, want & ~(s.instance_mask > k + 1))
    t = src[1]
    assert t.image.ndim == 2 and t.instance_mask is None and t.box_labels.tolist() == [0]
    assert np.allclose(t.boxes, [[0, 0, 30, 20]])


@pytest.mark.parametrize("bad", ["../a.png", "/etc/hostname", "sub/../../a.png"])
def test_coco_file_name_escaping_is_refused(coco_dir, bad):
    doc = json.loads((coco_dir / "ann.json").read_text())
    doc["images"][1]["file_name"] = bad
    (coco_dir / "evil.json").write_text(json.dumps(doc))
    with pytest.raises(DataError, match="escapes|outside") as e:
        open_source(coco_dir / "evil.json")
    assert "evil.json" in str(e.value)


def test_coco_malformed(coco_dir):
    (coco_dir / "x.json").write_text("{not json")
    with pytest.raises(DataError, match="invalid JSON"):
        open_source(coco_dir / "x.json")
    doc = _coco_doc()
    doc["annotations"][0]["category_id"] = 99
    (coco_dir / "y.json").write_text(json.dumps(doc))
    with pytest.raises(DataError, match="category_id"):
        open_source(coco_dir / "y.json")
    (coco_dir / "z.json").write_text(json.dumps({"images": {}, "categories": []}))
    with pytest.raises(DataError, match="images"):
        open_source(coco_dir / "z.json")


@pytest.fixture
def foreign_tars(tmp_path):
    """Tars written by webdataset's own TarWriter, with JPEG and PNG members."""
    import webdataset as wds

    for t in range(2):
        with wds.TarWriter(str(tmp_path / f"part-{t:03d}.tar")) as tw:
            for k in range(3):
                i = 3 * t + k
                tw.write({"__key__": f"dir/s{i}", "png": _img(i), "cls": i % 2})
    return tmp_path


def test_webdataset_reader_on_foreign_tars(foreign_tars):
    for spec in (str(foreign_tars / "part-{000..001}.tar"), str(foreign_tars / "part-*.tar"), str(foreign_tars)):
        src = open_source(spec)
        assert isinstance(src, WebDatasetSource) and len(src) == 6
        assert [s.meta["key"] for s in src] == [f"dir/s{i}" for i in range(6)]
        assert all(np.array_equal(src[i].image, _img(i)) and src[i].label == i % 2 for i in range(6))


def test_webdataset_errors(tmp_path, foreign_tars):
    with pytest.raises(DataError, match="not found"):
        open_source(str(foreign_tars / "part-{000..002}.tar"))
    with pytest.raises(DataError, match="matches no"):
        open_source(str(tmp_path / "none-*.tar"))
    data = (foreign_tars / "part-000.tar").read_bytes()
    (tmp_path / "broken.tar").write_bytes(data[:700])
    with pytest.raises(DataError, match="broken.tar"):
        len(open_source(str(tmp_path / "broken.tar"))[2].image)


def test_expand_braces():
    assert expand_braces("a-{000..002}.tar") == ["a-000.tar", "a-001.tar", "a-002.tar"]
    assert expand_braces("{a,b}/{1..2}") == ["a/1", "a/2", "b/1", "b/2"]
    assert expand_braces("plain.tar") == ["plain.tar"]


def test_detect_reader(tmp_path, coco_dir):
    assert detect_reader("x/shard-{0..3}.tar") == "webdataset"
    assert detect_reader(str(coco_dir / "ann.json")) == "coco"
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "annotations.json").write_text("{}")
    assert detect_reader(str(tmp_path / "d")) == "coco"
    buf = io.BytesIO()
    Image.fromarray(_img(0)).save(buf, "PNG")
    (tmp_path / "f.bin").write_bytes(buf.getvalue())
    with pytest.raises(DataError, match="cannot tell"):
        detect_reader(str(tmp_path / "f.bin"))


def test_foreign_metadata_jsonl_is_ignored(tree):
    # Hugging Face's imagefolder convention uses metadata.jsonl with file_name: not ours, read the tree.
    (tree / "metadata.jsonl").write_text(json.dumps({"file_name": "cat/0.png", "text": "a cat"}) + "\n")
    src = open_source(tree)
    assert src.classes == ["bird", "cat", "dog"] and len(src) == 12


def test_our_metadata_path_escape_is_refused(tree):
    (tree / "metadata.jsonl").write_text(json.dumps({"key": "00000000", "path": "../x.png", "label": 0}) + "\n")
    with pytest.raises(DataError, match="escapes"):
        open_source(tree)
