"""Linear learning-rate decay to zero over the last part of training.

The reference code of Improved Techniques for Training GANs (Salimans et al. 2016) trains its
CIFAR-10 semi-supervised model at a constant learning rate for the first two thirds of the epochs
and then lowers it linearly towards 0 (``lr = base * min(3 - epoch / 400, 1)`` over 1,200 epochs).
Ending a noisy (adversarial) optimisation with a small step size lets the weights settle instead of
stopping at a random point of their oscillation, which matters when the network is read at the last
step, as the semi-supervised experiment does with D.

The schedule here is per generator step: with ``T`` steps in total and decay from step
``S = floor(start * T)``, step ``s`` (1-based) trains with

    factor(s) = min(1, (T - s + 1) / (T - S))

times the base rate: 1 up to step ``S + 1``, then falling linearly, ``1 / (T - S)`` at the last step
(never exactly 0, so every step still updates). ``start = 1`` (the default of :class:`TrainConfig`)
keeps the rate constant. Every D update of a step uses that step's factor, in the GAN trainer and in
the supervised-only arm of the semi-supervised experiment alike.

Example:
    >>> [round(linear_decay_factor(s, total=4, start=0.5), 3) for s in range(1, 5)]
    [1.0, 1.0, 1.0, 0.5]
    >>> set_learning_rate(opt_d, base=0.003, factor=linear_decay_factor(step, total=3000, start=2 / 3))

References:
    Salimans, Goodfellow, Zaremba, Cheung, Radford, Chen. "Improved Techniques for Training GANs",
    NeurIPS 2016, arXiv:1606.03498; reference code openai/improved-gan
    (``mnist_svhn_cifar10/train_cifar_feature_matching.py``: the linear decay over the last third).
"""

from __future__ import annotations

import math
from typing import Any

from ..core.errors import ConfigError


def check_decay_start(start: float, *, field: str = "lr_decay_start") -> float:
    """``start`` as a float after checking it lies in [0, 1]; raises :class:`ConfigError` otherwise."""
    start = float(start)
    if not 0.0 <= start <= 1.0 or math.isnan(start):
        raise ConfigError(f"must lie in [0, 1] (the fraction of the steps before the decay), got {start}",
                          field=field)
    return start


def linear_decay_factor(step: int, *, total: int, start: float) -> float:
    """The learning-rate factor of generator step ``step`` (1-based) of ``total``.

    Args:
        step: the step being trained, ``1 <= step <= total`` (later steps get the last factor).
        total: steps in the run.
        start: fraction of ``total`` trained at the full rate; 1 disables the decay.

    Returns:
        ``min(1, (total - step + 1) / (total - floor(start * total)))``, 1 when no step decays.
    """
    start = check_decay_start(start)
    if total < 1:
        raise ConfigError(f"must be >= 1, got {total}", field="steps")
    if step < 1:
        raise ConfigError(f"steps are 1-based, got {step}", field="step")
    first = math.floor(start * total)
    span = total - first
    if span <= 0:
        return 1.0
    return min(1.0, max(total - step + 1, 1) / span)


def set_learning_rate(optimizer: Any, *, base: float, factor: float) -> None:
    """Set every parameter group of ``optimizer`` to ``base * factor``."""
    for group in optimizer.param_groups:
        group["lr"] = base * factor


__all__ = ["check_decay_start", "linear_decay_factor", "set_learning_rate"]
