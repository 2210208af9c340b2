"""Recipes shipped with the package (``src/traingen/recipes/*.yaml``, mirrored from ``recipes/``)."""

from __future__ import annotations

from pathlib import Path

from .core.errors import ConfigError

_HERE = Path(__file__).parent / "recipes"


def recipe_path(name: str) -> Path:
    """Path of a shipped recipe by file name (``augment-light.yaml``)."""
    path = _HERE / name
    if not path.is_file():
        known = ", ".join(sorted(p.name for p in _HERE.glob("*.yaml"))) or "(none)"
        raise ConfigError(f"no shipped recipe named {name!r}; known: {known}", field="recipe")
    return path


def list_recipes() -> list[str]:
    return sorted(p.name for p in _HERE.glob("*.yaml"))
