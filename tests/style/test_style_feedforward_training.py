"""SANet and Ghiasi's arbitrary network learn: a few tiny steps cut reconstruction (and SANet's style distance).

The session-6 configurations (plain random encoder, losses normalised per layer, SANet's attention on
relu3_1 + relu4_1, the arbitrary network's identity term) are trained for a few dozen steps on photos
and textures and judged on a procedural style no run drew, against the same network untrained.
"""

from __future__ import annotations

import pytest
import torch

from traingen.core.errors import ConfigError
from traingen.data import open_source
from traingen.style.arbitrary import ArbitraryConfig, ArbitraryNet
from traingen.style.base import resize_long, to_tensor
from traingen.style.encoder import mean_std
from traingen.style.sanet import SANetConfig, SANetNet
from traingen.style.train import TrainConfig, load_model, procedural_style, train_style

SANET = {"width": 0.125, "encoder_init": "plain", "tap": "relu3_1", "normalise_layers": True}
ARB = {"width": 0.125, "base": 8, "residual": 1, "encoder_init": "plain", "normalise_layers": True,
       "style_weight": 10.0, "identity_weight": 10.0, "zero_init": True}


def _content_style():
    content = resize_long(to_tensor(open_source("builtin:photos/coffee")[0].image), 48)[..., :32, :32]
    style = procedural_style(32, torch.Generator().manual_seed(123))  # a style no run drew
    return content, style


def _measure(net, content, style):
    """(pixel MSE of stylising the content with itself, moment distance of the output to the style
    relative to the content's at relu1_1)."""
    with torch.no_grad():
        rec = net.stylize(content, content)
        y = net.stylize(content, style)
        (my, sy), (mc, sc), (ms, ss) = (mean_std(net.encoder(im, ["relu1_1"])["relu1_1"]) for im in (y, content, style))
        ratio = (((my - ms) ** 2).mean() + ((sy - ss) ** 2).mean()) / (((mc - ms) ** 2).mean() + ((sc - ss) ** 2).mean())
    return float(((rec - content) ** 2).mean()), float(ratio)


def _train(method, model, steps, lr, tmp_path):
    cfg = TrainConfig(method=method, steps=steps, batch=2, size=32, contents=("builtin:photos",),
                      styles=("builtin:textures",), max_items=4, lr=lr, save_every=1000, model=model)
    return load_model(train_style(cfg, tmp_path / method).checkpoint)


def test_sanet_tiny_steps_cut_reconstruction_and_style_distance(tmp_path):
    net = _train("sanet", SANET, 40, 2e-3, tmp_path)
    torch.manual_seed(0)
    untrained = SANetNet(SANetConfig(**SANET)).eval()
    content, style = _content_style()
    rec0, r0 = _measure(untrained, content, style)
    rec1, r1 = _measure(net, content, style)
    # measured (40 steps, 3.6 CPU s): reconstruction MSE 0.166 -> 0.061, style distance ratio 2.91 -> 2.04
    assert rec1 < 0.5 * rec0, (rec0, rec1)
    assert r1 < 0.85 * r0, (r0, r1)


def test_arbitrary_tiny_steps_cut_reconstruction_and_style_distance(tmp_path):
    net = _train("arbitrary", ARB, 100, 2e-3, tmp_path)
    torch.manual_seed(0)
    untrained = ArbitraryNet(ArbitraryConfig(**ARB)).eval()
    content, style = _content_style()
    rec0, _ = _measure(untrained, content, style)
    rec1, _ = _measure(net, content, style)
    # measured (100 steps, 9 CPU s): reconstruction MSE 0.135 -> 0.048. This pins one trajectory (seed 0, PyTorch's
    # loop Adam): at this size the run is noisy (the loss spikes), and other seeds or last-bit changes such as the fused
    # Adam end at 0.07-0.15 (session 17, 8 runs), though the training loss falls on all of them; at 300 steps the same
    # 8 runs end at 0.09-0.25, so this tiny configuration does not keep learning reconstruction (a sturdier "it
    # learns" check is still to be found). The style distance is NOT asserted: the zero-initialised network starts at
    # a mid-grey output close to this style's statistics (ratio 0.32), and 100 tiny steps move it away (0.87) while it
    # learns the content first.
    assert rec1 < 0.5 * rec0, (rec0, rec1)
    other = procedural_style(32, torch.Generator().manual_seed(321))
    with torch.no_grad():  # the output depends on the (unseen) style through the predicted CIN parameters
        assert float((net.stylize(content, style) - net.stylize(content, other)).abs().mean()) > 1e-3


def test_sanet_tap_pairs_and_the_paper_layout_is_unchanged():
    assert SANetConfig().taps == ("relu4_1", "relu5_1") and SANetConfig(tap="relu3_1").taps == ("relu3_1", "relu4_1")
    with pytest.raises(ConfigError, match="tap"):
        SANetConfig(tap="relu5_1")
    paper = SANetNet(SANetConfig(width=0.125))
    assert paper.project is None and not any(k.startswith("project") for k in paper.state_dict())  # old checkpoints
    shallow = SANetNet(SANetConfig(**SANET))
    x = torch.rand(1, 3, 32, 32)
    assert shallow.stylize(x, torch.rand(1, 3, 24, 40)).shape == x.shape
    parts = shallow.losses(torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32))
    assert {"content", "style", "identity1", "identity2"} <= set(parts) and torch.isfinite(parts["loss"])

