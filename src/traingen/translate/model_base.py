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
    config: Any

    def to(self, device: Any) -> TranslateModel:
        """Move every network to ``device``; returns the model."""
        for net in self.nets.values():
            net.to(device)
        return self

    def backbone(self, device: Any = "cpu") -> Any:
        """The frozen feature network of the model's loss (``config.backbone``, ``backbone_weights``,
        ``backbone_options``; :func:`traingen.texture.gram.get_backbone`), built on first use."""
        if getattr(self, "_backbone", None) is None:
            from ..texture.gram import get_backbone

            c = self.config
            self._backbone = get_backbone(c.backbone, weights=c.backbone_weights, device=str(device),
                                          **c.backbone_options)
            for p in self._backbone.extractor.module.parameters():
                p.requires_grad_(False)
        return self._backbone

    def extra_state(self) -> dict[str, Any]:
        """State beyond networks and optimizers that an exact resume needs (none by default)."""
        return {}

    def load_extra_state(self, state: dict[str, Any], *, device: Any = "cpu") -> None:
        """Restore :meth:`extra_state` (nothing by default)."""
        return None
