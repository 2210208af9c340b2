"""TextureGAN: sketch + texture patches -> a textured object, with a local texture loss.

The generator sees five channels (:func:`~.texturegan_ops.paste_patches`): the sketch, a texture image
that is blank outside one or more pasted squares, and the mask of those squares. It is the paper's
residual encoder–decoder (after Scribbler): three stride-2 3×3 convolutions with a residual block at
each level, ``n_res`` residual blocks at 1/8 resolution, three bilinear ×2 upsamplings each followed by
residual blocks, then the **input concatenated** with the last features before a final residual block
and the output convolution (Tanh). It works in **Lab** (normalised, :mod:`.texturegan_ops`).

Losses of the generator (weights in :class:`TextureGANConfig`)::

    L_G = w_feature · content(φ(L_out), φ(L_gt))            feature loss on the backbone, L channel
        + w_pixel_l · |L_out − L_src|₁ + w_pixel_ab · |ab_out − ab_src|₁
        + w_adv · GAN(D(L_out), real)                         global D on the L channel
        + w_gram · Gram(φ(L_out), φ(L_src)) in the object mask
        + w_local_gram · Gram(φ(p_out), φ(p_src))             local texture loss on patches p inside
        + w_local_pixel · |p_out − p_src|₁                    the eroded object mask (L channel)
        + w_local_adv · GAN(D_local(p_out, p_src'), real)

A term whose weight is 0 is not computed; ``stage2_weights`` gives stage 2 its own weights (the authors' two
commands differ, e.g. a stronger global and local D when fine-tuning). ``src`` is the image the pasted patches
come from. **Stage 1** (ground-truth pre-training, steps below
``pretrain_steps``): ``src`` is the target image. **Stage 2** (external-texture fine-tuning): for each
image, with probability ``p_external`` a random crop of a texture-bank texture fills the object mask
(white outside) and becomes ``src``; otherwise the target image is used. The feature loss and the
global D always look at the target image. The local discriminator judges pairs of L patches: two
patches of ``src`` are "real", (an output patch, a ``src`` patch) is "fake" -- it learns whether two
patches share a texture. Feature and Gram losses go through the ``backbone`` option (the weights-free
``random-multiscale`` by default, ``vgg19`` from a weight file).

Every random choice of a step (patch count, sizes and centres, textures and their crops, stage-2 coin
flips) is drawn from ``torch_generator(seed, "texturegan", step)``, so a resumed run repeats it.

Differences from the authors' code, by choice: the generator ends in a Tanh instead of BatchNorm (a
BatchNorm output makes single-image inference depend on batch statistics); D steps before G as in this
package's pix2pix; Adam 2e-4 for all three networks; the D-accuracy gate is not used.

Example:
    >>> model = TextureGAN(TextureGANConfig(image_size=32, ngf=8, ndf=8), generator=torch_generator(0, "init"))
    >>> model.set_texture_bank(bank)                 # N×3×S×S in [0, 1] (else loaded from ``texture_bank``)
    >>> logs = model.train_step({"A": a, "B": b}, step=0, seed=0)

References:
    Xian, Sangkloy, Agrawal, Raj, Lu, Fang, Yu & Hays. "TextureGAN: Controlling Deep Image Synthesis with
    Texture Patches", CVPR 2018. arXiv:1706.02823.
    Sangkloy et al. "Scribbler: Controlling Deep Image Synthesis with Sketch and Color", CVPR 2017.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn
from torch.nn import functional as F

from ..core.config import require_at_least_one
from ..core.errors import ConfigError
from ..core.optim import adam
from ..core.seeding import torch_generator
from . import texturegan_ops as ops
from .losses import gan_loss
from .model_base import TranslateModel
from .networks import PatchDiscriminator, init_weights


@dataclass
class TextureGANConfig:
    """TextureGAN architecture, losses, patches and stages.

    Attributes:
        image_size: training side (a multiple of 8).
        ngf, n_res: generator base width and bottleneck residual blocks (paper: 32, 5).
        ndf, n_layers: global PatchGAN on L (width, stride-2 layers).
        local_ndf, local_n_layers: local PatchGAN on (patch, patch) pairs.
        gan_loss: ``lsgan`` (the authors' default) or ``vanilla``.
        patch_min, patch_max: side range of the pasted input patches (paper: 20–40 at 128 px).
        max_patches: pasted patches per image, drawn uniformly in 1..max_patches.
        local_patch: side of the local-loss patches (paper: 50 at 128 px).
        erode: side of the square that erodes the object mask before centres are drawn.
        local_texture: False switches the three local terms off (the paper's ablation).
        w_*: loss weights (module docstring); a term whose weight is 0 is not computed.
        stage2_weights: ``{w_name: weight}`` replacing those weights in stage 2 (the authors train the two
            stages with different weights, e.g. a stronger global D and local D when fine-tuning on
            external textures); empty: both stages use the ``w_*`` above.
        pretrain_steps: steps of stage 1; later steps fine-tune on external textures.
        p_external: stage 2's probability of an external texture (else the target image).
        texture_bank: source of the external textures (training).
        export_bank: source of the textures ``traingen translate`` pastes (held-out by default).
        backbone, backbone_weights, backbone_options: the feature network of the feature and Gram losses.
        content_taps, style_taps: backbone taps (empty: the backbone's defaults).
        lr, beta1, beta2, init_gain: Adam and the N(0, gain) init of all networks.
        eval_mode: translate with running BatchNorm statistics (deterministic) instead of batch statistics.
    """

    image_size: int = 64
    ngf: int = 32
    n_res: int = 5
    ndf: int = 32
    n_layers: int = 3
    local_ndf: int = 32
    local_n_layers: int = 2
    gan_loss: str = "lsgan"
    patch_min: int = 10
    patch_max: int = 20
    max_patches: int = 2
    local_patch: int = 16
    erode: int = 9
    local_texture: bool = True
    w_feature: float = 10.0
    w_pixel_l: float = 10.0
    w_pixel_ab: float = 100.0
    w_adv: float = 1.0
    w_gram: float = 10.0
    w_local_gram: float = 100.0
    w_local_pixel: float = 10.0
    w_local_adv: float = 1.0
    stage2_weights: dict[str, float] = field(default_factory=dict)
    pretrain_steps: int = 1000
    p_external: float = 0.5
    texture_bank: str = "builtin:texture-bank@train"
    export_bank: str = "builtin:texture-bank@test"
    backbone: str = "random-multiscale"
    backbone_weights: str | None = None
    backbone_options: dict[str, Any] = field(default_factory=lambda: {"kernel_sizes": [3, 5, 7, 11], "maps": 16})
    content_taps: list[str] = field(default_factory=list)
    style_taps: list[str] = field(default_factory=list)
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    init_gain: float = 0.02
    eval_mode: bool = True

    def __post_init__(self) -> None:
        require_at_least_one(self, ("ngf", "ndf", "local_ndf", "n_layers", "local_n_layers", "max_patches",
                                    "patch_min", "local_patch", "erode"))
        if self.image_size % 8 or self.image_size < 16:
            raise ConfigError(f"image_size must be a multiple of 8 and >= 16, got {self.image_size}",
                              field="image_size")
        if not self.patch_min <= self.patch_max <= self.image_size:
            raise ConfigError(f"need patch_min <= patch_max <= image_size, got {self.patch_min}, {self.patch_max}",
                              field="patch_max")
        if self.local_patch > self.image_size or self.local_patch // 2 ** self.local_n_layers < 3:
            raise ConfigError(f"local_patch {self.local_patch} must fit the image and leave the local PatchGAN "
                              f"(local_n_layers {self.local_n_layers}) at least 3 px: local_patch >= "
                              f"{3 * 2 ** self.local_n_layers}", field="local_patch")
        if self.gan_loss not in ("lsgan", "vanilla"):
            raise ConfigError(f"expected lsgan or vanilla, got {self.gan_loss!r}", field="gan_loss")
        if not 0.0 <= self.p_external <= 1.0 or self.pretrain_steps < 0 or self.lr <= 0:
            raise ConfigError("need 0 <= p_external <= 1, pretrain_steps >= 0 and lr > 0", field="p_external")
        names = [f for f in self.__dataclass_fields__ if f.startswith("w_")]
        for name in names:
            if getattr(self, name) < 0:
                raise ConfigError(f"loss weights must be >= 0, got {getattr(self, name)}", field=name)
        for name, value in self.stage2_weights.items():
            if name not in names:
                raise ConfigError(f"unknown loss weight {name!r}; expected one of {', '.join(names)}",
                                  field=f"stage2_weights.{name}")
            if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
                raise ConfigError(f"loss weights must be numbers >= 0, got {value!r}", field=f"stage2_weights.{name}")
        local = ("local_gram", "local_pixel", "local_adv") if self.local_texture else ()
        for stage in (1, 2):
            if not any(self.weight(n, stage) > 0 for n in ("feature", "pixel_l", "pixel_ab", "adv", "gram") + local):
                raise ConfigError(f"every generator loss weight is 0 in stage {stage}",
                                  field="stage2_weights" if stage == 2 else "w_pixel_l")

    def weight(self, name: str, stage: int) -> float:
        """The weight ``w_<name>`` in ``stage`` (1 or 2; :attr:`stage2_weights` overrides stage 2)."""
        key = f"w_{name}"
        if stage == 2 and key in self.stage2_weights:
            return float(self.stage2_weights[key])
        return float(getattr(self, key))


# ------------------------------------------------------------------------------------------------ networks


class ResidualBlock(nn.Module):
    """conv3×3-BN-ReLU-conv3×3-BN plus the input, then ReLU (the Scribbler/TextureGAN block)."""

    def __init__(self, dim: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(dim, dim, 3, padding=1), nn.BatchNorm2d(dim), nn.ReLU(True),
                                  nn.Conv2d(dim, dim, 3, padding=1), nn.BatchNorm2d(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.body(x))


def _cbr(cin: int, cout: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, stride=stride, padding=1), nn.BatchNorm2d(cout), nn.ReLU(True)]


def _up(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1), nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
            nn.BatchNorm2d(cout), nn.ReLU(True)]


class TextureGANGenerator(nn.Module):
    """The residual encoder–decoder with the input concatenated before the last convolutions.

    Args:
        in_channels: 5 (sketch, texture Lab, patch mask).
        out_channels: 3 (normalised Lab).
        ngf: base width (×2, ×4, ×8 at 1/2, 1/4, 1/8 resolution).
        n_res: residual blocks at 1/8 resolution.

    Example:
        >>> TextureGANGenerator(ngf=8)(torch.zeros(2, 5, 32, 32)).shape
        torch.Size([2, 3, 32, 32])
    """

    def __init__(self, in_channels: int = 5, out_channels: int = 3, *, ngf: int = 32, n_res: int = 5):
        super().__init__()
        g = ngf
        layers: list[nn.Module] = [*_cbr(in_channels, g), ResidualBlock(g),
                                   *_cbr(g, 2 * g, 2), ResidualBlock(2 * g),
                                   *_cbr(2 * g, 4 * g, 2), ResidualBlock(4 * g),
                                   *_cbr(4 * g, 8 * g, 2)]
        layers += [ResidualBlock(8 * g) for _ in range(n_res)]
        layers += [*_up(8 * g, 4 * g), ResidualBlock(4 * g), ResidualBlock(4 * g),
                   *_up(4 * g, 2 * g), ResidualBlock(2 * g), ResidualBlock(2 * g),
                   *_up(2 * g, g), ResidualBlock(g), nn.BatchNorm2d(g)]
        self.main = nn.Sequential(*layers)
        self.head = nn.Sequential(ResidualBlock(g + in_channels), nn.Conv2d(g + in_channels, out_channels, 3, padding=1),
                                  nn.Tanh())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.cat([self.main(x), x], 1))


# ------------------------------------------------------------------------------------------------ model


class TextureGAN(TranslateModel):
    """The TextureGAN model: networks, optimizers, one training step and inference (module docstring).

    Args:
        config: a :class:`TextureGANConfig`.
        generator: draws the initial weights (G, then D, then D_local).
    """

    config_class: ClassVar[type] = TextureGANConfig
    paired: ClassVar[bool] = True
    directions: ClassVar[tuple[str, ...]] = ("AtoB",)

    def __init__(self, config: TextureGANConfig, *, generator: torch.Generator):
        self.config = c = config
        self.G = TextureGANGenerator(5, 3, ngf=c.ngf, n_res=c.n_res)
        self.D = PatchDiscriminator(1, ndf=c.ndf, n_layers=c.n_layers, norm="batch")
        self.D_local = PatchDiscriminator(2, ndf=c.local_ndf, n_layers=c.local_n_layers, norm="batch")
        for net in (self.G, self.D, self.D_local):
            init_weights(net, generator=generator, gain=c.init_gain)
        betas = (c.beta1, c.beta2)
        self.opt_G = adam(self.G.parameters(), lr=c.lr, betas=betas)
        self.opt_D = adam(self.D.parameters(), lr=c.lr, betas=betas)
        self.opt_D_local = adam(self.D_local.parameters(), lr=c.lr, betas=betas)
        self._bank: torch.Tensor | None = None
        self._backbone: Any = None

    # -- bookkeeping the trainer uses
    @property
    def nets(self) -> dict[str, nn.Module]:
        return {"G": self.G, "D": self.D, "D_local": self.D_local}

    @property
    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"opt_G": self.opt_G, "opt_D": self.opt_D, "opt_D_local": self.opt_D_local}

    def to(self, device: torch.device | str) -> TextureGAN:
        super().to(device)
        if self._bank is not None:
            self._bank = self._bank.to(device)
        return self

    def generator(self, direction: str = "AtoB") -> nn.Module:
        if direction != "AtoB":
            raise ConfigError(f"texturegan translates AtoB only, got {direction!r}", field="direction")
        return self.G

    # -- resources loaded on first use (not checkpointed: both are functions of the config)
    def set_texture_bank(self, bank: torch.Tensor) -> None:
        """Use ``bank`` (N×3×S×S float in [0, 1], S >= image_size) as the external textures."""
        if bank.dim() != 4 or bank.shape[1] != 3 or min(bank.shape[-2:]) < self.config.image_size:
            raise ConfigError(f"texture bank must be N×3×S×S with S >= {self.config.image_size}, got "
                              f"{tuple(bank.shape)}", field="texture_bank")
        self._bank = bank.float()

    def texture_bank(self, device: torch.device | str = "cpu") -> torch.Tensor:
        if self._bank is None:
            from .texturegan_data import load_texture_bank

            self._bank = load_texture_bank(self.config.texture_bank, self.config.image_size)
        self._bank = self._bank.to(device)
        return self._bank

    def _taps(self) -> tuple[list[str], list[str]]:
        bb = self.backbone()
        c = self.config
        return (list(c.content_taps) or list(bb.default_content_taps), list(c.style_taps) or list(bb.default_style_taps))

    # -- inputs
    def make_inputs(self, sketch: torch.Tensor, mask: torch.Tensor, source: torch.Tensor,
                    generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """The 5-channel input with 1..max_patches squares of ``source`` pasted inside the eroded mask.

        Args:
            sketch: N×1×H×W (1 background, -1 lines); mask: N×1×H×W object mask in {0, 1};
            source: N×3×H×W normalised Lab texture source; generator: the step's stream.

        Returns:
            ``(input N×5×H×W, patch mask N×1×H×W)``.
        """
        c = self.config
        n, _, h, w = mask.shape
        eroded = ops.erode_mask(mask, c.erode)
        count = torch.randint(1, c.max_patches + 1, (n,), generator=generator, device=generator.device)
        pm = torch.zeros_like(mask)
        for j in range(c.max_patches):
            sizes = torch.randint(c.patch_min, c.patch_max + 1, (n,), generator=generator, device=generator.device)
            cy, cx = ops.sample_centres(eroded, c.patch_max, generator=generator, fallback=mask)
            sq = ops.square_masks(cy.to(mask.device), cx.to(mask.device), sizes.to(mask.device), h, w)
            pm = torch.maximum(pm, sq * (j < count.to(mask.device)).view(n, 1, 1, 1).float())
        return ops.paste_patches(sketch, source, pm), pm

    def external_source(self, gt: torch.Tensor, mask: torch.Tensor, generator: torch.Generator,
                        bank: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised Lab images: a random crop of a random bank texture inside ``mask``, white outside.

        Returns:
            ``(images N×3×H×W, the bank index of each)``.
        """
        n, _, h, w = gt.shape
        idx = torch.randint(0, len(bank), (n,), generator=generator, device=generator.device)
        s = bank.shape[-1]
        oy = torch.randint(0, s - h + 1, (n,), generator=generator, device=generator.device)
        ox = torch.randint(0, s - w + 1, (n,), generator=generator, device=generator.device)
        crops = torch.stack([bank[int(i), :, int(y):int(y) + h, int(x):int(x) + w]
                             for i, y, x in zip(idx, oy, ox, strict=True)]).to(gt.device)
        tex = ops.normalize_lab(ops.rgb_to_lab(crops))
        white = torch.tensor([1.0, 0.0, 0.0], device=gt.device).view(1, 3, 1, 1)
        return torch.where(mask > 0.5, tex, white), idx

    # -- training
    def train_step(self, batch: dict[str, torch.Tensor], *, step: int, seed: int,
                   check: Callable[[torch.Tensor, str], None] | None = None) -> dict[str, float]:
        """One D + D_local update, then one G update.

        Args:
            batch: ``{"A": N×2×H×W (sketch: 1 background / -1 lines; object mask: 1 / -1), "B": N×3×H×W RGB}``,
                both in [-1, 1].
            step: the global step (selects the stage and seeds the step's draws).
            seed: the run seed.
            check: the NaN guard, called with each loss and its name.

        Returns:
            The losses as floats (``stage`` 1 or 2 among them).
        """
        c = self.config
        a, b = batch["A"], batch["B"]
        dev = a.device
        sketch, mask = a[:, :1], (a[:, 1:2] > 0).float()
        g = torch_generator(seed, "texturegan", step)
        gt = ops.rgb_to_nlab(b)
        stage = 1 if step < c.pretrain_steps else 2
        src = gt
        if stage == 2 and c.p_external > 0:
            ext = torch.rand(len(a), generator=g) < c.p_external
            src = torch.where(ext.to(dev).view(-1, 1, 1, 1),
                              self.external_source(gt, mask, g, self.texture_bank(dev))[0], gt)
        x, _ = self.make_inputs(sketch, mask, src, g)
        eroded = ops.erode_mask(mask, c.erode)
        centres = [ops.sample_centres(eroded, c.local_patch, generator=g, fallback=mask) for _ in range(4)]
        crop = lambda t, k: ops.crop_patches(t, centres[k][0].to(dev), centres[k][1].to(dev), c.local_patch)  # noqa: E731
        for net in self.nets.values():
            net.train()
        out = self.G(x)
        out_l, src_l, gt_l = out[:, :1], src[:, :1], gt[:, :1]
        logs: dict[str, float] = {"stage": float(stage)}

        # -- discriminators (global on L, local on L patch pairs)
        d_loss = 0.5 * (gan_loss(self.D(gt_l), True, kind=c.gan_loss)
                        + gan_loss(self.D(out_l.detach()), False, kind=c.gan_loss))
        losses_d = [(d_loss, self.opt_D, "d_loss")]
        if c.local_texture:
            real_pair = torch.cat([crop(src_l, 0), crop(src_l, 1)], 1)
            fake_pair = torch.cat([crop(out_l.detach(), 2), crop(src_l, 3)], 1)
            dl_loss = 0.5 * (gan_loss(self.D_local(real_pair), True, kind=c.gan_loss)
                             + gan_loss(self.D_local(fake_pair), False, kind=c.gan_loss))
            losses_d.append((dl_loss, self.opt_D_local, "d_local_loss"))
        for loss, opt, name in losses_d:
            if check is not None:
                check(loss, name)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            logs[name] = loss.item()

        # -- generator
        for net in (self.D, self.D_local):
            for p in net.parameters():
                p.requires_grad_(False)
        try:
            terms = self._generator_terms(out, src, gt_l, mask, crop, stage)
            g_loss = sum(w * t for w, t in terms.values())
            if check is not None:
                check(g_loss, "g_loss")
            self.opt_G.zero_grad(set_to_none=True)
            g_loss.backward()
            self.opt_G.step()
        finally:
            for net in (self.D, self.D_local):
                for p in net.parameters():
                    p.requires_grad_(True)
        logs.update({f"g_{k}": t.item() for k, (_, t) in terms.items()})
        logs["g_loss"] = float(g_loss.item())
        return logs

    def _generator_terms(self, out: torch.Tensor, src: torch.Tensor, gt_l: torch.Tensor, mask: torch.Tensor,
                         crop: Callable[[torch.Tensor, int], torch.Tensor],
                         stage: int = 1) -> dict[str, tuple[float, torch.Tensor]]:
        """``name -> (weight, unweighted loss)`` of the generator's objective in ``stage`` (module docstring);
        terms whose weight is 0 in this stage are left out."""
        from ..texture.gram import content_loss, style_loss, style_targets

        c = self.config
        w = {name: c.weight(name, stage) for name in ("feature", "pixel_l", "pixel_ab", "adv", "gram",
                                                       "local_gram", "local_pixel", "local_adv")}
        local = c.local_texture
        bb = self.backbone()
        content_taps, style_taps = self._taps()
        content_taps = content_taps if w["feature"] > 0 else []
        out_l, src_l = out[:, :1], src[:, :1]
        to01 = lambda t: (t + 1.0) * 0.5  # noqa: E731  (L in [-1, 1] -> the backbone's [0, 1])
        taps = list(dict.fromkeys(content_taps + (style_taps if w["gram"] > 0 else [])))
        maps_out = bb.maps(to01(out_l), taps) if taps else {}
        terms: dict[str, tuple[float, torch.Tensor]] = {}
        if content_taps:
            with torch.no_grad():
                maps_gt = bb.maps(to01(gt_l), content_taps)
            terms["feature"] = (w["feature"], content_loss({t: maps_out[t] for t in content_taps}, maps_gt))
        if w["pixel_l"] > 0:
            terms["pixel_l"] = (w["pixel_l"], F.l1_loss(out_l, src_l))
        if w["pixel_ab"] > 0:
            terms["pixel_ab"] = (w["pixel_ab"], F.l1_loss(out[:, 1:], src[:, 1:]))
        if w["adv"] > 0:
            terms["adv"] = (w["adv"], gan_loss(self.D(out_l), True, kind=c.gan_loss))
        if w["gram"] > 0:
            with torch.no_grad():
                maps_src = bb.maps(to01(src_l), style_taps)
            terms["gram"] = (w["gram"], style_loss({t: maps_out[t] for t in style_taps},
                                                   style_targets(maps_src, masks=mask), masks=mask))
        if not (local and (w["local_gram"] > 0 or w["local_pixel"] > 0 or w["local_adv"] > 0)):
            return terms
        p_out, p_src = crop(out_l, 2), crop(src_l, 2)
        if w["local_gram"] > 0:
            with torch.no_grad():
                targets = style_targets(bb.maps(to01(p_src), style_taps))
            terms["local_gram"] = (w["local_gram"], style_loss(bb.maps(to01(p_out), style_taps), targets))
        if w["local_pixel"] > 0:
            terms["local_pixel"] = (w["local_pixel"], F.l1_loss(p_out, p_src))
        if w["local_adv"] > 0:
            pair = torch.cat([p_out, crop(src_l, 3)], 1)
            terms["local_adv"] = (w["local_adv"], gan_loss(self.D_local(pair), True, kind=c.gan_loss))
        return terms

    # -- inference
    @torch.no_grad()
    def translate(self, x: torch.Tensor, direction: str = "AtoB", *, eval_mode: bool | None = None) -> torch.Tensor:
        """``G(x)`` (normalised Lab) for 5-channel inputs; the training flag is restored afterwards."""
        from .pix2pix import run_generator

        ev = self.config.eval_mode if eval_mode is None else eval_mode
        return run_generator(self.generator(direction), x, eval_mode=ev)

    def to_rgb(self, y: torch.Tensor) -> torch.Tensor:
        """Generator output (normalised Lab) -> RGB in [0, 1]."""
        return ops.nlab_to_rgb(y)
