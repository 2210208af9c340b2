"""AdaIN diagnostics: the encoder sees the image (its contrast and, through conv1_1, its colour).

These guard the bug found in session 4: the encoder fed ``[0, 1]`` images to a normaliser that
divides by 255, so every image reached ``relu4_1`` as nearly the same constant and no decoder could
learn (the feed-forward methods "collapsed to stripes").
"""

from __future__ import annotations

import torch

from traingen.style.encoder import Encoder
from traingen.style.train import load_images


def _photos(size: int, n: int):
    return load_images(("builtin:photos",), n, size)


def test_encoder_features_depend_on_the_image_at_every_depth():
    imgs = torch.cat([t[..., :32, :32] for t in _photos(32, 4)])
    enc = Encoder(width=0.125, seed=0)
    feats = enc(imgs, ["relu1_1", "relu4_1"])
    for tap, f in feats.items():
        v = f.flatten(1)
        between = (v - v.mean(0, keepdim=True)).pow(2).mean()  # how much the images' maps differ
        total = v.pow(2).mean()
        # measured 0.56 (relu1_1) and 0.44 (relu4_1); with pixels divided by 255 twice (the old bug) 7e-6 and
        # 2e-5: every image gave the same maps
        assert between / total > 0.05, (tap, float(between / total))
    # brightness reaches relu1_1 (divided by 255 twice, a change of contrast was nearly invisible)
    x = imgs[:1].double() * 0.5
    enc64 = Encoder(width=0.125, seed=0).double()
    f1 = enc64(x, ["relu1_1"])["relu1_1"]
    f2 = enc64(x * 1.5, ["relu1_1"])["relu1_1"]
    assert float((f2 - f1).abs().mean()) > 0.01


def test_flat_colour_reaches_relu1_1():
    """conv1_1 is not zero-mean, so two flat images of different colour give different maps (measured 0.47)."""
    enc = Encoder(width=0.125, seed=0)
    a = torch.full((1, 3, 16, 16), 0.2)
    b = a.clone()
    b[:, 0] = 0.8
    fa, fb = enc(a, ["relu1_1"])["relu1_1"], enc(b, ["relu1_1"])["relu1_1"]
    assert float((fa - fb).abs().mean()) > 0.1  # with zero-mean conv1_1 kernels this was 0 (inside the border)


def test_zero_mean_kernels_drop_flat_colour_after_relu1_1_plain_kernels_keep_it():
    """Why the session-4 decoder could not learn colours: inside a flat image, zero-mean conv1_2.. give 0."""
    a = torch.full((1, 3, 64, 64), 0.2)
    b = a.clone()
    b[:, 0] = 0.8
    for init in ("zero-mean", "plain"):
        enc = Encoder(width=0.125, seed=0, init=init)
        for tap in ("relu2_1", "relu3_1"):
            fa, fb = (enc(x, [tap])[tap][..., 3:-3, 3:-3] for x in (a, b))  # away from the zero padding
            if init == "zero-mean":  # both colours give (numerically) zero maps: colour is gone
                assert float(fa.abs().max()) < 1e-4 and float(fb.abs().max()) < 1e-4, tap
            else:
                assert float((fa - fb).abs().mean()) > 0.05 * float(fa.abs().mean() + fb.abs().mean()), tap


def test_decoder_mirrors_the_encoder_from_each_tap_and_keeps_the_relu4_1_layout():
    from traingen.style.encoder import ENCODER_TAPS, Decoder

    enc = Encoder(width=0.125, seed=0)
    x = torch.rand(1, 3, 32, 32)
    for tap in ENCODER_TAPS:
        f = enc(x, [tap])[tap]
        assert Decoder(0.125, tap)(f).shape == x.shape, tap
    # checkpoints written before the decoder took a tap hold these keys (relu4_1): they must still load
    convs = sorted(int(k.split(".")[1]) for k in Decoder(0.125).state_dict() if k.endswith("weight"))
    assert convs == [1, 5, 8, 11, 14, 18, 21, 25, 28]


def test_adain_at_relu3_1_with_plain_encoder_reconstructs_and_moves_statistics_to_the_style(tmp_path):
    """The session-5 fix: 60 tiny steps (~5 CPU s) already invert the encoder and transfer the moments."""
    from traingen.data import open_source
    from traingen.style.adain import AdaINConfig, AdaINNet
    from traingen.style.base import resize_long, to_tensor
    from traingen.style.encoder import mean_std
    from traingen.style.train import TrainConfig, load_model, procedural_style, train_style

    model = {"width": 0.125, "tap": "relu3_1", "encoder_init": "plain", "style_weight": 2.0, "identity_weight": 10.0}
    cfg = TrainConfig(method="adain", steps=60, batch=2, size=32, contents=("builtin:photos",),
                      styles=("builtin:textures",), max_items=4, lr=2e-3, save_every=1000, model=model)
    net = load_model(train_style(cfg, tmp_path / "adain").checkpoint)
    torch.manual_seed(0)
    untrained = AdaINNet(AdaINConfig(**model)).eval()
    content = resize_long(to_tensor(open_source("builtin:photos/coffee")[0].image), 48)[..., :32, :32]
    style = procedural_style(32, torch.Generator().manual_seed(123))  # a style no run drew

    def measure(n):
        with torch.no_grad():
            rec = n.decoder(n.encoder(content, ["relu3_1"])["relu3_1"]).clamp(0, 1)
            y = n.stylize(content, style)
            ratios = []
            for t in ("relu1_1", "relu2_1"):
                (my, sy), (mc, sc), (ms, ss) = (mean_std(n.encoder(im, [t])[t]) for im in (y, content, style))
                d_out = ((my - ms) ** 2).mean() + ((sy - ss) ** 2).mean()
                d_content = ((mc - ms) ** 2).mean() + ((sc - ss) ** 2).mean()
                ratios.append(float(d_out / d_content))
            return float(((rec - content) ** 2).mean()), ratios

    rec0, r0 = measure(untrained)
    rec1, r1 = measure(net)
    # measured: reconstruction MSE 0.196 -> 0.077; moment distance to the style, relative to the content's,
    # 3.18 -> 0.11 (relu1_1) and 2.38 -> 0.71 (relu2_1). With zero-mean kernels: 0.48 and 1.17.
    assert rec1 < 0.5 * rec0, (rec0, rec1)
    assert r0[0] > 1 and r1[0] < 0.25, (r0, r1)
    assert r1[1] < 0.9, r1
