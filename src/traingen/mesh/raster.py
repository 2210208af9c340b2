"""The differentiable mesh rasterizer: one entry point, three modes (``soft``, ``hard``, ``nmr``).

Pure PyTorch, no compiled extension: the same code runs on CPU and CUDA tensors, batched over
views. The cost scales with covered pixels (see :mod:`traingen.mesh.raster_common`).

==========  =====================================================================  =====================
mode        forward / backward                                                     paper
==========  =====================================================================  =====================
``soft``    sigmoid coverage, depth softmax, alpha ``1 − Π(1 − D)``; exact          Liu et al. 2019
            gradients everywhere
``hard``    z-buffer, pixel-centre rule; gradients for colours and barycentrics     —
``nmr``     hard forward; Kato's approximate vertex gradient by scanline walks     Kato et al. 2018
==========  =====================================================================  =====================

Every mode returns a :class:`~traingen.mesh.raster_common.RasterOutput` with RGB, alpha, linear
depth, face ids and barycentrics. Attributes: per-vertex colours, Kato's texture cubes, or a UV
texture (:class:`~traingen.mesh.raster_attributes.Attributes`); ambient + directional lighting
(:class:`~traingen.mesh.raster_common.Lighting`).

Example:
    >>> import torch
    >>> from traingen.render.camera import Camera
    >>> from traingen.mesh.builtin import load_mesh
    >>> m = load_mesh("builtin:mesh/teapot")
    >>> cams = [Camera.orbit(8.0, az, 20, target=(0, 0, 1.2), width=64, height=64) for az in (0, 90)]
    >>> out = rasterize(torch.tensor(m.vertices, dtype=torch.float32), torch.tensor(m.faces), cams)
    >>> tuple(out.rgb.shape), tuple(out.face_id.shape)
    ((2, 3, 64, 64), (2, 64, 64))

References:
    Liu, Li, Chen & Li, "Soft Rasterizer", ICCV 2019, arXiv 1904.01786. Kato, Ushiku & Harada,
    "Neural 3D Mesh Renderer", CVPR 2018, arXiv 1711.07566.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..core.errors import ConfigError
from ..render.camera import Camera
from .raster_attributes import Attributes
from .raster_common import (
    Cameras,
    Lighting,
    RasterOutput,
    RasterSettings,
    as_batched_vertices,
    check_inputs,
    face_shading,
    setup_faces,
)
from .raster_hard import hard_forward
from .raster_nmr import nmr_forward
from .raster_soft import soft_forward

MODES = ("soft", "hard", "nmr")

__all__ = ["MODES", "Attributes", "Cameras", "Lighting", "RasterOutput", "RasterSettings", "rasterize"]


def rasterize(vertices: torch.Tensor, faces: torch.Tensor, cameras: Camera | Sequence[Camera] | Cameras, *,
              mode: str = "soft", attributes: Attributes | None = None, lighting: Lighting | None = None,
              settings: RasterSettings | None = None) -> RasterOutput:
    """Render a triangle mesh from one or more views.

    Args:
        vertices: V×3 world points shared by all views, or B×V×3 (one set per view); float32/64.
        faces: F×3 vertex indices (int64).
        cameras: a :class:`~traingen.render.camera.Camera`, a list of them (one image size), or a
            :class:`Cameras` batch of tensors (differentiable camera).
        mode: ``soft``, ``hard`` or ``nmr`` (see module doc).
        attributes: the colour source; default white.
        lighting: ambient + directional light; ``None`` gives unlit colours (ambient 1, no light).
        settings: σ, γ, ε, background, culling, ``nmr`` reach.

    Returns:
        :class:`RasterOutput` (``rgb`` B×3×H×W, ``alpha`` B×1×H×W, ``depth``, ``face_id``, ``bary``).
    """
    if mode not in MODES:
        raise ConfigError(f"unknown mode {mode!r}; known: {', '.join(MODES)}", where="raster", field="mode")
    settings = settings or RasterSettings()
    attributes = attributes or Attributes()
    lighting = lighting or Lighting(ambient=1.0, directional=0.0)
    if not isinstance(cameras, Cameras):
        cameras = Cameras.from_cameras(cameras, dtype=vertices.dtype, device=vertices.device)
    faces = faces.to(device=vertices.device, dtype=torch.int64)
    check_inputs(vertices, faces)
    verts = as_batched_vertices(vertices, cameras.batch)
    setup = setup_faces(verts, faces, cameras, settings)
    shade = face_shading(verts, faces, cameras, lighting)
    if mode == "soft":
        return soft_forward(setup, faces, shade, attributes, cameras, settings)
    if mode == "hard":
        return hard_forward(setup, faces, shade, attributes, cameras, settings)
    return nmr_forward(setup, faces, shade, attributes, cameras, settings)
