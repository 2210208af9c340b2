"""traingen: generate training data for deep learning.

A flat, lazy facade: ``import traingen as tg; tg.augment.Rotate(30)``. Submodules load on first use,
so ``import traingen`` and ``traingen --help`` do not import torch.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_SUBMODULES = ("core", "data", "augment", "features", "metrics", "gan", "translate", "texture", "style",
               "render", "mesh", "pipeline", "report")

__all__ = ["__version__", "run", *_SUBMODULES]


def __getattr__(name: str) -> Any:
    if name == "run":  # tg.run(recipe, out=...) -> traingen.pipeline.run.Run
        from .pipeline.run import run

        return run
    if name in _SUBMODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'traingen' has no attribute '{name}'")


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_SUBMODULES))
