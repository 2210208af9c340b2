"""What every translation model gives the trainer besides its own losses: device moves and extra state.

A model (:class:`~traingen.translate.pix2pix.Pix2Pix`, ``CycleGAN``, ``TextureGAN``, ``SIMS``) owns its
networks (``nets``), optimizers (``optimizers``) and ``train_step``; :mod:`traingen.translate.trainer`
checkpoints ``nets`` and ``optimizers`` and, through :meth:`TranslateModel.extra_state`, anything else that
an exact resume needs (CycleGAN's image pools). This base holds the defaults the models shared.

Example:
    >>> class MyModel(TranslateModel):
    ...     nets = property(lambda self: {"G": self.G})
"""

from __future__ import annotations

from typing import Any


class TranslateModel:
    """Defaults: ``to`` moves every network of ``nets``; no extra state beyond networks and optimizers."""

    nets: Any  # dict[str, torch.nn.Module], a property in each model

    def to(self, device: Any) -> TranslateModel:
        """Move every network to ``device``; returns the model."""
        for net in self.nets.values():
            net.to(device)
        return self

    def extra_state(self) -> dict[str, Any]:
        """State beyond networks and optimizers that an exact resume needs (none by default)."""
        return {}

    def load_extra_state(self, state: dict[str, Any], *, device: Any = "cpu") -> None:
        """Restore :meth:`extra_state` (nothing by default)."""
        return None
