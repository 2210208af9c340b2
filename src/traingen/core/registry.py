"""Registries keyed by kebab-case names.

Components register themselves with an explicit decorator; a duplicate name is an error, an unknown
name is an error listing the known ones. Every registry is listed in :data:`REGISTRIES` so that
``traingen list`` can print them all.

Example:
    >>> TRANSFORMS = Registry("augment")
    >>> @TRANSFORMS.register("horizontal-flip")
    ... class HorizontalFlip: ...
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from .errors import RegistryError

_NAME = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")

#: All registries by name, in creation order.
REGISTRIES: dict[str, Registry] = {}


class Registry:
    """A named mapping from kebab-case keys to classes or functions."""

    def __init__(self, name: str, description: str = ""):
        if name in REGISTRIES:
            raise RegistryError(f"a registry named '{name}' already exists", field="registry")
        self.name = name
        self.description = description
        self._items: dict[str, Any] = {}
        REGISTRIES[name] = self

    def register(self, key: str) -> Callable[[Any], Any]:
        """Decorator: register ``obj`` under ``key`` and set ``obj.registry_name``."""
        if not _NAME.match(key):
            raise RegistryError(f"'{key}' is not kebab-case (a-z, 0-9, single dashes)", where=self.name)

        def deco(obj: Any) -> Any:
            if key in self._items:
                raise RegistryError(
                    f"'{key}' is already registered to {self._items[key].__qualname__}", where=self.name
                )
            self._items[key] = obj
            try:
                obj.registry_name = key
            except (AttributeError, TypeError):
                pass
            return obj

        return deco

    def get(self, key: str) -> Any:
        try:
            return self._items[key]
        except KeyError:
            known = ", ".join(sorted(self._items)) or "(none)"
            raise RegistryError(f"unknown name '{key}'; known: {known}", where=f"registry '{self.name}'") from None

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def names(self) -> list[str]:
        return list(self._items)

    def items(self) -> list[tuple[str, Any]]:
        return list(self._items.items())

    def __repr__(self) -> str:
        return f"Registry({self.name!r}, {len(self)} items)"
