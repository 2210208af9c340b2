"""CycleGAN: unpaired translation with two generators, two PatchGANs and cycle consistency.

``G_A: A -> B`` and ``G_B: B -> A`` are ResNet generators; ``D_A`` tells real B from ``G_A(A)``, ``D_B``
real A from ``G_B(B)``. With least-squares adversarial losses (Zhu et al., Eq. 1 with LSGAN)::

    L_G = MSE(D_A(G_A(a)), 1) + MSE(D_B(G_B(b)), 1)
          + λ_A |G_B(G_A(a)) - a|_1 + λ_B |G_A(G_B(b)) - b|_1              (cycle, λ = 10)
          + λ_id (λ_B |G_A(b) - b|_1 + λ_A |G_B(a) - a|_1)                  (identity, λ_id = 0.5)
    L_D_A = 0.5 [ MSE(D_A(b), 1) + MSE(D_A(pool_B(G_A(a))), 0) ]          (and D_B alike)

Each step updates both generators (with the discriminators frozen), then both discriminators on
images drawn from 50-image pools (:mod:`traingen.translate.pool`), as the reference does.

Beyond the paper (marked so in the docs): ``semantic_weight > 0`` adds the semantic-consistency loss
of CyCADA, ``semantic_weight · CE(C(G_A(a)), y_a)`` where ``C`` is a frozen classifier trained on the
labelled source A (the trainer fits it before step 0 and stores it in the run), so translated images
keep their labels; the export can also drop translations a classifier disagrees with.

Example:
    >>> model = CycleGAN(CycleGANConfig(channels_a=1, channels_b=1, image_size=28, ngf=16, n_blocks=6),
    ...                  generator=torch_generator(0, "init"))
    >>> logs = model.train_step({"A": a, "B": b}, step=0, seed=0)

References:
    Zhu, Park, Isola & Efros. "Unpaired Image-to-Image Translation using Cycle-Consistent Adversarial
    Networks", ICCV 2017. arXiv:1703.10593.
    Hoffman et al. "CyCADA: Cycle-Consistent Adversarial Domain Adaptation", ICML 2018 (semantic
    consistency loss).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch.nn import functional as F

from ..core.config import require_at_least_one
from ..core.errors import ConfigError
from ..core.optim import adam
from ..core.seeding import torch_generator
from .losses import GAN_LOSSES, gan_loss
from .model_base import TranslateModel
from .networks import Norm, PatchDiscriminator, ResNetGenerator, init_weights
from .pool import ImagePool


@dataclass
class CycleGANConfig:
    """CycleGAN architecture, losses and optimizer (reference defaults).

    Attributes:
        channels_a, channels_b: image channels of the two domains.
        image_size: training side length (a multiple of 4).
        ngf, ndf: base filters of the generators and discriminators.
        n_blocks: residual blocks per generator (9 at 256 px, 6 at 128 px and below).
        n_layers: PatchGAN stride-2 layers.
        norm: ``instance`` (no affine, no running statistics) or ``batch``.
        dropout: Dropout(0.5) in the residual blocks (off in CycleGAN).
        gan_loss: ``lsgan`` (the paper) or ``vanilla``.
        lambda_a, lambda_b: cycle-loss weights.
        lambda_identity: identity-loss weight relative to the cycle weights (needs equal channels).
        pool_size: image pool capacity (0: no pool).
        lr, beta1, beta2: Adam settings.
        init_gain: standard deviation of the normal init.
        semantic_weight: weight of the semantic-consistency loss (0: plain CycleGAN).
        semantic_epochs: epochs of the source classifier's training when it is fitted by the trainer.
        num_classes: classes of the source labels (semantic loss and label filter).
    """

    channels_a: int = 3
    channels_b: int = 3
    image_size: int = 256
    ngf: int = 64
    ndf: int = 64
    n_blocks: int = 9
    n_layers: int = 3
    norm: Norm = "instance"
    dropout: bool = False
    gan_loss: str = "lsgan"
    lambda_a: float = 10.0
    lambda_b: float = 10.0
    lambda_identity: float = 0.5
    pool_size: int = 50
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    init_gain: float = 0.02
    semantic_weight: float = 0.0
    semantic_epochs: int = 5
    num_classes: int = 10

    def __post_init__(self) -> None:
        require_at_least_one(self, ("channels_a", "channels_b", "ngf", "ndf", "n_layers", "num_classes",
                                    "semantic_epochs"))
        if self.image_size < 4 or self.image_size % 4:
            raise ConfigError(f"the ResNet generator needs a multiple of 4, got {self.image_size}",
                              field="image_size")
        if self.lambda_identity > 0 and self.channels_a != self.channels_b:
            raise ConfigError("the identity loss needs equal channels in A and B; set lambda_identity: 0",
                              field="lambda_identity")
        for name in ("lambda_a", "lambda_b", "lambda_identity", "semantic_weight"):
            if getattr(self, name) < 0:
                raise ConfigError(f"must be >= 0, got {getattr(self, name)}", field=name)
        if self.gan_loss not in GAN_LOSSES:
            raise ConfigError(f"expected one of {list(GAN_LOSSES)}, got {self.gan_loss!r}", field="gan_loss")


def cycle_losses(a: torch.Tensor, b: torch.Tensor, G_A: Callable, G_B: Callable) -> dict[str, torch.Tensor]:
    """The unweighted reconstruction terms: cycle ``|G_B(G_A(a)) - a|``, ``|G_A(G_B(b)) - b|`` and identity
    ``|G_A(b) - b|``, ``|G_B(a) - a|`` (mean absolute errors).

    Identity generators give 0 for all four, which the tests check.
    """
    return {"cycle_a": F.l1_loss(G_B(G_A(a)), a), "cycle_b": F.l1_loss(G_A(G_B(b)), b),
            "idt_a": F.l1_loss(G_A(b), b), "idt_b": F.l1_loss(G_B(a), a)}


class CycleGAN(TranslateModel):
    """The CycleGAN model (module docstring).

    Args:
        config: a :class:`CycleGANConfig`.
        generator: draws the initial weights (G_A, G_B, D_A, D_B in that order).
    """

    config_class: ClassVar[type] = CycleGANConfig
    paired: ClassVar[bool] = False
    directions: ClassVar[tuple[str, ...]] = ("AtoB", "BtoA")

    def __init__(self, config: CycleGANConfig, *, generator: torch.Generator):
        self.config = c = config

        def gen(cin: int, cout: int) -> ResNetGenerator:
            return ResNetGenerator(cin, cout, ngf=c.ngf, n_blocks=c.n_blocks, norm=c.norm, dropout=c.dropout)

        self.G_A, self.G_B = gen(c.channels_a, c.channels_b), gen(c.channels_b, c.channels_a)
        self.D_A = PatchDiscriminator(c.channels_b, ndf=c.ndf, n_layers=c.n_layers, norm=c.norm)
        self.D_B = PatchDiscriminator(c.channels_a, ndf=c.ndf, n_layers=c.n_layers, norm=c.norm)
        for net in (self.G_A, self.G_B, self.D_A, self.D_B):
            init_weights(net, generator=generator, gain=c.init_gain)
        betas = (c.beta1, c.beta2)
        self.opt_G = adam([*self.G_A.parameters(), *self.G_B.parameters()], lr=c.lr, betas=betas)
        self.opt_D = adam([*self.D_A.parameters(), *self.D_B.parameters()], lr=c.lr, betas=betas)
        self.pool_A = ImagePool(c.pool_size)  # generated A images (for D_B)
        self.pool_B = ImagePool(c.pool_size)  # generated B images (for D_A)
        self.classifier: torch.nn.Module | None = None

    # -- bookkeeping the trainer uses
    @property
    def nets(self) -> dict[str, torch.nn.Module]:
        return {"G_A": self.G_A, "G_B": self.G_B, "D_A": self.D_A, "D_B": self.D_B}

    @property
    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"opt_G": self.opt_G, "opt_D": self.opt_D}

    def to(self, device: torch.device | str) -> CycleGAN:
        super().to(device)
        if self.classifier is not None:
            self.classifier.to(device)
        return self

    def extra_state(self) -> dict[str, Any]:
        return {"pool_A": self.pool_A.state_dict(), "pool_B": self.pool_B.state_dict()}

    def load_extra_state(self, state: dict[str, Any], *, device: Any = "cpu") -> None:
        self.pool_A.load_state_dict(state["pool_A"], device=device)
        self.pool_B.load_state_dict(state["pool_B"], device=device)

    def set_classifier(self, net: torch.nn.Module) -> None:
        """Freeze ``net`` (eval mode, no gradients) and use it for the semantic-consistency loss."""
        net.eval()
        for p in net.parameters():
            p.requires_grad_(False)
        self.classifier = net

    def generator(self, direction: str = "AtoB") -> torch.nn.Module:
        if direction == "AtoB":
            return self.G_A
        if direction == "BtoA":
            return self.G_B
        raise ConfigError(f"expected AtoB or BtoA, got {direction!r}", field="direction")

    # -- training
    @property
    def per_sample(self) -> bool:
        """Every layer acts on each sample alone (InstanceNorm, no dropout): then a network applied to two
        stacked batches gives the two results it gives them apart, and :meth:`generate` and
        :meth:`discriminate` make one call of two (fewer, larger convolutions: the same math)."""
        return self.config.norm == "instance" and not self.config.dropout

    def generate(self, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """``(G_A(a), G_B(b), G_A(b), G_B(a))``; the last two (the identity mappings) are None when the
        identity loss is off. With :attr:`per_sample` and equal sample shapes G_A sees ``[a; b]`` in one
        call and G_B ``[b; a]``."""
        n = a.shape[0]
        if self.config.lambda_identity <= 0:
            return self.G_A(a), self.G_B(b), None, None
        if self.per_sample and a.shape[1:] == b.shape[1:] and b.shape[0] == n:
            out_a, out_b = self.G_A(torch.cat([a, b])), self.G_B(torch.cat([b, a]))
            return out_a[:n], out_b[:n], out_a[n:], out_b[n:]
        return self.G_A(a), self.G_B(b), self.G_A(b), self.G_B(a)

    def discriminate(self, D: torch.nn.Module, real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(D(real), D(fake))``, in one call of ``[real; fake]`` when :attr:`per_sample`."""
        if self.per_sample and real.shape == fake.shape:
            pred = D(torch.cat([real, fake]))
            return pred[:real.shape[0]], pred[real.shape[0]:]
        return D(real), D(fake)

    def train_step(self, batch: dict[str, torch.Tensor], *, step: int, seed: int,
                   check: Callable[[torch.Tensor, str], None] | None = None) -> dict[str, float]:
        """Generators first, then discriminators, on ``batch = {"A", "B"[, "label_A"]}`` in [-1, 1].

        Args:
            step: the global step (keys the pools' random draws).
            seed: the run seed.
            check: called with each loss and its name before the optimizer steps (the NaN guard).

        Returns:
            The loss terms as floats (``g_loss``, ``d_loss``, ``g_a``, ``g_b``, ``cycle_a``, ``cycle_b``,
            ``idt_a``, ``idt_b``, ``d_a``, ``d_b`` and ``semantic`` when enabled).
        """
        c = self.config
        a, b = batch["A"], batch["B"]
        for net in self.nets.values():
            net.train()
        fake_b, fake_a, same_b, same_a = self.generate(a, b)
        rec_a, rec_b = self.G_B(fake_b), self.G_A(fake_a)
        discs = (self.D_A, self.D_B)
        for net in discs:
            for p in net.parameters():
                p.requires_grad_(False)
        try:
            g_a = gan_loss(self.D_A(fake_b), True, kind=c.gan_loss)
            g_b = gan_loss(self.D_B(fake_a), True, kind=c.gan_loss)
            cyc_a, cyc_b = F.l1_loss(rec_a, a), F.l1_loss(rec_b, b)
            terms = {"g_a": g_a, "g_b": g_b, "cycle_a": cyc_a, "cycle_b": cyc_b}
            g_loss = g_a + g_b + c.lambda_a * cyc_a + c.lambda_b * cyc_b
            if c.lambda_identity > 0:
                idt_a, idt_b = F.l1_loss(same_b, b), F.l1_loss(same_a, a)
                g_loss = g_loss + c.lambda_identity * (c.lambda_b * idt_a + c.lambda_a * idt_b)
                terms.update(idt_a=idt_a, idt_b=idt_b)
            if c.semantic_weight > 0:
                if self.classifier is None or "label_A" not in batch:
                    raise ConfigError("semantic_weight > 0 needs a source classifier and labelled A data",
                                      field="semantic_weight")
                sem = F.cross_entropy(self.classifier(fake_b), batch["label_A"])
                g_loss = g_loss + c.semantic_weight * sem
                terms["semantic"] = sem
            if check is not None:
                check(g_loss, "g_loss")
            self.opt_G.zero_grad(set_to_none=True)
            g_loss.backward()
            self.opt_G.step()
        finally:
            for net in discs:
                for p in net.parameters():
                    p.requires_grad_(True)
        pooled_b = self.pool_B.query(fake_b.detach(), generator=torch_generator(seed, "pool", "B", step))
        pooled_a = self.pool_A.query(fake_a.detach(), generator=torch_generator(seed, "pool", "A", step))
        real_pred_b, fake_pred_b = self.discriminate(self.D_A, b, pooled_b)
        real_pred_a, fake_pred_a = self.discriminate(self.D_B, a, pooled_a)
        d_a = 0.5 * (gan_loss(real_pred_b, True, kind=c.gan_loss) + gan_loss(fake_pred_b, False, kind=c.gan_loss))
        d_b = 0.5 * (gan_loss(real_pred_a, True, kind=c.gan_loss) + gan_loss(fake_pred_a, False, kind=c.gan_loss))
        if check is not None:
            check(d_a + d_b, "d_loss")
        self.opt_D.zero_grad(set_to_none=True)
        d_a.backward()
        d_b.backward()
        self.opt_D.step()
        logs = {k: v.item() for k, v in terms.items()}
        logs.update(g_loss=g_loss.item(), d_a=d_a.item(), d_b=d_b.item(), d_loss=(d_a + d_b).item())
        return logs

    # -- inference
    @torch.no_grad()
    def translate(self, x: torch.Tensor, direction: str = "AtoB", *, eval_mode: bool | None = None) -> torch.Tensor:
        """``G_A(x)`` (AtoB) or ``G_B(x)`` (BtoA) in [-1, 1]. InstanceNorm without running statistics
        behaves the same in both modes; ``eval_mode`` matters only with ``norm: batch`` or dropout."""
        G = self.generator(direction)
        was = G.training
        G.train(not (True if eval_mode is None else eval_mode))
        try:
            return G(x)
        finally:
            G.train(was)
