"""The model interface every GAN in :mod:`traingen.gan` implements, and the model registry.

A :class:`GANModel` owns a generator ``G``, a discriminator ``D`` and their losses; the trainer only
feeds batches, steps the two optimizers and calls :meth:`GANModel.after_step`. The Improved
Techniques of Salimans et al. (feature matching, minibatch discrimination, historical averaging,
one-sided label smoothing, virtual batch norm, the semi-supervised (K+1)-class discriminator) are
switches of the common :class:`GANConfig`, so they work with every registered model.

Conventions:
    * ``G(z, y)`` returns images in [-1, 1], ``N x C x H x W``; ``y`` is a long tensor of class
      indices, or ``None`` when ``num_classes == 0``.
    * ``D(x, y)`` returns ``{"logits": N (or N x (K+1) when semi_supervised), "features": N x F}``.
    * Real images reach the model scaled to [-1, 1] float32, labels as long tensors.
    * Randomness is an argument: the weights are initialised from ``generator=`` (seed 0 when
      omitted), noise and labels are drawn with an explicit ``torch.Generator``.

This module does not import torch at import time (``import traingen.gan`` stays light); the model
modules ``cdcgan``, ``sagan`` and ``biggan`` do, and register themselves in :data:`GAN_MODELS` when
:func:`load_models` (or :func:`build_model`) imports them.

Example:
    >>> import torch
    >>> from traingen.gan import build_model
    >>> model = build_model("sagan", {"image_size": 16, "ch": 8}, generator=torch.Generator().manual_seed(0))
    >>> opt_g, opt_d = model.optimizers()
    >>> g = torch.Generator().manual_seed(1)
    >>> z, y = model.sample_z(8, generator=g), model.sample_labels(8, generator=g)
    >>> loss_d, logs = model.d_loss(real, y_real, z, y)

References:
    Salimans et al. "Improved Techniques for Training GANs", NeurIPS 2016, arXiv:1606.03498.
"""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from ..core.config import from_dict
from ..core.errors import ConfigError
from ..core.registry import Registry

if TYPE_CHECKING:
    import torch

#: GAN models by kebab-case key: ``cdcgan``, ``sagan``, ``biggan``.
GAN_MODELS = Registry("gan", "GAN models (generator, discriminator and their losses)")

#: Modules that register a model on import (imported by :func:`load_models`).
MODEL_MODULES = ("cdcgan", "sagan", "biggan", "improved_gan_mlp")

LossName = Literal["non-saturating", "hinge"]


@dataclass
class GANConfig:
    """Fields common to every GAN model; each model subclasses it with its own fields.

    Args:
        image_size: side of the square images; ``b * 2**k`` with ``3 <= b <= 7`` and ``k >= 1``
            (8, 12, 16, 28 = 7*2*2, 32, 64 ...). The networks grow from ``b x b`` by factors of 2, so
            28 px (MNIST) is generated natively through 7 -> 14 -> 28, with no crop.
        channels: image channels (1 grey, 3 RGB).
        num_classes: classes of the condition; 0 makes the model unconditional.
        z_dim: latent size.
        loss: adversarial loss, ``non-saturating`` (Goodfellow 2014) or ``hinge`` (SAGAN, BigGAN).
        lr_g, lr_d, beta1, beta2: Adam settings of :meth:`GANModel.optimizers`.
        feature_matching: G matches the mean D features of real data instead of fooling D.
        minibatch_discrimination: D sees batch statistics of its features.
        historical_averaging: weight of ``||theta - mean of past theta||^2`` for G and D (0 = off).
        label_smoothing: one-sided: the real target of D is ``1 - label_smoothing``.
        virtual_batch_norm: G normalises with the statistics of a fixed reference batch.
        vbn_reference_size: size of that reference batch.
        semi_supervised: D has K+1 outputs (K classes and "fake") and doubles as a classifier.
        minibatch_kernels, minibatch_kernel_dim: B and C of minibatch discrimination.
    """

    image_size: int = 28
    channels: int = 1
    num_classes: int = 10
    z_dim: int = 64
    loss: LossName = "non-saturating"
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    # Improved Techniques switches (Salimans et al. 2016), usable with every model.
    feature_matching: bool = False
    minibatch_discrimination: bool = False
    historical_averaging: float = 0.0
    label_smoothing: float = 0.0
    virtual_batch_norm: bool = False
    semi_supervised: bool = False
    vbn_reference_size: int = 32
    minibatch_kernels: int = 16
    minibatch_kernel_dim: int = 8

    def __post_init__(self) -> None:
        _positive(self, "channels", "z_dim", "vbn_reference_size", "minibatch_kernels", "minibatch_kernel_dim")
        resolution_plan(self.image_size)
        if self.num_classes < 0:
            raise ConfigError(f"must be >= 0 (0 = unconditional), got {self.num_classes}", field="num_classes")
        if self.historical_averaging < 0:
            raise ConfigError(f"must be >= 0 (0 = off), got {self.historical_averaging}", field="historical_averaging")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ConfigError(f"must be in [0, 1), got {self.label_smoothing}", field="label_smoothing")
        if self.label_smoothing > 0 and self.loss != "non-saturating":
            raise ConfigError(
                f"one-sided label smoothing changes the cross-entropy target; it has no meaning for the "
                f"'{self.loss}' loss (use loss: non-saturating)",
                field="label_smoothing",
            )
        if self.semi_supervised:
            if self.num_classes < 1:
                raise ConfigError("semi_supervised needs num_classes >= 1 (D has K+1 outputs)", field="semi_supervised")
            if self.loss != "non-saturating":
                raise ConfigError(
                    f"semi_supervised uses the (K+1)-class log-likelihood loss, not '{self.loss}' "
                    "(set loss: non-saturating)",
                    field="semi_supervised",
                )
        for name in ("lr_g", "lr_d"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"must be > 0, got {getattr(self, name)}", field=name)
        for name in ("beta1", "beta2"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ConfigError(f"must be in [0, 1), got {getattr(self, name)}", field=name)

    @property
    def conditional(self) -> bool:
        return self.num_classes > 0


def _positive(cfg: Any, *names: str) -> None:
    for name in names:
        if getattr(cfg, name) < 1:
            raise ConfigError(f"must be >= 1, got {getattr(cfg, name)}", field=name)


def resolution_plan(image_size: int) -> tuple[int, int]:
    """``(base, n_up)`` with ``image_size == base * 2**n_up``, ``3 <= base <= 7``, ``n_up >= 1``.

    Raises:
        ConfigError: naming ``image_size`` when no such split exists.
    """
    size, n = image_size, 0
    while size % 2 == 0 and size // 2 >= 3 and (size > 7 or n == 0):
        size //= 2
        n += 1
    if n < 1 or not 3 <= size <= 7:
        raise ConfigError(
            f"must be b * 2**k with 3 <= b <= 7 and k >= 1 (e.g. 8, 16, 28, 32, 64), got {image_size}",
            field="image_size",
        )
    return size, n


def resolutions(image_size: int) -> list[int]:
    """The feature-map sides G goes through, smallest first: 28 -> [7, 14, 28]."""
    base, n = resolution_plan(image_size)
    return [base * 2**i for i in range(n + 1)]


@dataclass
class Penalties:
    """Penalties a model folds into its losses (tensors, 0-d): ``g`` into G's loss, ``d`` into D's."""

    g: dict[str, torch.Tensor]
    d: dict[str, torch.Tensor]


class GANModel:
    """A generator, a discriminator and their losses.

    Subclasses set :attr:`config_class`, implement :meth:`build` (return ``(G, D)``) and
    :meth:`init_weights`; the losses, optimizers, noise and the Improved Techniques live here.

    Args:
        config: a :attr:`config_class` instance or a mapping of overrides (strict keys).
        generator: draws the initial weights (and the VBN reference batch); seed 0 when omitted.

    Attributes:
        G, D: the networks (the trainer may replace them with DDP wrappers; the losses call them).
        history: the :class:`~traingen.gan.techniques.historical_averaging.HistoricalAverage` of G and D
            when ``historical_averaging > 0``, else ``None``.
    """

    config_class: ClassVar[type[GANConfig]] = GANConfig
    registry_name: ClassVar[str] = ""

    def __init__(self, config: GANConfig | dict[str, Any] | None = None, *, generator: torch.Generator | None = None):
        import torch

        if config is None or isinstance(config, dict):
            config = from_dict(self.config_class, config or {}, where=f"gan model '{self.registry_name}'")
        if not isinstance(config, self.config_class):
            raise ConfigError(
                f"expected {self.config_class.__name__}, got {type(config).__name__}", field="config"
            )
        self.config = config
        if generator is None:
            generator = torch.Generator().manual_seed(0)
        self.G, self.D = self.build()
        self.init_weights(generator)
        if config.virtual_batch_norm:
            from .techniques.virtual_batch_norm import set_reference_batch

            n = config.vbn_reference_size
            set_reference_batch(
                self.G, self.sample_z(n, generator=generator), self.sample_labels(n, generator=generator)
            )
        self.history = None
        if config.historical_averaging > 0:
            from .techniques.historical_averaging import HistoricalAverage

            self.history = HistoricalAverage({"G": _unwrap(self.G), "D": _unwrap(self.D)})

    # ----------------------------------------------------------------- to implement
    def build(self) -> tuple[torch.nn.Module, torch.nn.Module]:
        """Construct ``(G, D)`` from :attr:`config`."""
        raise NotImplementedError

    def init_weights(self, generator: torch.Generator) -> None:
        """(Re)initialise every weight of G and D from ``generator``."""
        raise NotImplementedError

    def data_init(self, images: torch.Tensor, *, generator: torch.Generator) -> None:
        """Data-dependent initialisation on a batch of real ``images``, called by the trainer once before
        the first step (not on resume). A no-op here; ``improved-gan-mlp`` uses it (``data_init: true``)."""

    # ----------------------------------------------------------------- training
    def optimizers(self) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer]:
        """``(opt_g, opt_d)``: Adam (fused, :mod:`traingen.core.optim`) with the config's learning rates and betas."""
        from ..core.optim import adam

        c = self.config
        betas = (c.beta1, c.beta2)
        return (adam(self.G.parameters(), lr=c.lr_g, betas=betas),
                adam(self.D.parameters(), lr=c.lr_d, betas=betas))

    def sample_z(self, n: int, *, generator: torch.Generator, truncation: float | None = None,
                 device: Any = None) -> torch.Tensor:
        """``n x z_dim`` standard normal noise; with ``truncation=t`` every ``|z| > t`` is redrawn."""
        return truncated_normal((n, self.config.z_dim), truncation, generator=generator, device=device)

    def sample_labels(self, n: int, *, generator: torch.Generator, device: Any = None) -> torch.Tensor | None:
        """``n`` uniform class indices (long), or ``None`` for an unconditional model."""
        import torch

        if not self.config.conditional:
            return None
        dev = generator.device if device is None else device
        return torch.randint(0, self.config.num_classes, (n,), generator=generator, device=generator.device).to(dev)

    def d_loss(self, real: torch.Tensor, y_real: torch.Tensor | None, z: torch.Tensor,
               y_fake: torch.Tensor | None, *, unlabeled: torch.Tensor | None = None
               ) -> tuple[torch.Tensor, dict[str, float]]:
        """D's loss on a real batch and ``G(z, y_fake)`` (G is not differentiated).

        With ``semi_supervised``, ``real``/``y_real`` are the labelled batch and ``unlabeled`` the
        unlabelled one (``real`` is used in its place when omitted).
        """
        import torch

        from . import losses

        c = self.config
        with torch.no_grad():
            fake = self.G(z, y_fake)
        logs: dict[str, float] = {}
        if c.semi_supervised:
            from .techniques.semi_supervised import semi_supervised_d_loss

            if y_real is None:
                raise ConfigError("semi_supervised d_loss needs the labels y_real of the labelled batch",
                                  field="y_real")
            out_l = self.D(real, None)["logits"]
            out_u = out_l if unlabeled is None else self.D(unlabeled, None)["logits"]
            out_f = self.D(fake, None)["logits"]
            parts = semi_supervised_d_loss(out_l, y_real, out_u, out_f)
            loss = parts.total
            logs.update(d_supervised=float(parts.supervised.detach()), d_unsupervised=float(parts.unsupervised.detach()),
                        d_accuracy=float((out_l[:, :-1].argmax(1) == y_real).float().mean()))
        else:
            lr = self.D(real, y_real)["logits"]
            lf = self.D(fake, y_fake)["logits"]
            if c.loss == "hinge":
                loss = losses.d_hinge(lr, lf)
            else:
                loss = losses.d_non_saturating(lr, lf, real_target=1.0 - c.label_smoothing)
            logs.update(d_real=float(lr.detach().mean()), d_fake=float(lf.detach().mean()))
        logs["d_adv"] = float(loss.detach())
        for name, value in self.regularizers().d.items():
            loss = loss + value
            logs[f"d_{name}"] = float(value.detach())
        logs["d_loss"] = float(loss.detach())
        return loss, logs

    def g_loss(self, z: torch.Tensor, y_fake: torch.Tensor | None, *, real: torch.Tensor | None = None,
               y_real: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, float]]:
        """G's loss on ``G(z, y_fake)``; ``real`` (and ``y_real`` for a conditional D) feed feature matching."""
        import torch

        from . import losses

        c = self.config
        fake = self.G(z, y_fake)
        out_f = self.D(fake, None if c.semi_supervised else y_fake)
        if c.feature_matching:
            from .techniques.feature_matching import feature_matching_loss

            if real is None:
                raise ConfigError("feature_matching: g_loss needs the real batch (real=)", field="real")
            if y_real is None and c.conditional and not c.semi_supervised:
                raise ConfigError("feature_matching with a conditional model: g_loss needs y_real=", field="y_real")
            with torch.no_grad():
                f_real = self.D(real, None if c.semi_supervised else y_real)["features"]
            loss = feature_matching_loss(f_real, out_f["features"])
        elif c.semi_supervised:
            from .techniques.semi_supervised import semi_supervised_g_loss

            loss = semi_supervised_g_loss(out_f["logits"])
        elif c.loss == "hinge":
            loss = losses.g_hinge(out_f["logits"])
        else:
            loss = losses.g_non_saturating(out_f["logits"])
        logs = {"g_adv": float(loss.detach())}
        for name, value in self.regularizers().g.items():
            loss = loss + value
            logs[f"g_{name}"] = float(value.detach())
        logs["g_loss"] = float(loss.detach())
        return loss, logs

    def regularizers(self) -> Penalties:
        """The penalties folded into :meth:`g_loss` / :meth:`d_loss` (historical averaging here;
        models add their own, e.g. BigGAN's orthogonal regularisation)."""
        pen = Penalties(g={}, d={})
        if self.history is not None:
            w = self.config.historical_averaging
            pen.g["historical"] = w * self.history.penalty("G", _unwrap(self.G))
            pen.d["historical"] = w * self.history.penalty("D", _unwrap(self.D))
        return pen

    def after_step(self) -> None:
        """Call once after both optimizer steps of a training step (updates historical averages)."""
        if self.history is not None:
            self.history.update({"G": _unwrap(self.G), "D": _unwrap(self.D)})

    # ----------------------------------------------------------------- state
    def state_dict(self) -> dict[str, dict[str, torch.Tensor]]:
        """``{"G": ..., "D": ..., ["history": ...]}``: every tensor needed to resume exactly."""
        state = {"G": _unwrap(self.G).state_dict(), "D": _unwrap(self.D).state_dict()}
        if self.history is not None:
            state["history"] = self.history.state_dict()
        return state

    def load_state_dict(self, state: dict[str, dict[str, torch.Tensor]]) -> None:
        _unwrap(self.G).load_state_dict(state["G"])
        _unwrap(self.D).load_state_dict(state["D"])
        if self.history is not None:
            if "history" not in state:
                raise ConfigError("the state has no historical averages but historical_averaging > 0",
                                  field="history")
            self.history.load_state_dict(state["history"])

    def to(self, device: Any) -> GANModel:
        self.G.to(device)
        self.D.to(device)
        if self.history is not None:
            self.history.to(device)
        return self

    def train(self, mode: bool = True) -> GANModel:
        self.G.train(mode)
        self.D.train(mode)
        return self

    def eval(self) -> GANModel:
        return self.train(False)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config})"


def _unwrap(module: Any) -> Any:
    """The module inside a DistributedDataParallel (or DataParallel) wrapper, else the module."""
    from torch.nn.parallel import DataParallel, DistributedDataParallel

    return module.module if isinstance(module, (DistributedDataParallel, DataParallel)) else module


def truncated_normal(shape: tuple[int, ...], truncation: float | None, *, generator: torch.Generator,
                     device: Any = None) -> torch.Tensor:
    """Standard normal draws; with ``truncation=t`` each value with ``|z| > t`` is redrawn until none is.

    This is BigGAN's truncation trick (resampling, not clipping), usable with every model.

    Args:
        shape: output shape.
        truncation: ``t > 0``, or ``None`` for no truncation.
        generator: the random stream (its device is where the draws happen).
        device: where the result goes (default: the generator's device).

    References:
        Brock, Donahue, Simonyan. "Large Scale GAN Training for High Fidelity Natural Image
        Synthesis", ICLR 2019, arXiv:1809.11096, section 3.1.
    """
    import torch

    z = torch.randn(shape, generator=generator, device=generator.device)
    if truncation is not None:
        if not truncation > 0:
            raise ConfigError(f"must be > 0, got {truncation}", field="truncation")
        bad = z.abs() > truncation
        while bool(bad.any()):
            z[bad] = torch.randn(int(bad.sum()), generator=generator, device=generator.device)
            bad = z.abs() > truncation
    return z if device is None else z.to(device)


def load_models() -> None:
    """Import the model modules so that they register in :data:`GAN_MODELS` (imports torch)."""
    for name in MODEL_MODULES:
        importlib.import_module(f"{__package__}.{name}")


def model_class(name: str) -> type[GANModel]:
    """The registered model class for ``name`` (``cdcgan``, ``sagan``, ``biggan``)."""
    load_models()
    return GAN_MODELS.get(name)


def build_model(name: str, config: GANConfig | dict[str, Any] | None = None, *,
                generator: torch.Generator | None = None, where: str | None = None) -> GANModel:
    """Build the registered model ``name`` from a config or a mapping of overrides.

    Args:
        name: registry key.
        config: the model's config dataclass or a mapping (unknown keys and wrong types raise
            :class:`ConfigError` naming the key; ``where`` names the file in that error).
        generator: draws the initial weights; seed 0 when omitted.
        where: the recipe file the mapping came from, for error messages.
    """
    cls = model_class(name)
    if config is None or isinstance(config, dict):
        config = from_dict(cls.config_class, config or {}, where=where or f"gan model '{name}'")
    return cls(config, generator=generator)


def config_fields(cls: type[GANConfig]) -> list[str]:
    """Names of a config's fields (for help texts and error messages)."""
    return [f.name for f in dataclasses.fields(cls)]
