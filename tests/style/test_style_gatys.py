"""Gatys style transfer: loss reduction, determinism, colour preservation against float64 formulas, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from traingen.core.errors import ConfigError, DataError
from traingen.style.base import to_tensor, to_uint8
from traingen.style.gatys import (
    Gatys,
    GatysConfig,
    match_color_histogram,
    match_luminance,
    rgb_to_yiq,
    yiq_to_rgb,
)


@pytest.fixture(scope="module")
def pair():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:40, 0:40] / 40.0
    content = np.stack([xx, yy, 0.5 + 0.3 * np.sin(6 * xx)], -1)
    content[10:25, 12:30] = (0.9, 0.2, 0.1)
    stripes = (np.sin(2 * np.pi * 5 * (xx + yy)) > 0).astype(float)
    style = np.stack([stripes, 0.3 * stripes + 0.2, 1 - stripes], -1) * 0.8 + 0.1 * rng.random((40, 40, 3))
    return (content * 255).round().astype(np.uint8), (style.clip(0, 1) * 255).round().astype(np.uint8)


def test_lbfgs_reduces_loss_5x_in_50_evaluations(pair):
    content, style = pair
    res = Gatys(GatysConfig(size=32, evaluations=50))(content, style, seed=0)
    assert res.info["evaluations"] <= 50
    assert res.losses[0] / min(res.losses) >= 5.0, (res.losses[0], min(res.losses))
    assert res.image.shape == (32, 32, 3) and res.image.dtype == np.uint8


def test_same_seed_same_bytes_and_output_is_not_the_content(pair):
    content, style = pair
    cfg = GatysConfig(size=24, evaluations=8, init="noise")
    a = Gatys(cfg)(content, style, seed=3).image
    b = Gatys(cfg)(content, style, seed=3).image
    c = Gatys(cfg)(content, style, seed=4).image
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    resized = to_uint8(torch.nn.functional.interpolate(to_tensor(content), size=(24, 24), mode="bilinear",
                                                       antialias=True))
    assert np.abs(a.astype(int) - resized.astype(int)).mean() > 5


def test_yiq_round_trip_and_matrix():
    x = torch.rand(1, 3, 5, 6, dtype=torch.float64)
    assert torch.allclose(yiq_to_rgb(rgb_to_yiq(x)), x, atol=1e-12)
    # Y of pure white is 1, I and Q of grey are 0 (NTSC definition).
    grey = torch.full((1, 3, 2, 2), 0.5, dtype=torch.float64)
    yiq = rgb_to_yiq(grey)
    assert torch.allclose(yiq[:, 0], torch.full((1, 2, 2), 0.5, dtype=torch.float64), atol=1e-6)
    assert yiq[:, 1:].abs().max() < 1e-6


def test_match_color_histogram_matches_mean_and_covariance():
    g = torch.Generator().manual_seed(0)
    style = (torch.rand(1, 3, 30, 30, generator=g) * torch.tensor([0.5, 0.2, 0.3]).view(1, 3, 1, 1)
             + torch.tensor([0.2, 0.5, 0.1]).view(1, 3, 1, 1))
    content = torch.rand(1, 3, 20, 20, generator=g) * 0.4 + 0.3
    out = match_color_histogram(style, content, eps=0.0).double()
    v_out = out[0].reshape(3, -1).numpy()
    v_c = content[0].reshape(3, -1).double().numpy()
    np.testing.assert_allclose(v_out.mean(1), v_c.mean(1), atol=1e-5)
    np.testing.assert_allclose(np.cov(v_out, bias=True), np.cov(v_c, bias=True), atol=1e-5)


def test_match_luminance_moments():
    g = torch.Generator().manual_seed(1)
    s = torch.rand(1, 1, 10, 10, generator=g) * 0.3
    c = torch.rand(1, 1, 10, 10, generator=g) * 0.5 + 0.25
    m = match_luminance(s, c)
    assert abs(float(m.mean() - c.mean())) < 1e-5 and abs(float(m.std() - c.std())) < 1e-5


def test_luminance_preservation_keeps_content_chrominance(pair):
    content, style = pair
    res = Gatys(GatysConfig(size=32, evaluations=10, preserve_color="luminance"))(content, style, seed=0)
    c = torch.nn.functional.interpolate(to_tensor(content), size=(32, 32), mode="bilinear", antialias=True)
    iq_c = rgb_to_yiq(c)[:, 1:]
    iq_o = rgb_to_yiq(to_tensor(res.image))[:, 1:]
    # uint8 rounding and clamping move chrominance by a few grey levels at most
    assert float((iq_c - iq_o).abs().mean()) < 0.01
    plain = Gatys(GatysConfig(size=32, evaluations=10))(content, style, seed=0)
    assert float((rgb_to_yiq(to_tensor(plain.image))[:, 1:] - iq_c).abs().mean()) > 0.01


def test_bad_inputs_raise_clear_errors(pair):
    content, style = pair
    with pytest.raises(DataError, match="content"):
        Gatys(GatysConfig(size=16, evaluations=1))(np.zeros((4, 4, 3), np.uint8), style)
    with pytest.raises(DataError, match="style"):
        Gatys(GatysConfig(size=16, evaluations=1))(content, np.zeros((20, 20, 2), np.uint8))
    with pytest.raises(DataError, match=r"\[0, 1\]"):
        to_tensor(np.full((10, 10, 3), 2.0, np.float32))
    with pytest.raises(ConfigError, match="evaluations"):
        GatysConfig(evaluations=0)
    from traingen.core.config import from_dict

    with pytest.raises(ConfigError, match="unknown key 'styel_weight'"):
        from_dict(GatysConfig, {"styel_weight": 1.0})
