"""High-resolution multi-scale neural texture synthesis (Snelgrove 2017): Gram loss on a Gaussian pyramid.

A single-scale Gram loss sees only structures as large as the backbone's receptive field, so large
outputs lose their large-scale structure (bricks stop lining up, patches lose their layout).
Snelgrove builds a Gaussian pyramid of both the exemplar and the image being synthesised and sums
the Gram (style) loss over every level, so the coarse levels carry the large structures through the
same small-receptive-field network. Synthesis runs coarse to fine: the image is first optimised at
``size / 2^(L-1)`` against the exemplar's coarsest levels, then upsampled (bilinear) and optimised
again at each finer size, each stage matching all pyramid levels of the current image to the
exemplar's levels of the same scale.

Pyramid: blur with the 5-tap binomial filter ``[1, 4, 6, 4, 1] / 16`` (separable, reflect or
circular padding) then keep every second pixel (Burt & Adelson). Level weights are equal (1 / number
of levels matched at that stage).

Example:
    >>> res = synthesize(exemplar, size=256, steps=200, levels=3, seed=0)

References:
    Snelgrove, "High-Resolution Multi-Scale Neural Texture Synthesis", SIGGRAPH Asia 2017 Technical Briefs.
    Burt & Adelson, "The Laplacian Pyramid as a Compact Image Code", IEEE Trans. Communications 1983.
    Gatys, Ecker, Bethge, "Texture Synthesis Using Convolutional Neural Networks", NeurIPS 2015.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..core.config import to_dict
from ..core.errors import ConfigError
from ..core.seeding import torch_generator
from .base import TextureResult, Timer, check_size, register, run_lbfgs, to_tensor, to_uint8
from .gatys import get_cached_backbone, resize_short

BINOMIAL5 = (1.0, 4.0, 6.0, 4.0, 1.0)


@dataclass
class MultiscaleConfig:
    """Settings of :func:`synthesize`.

    Args:
        size: output side in pixels (divisible by ``2^(levels-1)``).
        steps: L-BFGS evaluations in all (split evenly over the ``levels`` stages).
        levels: pyramid levels (stages of the coarse-to-fine schedule).
        backbone: ``random-multiscale`` or ``vgg19``.
        weights: the vgg19 weight file.
        taps: style taps; empty uses the backbone's defaults.
        padding: ``zero`` or ``circular`` (network and pyramid wrap: tileable output).
        exemplar_size: resize the exemplar's shorter side to this first (None keeps it).
        style_weight: factor on the loss.
    """

    size: int = 256
    steps: int = 200
    levels: int = 3
    backbone: str = "random-multiscale"
    weights: str | None = None
    taps: tuple[str, ...] = ()
    padding: str = "zero"
    exemplar_size: int | None = None
    style_weight: float = 1e3

    def __post_init__(self) -> None:
        where = "texture 'multiscale'"
        check_size(self.size, where)
        if not 1 <= self.levels <= 6:
            raise ConfigError(f"levels must be in 1..6, got {self.levels}", where=where, field="levels")
        step = 2 ** (self.levels - 1)
        if self.size % step or self.size // step < 8:
            raise ConfigError(f"size {self.size} must be a multiple of 2^(levels-1) = {step} with the coarsest "
                              "level at least 8 px", where=where, field="size")
        if self.steps < self.levels:
            raise ConfigError(f"steps must be >= levels ({self.levels}), got {self.steps}", where=where,
                              field="steps")
        if self.style_weight <= 0:
            raise ConfigError("style_weight must be > 0", where=where, field="style_weight")


def blur_downsample(x, padding: str = "zero"):
    """One Gaussian-pyramid step: binomial 5-tap blur (separable) then 2× subsampling; differentiable."""
    import torch
    import torch.nn.functional as F

    c = int(x.shape[1])
    k = torch.tensor(BINOMIAL5, dtype=x.dtype, device=x.device) / 16.0
    mode = "circular" if padding == "circular" else "reflect"
    y = F.pad(x, (2, 2, 2, 2), mode=mode)
    y = F.conv2d(y, k.view(1, 1, 1, 5).expand(c, 1, 1, 5), groups=c)
    y = F.conv2d(y, k.view(1, 1, 5, 1).expand(c, 1, 5, 1), groups=c)
    return y[..., ::2, ::2]


def gaussian_pyramid(x, levels: int, padding: str = "zero") -> list[Any]:
    """``[x, down(x), down(down(x)), ...]`` with ``levels`` entries (stops early below 8 px)."""
    out = [x]
    for _ in range(levels - 1):
        if min(out[-1].shape[-2:]) < 16:
            break
        out.append(blur_downsample(out[-1], padding))
    return out


def pyramid_objective(backbone, ex_pyramid: list[Any], first: int, taps: list[str], weight: float):
    """Objective of one stage: mean over pyramid levels of x of the Gram loss to exemplar level ``first + j``."""
    import torch

    from .gram import style_loss, style_targets

    with torch.no_grad():
        targets = [style_targets(backbone.maps(e, taps)) for e in ex_pyramid[first:]]

    def objective(x):
        levels = gaussian_pyramid(x, len(targets), backbone.padding)
        total = 0.0
        for lvl, tgt in zip(levels, targets, strict=False):
            total = total + style_loss(backbone.maps(lvl, taps), tgt)
        return weight * total / len(levels)

    return objective


def synthesize(exemplar: Any, *, size: int = 256, steps: int = 200, levels: int = 3,
               backbone: str = "random-multiscale", seed: int = 0, device: str = "cpu", progress=None,
               **options: Any) -> TextureResult:
    """Synthesise a ``size``×``size`` texture coarse to fine with pyramid Gram losses.

    Args:
        exemplar: the example texture (numpy or torch, see :mod:`traingen.texture.base`).
        size: output side.
        steps: L-BFGS evaluations in all.
        levels: pyramid levels.
        backbone: ``random-multiscale`` or ``vgg19``.
        seed: seed of the starting noise.
        device: torch device.
        progress: ``progress(evaluation, loss)``; evaluations count across stages.
        **options: other :class:`MultiscaleConfig` fields.

    Returns:
        :class:`~traingen.texture.base.TextureResult`; ``info["stages"]`` gives each stage's size and losses.
    """
    cfg = MultiscaleConfig(size=size, steps=steps, levels=levels, backbone=backbone, **options)
    return run(exemplar, cfg, seed=seed, device=device, progress=progress)


@register("multiscale", MultiscaleConfig, "Gram loss on every Gaussian-pyramid level, coarse to fine (Snelgrove 2017)")
def run(exemplar: Any, cfg: MultiscaleConfig, *, seed: int = 0, device: str = "cpu",
        progress=None) -> TextureResult:
    """Run multi-scale synthesis with a :class:`MultiscaleConfig` (the registered entry point)."""
    import torch
    import torch.nn.functional as F

    with Timer() as t:
        ex = resize_short(to_tensor(exemplar, device=device), cfg.exemplar_size)
        bb = get_cached_backbone(cfg.backbone, cfg.weights, device, cfg.padding)
        taps = list(cfg.taps or bb.default_style_taps)
        ex_pyr = gaussian_pyramid(ex, cfg.levels, cfg.padding)
        n_stages = min(cfg.levels, len(ex_pyr))
        gen = torch_generator(seed, "texture-multiscale")
        base_steps, extra = divmod(cfg.steps, n_stages)
        losses: list[float] = []
        stages = []
        x = None
        for s in reversed(range(n_stages)):  # s = pyramid level of this stage's image
            side = cfg.size // 2**s
            if x is None:
                x = torch.rand((1, ex.shape[1], side, side), generator=gen).to(device)
            else:
                x = F.interpolate(x, size=(side, side), mode="bilinear", align_corners=False).clamp(0, 1)
            x = x.detach().requires_grad_(True)
            objective = pyramid_objective(bb, ex_pyr, s, taps, cfg.style_weight)
            n = base_steps + (1 if s < extra else 0)
            offset = len(losses)
            hook = None if progress is None else (lambda i, v, o=offset: progress(o + i, v))
            stage_losses = run_lbfgs(x, objective, n, progress=hook, where="texture 'multiscale'")
            losses += stage_losses
            stages.append({"size": side, "levels": n_stages - s, "evaluations": len(stage_losses),
                           "first_loss": stage_losses[0], "last_loss": stage_losses[-1]})
        out = x.detach().clamp(0, 1)
    info = {"config": to_dict(cfg), "backbone": bb.provenance(), "taps": taps, "stages": stages,
            "evaluations": len(losses), "exemplar_shape": list(ex.shape[1:])}
    return TextureResult(to_uint8(out), losses, t.seconds, "multiscale", info)
