"""Feature networks for metrics, texture and style: a registry of :class:`FeatureExtractor`.

=============================  =========================================================  ===========
key                            what                                                       weights
=============================  =========================================================  ===========
``inception-v3-fid``           Inception v3 of the TF FID/IS reference: 2048 pool, 1008   user file
                               unbiased logits, TF1 bilinear resize to 299²
``inception-v3-torchvision``   torchvision's Inception v3 (ImageNet, 1000 logits)          user file
``vgg19``                      torchvision's VGG19; ``maps()`` with VGG's layer names      user file
``random-multiscale``          one layer of seeded random filters at 8 scales              none
``mnist5k-classifier`` ...     small digit CNNs trained on embedded data (classifiers.py)  shipped
=============================  =========================================================  ===========

Importing this package registers every extractor but does not import torch: networks are built on
first use. ``traingen weights check`` (:func:`traingen.features.weights.check_all`) lists which weight
files were found. See ``docs/features.md``.

Example:
    >>> import traingen.features as tf
    >>> ext = tf.get_extractor("random-multiscale")
    >>> ext.extract(images).pool.shape  # (N, 512)
"""

from __future__ import annotations

# Importing the modules registers their extractors; none of them imports torch at import time.
from . import classifiers, inception, random_multiscale, vgg  # noqa: F401
from .base import FEATURES, FeatureExtractor, Features, get_extractor
from .resize import RESIZE_METHODS

__all__ = ["FEATURES", "RESIZE_METHODS", "FeatureExtractor", "Features", "get_extractor"]
