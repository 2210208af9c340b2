"""Neural style transfer by image optimisation (Gatys et al.), with optional colour preservation.

The output image starts from the content image (or noise) and is optimised with L-BFGS so that its
feature maps at the content taps (VGG's ``relu4_2``) match the content image's and the Gram matrices
at the style taps (``relu1_1`` .. ``relu5_1``) match the style image's. The feature network is a
:func:`traingen.texture.gram.get_backbone`: ``vgg19`` from the user's weight file or the weights-free
``random-multiscale`` bank; each backbone supplies its own default taps. Losses (Gram, content, total
variation) come from :mod:`traingen.texture.gram`, shared with texture synthesis.

Colour preservation (Gatys et al. 2016) keeps the content's colours:

- ``luminance``: transfer on the luminance channel only (style luminance matched to the content's
  mean and std), then put the content's YIQ chrominance back;
- ``histogram``: recolour the style image first so that its colour mean and covariance match the
  content's (a linear map, as in Image Analogies), then transfer as usual.

Example:
    >>> out = Gatys(GatysConfig(size=128, evaluations=50))(content, style, seed=0)
    >>> out.image.shape, out.losses[0] / out.losses[-1]

References:
    Gatys, Ecker, Bethge, "A Neural Algorithm of Artistic Style", arXiv 1508.06576, 2015; "Image Style
    Transfer Using Convolutional Neural Networks", CVPR 2016.
    Gatys, Bethge, Hertzmann, Shechtman, "Preserving Color in Neural Artistic Style Transfer",
    arXiv 1606.05897, 2016.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from ..core.config import to_dict
from ..core.errors import ConfigError
from ..core.seeding import torch_generator
from .base import METHODS, StyleResult, resize_long, run_lbfgs, to_tensor, to_uint8

# NTSC YIQ (rows: Y, I, Q), the colour space of Gatys et al. 2016.
_YIQ = np.array([[0.299, 0.587, 0.114], [0.595716, -0.274453, -0.321263], [0.211456, -0.522591, 0.311135]])


def rgb_to_yiq(x):
    """1×3×H×W RGB -> YIQ (same shape)."""
    import torch

    m = torch.as_tensor(_YIQ, dtype=x.dtype, device=x.device)
    return torch.einsum("ij,njhw->nihw", m, x)


def yiq_to_rgb(x):
    """Inverse of :func:`rgb_to_yiq`."""
    import torch

    m = torch.as_tensor(np.linalg.inv(_YIQ), dtype=x.dtype, device=x.device)
    return torch.einsum("ij,njhw->nihw", m, x)


def match_luminance(style_y, content_y):
    """Shift and scale the style luminance to the content luminance's mean and std (Gatys 2016, eq. 1)."""
    s_std = style_y.std().clamp_min(1e-6)
    return ((style_y - style_y.mean()) * (content_y.std() / s_std) + content_y.mean()).clamp(0, 1)


def match_color_histogram(style, content, eps: float = 1e-5):
    """Recolour ``style`` so its RGB mean and covariance equal ``content``'s (Gatys 2016, section 2.2).

    ``x' = A (x - mu_s) + mu_c`` with ``A = Sigma_c^(1/2) Sigma_s^(-1/2)`` (symmetric square roots).
    """
    import torch

    def stats(x):
        v = x[0].reshape(3, -1).double()
        mu = v.mean(1, keepdim=True)
        d = v - mu
        return v, mu, d @ d.T / v.shape[1] + eps * torch.eye(3, dtype=v.dtype, device=v.device)

    def msqrt(c, power):
        w, q = torch.linalg.eigh(c)
        return q @ torch.diag(w.clamp_min(eps) ** power) @ q.T

    v, mu_s, cov_s = stats(style)
    _, mu_c, cov_c = stats(content)
    a = msqrt(cov_c, 0.5) @ msqrt(cov_s, -0.5)
    out = a @ (v - mu_s) + mu_c
    return out.reshape(style.shape).to(style.dtype).clamp(0, 1)


@dataclass
class GatysConfig:
    """Settings of :class:`Gatys` (strict keys; ``traingen style --method gatys``).

    Args:
        backbone: ``random-multiscale`` (weights-free default) or ``vgg19`` (needs ``weights``).
        weights: the VGG19 weight file (``vgg19`` only).
        size: longer side of the output in pixels (content resized to it).
        style_size: longer side of the style image (default: ``size``).
        evaluations: L-BFGS loss evaluations.
        content_weight / style_weight / tv_weight: loss weights (per-layer losses are normalised).
        content_taps / style_taps: feature taps; empty means the backbone's defaults.
        init: start from the ``content`` image or from ``noise``.
        preserve_color: ``none``, ``luminance`` or ``histogram``.
        padding: the backbone's convolution padding, ``zero`` or ``circular``.
    """

    backbone: str = "random-multiscale"
    weights: str | None = None
    size: int = 128
    style_size: int | None = None
    evaluations: int = 50
    content_weight: float = 1.0
    style_weight: float = 1e3
    tv_weight: float = 0.0
    content_taps: tuple[str, ...] = ()
    style_taps: tuple[str, ...] = ()
    init: Literal["content", "noise"] = "content"
    preserve_color: Literal["none", "luminance", "histogram"] = "none"
    padding: Literal["zero", "circular"] = "zero"

    def __post_init__(self):
        if self.size < 8:
            raise ConfigError(f"size must be >= 8, got {self.size}", field="size")
        if self.evaluations < 1:
            raise ConfigError(f"evaluations must be >= 1, got {self.evaluations}", field="evaluations")
        for k in ("content_weight", "style_weight", "tv_weight"):
            if getattr(self, k) < 0:
                raise ConfigError(f"{k} must be >= 0", field=k)


def prepare_pair(content: Any, style: Any, size: int, style_size: int | None, device: str = "cpu"):
    """Content and style as 1×3×H×W tensors resized to their target sizes."""
    c = resize_long(to_tensor(content, field="content", device=device), size)
    s = resize_long(to_tensor(style, field="style", device=device), style_size or size)
    return c, s


def stylize_tensor(c, s, backbone, cfg: GatysConfig, generator=None, extra_loss=None, style_term=None):
    """Optimise an image so it has ``c``'s content and ``s``'s style; the core of every Gatys variant.

    Args:
        c, s: 1×3×H×W float content and style (already resized, colour-processed).
        backbone: a :class:`traingen.texture.gram.Backbone`.
        cfg: the settings (weights, taps, evaluations, init).
        generator: torch.Generator for the noise start.
        extra_loss: optional ``f(x) -> scalar`` added to the objective (photorealism, face prior).
        style_term: optional ``(style_maps_of_x, style_maps_of_s) -> scalar`` replacing the Gram style loss
            (mask-guided Grams); ``style_maps_of_s`` are the style image's raw maps.

    Returns:
        ``(x, trace)``: the optimised 1×3×H×W tensor (clamped) and the :class:`~.base.LbfgsTrace`.
    """
    import torch

    from ..texture.gram import content_loss, style_loss, style_targets, total_variation

    ctaps = list(cfg.content_taps or backbone.default_content_taps)
    staps = list(cfg.style_taps or backbone.default_style_taps)
    with torch.no_grad():
        c_targets = backbone.maps(c, ctaps)
        s_maps = backbone.maps(s, staps)
        s_targets = style_targets(s_maps) if style_term is None else None
    if cfg.init == "content":
        x0 = c.clone()
    else:
        x0 = torch.rand(c.shape, generator=generator, device="cpu").to(c.device)
    x = x0.requires_grad_(True)

    def objective(img):
        m = backbone.maps(img, sorted(set(ctaps) | set(staps)))
        loss = cfg.content_weight * content_loss({t: m[t] for t in ctaps}, c_targets)
        x_style = {t: m[t] for t in staps}
        if style_term is None:
            loss = loss + cfg.style_weight * style_loss(x_style, s_targets)
        else:
            loss = loss + cfg.style_weight * style_term(x_style, s_maps)
        if cfg.tv_weight:
            loss = loss + cfg.tv_weight * total_variation(img)
        if extra_loss is not None:
            loss = loss + extra_loss(img)
        return loss

    trace = run_lbfgs(x, objective, cfg.evaluations)
    return x.detach().clamp(0, 1), trace


class OptimisationMethod:
    """Shared shell of the image-optimisation methods: the config, the device and the lazily built backbone."""

    Config: type = GatysConfig

    def __init__(self, config: GatysConfig | None = None, *, device: str = "cpu"):
        self.config = config or self.Config()
        self.device = device
        self._backbone = None

    @property
    def backbone(self):
        if self._backbone is None:
            from ..texture.gram import get_backbone

            self._backbone = get_backbone(self.config.backbone, weights=self.config.weights, device=self.device,
                                          padding=self.config.padding)
        return self._backbone


@METHODS.register("gatys")
class Gatys(OptimisationMethod):
    """Gatys et al. style transfer; a thin class over :func:`stylize_tensor`.

    Args:
        config: a :class:`GatysConfig`.
        device: torch device.
    """

    Config = GatysConfig

    def __call__(self, content: Any, style: Any, *, seed: int = 0, **_: Any) -> StyleResult:
        cfg = self.config
        t0 = time.perf_counter()
        c, s = prepare_pair(content, style, cfg.size, cfg.style_size, self.device)
        gen = torch_generator(seed, "style-gatys")
        if cfg.preserve_color == "histogram":
            s = match_color_histogram(s, c)
        if cfg.preserve_color == "luminance":
            cy, sy = rgb_to_yiq(c), rgb_to_yiq(s)
            y_c = cy[:, :1].repeat(1, 3, 1, 1)
            y_s = match_luminance(sy[:, :1], cy[:, :1]).repeat(1, 3, 1, 1)
            y, trace = stylize_tensor(y_c, y_s, self.backbone, cfg, gen)
            x = yiq_to_rgb(torch_cat_channels(y[:, :1], cy[:, 1:])).clamp(0, 1)
        else:
            x, trace = stylize_tensor(c, s, self.backbone, cfg, gen)
        return StyleResult(to_uint8(x), trace.losses, time.perf_counter() - t0, "gatys",
                           {"backbone": cfg.backbone, "evaluations": trace.evaluations, "config": to_dict(cfg)})


def torch_cat_channels(a, b):
    """Concatenate along channels (kept here so callers need no torch import)."""
    import torch

    return torch.cat([a, b], dim=1)
