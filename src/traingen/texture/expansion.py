"""Non-stationary texture synthesis by adversarial expansion (Zhou et al. 2018).

A fully convolutional generator is trained on one exemplar to *expand* a k×k crop into the 2k×2k
block around it: each step draws a random 2k×2k block T of the exemplar, feeds its central k×k crop
S, and asks ``G(S) ≈ T``. Losses (as in the paper): ``λ_L1 · |G(S) − T|₁ + λ_style · Gram loss(G(S),
T) + λ_adv · adversarial``, with a patch discriminator D on 2k×2k blocks (least-squares GAN
objective here, for stability on small CPU runs). After training, G is applied to the whole
exemplar (or a crop of it) to grow it 2×, repeatedly if a larger output is asked for, so the result
continues the exemplar's large-scale (also non-stationary) structure.

Architecture (tiny, CPU-trainable; ``channels`` sets the width c): G = reflect-padded 7×7 conv (c) →
2 stride-2 convs (2c, 4c) → ``blocks`` residual blocks → 3 × (nearest 2× upsample + 3×3 conv) (4c, 2c,
c) → 7×7 conv to the image's channels → sigmoid; instance norm + ReLU inside. D = 4 stride-2 4×4
convs (c, 2c, 4c, 1) with leaky ReLU: a patch map of real/fake scores.

By design the centre of ``G(S)`` reproduces S; :func:`compare_with_baselines` compares the expansion of
a crop with bilinear 2× upsampling and with quilting (:mod:`traingen.texture.quilting`) from the same
crop, scored by :mod:`traingen.metrics.texture_quality` against the whole exemplar.

Example:
    >>> res = synthesize(exemplar, size=256, steps=300, crop=48, seed=0)
    >>> res.info["train_seconds"], res.losses[-1]

References:
    Zhou, Zhu, Bai, Lischinski, Cohen-Or, Huang, "Non-stationary Texture Synthesis by Adversarial
    Expansion", SIGGRAPH 2018. Mao et al., "Least Squares Generative Adversarial Networks", ICCV 2017.
    Isola et al., "Image-to-Image Translation with Conditional Adversarial Networks", CVPR 2017 (PatchGAN).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.config import to_dict
from ..core.errors import ConfigError, DataError
from ..core.seeding import numpy_rng, torch_generator
from .base import TextureResult, Timer, check_size, register, to_tensor, to_uint8
from .gatys import get_cached_backbone, resize_short


@dataclass
class ExpansionConfig:
    """Settings of :func:`synthesize`.

    Args:
        size: output side; the centre ``size/2`` crop of the exemplar is expanded (repeatedly if the
            exemplar is smaller).
        steps: training steps.
        crop: k, the side of the training input crops (targets are 2k).
        batch: blocks per step.
        channels: base width of G and D.
        blocks: residual blocks of G.
        lr: Adam learning rate (β = 0.5, 0.999) of both networks.
        l1_weight, style_weight, adv_weight: loss weights (the paper: 100, 1, 1).
        backbone: backbone of the style loss (``random-multiscale`` or ``vgg19``).
        weights: the vgg19 weight file.
        taps: style taps (empty: the backbone's defaults).
        exemplar_size: resize the exemplar's shorter side to this first (None keeps it).
        save: write G to this checkpoint path (safetensors + JSON), or None.
    """

    size: int = 256
    steps: int = 300
    crop: int = 32
    batch: int = 4
    channels: int = 16
    blocks: int = 2
    lr: float = 2e-4
    l1_weight: float = 100.0
    style_weight: float = 1.0
    adv_weight: float = 1.0
    backbone: str = "random-multiscale"
    weights: str | None = None
    taps: tuple[str, ...] = ("k3", "k7", "k15", "k23")
    exemplar_size: int | None = None
    save: str | None = None

    def __post_init__(self) -> None:
        where = "texture 'expansion'"
        check_size(self.size, where)
        if self.crop < 8 or self.crop % 4:
            raise ConfigError(f"crop must be a multiple of 4 and >= 8, got {self.crop}", where=where, field="crop")
        for name in ("steps", "batch", "channels"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1", where=where, field=name)
        if self.size % 4:
            raise ConfigError(f"size must be a multiple of 4, got {self.size}", where=where, field="size")
        if self.lr <= 0:
            raise ConfigError("lr must be > 0", where=where, field="lr")


def build_generator(in_ch: int, c: int = 16, blocks: int = 2):
    """The expansion generator: H×W in, 2H×2W out (H, W multiples of 4), values in (0, 1)."""
    from torch import nn

    def conv(i, o, k, s=1):
        return [nn.ReflectionPad2d(k // 2), nn.Conv2d(i, o, k, s), nn.InstanceNorm2d(o, affine=True), nn.ReLU()]

    class Res(nn.Module):
        def __init__(self, ch):
            super().__init__()
            self.body = nn.Sequential(*conv(ch, ch, 3), nn.ReflectionPad2d(1), nn.Conv2d(ch, ch, 3),
                                      nn.InstanceNorm2d(ch, affine=True))

        def forward(self, x):
            return x + self.body(x)

    layers = conv(in_ch, c, 7) + conv(c, 2 * c, 3, 2) + conv(2 * c, 4 * c, 3, 2)
    layers += [Res(4 * c) for _ in range(blocks)]
    for i, o in ((4 * c, 4 * c), (4 * c, 2 * c), (2 * c, c)):
        layers += [nn.Upsample(scale_factor=2, mode="nearest")] + conv(i, o, 3)
    layers += [nn.ReflectionPad2d(3), nn.Conv2d(c, in_ch, 7), nn.Sigmoid()]
    return nn.Sequential(*layers)


def build_discriminator(in_ch: int, c: int = 16):
    """A patch discriminator: four stride-2 4×4 convs -> a map of real/fake scores."""
    from torch import nn

    return nn.Sequential(
        nn.Conv2d(in_ch, c, 4, 2, 1), nn.LeakyReLU(0.2),
        nn.Conv2d(c, 2 * c, 4, 2, 1), nn.InstanceNorm2d(2 * c), nn.LeakyReLU(0.2),
        nn.Conv2d(2 * c, 4 * c, 4, 2, 1), nn.InstanceNorm2d(4 * c), nn.LeakyReLU(0.2),
        nn.Conv2d(4 * c, 1, 3, 1, 1),
    )


def init_weights(net, generator) -> None:
    """pix2pix initialisation from ``generator``: conv weights N(0, 0.02), norm scales 1, biases 0."""
    import torch

    with torch.no_grad():
        for name, p in net.named_parameters():
            if p.dim() > 1:
                p.copy_(torch.randn(p.shape, generator=generator) * 0.02)
            elif name.endswith("weight"):
                p.fill_(1.0)
            else:
                p.zero_()


def sample_blocks(ex, k: int, n: int, rng: np.random.Generator):
    """``n`` random 2k×2k blocks of the 1×C×H×W exemplar and their central k×k crops."""
    import torch

    h, w = int(ex.shape[-2]), int(ex.shape[-1])
    if min(h, w) < 2 * k:
        raise DataError(f"the exemplar ({h}×{w}) is smaller than a training block (2·crop = {2 * k})",
                        where="texture 'expansion'", field="crop")
    ys = rng.integers(0, h - 2 * k + 1, size=n)
    xs = rng.integers(0, w - 2 * k + 1, size=n)
    targets = torch.cat([ex[..., y:y + 2 * k, x:x + 2 * k] for y, x in zip(ys, xs, strict=True)])
    return targets[..., k // 2:k // 2 + k, k // 2:k // 2 + k], targets


def train_expansion(ex, cfg: ExpansionConfig, *, seed: int = 0, device: str = "cpu", progress=None):
    """Train G (and D) on the exemplar; returns ``(G, losses)`` with the generator loss per step."""
    import torch

    from ..core.optim import adam
    from .gram import style_loss, style_targets

    c = int(ex.shape[1])
    gen = torch_generator(seed, "texture-expansion-init")
    G, D = build_generator(c, cfg.channels, cfg.blocks), build_discriminator(c, cfg.channels)
    init_weights(G, gen)
    init_weights(D, gen)
    G, D = G.to(device), D.to(device)
    opt_g = adam(G.parameters(), lr=cfg.lr, betas=(0.5, 0.999))
    opt_d = adam(D.parameters(), lr=cfg.lr, betas=(0.5, 0.999))
    bb = get_cached_backbone(cfg.backbone, cfg.weights, device, "zero") if cfg.style_weight > 0 else None
    taps = [t for t in (cfg.taps or (bb.default_style_taps if bb else ())) if bb is None or t in bb.taps]
    rng = numpy_rng(seed, "texture-expansion-blocks")
    losses: list[float] = []
    for step in range(cfg.steps):
        src, tgt = sample_blocks(ex, cfg.crop, cfg.batch, rng)
        fake = G(src)
        # discriminator (least squares): real -> 1, fake -> 0
        d_loss = ((D(tgt) - 1) ** 2).mean() + (D(fake.detach()) ** 2).mean()
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()
        # generator
        g_loss = cfg.l1_weight * (fake - tgt).abs().mean() + cfg.adv_weight * ((D(fake) - 1) ** 2).mean()
        if bb is not None:
            with torch.no_grad():
                t_grams = style_targets(bb.maps(tgt, taps))
            g_loss = g_loss + cfg.style_weight * 1e3 * style_loss(bb.maps(fake, taps), t_grams)
        if not torch.isfinite(g_loss):
            raise DataError(f"the generator loss became {float(g_loss)} at step {step}", where="texture 'expansion'",
                            field="loss")
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
        losses.append(float(g_loss.detach()))
        if progress is not None:
            progress(step + 1, losses[-1])
    return G.eval(), losses


def expand(G, x, size: int):
    """Grow the 1×C×h×w image ``x`` with G (2× per pass) until it covers ``size``; centre-crop to size×size."""
    import torch

    with torch.no_grad():
        while min(x.shape[-2:]) < size:
            h, w = (int(s) // 4 * 4 for s in x.shape[-2:])
            x = G(x[..., :h, :w])
    h, w = int(x.shape[-2]), int(x.shape[-1])
    y0, x0 = (h - size) // 2, (w - size) // 2
    return x[..., y0:y0 + size, x0:x0 + size]


def centre_crop(x, side: int):
    """The centre side×side crop of a 1×C×H×W tensor (the whole image if smaller)."""
    h, w = int(x.shape[-2]), int(x.shape[-1])
    side_h, side_w = min(side, h), min(side, w)
    y0, x0 = (h - side_h) // 2, (w - side_w) // 2
    return x[..., y0:y0 + side_h, x0:x0 + side_w]


def synthesize(exemplar: Any, *, size: int = 256, steps: int = 300, seed: int = 0, device: str = "cpu",
               progress=None, **options: Any) -> TextureResult:
    """Train an expansion generator on ``exemplar`` and grow the exemplar's centre to ``size``×``size``.

    Args:
        exemplar: the example texture (numpy or torch, see :mod:`traingen.texture.base`).
        size: output side.
        steps: training steps.
        seed: seed of the initial weights and the block draws.
        device: torch device.
        progress: ``progress(step, generator_loss)``.
        **options: other :class:`ExpansionConfig` fields.

    Returns:
        :class:`~traingen.texture.base.TextureResult`; ``losses`` = generator loss per step.
    """
    cfg = ExpansionConfig(size=size, steps=steps, **options)
    return run(exemplar, cfg, seed=seed, device=device, progress=progress)


@register("expansion", ExpansionConfig, "generator trained to expand k×k crops to 2k×2k (Zhou et al. 2018)")
def run(exemplar: Any, cfg: ExpansionConfig, *, seed: int = 0, device: str = "cpu", progress=None) -> TextureResult:
    """Train and expand with an :class:`ExpansionConfig` (the registered entry point)."""
    with Timer() as t:
        ex = resize_short(to_tensor(exemplar, device=device), cfg.exemplar_size)
        with Timer() as tt:
            G, losses = train_expansion(ex, cfg, seed=seed, device=device, progress=progress)
        src = centre_crop(ex, cfg.size // 2)
        out = expand(G, src, cfg.size)
        if cfg.save:
            from ..core.checkpoint import save_checkpoint

            save_checkpoint(cfg.save, {"G": G.state_dict()}, {"config": to_dict(cfg), "in_channels": int(ex.shape[1])})
    info = {"config": to_dict(cfg), "train_seconds": tt.seconds, "input_shape": list(src.shape[1:]),
            "exemplar_shape": list(ex.shape[1:]), "style_backbone": cfg.backbone if cfg.style_weight > 0 else None}
    return TextureResult(to_uint8(out), losses, t.seconds, "expansion", info)


def compare_with_baselines(exemplar: Any, crop_side: int, G=None, *, seed: int = 0) -> dict[str, np.ndarray]:
    """2× growths of the exemplar's centre ``crop_side`` crop: bilinear, quilting and (if G is given) expansion.

    Returns:
        dict name -> H×W(×3) uint8 image of side ``2 · crop_side`` (plus ``"input"``, the crop).
    """
    import torch.nn.functional as F

    from .quilting import QuiltingConfig
    from .quilting import run as quilt_run

    ex = to_tensor(exemplar)
    src = centre_crop(ex, crop_side)
    out = {"input": to_uint8(src),
           "bilinear": to_uint8(F.interpolate(src, scale_factor=2, mode="bilinear", align_corners=False))}
    block = max(8, crop_side // 3)
    out["quilting"] = quilt_run(to_uint8(src), QuiltingConfig(size=2 * crop_side, block=block), seed=seed).image
    if G is not None:
        out["expansion"] = to_uint8(expand(G, src, 2 * crop_side))
    return out
