"""random-multiscale: pinned weights, FFT convolution, taps, pooled statistics, resizing, determinism."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from traingen.core.errors import ConfigError
from traingen.data import open_source
from traingen.features import get_extractor
from traingen.features.random_multiscale import (
    KERNEL_SIZES,
    bank_sha256,
    conv2d_same,
    filter_bank,
    uniform_from_raw,
)

#: sha256 of the float32 filters for seed 0. If this changes, every stored score on this network changes.
PINNED_SHA256 = "e80be948d200bcb20f2d0f421474153dcda010e4c37d8b4669c883c626e21cf0"


def test_weights_checksum_is_pinned():
    bank = filter_bank(0)
    assert [w.shape for w in bank] == [(32, 3, k, k) for k in KERNEL_SIZES]
    assert bank_sha256(bank) == PINNED_SHA256
    assert get_extractor("random-multiscale").weights_id() == "seeded:0:" + PINNED_SHA256[:16]


def test_weights_follow_the_pcg64_raw_stream():
    # The first filter value, recomputed here from PCG64's raw output and the Xavier bound.
    raw = np.random.Generator(np.random.PCG64(0)).bit_generator.random_raw(1)[0]
    u = int(raw) >> 11
    bound = math.sqrt(6.0 / ((3 + 32) * 9))
    assert filter_bank(0)[0].ravel()[0] == np.float32((2.0 * u / 2.0**53 - 1.0) * bound)
    assert uniform_from_raw(np.array([2**64 - 1], np.uint64))[0] == (2.0**53 - 1) / 2.0**53
    assert uniform_from_raw(np.array([0], np.uint64))[0] == 0.0


def test_weights_are_xavier_uniform():
    for w, k in zip(filter_bank(0), KERNEL_SIZES, strict=True):
        bound = math.sqrt(6.0 / ((3 + 32) * k * k))
        assert np.abs(w).max() <= bound
        if w.size > 10_000:  # enough draws for the moments
            assert abs(w.mean()) < 0.02 * bound
            assert abs(w.var() - bound**2 / 3) < 0.03 * bound**2


def test_seed_changes_weights_and_id():
    a, b = get_extractor("random-multiscale", seed=0), get_extractor("random-multiscale", seed=1)
    assert a.weights_id() != b.weights_id()
    assert not np.array_equal(a.bank[0], b.bank[0])


@pytest.mark.parametrize("k", [31, 37, 55])
def test_fft_convolution_matches_conv2d(k):
    g = torch.Generator().manual_seed(k)
    x = torch.randn(2, 3, 29, 40, generator=g)
    w = torch.randn(4, 3, k, k, generator=g)
    want = F.conv2d(x, w, padding=k // 2)
    got = conv2d_same(x, w)
    assert got.shape == want.shape
    torch.testing.assert_close(got, want, rtol=0, atol=1e-5 * float(want.abs().max()))


def small_extractor(**kw):
    # Small kernels keep the test fast; the code path is the same as the default bank's.
    return get_extractor("random-multiscale", kernel_sizes=(3, 5, 33), maps=4, min_size=8, **kw)


def test_maps_taps_and_pooled_statistics(structured_image):
    ext = small_extractor()
    x = torch.from_numpy(structured_image[:20, :24]).permute(2, 0, 1)[None]
    maps = ext.maps(x)
    assert list(maps) == ["k3", "k5", "k33"]
    # Independent float64 reference: ImageNet normalisation, zero-padded correlation, ReLU.
    xn = (structured_image[:20, :24].astype(np.float64) / 255 - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]
    xt = torch.from_numpy(xn.transpose(2, 0, 1))[None]
    for w, (name, m) in zip(ext.bank, maps.items(), strict=True):
        ref = F.relu(F.conv2d(xt, torch.from_numpy(w).double(), padding=w.shape[-1] // 2))
        np.testing.assert_allclose(m.double().numpy(), ref.numpy(), atol=1e-5, err_msg=name)
    pool = ext.extract(structured_image[None, :20, :24]).pool
    arr = [m[0].double().numpy().reshape(4, -1) for m in maps.values()]
    want = np.concatenate([a.mean(1) for a in arr] + [a.std(1) for a in arr])  # np.std: ddof 0
    np.testing.assert_allclose(pool[0], want, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(ext.vector(x)[0].double(), torch.from_numpy(pool[0]), rtol=1e-5, atol=1e-7)


def test_default_network_outputs(structured_image):
    ext = get_extractor("random-multiscale")
    maps = ext.maps(torch.from_numpy(structured_image[:16, :16]).permute(2, 0, 1)[None], ["k55"])
    assert maps["k55"].shape == (1, 32, 16, 16)
    assert ext.extract(structured_image[None, :16, :16]).pool.shape == (1, 512)


def test_upscaling_to_min_size_keeps_aspect():
    ext = get_extractor("random-multiscale")
    assert ext.target_size(28, 28) == (64, 64)
    assert ext.target_size(32, 48) == (64, 96)
    assert ext.target_size(100, 80) is None
    fixed = get_extractor("random-multiscale", input_size=40)
    assert fixed.target_size(100, 80) == (40, 40)
    assert fixed.provenance()["input_size"] == [40, 40]


def test_deterministic_and_mixed_sizes(structured_image):
    a = small_extractor().extract([structured_image[:20, :20], structured_image[:12, :30], structured_image[:20, :20]])
    b = small_extractor().extract([structured_image[:20, :20], structured_image[:12, :30], structured_image[:20, :20]])
    np.testing.assert_array_equal(a.pool, b.pool)
    np.testing.assert_array_equal(a.pool[0], a.pool[2])
    assert not np.allclose(a.pool[0], a.pool[1])


def test_maps_are_differentiable():
    x = torch.rand(1, 1, 12, 12, requires_grad=True)
    small_extractor().maps(x, ["k33"])["k33"].mean().backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0


def test_extract_from_a_source_and_progress():
    src = open_source("builtin:digits@test").subset(range(5))
    calls = []
    feats = small_extractor().extract(src, batch_size=2, progress=calls.append)
    assert calls == [2, 2, 1] and feats.pool.shape == (5, 24) and feats.provenance["n"] == 5


def test_weights_argument_is_refused():
    with pytest.raises(ConfigError, match="seed"):
        get_extractor("random-multiscale", weights="x.pth")
    with pytest.raises(ConfigError, match="odd"):
        get_extractor("random-multiscale", kernel_sizes=(4,))
