"""Per-sample augmentation with fused geometry.

Every transform takes and returns all targets of a sample (image, mask, instance_mask, boxes with
box_labels, keypoints with keypoint_visible, label). A :class:`Compose` fuses consecutive geometric
transforms into one affine warp; see ``docs/augment/geometry.md`` for the coordinate convention.
This package does not import torch (the batched backend lives in ``traingen.augment.batch``).

Example:
    >>> from traingen.augment import Compose, HorizontalFlip, Rotate, RandomCrop, GaussianNoise
    >>> pipe = Compose([HorizontalFlip(), Rotate(30), RandomCrop(224, 224), GaussianNoise(0.05)])
    >>> out = pipe(image=img, boxes=boxes, box_labels=labels, keypoints=kps, seed=0)
"""

from __future__ import annotations

from .base import TRANSFORMS, GeometricTransform, PixelTransform, Transform
from .compose import Compose, OneOf, from_dict, is_geometric, load, transform_from_dict
from .crop import CenterCrop, RandomCrop
from .cutout import Cutout
from .elastic import Elastic
from .flip import HorizontalFlip, VerticalFlip
from .gaussian_noise import GaussianNoise
from .geometry import fuse, to_opencv, warp_boxes, warp_image, warp_keypoints, warp_mask
from .random_resized_crop import RandomResizedCrop
from .resize import Resize
from .rotate import Rotate
from .scale import Scale
from .translate import Translate

__all__ = [
    "TRANSFORMS",
    "CenterCrop",
    "Compose",
    "Cutout",
    "Elastic",
    "GaussianNoise",
    "GeometricTransform",
    "HorizontalFlip",
    "OneOf",
    "PixelTransform",
    "RandomCrop",
    "RandomResizedCrop",
    "Resize",
    "Rotate",
    "Scale",
    "Transform",
    "Translate",
    "VerticalFlip",
    "from_dict",
    "fuse",
    "is_geometric",
    "load",
    "to_opencv",
    "transform_from_dict",
    "warp_boxes",
    "warp_image",
    "warp_keypoints",
    "warp_mask",
]
