"""One-sided label smoothing: D's target for real images is ``1 - s``, for fake images still 0.

Salimans et al. replace the 0/1 targets of the discriminator with smoothed values but smooth only the
positive side: a smoothed negative target ``b > 0`` makes the optimal discriminator
``D*(x) = (a p_data(x) + b p_model(x)) / (p_data(x) + p_model(x))``, which keeps rewarding the
generator for samples where ``p_data`` is small. With ``b = 0`` the optimum is ``a D_original(x)``:
D stays calibrated in shape but cannot become over-confident on real data.

Enable with ``label_smoothing: 0.1`` (any value in [0, 1)) in a model config; it requires the
``non-saturating`` loss (the hinge loss has no target to smooth, and the model config refuses the
combination).

Example:
    >>> t = real_target(0.1)           # 0.9
    >>> loss = one_sided_smoothed_loss(D(real)["logits"], D(fake)["logits"], 0.1)

References:
    Salimans, Goodfellow, Zaremba, Cheung, Radford, Chen. "Improved Techniques for Training GANs",
    NeurIPS 2016, arXiv:1606.03498, section 3.4.
    Szegedy et al. "Rethinking the Inception Architecture for Computer Vision", CVPR 2016 (label
    smoothing).
"""

from __future__ import annotations

import torch

from ...core.errors import ConfigError
from ..losses import d_non_saturating


def real_target(smoothing: float) -> float:
    """The target D is trained towards on real images: ``1 - smoothing``.

    Args:
        smoothing: ``s`` in [0, 1).

    Returns:
        ``1 - s``.

    Raises:
        ConfigError: naming ``label_smoothing`` when ``s`` is outside [0, 1).
    """
    if not 0.0 <= smoothing < 1.0:
        raise ConfigError(f"must be in [0, 1), got {smoothing}", field="label_smoothing")
    return 1.0 - smoothing


def fake_target(smoothing: float) -> float:
    """The target on generated images: always 0 (the smoothing is one-sided)."""
    real_target(smoothing)  # validate
    return 0.0


def one_sided_smoothed_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor,
                            smoothing: float) -> torch.Tensor:
    """D's binary cross-entropy with the real target ``1 - smoothing`` and the fake target 0.

    Args:
        real_logits: D's logits on real images.
        fake_logits: D's logits on generated images.
        smoothing: ``s`` in [0, 1); 0 gives the plain loss.

    Returns:
        A 0-d tensor: ``E[-(1-s) log D(x) - s log(1 - D(x))] + E[-log(1 - D(G(z)))]``.
    """
    return d_non_saturating(real_logits, fake_logits, real_target=real_target(smoothing))
