"""3D meshes and the differentiable rasterizer (Soft Rasterizer, Neural 3D Mesh Renderer).

``import traingen.mesh`` does not import torch; the names below load their module on first use.

- :func:`rasterize` (``soft`` / ``hard`` / ``nmr``), :class:`Attributes`, :class:`Lighting`,
  :class:`RasterSettings`, :class:`Cameras` — :mod:`traingen.mesh.raster`.
- :class:`Mesh`, :func:`check_mesh` — :mod:`traingen.mesh.mesh`.
- :func:`load_mesh` (a file or ``builtin:mesh/NAME``), :func:`save_mesh` — :mod:`traingen.mesh.io`,
  :mod:`traingen.mesh.builtin`.
- :func:`stylize` / :func:`dream` (2D->3D style transfer, 3D DeepDream), :func:`recover_camera`,
  :mod:`traingen.mesh.recon_net` (Kato's single-image network) — ``docs/mesh/style.md``, ``reconstruct.md``.
- :func:`transfer_texture` (Wang et al. 2016), :func:`transfer_detail` (Berkiten et al. 2017),
  :func:`build_atlas` (xatlas) — ``docs/mesh/texture_transfer.md``, ``detail_transfer.md``.
- Procedural part-labelled families and the Utah teapot — :mod:`traingen.mesh.procedural`,
  :mod:`traingen.mesh.teapot`.

See ``docs/mesh/raster.md``.
"""

from __future__ import annotations

from ..core.lazy import lazy_attributes

_LAZY = {
    "rasterize": ".raster",
    "Attributes": ".raster_attributes",
    "Lighting": ".raster_common",
    "RasterSettings": ".raster_common",
    "RasterOutput": ".raster_common",
    "Cameras": ".raster_common",
    "Mesh": ".mesh",
    "check_mesh": ".mesh",
    "load_mesh": ".builtin",
    "builtin_names": ".builtin",
    "save_mesh": ".io",
    "read_mesh": ".io",
    "stylize": ".style",
    "StyleConfig": ".style",
    "dream": ".dream",
    "DreamConfig": ".dream",
    "recover_camera": ".camera_fit",
    "transfer_texture": ".texture_transfer",
    "transfer_detail": ".detail_transfer",
    "DetailConfig": ".detail_transfer",
    "build_atlas": ".atlas",
}
_SUBMODULES = ("raster", "raster_common", "raster_soft", "raster_hard", "raster_nmr", "raster_attributes",
               "mesh", "io", "builtin", "procedural", "teapot", "fit",
               "style", "dream", "camera_fit", "recon_net", "texture_transfer", "geometric_features",
               "atlas", "detail_features", "detail_metric", "detail_synthesis", "detail_transfer",
               "usefulness", "usefulness_data")

__all__ = list(_LAZY)

__getattr__, __dir__ = lazy_attributes(__name__, globals(), _LAZY, _SUBMODULES)
