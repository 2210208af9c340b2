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
