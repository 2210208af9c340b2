"""SANet: arbitrary style transfer with style-attentional networks on relu4_1 and relu5_1.

A style-attentional module embeds the mean-variance normalised content features ``F_c`` and style
features ``F_s`` with 1×1 convolutions ``f`` and ``g``, forms the attention ``A = softmax(f(F_c)^T
g(F_s))`` over style positions (each content position's row sums to 1), gathers ``h(F_s)`` with it
and adds the result, through one more 1×1 convolution, to ``F_c``. One module runs on ``relu4_1``,
one on ``relu5_1`` (``tap: relu3_1`` moves the pair one stage up, for random encoders); the second's
output is upsampled and added to the first's, merged by a 3×3 convolution and decoded. Training uses
content loss on the normalised maps of the two taps, AdaIN-style moment loss from ``relu1_1`` to the
deeper tap, and the two identity losses: the network fed
(content, content) or (style, style) must reproduce its input, in pixels (``identity1``) and in
features (``identity2``).

Example:
    >>> net = SANetNet(SANetConfig(width=0.125))
    >>> net.stylize(content, style).shape          # as content
    >>> net.losses(content, style)["identity1"]

References:
    Park & Lee, "Arbitrary Style Transfer with Style-Attentional Networks", CVPR 2019.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..core.errors import ConfigError
from .adain import moment_loss
from .base import METHODS
from .encoder import ENCODER_TAPS, Decoder, Encoder, mean_std


def mvn(f, eps: float = 1e-5):
    """Mean-variance normalisation of each channel over space (instance norm without affine)."""
    m, s = mean_std(f, eps)
    return (f - m) / s


def attention(fq, gk):
    """Attention of content queries over style keys.

    Args:
        fq: N×C×Hc×Wc embedded content, gk: N×C×Hs×Ws embedded style.

    Returns:
        N×(Hc·Wc)×(Hs·Ws): row ``i`` is a distribution over style positions (sums to 1).
    """
    import torch

    q = fq.flatten(2).transpose(1, 2)
    k = gk.flatten(2)
    return torch.softmax(q @ k, dim=-1)


@dataclass
class SANetConfig:
    """Network and loss settings of SANet (strict keys; the paper's weights by default).

    Args:
        width: channel multiplier of encoder/decoder (1.0 = VGG19).
        encoder_seed / encoder_weights / encoder_init: the frozen encoder (see :mod:`traingen.style.encoder`).
        content_weight, style_weight, identity1_weight, identity2_weight: lambda_c, lambda_s, lambda_id1,
            lambda_id2 (1, 3, 50, 1 in the paper).
        tap: the shallower of the two attention taps, which the decoder inverts; the other is the next
            tap (``relu4_1`` -> relu4_1 + relu5_1 as in the paper; ``relu3_1`` -> relu3_1 + relu4_1, a decoder
            two poolings deep, what a decoder learns to invert within CPU minutes for a random encoder).
        normalise_layers: divide each tap's moment (style) loss and feature-identity loss by the mean square
            of its target maps (detached), so every tap weighs the same whatever its scale (as AdaIN's option;
            off = the paper's raw sums). The content loss is on mean-variance-normalised maps either way.
    """

    width: float = 0.25
    encoder_seed: int = 0
    encoder_weights: str | None = None
    encoder_init: str = "zero-mean"
    content_weight: float = 1.0
    style_weight: float = 3.0
    identity1_weight: float = 50.0
    identity2_weight: float = 1.0
    tap: str = "relu4_1"
    normalise_layers: bool = False

    def __post_init__(self):
        if self.tap not in ENCODER_TAPS[:-1]:
            raise ConfigError(f"tap must be one of {', '.join(ENCODER_TAPS[:-1])}, got {self.tap!r}", field="tap")

    @property
    def taps(self) -> tuple[str, str]:
        """The two attention taps (shallow, deep)."""
        i = ENCODER_TAPS.index(self.tap)
        return ENCODER_TAPS[i], ENCODER_TAPS[i + 1]


def _build():
    import torch.nn.functional as F
    from torch import nn

    class SANet(nn.Module):
        """One style-attentional module on C channels."""

        def __init__(self, c: int):
            super().__init__()
            self.f, self.g, self.h, self.out = (nn.Conv2d(c, c, 1) for _ in range(4))

        def forward(self, fc, fs, return_attention: bool = False):
            a = attention(self.f(mvn(fc)), self.g(mvn(fs)))
            n, c, hh, ww = fc.shape
            o = (self.h(fs).flatten(2) @ a.transpose(1, 2)).reshape(n, c, hh, ww)
            y = fc + self.out(o)
            return (y, a) if return_attention else y

    class SANetNet(nn.Module):
        method = "sanet"

        def __init__(self, config: SANetConfig | None = None):
            super().__init__()
            self.config = cfg = config or SANetConfig()
            self.encoder = Encoder(cfg.width, cfg.encoder_seed, cfg.encoder_weights, cfg.encoder_init)
            self.attn_taps = list(cfg.taps)
            c4, c5 = (self.encoder.channels[t] for t in self.attn_taps)
            # attribute names keep the paper's relu4_1/relu5_1 layout so older checkpoints load
            self.sa4, self.sa5 = SANet(c4), SANet(c5)
            self.merge = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(c4, c4, 3))
            # relu4_1 and relu5_1 have the same width in VGG; a shallower pair does not: project the deeper one
            self.project = nn.Conv2d(c5, c4, 1) if c5 != c4 else None
            self.decoder = Decoder(cfg.width, cfg.tap)
            self.loss_taps = list(ENCODER_TAPS[: ENCODER_TAPS.index(self.attn_taps[1]) + 1])

        def trainable(self):
            return [p for n, p in self.named_parameters() if not n.startswith("encoder.")]

        def transform(self, ec: dict[str, Any], es: dict[str, Any]):
            t4, t5 = self.attn_taps
            a4 = self.sa4(ec[t4], es[t4])
            a5 = self.sa5(ec[t5], es[t5])
            if self.project is not None:
                a5 = self.project(a5)
            a5 = F.interpolate(a5, size=a4.shape[-2:], mode="nearest")
            return self.merge(a4 + a5)

        def stylize(self, content, style, alpha: float = 1.0):
            taps = self.attn_taps
            return self.decoder(self.transform(self.encoder(content, taps), self.encoder(style, taps))).clamp(0, 1)

        def losses(self, content, style) -> dict[str, Any]:
            cfg = self.config
            taps = self.loss_taps
            norm = cfg.normalise_layers

            def scale(t):  # per-tap normaliser of the style / feature-identity terms
                return (t.detach() ** 2).mean().clamp_min(1e-12) if norm else 1.0

            ec, es = self.encoder(content, taps), self.encoder(style, taps)
            g = self.decoder(self.transform(ec, es))
            eg = self.encoder(g, taps)
            lc = sum(F.mse_loss(mvn(eg[t]), mvn(ec[t])) for t in self.attn_taps)
            ls = moment_loss(eg, es, normalise=norm)
            icc = self.decoder(self.transform(ec, ec))
            iss = self.decoder(self.transform(es, es))
            id1 = F.mse_loss(icc, content) + F.mse_loss(iss, style)
            ecc, ess = self.encoder(icc, taps), self.encoder(iss, taps)
            id2 = sum(F.mse_loss(ecc[t], ec[t]) / scale(ec[t]) + F.mse_loss(ess[t], es[t]) / scale(es[t])
                      for t in taps)
            loss = (cfg.content_weight * lc + cfg.style_weight * ls + cfg.identity1_weight * id1
                    + cfg.identity2_weight * id2)
            return {"loss": loss, "content": lc.detach(), "style": ls.detach(), "identity1": id1.detach(),
                    "identity2": id2.detach()}

    return SANet, SANetNet


_CLS: dict[str, Any] = {}


def _classes():
    if not _CLS:
        _CLS["module"], _CLS["net"] = _build()
    return _CLS


def SANetModule(channels: int):  # noqa: N802 (lazy class: torch loads on first use)
    """One style-attentional module on ``channels`` channels; ``forward(fc, fs, return_attention=False)``."""
    return _classes()["module"](channels)


def SANetNet(config: SANetConfig | None = None):  # noqa: N802
    """Build the full SANet network (see the module docstring)."""
    return _classes()["net"](config)


@METHODS.register("sanet")
class SANetMethod:
    """Feed-forward SANet transfer from a trained checkpoint (``traingen train style``)."""

    Config = SANetConfig
    build = staticmethod(SANetNet)
    trained = True
