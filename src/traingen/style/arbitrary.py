"""Arbitrary style transfer by predicting conditional instance-norm parameters (Ghiasi et al. 2017).

A style prediction network maps any style image to an embedding ``S`` (the paper: Inception-v3
features, mean pooled, a bottleneck to 100 dimensions); a linear layer turns ``S`` into the
``(gamma, beta)`` of every conditional instance normalisation of a transformer network (Johnson et
al.'s: three down convolutions, residual blocks, two up convolutions, each followed by CIN). Training
minimises the Gatys content loss (``relu3_1``) and Gram style loss (``relu1_1``..``relu4_1``) on the
frozen VGG-shaped encoder, over many styles; the network then stylises with styles it never saw.

Here the prediction network reads the frozen encoder (channel means and stds of the RGB image and of
``relu1_1`` .. ``relu4_1``, a pooled texture descriptor) instead of Inception v3, whose weights can't
be loaded offline; which encoder (VGG19 file, seeded random or self-trained) is recorded in every result.

Example:
    >>> net = ArbitraryNet(ArbitraryConfig(width=0.125, base=8, residual=2))
    >>> s = net.predict(style)             # N×bottleneck style embedding
    >>> net.stylize(content, style)        # N×3×H×W

References:
    Ghiasi, Lee, Kudlur, Dumoulin, Shlens, "Exploring the structure of a real-time, arbitrary neural
    artistic stylization network", BMVC 2017.
    Dumoulin, Shlens, Kudlur, "A Learned Representation for Artistic Style", ICLR 2017 (conditional
    instance normalisation). Johnson, Alahi, Fei-Fei, "Perceptual Losses for Real-Time Style Transfer
    and Super-Resolution", ECCV 2016 (the transformer network).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .base import METHODS
from .encoder import Encoder, mean_std

STYLE_TAPS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
CONTENT_TAP = "relu3_1"


@dataclass
class ArbitraryConfig:
    """Network and loss settings (strict keys).

    Args:
        width: encoder channel multiplier (1.0 = VGG19).
        encoder_seed / encoder_weights / encoder_init: the frozen encoder (see :mod:`traingen.style.encoder`).
        base: channels of the transformer's first convolution (32 in Johnson et al.).
        residual: residual blocks of the transformer (5 in the paper).
        bottleneck: dimension of the style embedding ``S`` (100 in the paper).
        content_weight / style_weight: loss weights.
        normalise_layers: divide the content loss by the mean square of its target maps and each tap's Gram
            loss by the mean square of the style's Gram (detached), so every tap weighs the same whatever its
            scale. Off, the raw sums (the paper's form, with style_weight ~1e3 for this encoder) let one tap
            dominate and, with the plain random encoder, training lost the content (docs/style.md).
        identity_weight: weight of a pixel term ``||T(c, S(c)) − c||²``: the content stylised with its own
            predicted style must come back unchanged (0 = the paper's losses only). Borrowed from SANet's
            identity loss; it teaches the transformer to keep the content within CPU minutes.
        zero_init: start the embedding-to-parameters layer at zero weights, so every style first gets
            gamma = 1, beta = 0 and the transformer can learn the content before the style-dependent part
            grows (as adaLN-Zero, Peebles & Xie 2023). Off (PyTorch's default init), the random layer gives
            each style random gammas of order 1, which with the random encoder's unnormalised pooled
            statistics kept the content from being learnt in short runs (docs/style.md).
    """

    width: float = 0.25
    encoder_seed: int = 0
    encoder_weights: str | None = None
    encoder_init: str = "zero-mean"
    base: int = 16
    residual: int = 3
    bottleneck: int = 100
    content_weight: float = 1.0
    style_weight: float = 1e3
    normalise_layers: bool = False
    identity_weight: float = 0.0
    zero_init: bool = False


def cin(x, gamma, beta, eps: float = 1e-5):
    """Conditional instance norm: normalise each channel over space, then ``gamma * x + beta`` (N×C each)."""
    m, s = mean_std(x, eps)
    return (x - m) / s * gamma[:, :, None, None] + beta[:, :, None, None]


def _build():
    import torch
    import torch.nn.functional as F
    from torch import nn

    from ..texture.gram import gram_matrix

    class ConvCIN(nn.Module):
        def __init__(self, cin_: int, cout: int, k: int, stride: int = 1, up: bool = False, act: bool = True):
            super().__init__()
            self.pad = nn.ReflectionPad2d(k // 2)
            self.conv = nn.Conv2d(cin_, cout, k, stride)
            self.up, self.act, self.channels = up, act, cout

        def forward(self, x, params):
            if self.up:
                x = F.interpolate(x, scale_factor=2, mode="nearest")
            y = cin(self.conv(self.pad(x)), *params)
            return torch.relu(y) if self.act else y

    class ArbitraryNet(nn.Module):
        method = "arbitrary"

        def __init__(self, config: ArbitraryConfig | None = None):
            super().__init__()
            self.config = cfg = config or ArbitraryConfig()
            self.encoder = Encoder(cfg.width, cfg.encoder_seed, cfg.encoder_weights, cfg.encoder_init)
            b = cfg.base
            layers = [ConvCIN(3, b, 9), ConvCIN(b, 2 * b, 3, 2), ConvCIN(2 * b, 4 * b, 3, 2)]
            for _ in range(cfg.residual):
                layers += [ConvCIN(4 * b, 4 * b, 3), ConvCIN(4 * b, 4 * b, 3, act=False)]
            layers += [ConvCIN(4 * b, 2 * b, 3, up=True), ConvCIN(2 * b, b, 3, up=True), ConvCIN(b, 3, 9, act=False)]
            self.layers = nn.ModuleList(layers)
            n_params = 2 * sum(m.channels for m in layers)
            desc = 2 * (3 + sum(self.encoder.channels[t] for t in STYLE_TAPS))  # + RGB mean/std
            self.bottleneck = nn.Linear(desc, cfg.bottleneck)
            self.to_params = nn.Linear(cfg.bottleneck, n_params)
            with torch.no_grad():  # gamma starts around 1, beta around 0
                if cfg.zero_init:
                    self.to_params.weight.zero_()
                self.to_params.bias.zero_()
                for off, ch in self._offsets():
                    self.to_params.bias[off:off + ch] = 1.0

        def _offsets(self):
            off = 0
            for m in self.layers:
                yield off, m.channels
                off += 2 * m.channels

        def trainable(self):
            return [p for n, p in self.named_parameters() if not n.startswith("encoder.")]

        def predict(self, style):
            """The style embedding ``S`` (N×bottleneck) of a style batch."""
            fs = self.encoder(style, list(STYLE_TAPS))
            stats = [mean_std(style)] + [mean_std(fs[t]) for t in STYLE_TAPS]
            d = torch.cat([torch.cat([m.flatten(1), s.flatten(1)], 1) for m, s in stats], 1)
            return self.bottleneck(d)

        def transform(self, content, embedding):
            p = self.to_params(embedding)
            x = content
            skip = None
            for i, (m, (off, ch)) in enumerate(zip(self.layers, self._offsets(), strict=True)):
                params = (p[:, off:off + ch], p[:, off + ch:off + 2 * ch])
                if 3 <= i < 3 + 2 * self.config.residual and (i - 3) % 2 == 0:
                    skip = x
                x = m(x, params)
                if 3 <= i < 3 + 2 * self.config.residual and (i - 3) % 2 == 1:
                    x = x + skip
            return torch.sigmoid(x)

        def stylize(self, content, style, alpha: float = 1.0):
            e = self.predict(style)
            if alpha < 1:
                e = alpha * e + (1 - alpha) * self.predict(content)
            return self.transform(content, e)

        def losses(self, content, style) -> dict[str, Any]:
            cfg = self.config
            g = self.stylize(content, style)
            taps = sorted(set(STYLE_TAPS) | {CONTENT_TAP})
            eg, ec, es = self.encoder(g, taps), self.encoder(content, [CONTENT_TAP]), self.encoder(style, list(STYLE_TAPS))
            lc = F.mse_loss(eg[CONTENT_TAP], ec[CONTENT_TAP])
            if cfg.normalise_layers:
                lc = lc / (ec[CONTENT_TAP] ** 2).mean().clamp_min(1e-12)
            ls = 0.0
            for t in STYLE_TAPS:
                gs = gram_matrix(es[t])
                term = F.mse_loss(gram_matrix(eg[t]), gs)
                if cfg.normalise_layers:
                    term = term / (gs.detach() ** 2).mean().clamp_min(1e-12)
                ls = ls + term
            ls = ls / len(STYLE_TAPS)
            loss = cfg.content_weight * lc + cfg.style_weight * ls
            out = {"content": lc.detach(), "style": ls.detach()}
            if cfg.identity_weight > 0:
                lid = F.mse_loss(self.transform(content, self.predict(content)), content)
                loss = loss + cfg.identity_weight * lid
                out["identity"] = lid.detach()
            return {"loss": loss, **out}

    return ArbitraryNet


_CLS: dict[str, Any] = {}


def ArbitraryNet(config: ArbitraryConfig | None = None):  # noqa: N802 (lazy class: torch loads on first use)
    """Build Ghiasi et al.'s network (see the module docstring)."""
    if "net" not in _CLS:
        _CLS["net"] = _build()
    return _CLS["net"](config)


@METHODS.register("arbitrary")
class Arbitrary:
    """Feed-forward arbitrary stylisation from a trained checkpoint (``traingen train style``)."""

    Config = ArbitraryConfig
    build = staticmethod(ArbitraryNet)
    trained = True
