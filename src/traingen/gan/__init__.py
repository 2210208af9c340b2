"""GAN image synthesis: conditional DCGAN, SAGAN, BigGAN and the Improved Techniques.

==========  ===============================================================  ==============================
key         model                                                            paper
==========  ===============================================================  ==============================
``cdcgan``  DCGAN with the one-hot condition joined to z (G) and to the       Gauthier 2015
            image features (D)
``sagan``   residual G/D, self-attention, spectral norm, hinge, TTUR,         Zhang et al. 2018
            conditional BN in G, projection D
``biggan``  SAGAN plus shared class embedding, hierarchical latent,           Brock et al. 2018
            orthogonal regularisation, truncation, channel multiplier
==========  ===============================================================  ==============================

Every model takes the switches of :class:`GANConfig` for the Improved Techniques (Salimans et al.
2016): ``feature_matching``, ``minibatch_discrimination``, ``historical_averaging``,
``label_smoothing``, ``virtual_batch_norm``, ``semi_supervised``. See ``docs/gan/models.md``.

``import traingen.gan`` does not import torch; the names below load their module on first use.

Example:
    >>> import torch
    >>> from traingen.gan import build_model
    >>> model = build_model("cdcgan", {"image_size": 28, "ch": 8})
    >>> g = torch.Generator().manual_seed(0)
    >>> images = model.G(model.sample_z(4, generator=g), model.sample_labels(4, generator=g))
"""

from __future__ import annotations

from ..core.lazy import lazy_attributes
from .base import (
    GAN_MODELS,
    MODEL_MODULES,
    GANConfig,
    GANModel,
    Penalties,
    build_model,
    load_models,
    model_class,
    resolution_plan,
    resolutions,
    truncated_normal,
)

# name -> submodule that defines it (imported on first access; these modules import torch).
_LAZY = {
    "CDCGAN": ".cdcgan",
    "CDCGANConfig": ".cdcgan",
    "SAGAN": ".sagan",
    "SAGANConfig": ".sagan",
    "BigGAN": ".biggan",
    "BigGANConfig": ".biggan",
    "orthogonal_penalty": ".biggan",
    "classify": ".techniques.semi_supervised",
}
_SUBMODULES = ("cdcgan", "sagan", "biggan", "layers", "losses", "techniques", "trainer", "ema", "sample",
               "train_config", "semi_supervised_experiment", "diagnostics", "lr_schedule")

__all__ = [
    "GAN_MODELS",
    "MODEL_MODULES",
    "GANConfig",
    "GANModel",
    "Penalties",
    "build_model",
    "load_models",
    "model_class",
    "resolution_plan",
    "resolutions",
    "truncated_normal",
    *_LAZY,
]


__getattr__, __dir__ = lazy_attributes(__name__, globals(), _LAZY, _SUBMODULES)
