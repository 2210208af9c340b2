"""Reports: sample grids and static HTML pages that open from disk with no network."""

from .grid import comparison_grid, make_grid, save_png
from .html import Page

__all__ = ["Page", "comparison_grid", "make_grid", "save_png"]
