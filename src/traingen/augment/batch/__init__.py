"""Batch-level augmentation: mixers (RICAP, MixUp, CutMix, Cutout) and the batched affine backend.

Every op takes a torch NCHW float batch in [0, 1] on any device and an explicit
``generator: torch.Generator``, and returns a :class:`MixResult`. Importing this package does not
import torch (the modules import it inside their functions).

Example:
    >>> from traingen.augment.batch import MIXERS
    >>> mixer = MIXERS.get("ricap")(beta=0.3)
    >>> out = mixer(images, labels, num_classes=10, generator=torch.Generator().manual_seed(0))
"""

from .base import BatchMixer, MixResult
from .batch_affine import BatchAffine, BatchAffineParams
from .cutmix import CutMix, CutMixParams
from .cutout import Cutout, CutoutParams
from .mixup import MixUp, MixUpParams
from .registry import MIXERS
from .ricap import RICAP, RICAPParams

__all__ = [
    "MIXERS",
    "RICAP",
    "BatchAffine",
    "BatchAffineParams",
    "BatchMixer",
    "CutMix",
    "CutMixParams",
    "Cutout",
    "CutoutParams",
    "MixResult",
    "MixUp",
    "MixUpParams",
    "RICAPParams",
]
