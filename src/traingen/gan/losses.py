"""Adversarial losses on discriminator logits: non-saturating (with an optional soft real target) and hinge.

Each function takes raw logits (any shape, averaged over all elements) and returns a 0-d tensor.
They are pure: no module state, no randomness.

==================  ==========================================  =======================================
name                D loss                                      G loss
==================  ==========================================  =======================================
``non-saturating``  ``BCE(l_real, t) + BCE(l_fake, 0)``          ``BCE(l_fake, 1) = softplus(-l_fake)``
``hinge``           ``relu(1 - l_real) + relu(1 + l_fake)``      ``-l_fake``
==================  ==========================================  =======================================

``t`` is 1, or ``1 - s`` with one-sided label smoothing
(:mod:`traingen.gan.techniques.label_smoothing`).

Example:
    >>> loss_d = d_hinge(D(real)["logits"], D(fake.detach())["logits"])
    >>> loss_g = g_hinge(D(fake)["logits"])

References:
    Goodfellow et al. "Generative Adversarial Nets", NeurIPS 2014 (the non-saturating G loss).
    Lim, Ye. "Geometric GAN", arXiv:1705.02894, 2017 (hinge loss); used by SAGAN (arXiv:1805.08318)
    and BigGAN (arXiv:1809.11096).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

LOSSES = ("non-saturating", "hinge")


def binary_cross_entropy(logits: torch.Tensor, target: float) -> torch.Tensor:
    """Mean ``-[t log sigmoid(l) + (1 - t) log(1 - sigmoid(l))]`` for a constant target ``t``.

    Written with softplus (``-log sigmoid(l) = softplus(-l)``, ``-log(1 - sigmoid(l)) = softplus(l)``),
    which is stable for large ``|l|``.
    """
    if target == 1.0:
        return F.softplus(-logits).mean()
    if target == 0.0:
        return F.softplus(logits).mean()
    return (target * F.softplus(-logits) + (1.0 - target) * F.softplus(logits)).mean()


def d_non_saturating(real_logits: torch.Tensor, fake_logits: torch.Tensor, *,
                     real_target: float = 1.0) -> torch.Tensor:
    """D's cross-entropy: real towards ``real_target`` (1, or ``1 - s`` when smoothed), fake towards 0.

    Args:
        real_logits: D's logits on real images.
        fake_logits: D's logits on generated images.
        real_target: the target of the real images; the fake target stays 0 (one-sided smoothing).

    Returns:
        A 0-d tensor.
    """
    return binary_cross_entropy(real_logits, real_target) + binary_cross_entropy(fake_logits, 0.0)


def g_non_saturating(fake_logits: torch.Tensor) -> torch.Tensor:
    """G's non-saturating loss ``-log D(G(z)) = softplus(-l)``."""
    return F.softplus(-fake_logits).mean()


def d_hinge(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """D's hinge loss ``E[relu(1 - D(x))] + E[relu(1 + D(G(z)))]``."""
    return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()


def g_hinge(fake_logits: torch.Tensor) -> torch.Tensor:
    """G's hinge loss ``-E[D(G(z))]``."""
    return -fake_logits.mean()
