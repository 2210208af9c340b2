"""AdaIN: arbitrary style transfer in one forward pass by matching channel means and stds.

``AdaIN(x, y) = std(y) * (x - mean(x)) / std(x) + mean(y)`` over the spatial positions of each
channel. Content and style go through the frozen VGG-shaped encoder to ``relu4_1``
(:mod:`traingen.style.encoder`), AdaIN mixes them, and a decoder (the only trained part) maps the
result back to an image. The loss is the content loss between the encoding of the output and the
AdaIN target, plus the style loss on the means and stds of ``relu1_1`` .. ``relu4_1``. ``alpha``
interpolates between the content's and the style's statistics at test time.

The encoder is the user's VGG19, a seeded random one, or one trained by the project; results record
which (``info["encoder"]``).

Example:
    >>> net = AdaINNet(AdaINConfig(width=0.125))
    >>> out = net.stylize(content, style)          # N×3×H×W in [0, 1]
    >>> losses = net.losses(content, style)        # dict with "content", "style", "loss"

References:
    Huang & Belongie, "Arbitrary Style Transfer in Real-time with Adaptive Instance Normalization",
    ICCV 2017.
    Li, Fang, Yang, Wang, Lu, Yang, "Universal Style Transfer via Feature Transforms", NeurIPS 2017
    (decoders trained to reconstruct pixels: the ``identity_weight`` term).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..core.errors import ConfigError
from .base import METHODS
from .encoder import Decoder, Encoder, mean_std

STYLE_TAPS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")


def adain(x, y, eps: float = 1e-5):
    """Adaptive instance normalisation of content features ``x`` to style features ``y`` (N×C×H×W each).

    Returns:
        N×C×H×W: ``x`` whitened per channel, then scaled and shifted to ``y``'s std and mean.
    """
    mx, sx = mean_std(x, eps)
    my, sy = mean_std(y, eps)
    return (x - mx) / sx * sy + my


def moment_loss(feats: dict[str, Any], targets: dict[str, Any], normalise: bool = False):
    """AdaIN's style loss: sum over taps of the MSE of channel means plus the MSE of channel stds.

    With ``normalise`` each tap's term is divided by the mean square of its target features (detached).
    """
    import torch.nn.functional as F

    total = 0.0
    for t in targets:
        m1, s1 = mean_std(feats[t])
        m2, s2 = mean_std(targets[t])
        term = F.mse_loss(m1, m2) + F.mse_loss(s1, s2)
        if normalise:
            term = term / (targets[t].detach() ** 2).mean().clamp_min(1e-12)
        total = total + term
    return total


@dataclass
class AdaINConfig:
    """Network and loss settings of AdaIN (strict keys).

    Args:
        width: channel multiplier of encoder and decoder (1.0 = VGG19; needed for VGG19 weights).
        encoder_seed: seed of a random encoder.
        encoder_init: ``zero-mean`` or ``plain`` random kernels (:data:`traingen.style.encoder.ENCODER_INITS`;
            only ``plain`` lets flat colour reach relu2_1 and deeper).
        encoder_weights: VGG19 weight file or a saved encoder (None = seeded random).
        content_weight / style_weight: loss weights (the paper uses style_weight 10).
        alpha: content-style trade-off at test time, in [0, 1].
        tap: the encoder tap AdaIN mixes and the decoder inverts (``relu4_1`` in the paper); the style loss
            reads relu1_1 up to it. ``relu3_1`` (two poolings, 8 convs fewer to invert) is what a decoder
            learns to invert within minutes on CPU for a random encoder (docs/style.md).
        normalise_layers: divide each layer's loss by the mean square of its target features, so every
            tap weighs the same whatever its scale (a random encoder's deep maps are several times smaller
            than its shallow ones, so unnormalised the style loss is all relu1_1).
        identity_weight: weight of a pixel reconstruction term ``||D(E(c)) − c||²`` on the content batch
            (0 = the paper's losses only). Li et al. train their decoders this way; with a random encoder
            the feature-space content loss alone teaches the decoder to invert it far too slowly on CPU.
    """

    width: float = 0.25
    encoder_seed: int = 0
    encoder_weights: str | None = None
    encoder_init: str = "zero-mean"
    content_weight: float = 1.0
    style_weight: float = 10.0
    alpha: float = 1.0
    tap: str = "relu4_1"
    identity_weight: float = 0.0
    normalise_layers: bool = True

    def __post_init__(self):
        if not 0 <= self.alpha <= 1:
            raise ConfigError(f"alpha must be in [0, 1], got {self.alpha}", field="alpha")
        if self.tap not in STYLE_TAPS:
            raise ConfigError(f"tap must be one of {', '.join(STYLE_TAPS)}, got {self.tap!r}", field="tap")


def _build():
    from torch import nn

    class AdaINNet(nn.Module):
        """Encoder (frozen) + AdaIN + decoder (trained)."""

        method = "adain"

        def __init__(self, config: AdaINConfig | None = None):
            super().__init__()
            self.config = config or AdaINConfig()
            cfg = self.config
            self.encoder = Encoder(cfg.width, cfg.encoder_seed, cfg.encoder_weights, cfg.encoder_init)
            self.decoder = Decoder(cfg.width, cfg.tap)
            self.style_taps = list(STYLE_TAPS[: STYLE_TAPS.index(cfg.tap) + 1])

        def trainable(self):
            return list(self.decoder.parameters())

        def stylize(self, content, style, alpha: float | None = None):
            a = self.config.alpha if alpha is None else alpha
            tap = self.config.tap
            fc = self.encoder(content, [tap])[tap]
            fs = self.encoder(style, [tap])[tap]
            t = adain(fc, fs)
            t = a * t + (1 - a) * fc
            return self.decoder(t).clamp(0, 1)

        def losses(self, content, style) -> dict[str, Any]:
            tap = self.config.tap
            fc = self.encoder(content, [tap])[tap]
            fs = self.encoder(style, self.style_taps)
            t = adain(fc, fs[tap]).detach()
            g = self.decoder(t)
            fg = self.encoder(g, self.style_taps)
            lc = ((fg[tap] - t) ** 2).mean()
            if self.config.normalise_layers:
                lc = lc / (t ** 2).mean().clamp_min(1e-12)
            ls = moment_loss(fg, fs, normalise=self.config.normalise_layers)
            loss = self.config.content_weight * lc + self.config.style_weight * ls
            out = {"content": lc.detach(), "style": ls.detach()}
            if self.config.identity_weight > 0:
                lid = ((self.decoder(fc) - content) ** 2).mean()
                loss = loss + self.config.identity_weight * lid
                out["identity"] = lid.detach()
            return {"loss": loss, **out}

    return AdaINNet


_CLS: dict[str, Any] = {}


def AdaINNet(config: AdaINConfig | None = None):  # noqa: N802 (lazy class: torch loads on first use)
    """Build the AdaIN network (see the module docstring)."""
    if "net" not in _CLS:
        _CLS["net"] = _build()
    return _CLS["net"](config)


@METHODS.register("adain")
class AdaIN:
    """Feed-forward AdaIN transfer from a trained checkpoint (``traingen train style``)."""

    Config = AdaINConfig
    build = staticmethod(AdaINNet)
    trained = True
