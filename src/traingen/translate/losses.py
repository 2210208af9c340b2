"""The adversarial losses of pix2pix (vanilla GAN) and CycleGAN (least squares), against constant targets.

``gan_loss(pred, True)`` asks every patch logit to say "real": BCE-with-logits against 1 for the
vanilla GAN (Goodfellow et al.; the non-saturating form for G), mean squared error against 1 for the
LSGAN that CycleGAN uses (Mao et al.), and against 0 for "fake".

Example:
    >>> d_loss = 0.5 * (gan_loss(D(real), True) + gan_loss(D(fake.detach()), False))

References:
    Goodfellow et al. "Generative Adversarial Nets", NeurIPS 2014.
    Mao et al. "Least Squares Generative Adversarial Networks", ICCV 2017.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from ..core.errors import ConfigError

GAN_LOSSES = ("vanilla", "lsgan")


def gan_loss(pred: torch.Tensor, target_is_real: bool, *, kind: str = "vanilla") -> torch.Tensor:
    """Mean adversarial loss of discriminator outputs ``pred`` against an all-real or all-fake target.

    Args:
        pred: raw discriminator outputs (any shape).
        target_is_real: the target label of every element.
        kind: ``vanilla`` (BCE with logits) or ``lsgan`` (MSE).

    Returns:
        A scalar tensor.
    """
    target = torch.full_like(pred, 1.0 if target_is_real else 0.0)
    if kind == "vanilla":
        return F.binary_cross_entropy_with_logits(pred, target)
    if kind == "lsgan":
        return F.mse_loss(pred, target)
    raise ConfigError(f"expected one of {list(GAN_LOSSES)}, got {kind!r}", field="gan_loss")
