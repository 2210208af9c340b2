"""Historical averaging: penalise each player for moving far from the average of its past parameters.

Each player's cost gets the term ``|| theta - (1/t) sum_{i=1..t} theta[i] ||^2``, where ``theta[i]``
are the parameters after step ``i``. Salimans et al. take the idea from fictitious play: it damps the
orbits that gradient descent can follow around an equilibrium of a game. The average is a running
mean, updated in constant memory after every step; the weight of the term is the config's
``historical_averaging`` (0 = off).

The averages are part of the model's state (:meth:`HistoricalAverage.state_dict`), so a resumed
run continues the same average.

Example:
    >>> hist = HistoricalAverage({"G": G, "D": D})
    >>> loss_g = loss_g + 1e-3 * hist.penalty("G", G)
    >>> ...; opt_g.step(); opt_d.step()
    >>> hist.update({"G": G, "D": D})

References:
    Salimans, Goodfellow, Zaremba, Cheung, Radford, Chen. "Improved Techniques for Training GANs",
    NeurIPS 2016, arXiv:1606.03498, section 3.3.
    Brown. "Iterative solution of games by fictitious play", 1951.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch
from torch import nn

from ...core.errors import CheckpointError


def historical_penalty(params: Iterable[torch.Tensor], averages: Iterable[torch.Tensor]) -> torch.Tensor:
    """``sum_p ||p - avg_p||^2`` over matching parameters and averages (differentiable in ``params``).

    Args:
        params: current parameters.
        averages: their running means (same shapes, no gradient).

    Returns:
        A 0-d tensor.
    """
    total = None
    for p, a in zip(params, averages, strict=True):
        term = (p - a).pow(2).sum()
        total = term if total is None else total + term
    if total is None:
        return torch.zeros(())
    return total


@torch.no_grad()
def update_running_mean(averages: Iterable[torch.Tensor], params: Iterable[torch.Tensor], count: int) -> None:
    """In place: ``avg <- (count * avg + p) / (count + 1)``, the mean of ``count + 1`` snapshots."""
    for a, p in zip(averages, params, strict=True):
        a.mul_(count / (count + 1)).add_(p.detach(), alpha=1.0 / (count + 1))


def _params(module: nn.Module) -> list[torch.Tensor]:
    return [p for p in module.parameters() if p.requires_grad]


class HistoricalAverage:
    """Running means of the parameters of several named modules.

    Args:
        modules: name -> module; the mean starts at the current parameters (one snapshot).
    """

    def __init__(self, modules: Mapping[str, nn.Module]):
        self.averages = {name: [p.detach().clone() for p in _params(m)] for name, m in modules.items()}
        self.counts = dict.fromkeys(modules, 1)

    def penalty(self, name: str, module: nn.Module) -> torch.Tensor:
        """``||theta - mean past theta||^2`` for the module stored under ``name``."""
        return historical_penalty(_params(module), self.averages[name])

    def update(self, modules: Mapping[str, nn.Module]) -> None:
        """Add the modules' current parameters as one more snapshot of each mean."""
        for name, module in modules.items():
            update_running_mean(self.averages[name], _params(module), self.counts[name])
            self.counts[name] += 1

    def state_dict(self) -> dict[str, torch.Tensor]:
        state: dict[str, torch.Tensor] = {}
        for name, avgs in self.averages.items():
            state[f"{name}.count"] = torch.tensor(self.counts[name], dtype=torch.int64)
            for i, a in enumerate(avgs):
                state[f"{name}.{i}"] = a
        return state

    def load_state_dict(self, state: Mapping[str, torch.Tensor]) -> None:
        for name, avgs in self.averages.items():
            key = f"{name}.count"
            if key not in state:
                raise CheckpointError(f"missing '{key}'", field="history")
            for i, a in enumerate(avgs):
                k = f"{name}.{i}"
                if k not in state or tuple(state[k].shape) != tuple(a.shape):
                    raise CheckpointError(f"missing or mis-shaped '{k}' (expected {tuple(a.shape)})",
                                          field="history")
                a.copy_(state[k])
            self.counts[name] = int(state[key])

    def to(self, device: torch.device | str) -> HistoricalAverage:
        self.averages = {n: [a.to(device) for a in avgs] for n, avgs in self.averages.items()}
        return self
