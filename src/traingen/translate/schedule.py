"""The pix2pix / CycleGAN learning-rate schedule: constant, then linear decay towards 0.

The reference keeps the initial rate for ``n_epochs`` epochs and then lowers it linearly over
``n_epochs_decay`` epochs. Its ``LambdaLR`` rule, with the default ``epoch_count`` of 1, is::

    rule(k) = 1 - max(0, k + epoch_count - n_epochs) / (n_epochs_decay + 1)

and at commit 9f8f61e its ``train.py`` steps the scheduler at the *start* of every epoch, so the
0-based epoch ``e`` trains at ``rule(e + 1)``: ``n_epochs - 1`` epochs at the full rate, then a linear
ramp that reaches exactly 0 in the last epoch. We reproduce that exactly (the tests replay the
reference's ``LambdaLR`` loop), because "linear decay" in the papers' numbers means this function.

Training here counts steps, not epochs: :class:`LinearDecay` maps a step to its epoch with
``steps_per_epoch`` and splits ``total_epochs`` into equal halves (constant first; the first half takes
the odd epoch), the papers' 100 + 100 (pix2pix facades, CycleGAN) setting.

Example:
    >>> sched = LinearDecay(total_epochs=200, steps_per_epoch=400)
    >>> sched.factor(0), sched.factor(99 * 400), sched.factor(199 * 400)
    (1.0, 0.9900990099009901, 0.0)

References:
    Zhu et al., ICCV 2017, Sec. 4 / Appendix 7.1 (constant for 100 epochs, then linear decay to zero
    over the next 100); Isola et al., CVPR 2017.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..core.errors import ConfigError


def linear_decay_factor(epoch: int, n_epochs: int, n_epochs_decay: int, epoch_count: int = 1) -> float:
    """The multiplier of the initial learning rate after epoch ``epoch`` (module docstring).

    Args:
        epoch: the scheduler's counter (``LambdaLR.last_epoch``).
        n_epochs: epochs at the initial rate.
        n_epochs_decay: epochs of linear decay.
        epoch_count: the reference's starting epoch counter (1).

    Returns:
        A float in ``[0, 1]`` for counters up to ``n_epochs + n_epochs_decay``.
    """
    if n_epochs < 0 or n_epochs_decay < 0:
        raise ConfigError(f"epochs must be >= 0, got {n_epochs} and {n_epochs_decay}", field="n_epochs")
    return 1.0 - max(0, epoch + epoch_count - n_epochs) / float(n_epochs_decay + 1)


@dataclass(frozen=True)
class LinearDecay:
    """Step-indexed form of :func:`linear_decay_factor`.

    Attributes:
        total_epochs: epochs of the whole run (constant half + decay half).
        steps_per_epoch: optimizer steps per epoch (``ceil(dataset size / batch)``).
        decay_fraction: the share of the epochs spent in the linear decay (the reference's
            ``n_epochs_decay / (n_epochs + n_epochs_decay)``); 0.5 gives the papers' equal halves.
    """

    total_epochs: int
    steps_per_epoch: int
    decay_fraction: float = 0.5

    def __post_init__(self) -> None:
        if self.total_epochs < 1 or self.steps_per_epoch < 1:
            raise ConfigError(f"total_epochs and steps_per_epoch must be >= 1, got {self.total_epochs} and "
                              f"{self.steps_per_epoch}", field="steps")
        if not 0.0 <= self.decay_fraction <= 1.0:
            raise ConfigError(f"decay_fraction must be in [0, 1], got {self.decay_fraction}", field="decay_fraction")

    @property
    def n_epochs(self) -> int:
        return self.total_epochs - self.n_epochs_decay

    @property
    def n_epochs_decay(self) -> int:
        # rounded down, so the constant part takes the odd epoch (0.5: ``total // 2``, the papers' halves);
        # the epsilon keeps products such as 10 * 0.7 from landing one below
        return min(self.total_epochs, math.floor(self.total_epochs * self.decay_fraction + 1e-9))

    def epoch(self, step: int) -> int:
        return step // self.steps_per_epoch

    def factor(self, step: int) -> float:
        """The learning-rate multiplier in force during ``step``: ``rule(epoch + 1)`` (module docstring)."""
        return linear_decay_factor(self.epoch(step) + 1, self.n_epochs, self.n_epochs_decay)

    @classmethod
    def for_steps(cls, steps: int, steps_per_epoch: int, decay_fraction: float = 0.5) -> LinearDecay:
        """The schedule of a run of ``steps`` steps (at least one epoch)."""
        return cls(max(1, -(-steps // steps_per_epoch)), steps_per_epoch, decay_fraction)
