"""Import every module that registers components, and return all registries.

This is the one place that knows which subpackages hold registries; ``traingen list`` and the
contract tests use it.
"""

from __future__ import annotations

import importlib

from .core.registry import REGISTRIES, Registry

#: Subpackages whose import fills registries (each registers on import).
REGISTERING_PACKAGES = (
    "traingen.data", "traingen.augment", "traingen.augment.batch", "traingen.features",
    "traingen.gan.cdcgan", "traingen.gan.sagan", "traingen.gan.biggan",
    "traingen.data.kitti",
    "traingen.pipeline.steps", "traingen.data.parquet",
    "traingen.style.gatys", "traingen.style.photo", "traingen.style.facial", "traingen.style.adain",
    "traingen.style.arbitrary", "traingen.style.sanet",
    "traingen.texture.gatys", "traingen.texture.multiscale", "traingen.texture.expansion",
    "traingen.texture.quilting",
)


def all_registries() -> dict[str, Registry]:
    for pkg in REGISTERING_PACKAGES:
        importlib.import_module(pkg)
    return dict(REGISTRIES)
