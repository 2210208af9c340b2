"""inception-v3-fid against torch-fidelity's FeatureExtractorInceptionV3, both loading one random weight file.

No pretrained weights can be downloaded here, so a seeded random state dict in the layout of the real
files (torchvision's module names, 1008 classes, no auxiliary head) is written to a temp file; torch-
fidelity loads it strictly, which proves the layout, and so does ours. Same uint8 images in, same
pool features and unbiased logits out.
"""

from __future__ import annotations

import hashlib
import os

import numpy as np
import pytest
import torch

from traingen.core.errors import CheckpointError
from traingen.features import get_extractor
from traingen.features.inception_blocks import PYTORCH_FID_BLOCKS


def random_inception_state(seed: int = 0) -> dict[str, torch.Tensor]:
    """Random weights in the layout of pt_inception-2015-12-05 (taken from torchvision, not from our code)."""
    from torchvision.models import inception_v3

    ref = inception_v3(weights=None, aux_logits=False, init_weights=False, num_classes=1008)
    g = torch.Generator().manual_seed(seed)
    state = {}
    for k, v in ref.state_dict().items():
        if k.endswith("num_batches_tracked"):
            continue  # the converted TF files have none
        if k.endswith("conv.weight"):
            fan_in = v[0].numel()
            state[k] = torch.randn(v.shape, generator=g) * (2.0 / fan_in) ** 0.5
        elif k.endswith("running_var") or k.endswith("bn.weight"):
            state[k] = 0.8 + 0.4 * torch.rand(v.shape, generator=g)
        elif k.endswith("running_mean") or k.endswith("bn.bias"):
            state[k] = 0.2 * torch.rand(v.shape, generator=g) - 0.1
        elif k == "fc.weight":
            state[k] = torch.randn(v.shape, generator=g) * 0.05
        elif k == "fc.bias":
            state[k] = torch.randn(v.shape, generator=g)  # large, so a forgotten "unbiased" shows
        else:
            raise AssertionError(f"unexpected key {k}")
    return state


def save_hub_style(state: dict, folder, stem: str) -> str:
    """Save as ``<stem>-<sha256 prefix>.pth`` (the torch hub naming convention)."""
    tmp = os.path.join(folder, "tmp.pth")
    torch.save(state, tmp)
    with open(tmp, "rb") as f:
        prefix = hashlib.sha256(f.read()).hexdigest()[:8]
    path = os.path.join(folder, f"{stem}-{prefix}.pth")
    os.replace(tmp, path)
    return path


@pytest.fixture(scope="module")
def weight_file(tmp_path_factory):
    return save_hub_style(random_inception_state(0), tmp_path_factory.mktemp("w"), "weights-inception-random")


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(3)
    imgs = rng.integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
    imgs[0, 10:40, 5:30] = (250, 20, 20)  # some structure besides noise
    return imgs


@pytest.fixture(scope="module")
def ours(weight_file, images):
    return get_extractor("inception-v3-fid", weights=weight_file).extract(images, batch_size=2)


def test_matches_torch_fidelity(weight_file, images, ours):
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    ref = FeatureExtractorInceptionV3("inception-v3-compat", ["2048", "logits_unbiased"],
                                      feature_extractor_weights_path=weight_file)
    with torch.no_grad():
        pool, logits = ref(torch.from_numpy(images).permute(0, 3, 1, 2).contiguous())
    pool, logits = pool.double().numpy(), logits.double().numpy()
    assert ours.pool.shape == (3, 2048) and ours.logits.shape == (3, 1008)
    assert ours.pool.dtype == np.float64
    assert pool.std() > 1e-3 and logits.std() > 1e-3  # the random net is not degenerate
    np.testing.assert_allclose(ours.pool, pool, rtol=1e-5, atol=1e-5 * np.abs(pool).max())
    np.testing.assert_allclose(ours.logits, logits, rtol=1e-5, atol=1e-5 * np.abs(logits).max())


def test_logits_are_unbiased_and_provenance(weight_file, ours):
    state = torch.load(weight_file, weights_only=True)
    w = state["fc.weight"].double().numpy()
    np.testing.assert_allclose(ours.logits, ours.pool @ w.T, rtol=1e-4, atol=1e-4)
    prov = ours.provenance
    with open(weight_file, "rb") as f:
        assert prov["weights"] == hashlib.sha256(f.read()).hexdigest()
    assert prov["extractor"] == "inception-v3-fid" and prov["resize"] == "tf1-bilinear"
    assert prov["input_size"] == [299, 299] and prov["n"] == 3


def test_pytorch_fid_wrapper_layout_maps_to_same_pool(weight_file, images, ours, tmp_path):
    state = torch.load(weight_file, weights_only=True)
    inverse = {v: k for k, v in PYTORCH_FID_BLOCKS.items()}
    wrapped = {}
    for k, v in state.items():
        if k.startswith("fc."):
            continue  # pytorch-fid's InceptionV3 wrapper has no classifier
        prefix = next(p for p in inverse if k.startswith(p))
        wrapped[inverse[prefix] + k[len(prefix):]] = v
    path = tmp_path / "pytorch_fid_wrapper.pth"
    torch.save(wrapped, path)
    feats = get_extractor("inception-v3-fid", weights=str(path)).extract(images[:1])
    assert feats.logits is None
    np.testing.assert_allclose(feats.pool, ours.pool[:1], rtol=1e-6, atol=1e-7)


def test_grey_images_are_repeated(weight_file, images):
    ext = get_extractor("inception-v3-fid", weights=weight_file)
    grey = images[:1, :, :, 0]
    a = ext.extract(grey).pool
    b = ext.extract(np.repeat(grey[..., None], 3, axis=-1)).pool
    np.testing.assert_array_equal(a, b)


def test_resize_option_changes_features_and_is_recorded(weight_file, images, ours):
    feats = get_extractor("inception-v3-fid", weights=weight_file, resize="pil-bicubic").extract(images[:1])
    assert feats.provenance["resize"] == "pil-bicubic"
    assert np.abs(feats.pool - ours.pool[:1]).max() > 1e-3


def test_missing_file_names_it_and_the_alternatives(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("TRAINGEN_WEIGHTS", raising=False)
    with pytest.raises(CheckpointError) as e:
        get_extractor("inception-v3-fid")
    msg = str(e.value)
    assert "pt_inception-2015-12-05-6726825d.pth" in msg and "weights-inception-2015-12-05-6726825d.pth" in msg
    assert str(tmp_path / "torch" / "hub" / "checkpoints") in msg
    assert "random-multiscale" in msg and "digits-classifier" in msg


def test_wrong_hash_under_the_official_name_is_refused(weight_file, tmp_path, monkeypatch):
    folder = tmp_path / "weights"
    folder.mkdir()
    os.symlink(weight_file, folder / "pt_inception-2015-12-05-6726825d.pth")
    monkeypatch.setenv("TRAINGEN_WEIGHTS", str(folder))
    with pytest.raises(CheckpointError, match="does not start with 6726825d"):
        get_extractor("inception-v3-fid")


def test_a_file_of_another_network_is_refused_with_the_keys(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"conv.weight": torch.zeros(3, 3)}, path)
    with pytest.raises(CheckpointError, match="missing keys"):
        get_extractor("inception-v3-fid", weights=str(path)).extract(np.zeros((1, 8, 8), np.uint8))
