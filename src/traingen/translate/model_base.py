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


def adam(params: Any, *, lr: float, betas: tuple[float, float]) -> Any:
    """``torch.optim.Adam`` with the fused implementation (one kernel for all parameters).

    The same update as the default Adam (the reference implementation's), computed in one pass: on this
    2-core CPU the default per-parameter loop took 12.8 ms per step for pix2pix's ngf-16 U-Net and 352 ms for
    ngf 64, the fused one 1.3 / 44 ms (session 9, bench/RESULTS.md) -- a large part of a small model's step.
    Floating-point rounding can differ from the loop in the last bits; runs stay deterministic.
    """
    import torch

    return torch.optim.Adam(params, lr=lr, betas=betas, fused=True)


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
