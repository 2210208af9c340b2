"""The shipped digit classifiers: weights and cards agree, held-out accuracy, a float64 numpy reference
forward, shapes and dtypes, determinism of training, and clear errors for bad weight files."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from traingen.core.errors import CheckpointError, DataError
from traingen.data import open_source
from traingen.features import FEATURES, get_extractor
from traingen.features.classifiers import (
    ARCHITECTURE,
    SHIPPED,
    FitConfig,
    fit_classifier,
    load_weights,
    save_weights,
    shipped_file,
    small_cnn,
)

WEIGHTS_DIR = Path(__file__).resolve().parents[2] / "src" / "traingen" / "features" / "weights"
KEYS = ["mnist5k-classifier", "digits-classifier"]


def _card(key: str) -> dict:
    return json.loads((WEIGHTS_DIR / SHIPPED[key].card_file).read_text())


def _split(address: str) -> tuple[np.ndarray, np.ndarray]:
    src = open_source(address)
    return (np.stack([src[i].image for i in range(len(src))]),
            np.array([src[i].label for i in range(len(src))], np.int64))


@pytest.mark.parametrize("key", KEYS)
def test_shipped_weights_match_their_card(key):
    card = _card(key)
    path = shipped_file(SHIPPED[key].weights_file)
    data = path.read_bytes()
    assert hashlib.sha256(data).hexdigest() == card["sha256"]
    assert len(data) == card["size_bytes"] < 2_000_000
    assert card["sha256"] in (WEIGHTS_DIR / "README.md").read_text()
    ext = get_extractor(key)
    assert ext.weights_id() == card["sha256"]
    assert key in FEATURES
    # the held-out split of the card is the fixed test split, disjoint from the training split
    spec = SHIPPED[key]
    assert card["data"] == {"train": f"builtin:{spec.dataset}@train", "test": f"builtin:{spec.dataset}@test",
                            "train_size": len(open_source(f"builtin:{spec.dataset}@train")),
                            "test_size": len(open_source(f"builtin:{spec.dataset}@test"))}


@pytest.mark.parametrize("key,minimum", [("mnist5k-classifier", 0.98), ("digits-classifier", 0.97)])
def test_held_out_accuracy_equals_the_card(key, minimum):
    card = _card(key)
    x, y = _split(card["data"]["test"])
    feats = get_extractor(key).extract(x, batch_size=256)
    correct = int((feats.logits.argmax(1) == y).sum())
    assert correct == card["test_correct"]
    assert correct / len(y) == pytest.approx(card["test_accuracy"], abs=1e-12)
    assert card["test_accuracy"] >= minimum


def _numpy_forward(tensors: dict[str, np.ndarray], x: np.ndarray, pools: list[bool]) -> tuple[np.ndarray, np.ndarray]:
    """float64 reference: [conv3x3 (pad 1) -> BN (eval) -> ReLU (-> 2x2 max-pool)] per stage -> mean -> fc."""
    h = (x.astype(np.float64) / 127.5 - 1.0)[:, None]
    for i, pool in enumerate(pools):
        w = tensors[f"features.conv{i}.weight"].astype(np.float64)
        padded = np.pad(h, ((0, 0), (0, 0), (1, 1), (1, 1)))
        patches = sliding_window_view(padded, (3, 3), axis=(2, 3))  # N C H W 3 3
        h = np.einsum("nchwij,ocij->nohw", patches, w)
        mean, var = (tensors[f"features.bn{i}.running_{k}"].astype(np.float64) for k in ("mean", "var"))
        gamma, beta = (tensors[f"features.bn{i}.{k}"].astype(np.float64) for k in ("weight", "bias"))
        h = (h - mean[:, None, None]) / np.sqrt(var[:, None, None] + 1e-5) * gamma[:, None, None] \
            + beta[:, None, None]
        h = np.maximum(h, 0.0)
        if pool:  # floor mode: an odd last row/column is dropped
            n, c, hh, ww = h.shape
            h = h[:, :, : hh // 2 * 2, : ww // 2 * 2].reshape(n, c, hh // 2, 2, ww // 2, 2).max(axis=(3, 5))
    pool = h.mean(axis=(2, 3))
    logits = pool @ tensors["fc.weight"].astype(np.float64).T + tensors["fc.bias"].astype(np.float64)
    return pool, logits


@pytest.mark.parametrize("key,pools", [("mnist5k-classifier", [True, True, True, False]),
                                       ("digits-classifier", [True, False, False, False])])
def test_features_match_a_float64_numpy_forward(key, pools):
    from safetensors.numpy import load_file

    tensors = load_file(str(shipped_file(SHIPPED[key].weights_file)))
    assert sorted(k for k in tensors if k.endswith("conv3.weight") or k.endswith("conv4.weight")) == [
        "features.conv3.weight"]  # four stages, as the reference below assumes
    x, _ = _split(f"builtin:{SHIPPED[key].dataset}@test")
    x = x[:6]
    feats = get_extractor(key).extract(x)
    ref_pool, ref_logits = _numpy_forward(tensors, x, pools)
    np.testing.assert_allclose(feats.pool, ref_pool, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(feats.logits, ref_logits, rtol=1e-4, atol=1e-4)


def test_extract_shapes_dtypes_provenance_and_determinism():
    ext = get_extractor("digits-classifier")
    x, _ = _split("builtin:digits@test")
    a = ext.extract(x[:20])
    b = ext.extract(open_source("builtin:digits@test").subset(range(20)), batch_size=7)
    assert a.pool.shape == (20, 128) and a.logits.shape == (20, 10)
    assert a.pool.dtype == np.float64 and a.logits.dtype == np.float64
    assert (a.pool >= 0).all()  # after ReLU and an average
    np.testing.assert_array_equal(a.pool, b.pool)
    np.testing.assert_array_equal(a.logits, b.logits)
    prov = a.provenance
    assert prov["extractor"] == "digits-classifier" and prov["weights"] == _card("digits-classifier")["sha256"]
    assert prov["input_size"] == [8, 8] and prov["channels"] == 1 and prov["n"] == 20


def test_other_sizes_and_rgb_are_adapted():
    ext = get_extractor("mnist5k-classifier")
    x, _ = _split("builtin:mnist5k@test")
    grey = ext.extract(x[:4])
    rgb = ext.extract(np.repeat(x[:4, :, :, None], 3, axis=3))  # grey repeated: the mean is the grey
    np.testing.assert_allclose(rgb.logits, grey.logits, rtol=1e-6, atol=1e-6)
    import cv2

    big = np.stack([cv2.resize(im, (32, 32), interpolation=cv2.INTER_LINEAR) for im in x[:50]])
    feats = ext.extract(big)
    assert feats.logits.shape == (50, 10)
    assert ext.provenance()["resize"] == "torch-bilinear-antialias"
    # the resize brings the digits back close enough to still be recognised
    agree = (feats.logits.argmax(1) == ext.extract(x[:50]).logits.argmax(1)).mean()
    assert agree >= 0.9


def test_training_is_deterministic_and_seeded():
    x, y = _split("builtin:digits@train")
    x, y = x[:200], y[:200]
    cfg = FitConfig(epochs=1, batch_size=32)
    a = fit_classifier(x, y, seed=3, config=cfg).state_dict()
    b = fit_classifier(x, y, seed=3, config=cfg).state_dict()
    c = fit_classifier(x, y, seed=4, config=cfg).state_dict()
    for k in a:
        assert (a[k] == b[k]).all(), k
    assert not (a["fc.weight"] == c["fc.weight"]).all()


def test_random_weights_in_the_right_layout_load_from_a_path(tmp_path):
    net = small_cnn(28, seed=11)
    path = tmp_path / "mine.safetensors"
    sha = save_weights(net, path, image_size=28)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == sha
    ext = get_extractor("mnist5k-classifier", weights=str(path))
    assert ext.weights_id() == sha
    x = np.random.default_rng(0).integers(0, 256, (3, 28, 28), dtype=np.uint8)
    import torch

    with torch.no_grad():
        ref = net.eval()(torch.from_numpy(x[:, None]).float() / 127.5 - 1.0).double().numpy()
    np.testing.assert_allclose(ext.extract(x).logits, ref, rtol=1e-5, atol=1e-6)
    assert not np.allclose(ext.extract(x).logits, get_extractor("mnist5k-classifier").extract(x).logits)


def test_bad_weight_files_are_clear_errors(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        get_extractor("digits-classifier", weights=str(tmp_path / "absent.safetensors")).extract(
            np.zeros((1, 8, 8), np.uint8))
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x00" * 64)
    with pytest.raises(CheckpointError, match="safetensors") as e:
        load_weights(junk)
    assert str(junk) in str(e.value)
    digits_file = shipped_file(SHIPPED["digits-classifier"].weights_file)
    with pytest.raises(CheckpointError, match="8×8 input") as e:
        load_weights(digits_file, image_size=28)
    assert e.value.field == "image_size"
    from safetensors.torch import save_file

    other = tmp_path / "other.safetensors"
    save_file({k: v.contiguous() for k, v in small_cnn(8).state_dict().items()}, str(other),
              metadata={"traingen": '{"architecture": "resnet", "image_size": 8}'})
    with pytest.raises(CheckpointError, match=ARCHITECTURE):
        load_weights(other)


def test_training_input_errors():
    with pytest.raises(DataError, match="uint8"):
        fit_classifier(np.zeros((4, 8, 8), np.float32), np.zeros(4, np.int64))
    with pytest.raises(DataError, match="labels"):
        fit_classifier(np.zeros((4, 8, 8), np.uint8), np.array([0, 1, 2, 10]))


def test_importing_the_module_does_not_import_torch():
    code = ("import sys, traingen.features.classifiers, traingen.metrics.cas; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_weight_files_are_byte_identical_across_processes(tmp_path):
    # safetensors writes a metadata map in (per-process random) hash order; save_weights must not depend on it
    meta = {"key": "k", "train": "t", "seed": 2, "z": "last", "a": "first"}
    code = ("import sys; from traingen.features.classifiers import small_cnn, save_weights; "
            f"print(save_weights(small_cnn(8, seed=2), sys.argv[1], image_size=8, metadata={meta!r}))")
    other = subprocess.run([sys.executable, "-c", code, str(tmp_path / "w0.safetensors")], capture_output=True,
                           text=True, check=True).stdout.strip()
    here = save_weights(small_cnn(8, seed=2), tmp_path / "w1.safetensors", image_size=8, metadata=meta)
    assert other == here
    assert (tmp_path / "w0.safetensors").read_bytes() == (tmp_path / "w1.safetensors").read_bytes()
