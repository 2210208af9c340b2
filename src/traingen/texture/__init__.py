"""Texture synthesis: new textures from one exemplar, for backgrounds and domain randomization.

===============  ============================================================  ==========================
key              method                                                        paper
===============  ============================================================  ==========================
``gatys``        Gram matrices of a backbone's maps, L-BFGS from noise          Gatys et al. 2015
``multiscale``   Gram loss on every Gaussian-pyramid level, coarse to fine      Snelgrove 2017
``expansion``    a generator trained on one exemplar to expand k×k -> 2k×2k     Zhou et al. 2018
``quilting``     overlapping exemplar blocks with a minimum-error boundary cut  Efros & Freeman 2001
===============  ============================================================  ==========================

The losses and backbones (``random-multiscale``, weights-free; ``vgg19`` from a weight file) are in
:mod:`traingen.texture.gram`, shared with :mod:`traingen.style`. Every method is registered in
:data:`TEXTURES` and returns a :class:`~traingen.texture.base.TextureResult`. The reduced-reference
quality score is :mod:`traingen.metrics.texture_quality`. ``import traingen.texture`` does not import
torch. See ``docs/texture.md``.

Example:
    >>> from traingen.texture import synthesize
    >>> res = synthesize("gatys", exemplar, size=128, seed=0)
    >>> res.image.shape            # (128, 128, 3) uint8
"""

from __future__ import annotations

from ..core.lazy import lazy_attributes
from .base import TEXTURES, TextureResult, synthesize

__all__ = ["TEXTURES", "TextureResult", "synthesize"]

__getattr__, __dir__ = lazy_attributes(
    __name__, globals(),
    {"gram_matrix": ".gram", "style_loss": ".gram", "style_targets": ".gram", "content_loss": ".gram",
     "total_variation": ".gram", "Backbone": ".gram", "get_backbone": ".gram"},
    submodules=("gram", "gatys", "multiscale", "expansion", "quilting", "base"),
)
