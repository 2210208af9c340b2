"""Training-loop options of the feed-forward style methods: flat-crop rejection, gradient clipping, resume of
checkpoints written before these options existed.

A flat content crop (the black sky of ``photos/hubble_deep_field``) made Ghiasi's transformer overflow to NaN:
every instance norm then divides a constant map by ``sqrt(eps)`` in the backward pass (session 7, docs/style.md).
"""

from __future__ import annotations

import json

import pytest
import torch

from traingen.core.errors import CheckpointError, ConfigError, DataError
from traingen.style.train import MAX_DRAWS, TrainConfig, load_model, random_crop, train_style

TINY = {"width": 0.125, "base": 8, "residual": 1, "encoder_init": "plain", "normalise_layers": True,
        "zero_init": True, "identity_weight": 10.0}


def _images():
    g = torch.Generator().manual_seed(0)
    flat = torch.full((1, 3, 40, 40), 0.3)
    textured = torch.rand(1, 3, 40, 40, generator=g)
    half = flat.clone()
    half[..., :, 20:] = torch.rand(1, 3, 40, 20, generator=g)  # flat on the left, textured on the right
    return [flat, textured, half]


def test_min_std_zero_draws_exactly_as_before():
    imgs = _images()
    g1, g2 = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    for _ in range(20):
        got = random_crop(imgs, 16, g1)
        # the original sampler, written out: image, then y, then x, one draw each
        t = imgs[int(torch.randint(len(imgs), (1,), generator=g2))]
        y = int(torch.randint(40 - 16 + 1, (1,), generator=g2))
        x = int(torch.randint(40 - 16 + 1, (1,), generator=g2))
        assert torch.equal(got, t[..., y:y + 16, x:x + 16])


def test_min_std_rejects_flat_crops():
    imgs = _images()
    g = torch.Generator().manual_seed(1)
    plain = [float(random_crop(imgs, 16, g).mean(1).std()) for _ in range(60)]
    assert min(plain) < 1e-6  # without the option flat crops do come up (the flat image, the half's left side)
    g = torch.Generator().manual_seed(1)
    kept = [float(random_crop(imgs, 16, g, min_std=0.05).mean(1).std()) for _ in range(60)]
    assert min(kept) >= 0.05
    with pytest.raises(DataError, match="min_std"):
        random_crop(imgs[:1], 16, torch.Generator().manual_seed(0), min_std=0.05)
    assert MAX_DRAWS >= 10


def test_config_rejects_negative_options():
    for k in ("min_std", "clip_grad"):
        with pytest.raises(ConfigError, match=k):
            TrainConfig(**{k: -1.0})


def _cfg(**kw):
    base = dict(method="arbitrary", steps=2, batch=2, size=32, contents=("builtin:photos",),
                styles=("builtin:textures",), max_items=3, save_every=1, lr=1e-2, model=TINY)
    return TrainConfig(**{**base, **kw})


def _distance(a, b):
    return max(float((a.state_dict()[k] - b.state_dict()[k]).abs().max()) for k in a.state_dict())


def test_clip_grad_limits_the_update(tmp_path):
    torch.manual_seed(0)
    start = load_model(train_style(_cfg(steps=1, lr=1e-12), tmp_path / "start").checkpoint)  # ~ the init
    free = load_model(train_style(_cfg(steps=1), tmp_path / "free").checkpoint)
    clipped = load_model(train_style(_cfg(steps=1, clip_grad=1e-12), tmp_path / "clipped").checkpoint)
    # Adam's first step moves each weight by ~lr whatever the gradient's size, unless the gradient is far below
    # its eps (1e-8): a norm clipped to 1e-12 leaves the network where it started
    assert _distance(free, start) > 1e-3
    assert _distance(clipped, start) < 1e-5


def test_checkpoint_written_before_the_options_resumes(tmp_path):
    a = train_style(_cfg(steps=2), tmp_path / "a")
    meta = tmp_path / "a" / "model.json"
    state = json.loads(meta.read_text())
    for k in ("min_std", "clip_grad"):  # as a session-6 checkpoint
        state["state"]["train"].pop(k)
    meta.write_text(json.dumps(state))
    b = train_style(_cfg(steps=3), tmp_path / "a")
    assert b.resumed_from == 2 and b.losses[:2] == a.losses
    with pytest.raises(CheckpointError, match="different config"):
        train_style(_cfg(steps=4, min_std=0.1), tmp_path / "a")


@pytest.mark.parametrize("method", ["adain", "sanet", "arbitrary"])
def test_style_recipes_parse_and_build(method):
    from pathlib import Path

    from traingen.core.config import from_dict, load_yaml
    from traingen.style.train import build_model

    path = Path(__file__).resolve().parents[2] / "recipes" / f"style-{method}.yaml"
    data = {k: v for k, v in load_yaml(path).items() if k != "version"}
    cfg = from_dict(TrainConfig, data, where=str(path))
    assert cfg.method == method
    build_model(cfg.method, cfg.model, where=str(path))  # strict model keys
    if method == "arbitrary":  # the recipe's contents include hubble's flat black sky (the session-6 NaN)
        assert cfg.min_std > 0 and "builtin:photos/hubble_deep_field" in cfg.contents
