"""Image-to-image translation: pix2pix (paired) and CycleGAN (unpaired), with exports that keep labels.

``import traingen.translate`` does not import torch; the models load on first access.

Example:
    >>> from traingen.translate import load_translate_config, train_translation
    >>> res = train_translation(load_translate_config("recipes/translate-pix2pix-edges2photos.yaml", steps=20),
    ...                         "runs/p2p")
"""

from __future__ import annotations

from ..core.lazy import lazy_attributes

_LAZY = {
    "Pix2Pix": ".pix2pix", "Pix2PixConfig": ".pix2pix",
    "CycleGAN": ".cyclegan", "CycleGANConfig": ".cyclegan", "cycle_losses": ".cyclegan",
    "TextureGAN": ".texturegan", "TextureGANConfig": ".texturegan",
    "SIMS": ".sims", "SIMSConfig": ".sims", "SegmentBank": ".sims_bank", "retrieve": ".sims_bank",
    "UNetGenerator": ".networks", "PatchDiscriminator": ".networks", "ResNetGenerator": ".networks",
    "init_weights": ".networks", "patchgan_receptive_field": ".networks", "unet_depth": ".networks",
    "ImagePool": ".pool", "LinearDecay": ".schedule", "linear_decay_factor": ".schedule",
    "gan_loss": ".losses",
    "TranslateTrainConfig": ".config", "load_translate_config": ".config",
    "train_translation": ".trainer", "load_run": ".trainer",
    "translate_dataset": ".export", "load_reference_generator": ".reference",
}

__all__ = sorted(_LAZY)

__getattr__, __dir__ = lazy_attributes(__name__, globals(), _LAZY)
