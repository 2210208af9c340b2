"""The FeatureExtractor interface: accepted inputs, conversions, errors, registry, lazy torch import."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from traingen.core.errors import ConfigError, DataError, RegistryError
from traingen.core.sample import Sample
from traingen.features import FEATURES, get_extractor
from traingen.features.base import adapt_channels, as_uint8, iter_batches


@pytest.fixture(scope="module")
def ext():
    return get_extractor("random-multiscale", kernel_sizes=(3, 5), maps=2, min_size=4)


@pytest.fixture(scope="module")
def rgb():
    return np.random.default_rng(0).integers(0, 256, (5, 10, 12, 3), dtype=np.uint8)


def test_import_does_not_load_torch():
    code = "import sys, traingen, traingen.features as f; f.FEATURES.names(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_registry_holds_the_extractors():
    assert {"inception-v3-fid", "inception-v3-torchvision", "vgg19", "random-multiscale"} <= set(FEATURES.names())
    with pytest.raises(RegistryError, match="random-multiscale"):
        get_extractor("inception-v4")


def test_unknown_option_names_the_allowed_ones():
    with pytest.raises(ConfigError, match="seed"):
        get_extractor("random-multiscale", sed=1)
    with pytest.raises(ConfigError, match="resize"):
        get_extractor("random-multiscale", resize="lanczos")


def test_every_input_form_gives_the_same_features(ext, rgb):
    want = ext.extract(rgb).pool
    assert want.shape == (5, 8) and want.dtype == np.float64
    nchw = torch.from_numpy(rgb).permute(0, 3, 1, 2).contiguous()
    forms = {
        "torch": nchw,
        "list of hwc": list(rgb),
        "list of chw tensors": list(nchw),
        "samples": [Sample(image=im) for im in rgb],
        "generator": (im for im in rgb),
        "float in [0,1]": rgb.astype(np.float32) / 255.0,
    }
    for name, images in forms.items():
        np.testing.assert_allclose(ext.extract(images, batch_size=2).pool, want, rtol=1e-6, err_msg=name)


def test_grey_inputs(ext, rgb):
    grey = rgb[..., 0]
    a = ext.extract(grey).pool
    b = ext.extract(np.repeat(grey[..., None], 3, -1)).pool
    c = ext.extract(torch.from_numpy(grey)).pool  # N×H×W tensor
    np.testing.assert_allclose(a, b, rtol=1e-6)
    np.testing.assert_allclose(a, c, rtol=1e-6)


def test_order_is_kept_with_mixed_sizes(ext, rgb):
    imgs = [rgb[0], rgb[1, :6, :7], rgb[2], rgb[3, :6, :7]]
    mixed = ext.extract(imgs, batch_size=4).pool
    one_by_one = np.concatenate([ext.extract([im]).pool for im in imgs])
    np.testing.assert_allclose(mixed, one_by_one, rtol=1e-6)


def test_channel_adaptation():
    x = torch.arange(2 * 3 * 2 * 2, dtype=torch.float32).view(2, 3, 2, 2)
    torch.testing.assert_close(adapt_channels(x, 1), x.mean(1, keepdim=True))
    assert adapt_channels(x[:, :1], 3).shape == (2, 3, 2, 2)
    rgba = torch.cat([x, torch.zeros(2, 1, 2, 2)], 1)
    torch.testing.assert_close(adapt_channels(rgba, 3), x)
    with pytest.raises(DataError, match="5-channel"):
        adapt_channels(torch.zeros(1, 5, 2, 2), 3)


def test_float_quantisation_and_range_check():
    assert as_uint8(np.array([0.0, 0.5, 1.0, 0.2])).tolist() == [0, 128, 255, 51]
    with pytest.raises(DataError, match=r"\[0, 1\]"):
        as_uint8(np.array([0.0, 1.5]))
    with pytest.raises(DataError, match="dtype int32"):
        as_uint8(np.zeros(3, np.int32))


def test_bad_inputs_are_clear_errors(ext):
    with pytest.raises(DataError, match="iterable of images"):
        ext.extract(np.zeros((4, 4), np.uint8).tolist()[0][0])
    with pytest.raises(DataError, match="shape"):
        ext.extract([np.zeros((1, 2, 3, 4), np.uint8)])
    with pytest.raises(DataError, match="no images"):
        ext.extract([])
    with pytest.raises(ConfigError, match="batch_size"):
        ext.extract(np.zeros((1, 4, 4), np.uint8), batch_size=0)


def test_iter_batches_sizes():
    arr = np.zeros((7, 3, 3), np.uint8)
    assert [len(b) for b in iter_batches(arr, 3)] == [3, 3, 1]
    assert next(iter_batches(arr, 3))[0].shape == (1, 3, 3)


def test_provenance_and_device(ext, rgb):
    f = ext.extract(rgb[:2], device="cpu")
    assert f.provenance["extractor"] == "random-multiscale" and f.provenance["n"] == 2
    assert f.provenance["weights"].startswith("seeded:0:") and len(f) == 2
    assert ext.to("cpu") is ext and ext.device == "cpu"
