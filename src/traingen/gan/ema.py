"""Exponential moving average (EMA) of generator weights.

Sampling from a running average of the generator's weights instead of the last iterate gives visibly
cleaner samples and better FID for every GAN architecture (Yazıcı et al. 2019); BigGAN samples from
such an average too. traingen keeps one for every model (on by default, DESIGN §9) and samples from
it.

The core is the pure function :func:`ema_update_`: for each floating-point parameter
``e <- decay * e + (1 - decay) * p``; buffers (batch-norm running statistics, spectral-norm vectors,
step counters) are copied from the live network, as BigGAN-PyTorch does. Before ``start`` steps the
average is a plain copy (the early weights are noise that would only slow the average down).

Example:
    >>> ema = EMA(G, decay=0.999, start=100)
    >>> for step in range(steps):
    ...     train_step(G)
    ...     ema.update(G, step + 1)
    >>> images = ema.module(z, y)

References:
    Yazıcı, Foo, Winkler, Yap, Piliouras, Chandrasekhar. "The Unusual Effectiveness of Averaging in
    GAN Training", ICLR 2019. Brock, Donahue, Simonyan. "Large Scale GAN Training for High Fidelity
    Natural Image Synthesis", ICLR 2019 (EMA of G with a start step). Polyak, Juditsky. "Acceleration
    of Stochastic Approximation by Averaging", SIAM J. Control Optim. 1992.
"""

from __future__ import annotations

import copy
from typing import Any

import torch

from ..core.errors import CheckpointError, ConfigError


def _unwrap(module: torch.nn.Module) -> torch.nn.Module:
    """The plain module inside a DistributedDataParallel (or similar ``.module``) wrapper."""
    return module.module if hasattr(module, "module") and isinstance(module.module, torch.nn.Module) else module


@torch.no_grad()
def ema_update_(ema: torch.nn.Module, live: torch.nn.Module, decay: float) -> None:
    """Move ``ema``'s weights towards ``live``'s in place; copy buffers.

    Args:
        ema: the averaged network (same architecture as ``live``).
        live: the network being trained (a DDP wrapper is unwrapped).
        decay: weight of the old average, in [0, 1]; 0 copies ``live``, 1 freezes ``ema``.

    Example:
        >>> ema_update_(g_ema, g, 0.999)   # e = 0.999 e + 0.001 p for every parameter
    """
    if not 0.0 <= decay <= 1.0:
        raise ConfigError(f"decay must lie in [0, 1], got {decay}", field="ema_decay")
    live = _unwrap(live)
    ema_params = dict(ema.named_parameters())
    for name, p in live.named_parameters():
        e = ema_params.get(name)
        if e is None:
            raise CheckpointError(f"EMA network has no parameter {name!r}", field="G_ema")
        if e.dtype.is_floating_point:
            # e + (1 - decay) (p - e) == decay e + (1 - decay) p
            e.lerp_(p.detach(), 1.0 - decay)
        else:  # pragma: no cover - integer parameters do not occur in GANs
            e.copy_(p)
    ema_buffers = dict(ema.named_buffers())
    for name, b in live.named_buffers():
        if name in ema_buffers:
            ema_buffers[name].copy_(b)


@torch.no_grad()
def copy_weights_(dst: torch.nn.Module, src: torch.nn.Module) -> None:
    """Copy every parameter and buffer of ``src`` into ``dst`` (same architecture)."""
    dst.load_state_dict(_unwrap(src).state_dict())


class EMA:
    """An averaged copy of a network, updated after each optimizer step.

    Args:
        module: the live network (deep-copied; the copy takes no gradients).
        decay: weight of the old average per update (0.999 is BigGAN-PyTorch's 0.9999 for short runs).
        start: steps before which the average is a plain copy of the live weights.
        debias: average only the iterates after ``start`` (Adam's bias correction): the ``n``-th update
            after ``start`` moves the average by ``(1 - decay) / (1 - decay^n)`` of the way (``1 / n``
            when ``decay`` is 1, the plain Polyak mean), so the weights the average started from do not
            linger in it (``decay^n`` of them would with the plain update).

    Attributes:
        module: the averaged network, in eval mode; sample from it.
    """

    def __init__(self, module: torch.nn.Module, decay: float = 0.999, start: int = 0, *, debias: bool = False):
        if not 0.0 <= decay <= 1.0:
            raise ConfigError(f"decay must lie in [0, 1], got {decay}", field="ema_decay")
        if start < 0:
            raise ConfigError(f"start must be >= 0, got {start}", field="ema_start")
        self.decay = float(decay)
        self.start = int(start)
        self.debias = bool(debias)
        self.module = copy.deepcopy(_unwrap(module))
        self.module.requires_grad_(False)
        self.module.eval()

    def update(self, live: torch.nn.Module, step: int) -> None:
        """Update after training step ``step`` (1-based): a copy before ``start``, then the average."""
        if step <= self.start:
            copy_weights_(self.module, live)
        elif self.debias:
            n = step - self.start
            rate = 1.0 / n if self.decay == 1.0 else (1.0 - self.decay) / (1.0 - self.decay ** n)
            ema_update_(self.module, live, 1.0 - min(rate, 1.0))
        else:
            ema_update_(self.module, live, self.decay)

    def state_dict(self) -> dict[str, Any]:
        return self.module.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.module.load_state_dict(state)
