"""Lazy attributes for package ``__init__`` modules (PEP 562), so importing a package stays cheap.

Example:
    >>> __getattr__, __dir__ = lazy_attributes(__name__, globals(), {"AugmentedDataset": ".augmented"})
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from typing import Any


def lazy_attributes(package: str, namespace: dict[str, Any], names: dict[str, str],
                    submodules: Iterable[str] = ()) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Module-level ``__getattr__`` and ``__dir__`` that import on first access.

    Args:
        package: the package's ``__name__``.
        namespace: the package's ``globals()``; a loaded value is cached there.
        names: attribute -> relative module that defines it (``".augmented"``).
        submodules: submodule names reachable as attributes (``traingen.gan.trainer``).
    """
    subs = tuple(submodules)

    def __getattr__(name: str) -> Any:
        if name in names:
            value = getattr(importlib.import_module(names[name], package), name)
        elif name in subs:
            value = importlib.import_module(f"{package}.{name}")
        else:
            raise AttributeError(f"module '{package}' has no attribute '{name}'")
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(names) | set(subs))

    return __getattr__, __dir__
