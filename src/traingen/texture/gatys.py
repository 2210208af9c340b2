"""Texture synthesis with Gram matrices (Gatys et al. 2015): L-BFGS from white noise.

A texture is summarised by the Gram matrices of a feature network's maps at several taps. A new
texture is found by starting from uniform noise and minimising, with L-BFGS over the pixels, the
style loss (:func:`traingen.texture.gram.style_loss`) between the Grams of the image and those of
the exemplar. The output size is free; nothing ties output positions to exemplar positions, so the
result is a new arrangement of the exemplar's local structure, not a copy.

Backbones (:func:`traingen.texture.gram.get_backbone`): ``random-multiscale`` (the default; seeded
random filters at 8 scales, weights-free, Ustyuzhaninov et al. 2017) uses every scale ``k3`` ..
``k55``; ``vgg19`` (the user's torchvision weight file) uses ``relu1_1``, ``relu2_1``, ``relu3_1``,
``relu4_1``, ``relu5_1`` as in the paper (they use pool layers; relu is the common choice). With
``padding="circular"`` every convolution wraps, so the output tiles seamlessly.

Budget: ``steps`` counts loss + gradient evaluations (the unit of the paper), not L-BFGS iterations.

Example:
    >>> res = synthesize(exemplar, size=128, steps=200, backbone="random-multiscale", seed=0)
    >>> res.image.shape, res.losses[0] / res.losses[-1]

References:
    Gatys, Ecker, Bethge, "Texture Synthesis Using Convolutional Neural Networks", NeurIPS 2015.
    Ustyuzhaninov, Brendel, Gatys, Bethge, "What does it take to generate natural textures?", ICLR 2017.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..core.config import to_dict
from ..core.errors import ConfigError
from ..core.seeding import torch_generator
from .base import TextureResult, Timer, check_size, register, run_lbfgs, to_tensor, to_uint8


@dataclass
class GatysConfig:
    """Settings of :func:`synthesize`.

    Args:
        size: output side in pixels (square).
        steps: loss evaluations of L-BFGS.
        backbone: ``random-multiscale`` or ``vgg19``.
        weights: the vgg19 weight file (or folder); None searches ``$TRAINGEN_WEIGHTS`` and the hub cache.
        taps: style taps; empty uses the backbone's defaults.
        padding: ``zero`` or ``circular`` (tileable output).
        exemplar_size: resize the exemplar so its shorter side is this (None keeps it); sets the texture's scale.
        style_weight: factor on the style loss (L-BFGS is scale-sensitive only through its tolerances).
    """

    size: int = 128
    steps: int = 200
    backbone: str = "random-multiscale"
    weights: str | None = None
    taps: tuple[str, ...] = ()
    padding: str = "zero"
    exemplar_size: int | None = None
    style_weight: float = 1e3

    def __post_init__(self) -> None:
        check_size(self.size, "texture 'gatys'")
        if self.steps < 1:
            raise ConfigError(f"steps must be >= 1, got {self.steps}", where="texture 'gatys'", field="steps")
        if self.exemplar_size is not None:
            check_size(self.exemplar_size, "texture 'gatys'")
        if self.style_weight <= 0:
            raise ConfigError("style_weight must be > 0", where="texture 'gatys'", field="style_weight")


def resize_short(x, short: int | None):
    """Resize a 1×C×H×W tensor so its shorter side is ``short`` (antialiased bilinear); None keeps it."""
    import torch.nn.functional as F

    if short is None:
        return x
    h, w = int(x.shape[-2]), int(x.shape[-1])
    s = short / min(h, w)
    size = (max(1, round(h * s)), max(1, round(w * s)))
    if size == (h, w):
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=s < 1).clamp(0, 1)


def gram_objective(backbone, exemplar, taps, weight: float = 1.0) -> Callable[[Any], Any]:
    """``f(x) = weight · style_loss(maps(x), Grams(maps(exemplar)))`` for the given taps.

    Args:
        backbone: a :class:`~traingen.texture.gram.Backbone`.
        exemplar: 1×C×H×W float tensor in [0, 1].
        taps: style taps.
        weight: scalar factor.

    Returns:
        The objective, a function of the image tensor.
    """
    import torch

    from .gram import style_loss, style_targets

    with torch.no_grad():
        targets = style_targets(backbone.maps(exemplar, taps))

    def objective(x):
        return weight * style_loss(backbone.maps(x, taps), targets)

    return objective


def optimise_from_noise(objective: Callable[[Any], Any], shape: tuple[int, ...], steps: int, *, generator,
                        device: str = "cpu", progress=None, init=None):
    """Run L-BFGS on ``objective`` from uniform noise (or ``init``); returns ``(image, losses)``."""
    import torch

    x0 = torch.rand(shape, generator=generator).to(device) if init is None else init.detach().clone()
    x = x0.requires_grad_(True)
    losses = run_lbfgs(x, objective, steps, progress=progress, where="texture")
    return x.detach().clamp(0, 1), losses


def get_cached_backbone(name: str, weights: str | None, device: str, padding: str):
    """:func:`~traingen.texture.gram.get_backbone`, memoised per (name, weights, device, padding)."""
    from .gram import get_backbone

    key = (name, weights, str(device), padding)
    if key not in _BACKBONES:
        _BACKBONES.clear()  # keep at most one network alive
        _BACKBONES[key] = get_backbone(name, weights=weights, device=device, padding=padding)
    return _BACKBONES[key]


_BACKBONES: dict[tuple[Any, ...], Any] = {}


def synthesize(exemplar: Any, *, size: int = 128, steps: int = 200, backbone: str = "random-multiscale",
               seed: int = 0, device: str = "cpu", progress=None, **options: Any) -> TextureResult:
    """Synthesise a ``size``×``size`` texture like ``exemplar``.

    Args:
        exemplar: numpy H×W / H×W×C (uint8 or float in [0, 1]) or torch C×H×W / 1×C×H×W.
        size: output side.
        steps: L-BFGS loss evaluations.
        backbone: ``random-multiscale`` or ``vgg19``.
        seed: seed of the starting noise.
        device: torch device.
        progress: ``progress(evaluation, loss)``.
        **options: other :class:`GatysConfig` fields (``weights``, ``taps``, ``padding``, ``exemplar_size``).

    Returns:
        :class:`~traingen.texture.base.TextureResult`; ``losses`` per evaluation.
    """
    cfg = GatysConfig(size=size, steps=steps, backbone=backbone, **options)
    return run(exemplar, cfg, seed=seed, device=device, progress=progress)


@register("gatys", GatysConfig, "Gram matrices of a backbone, L-BFGS from noise (Gatys et al. 2015)")
def run(exemplar: Any, cfg: GatysConfig, *, seed: int = 0, device: str = "cpu", progress=None) -> TextureResult:
    """Run Gatys synthesis with a :class:`GatysConfig` (the registered entry point)."""
    with Timer() as t:
        ex = resize_short(to_tensor(exemplar, device=device), cfg.exemplar_size)
        bb = get_cached_backbone(cfg.backbone, cfg.weights, device, cfg.padding)
        taps = list(cfg.taps or bb.default_style_taps)
        objective = gram_objective(bb, ex, taps, cfg.style_weight)
        gen = torch_generator(seed, "texture-gatys")
        x, losses = optimise_from_noise(objective, (1, ex.shape[1], cfg.size, cfg.size), cfg.steps,
                                        generator=gen, device=device, progress=progress)
    info = {"config": to_dict(cfg), "backbone": bb.provenance(), "taps": taps, "evaluations": len(losses),
            "exemplar_shape": list(ex.shape[1:])}
    return TextureResult(to_uint8(x), losses, t.seconds, "gatys", info)
