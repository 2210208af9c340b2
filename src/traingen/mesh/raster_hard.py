"""Hard rasterization: a z-buffer with the pixel-centre rule, face ids, linear depth and barycentrics.

A pixel belongs to a face when its centre ``(i + 0.5, j + 0.5)`` lies inside the projected triangle
(all three screen barycentrics ≥ 0, either winding); among the faces that cover it the one with the
smallest perspective-correct linear depth wins, ties going to the lowest face index. The colour is
the winner's attribute at its perspective-correct barycentrics: differentiable in the colours, and
in the vertices only through the barycentrics inside faces (no visibility gradient; that is what the
``soft`` and ``nmr`` modes add).

Example:
    >>> import torch
    >>> from traingen.render.camera import Camera
    >>> from traingen.mesh.raster import rasterize
    >>> cam = Camera.orbit(3.0, 0, 0, width=32, height=32)
    >>> v = torch.tensor([[0, -1, -1], [0, 1, -1], [0, 0, 1.0]])
    >>> out = rasterize(v, torch.tensor([[0, 1, 2]]), cam, mode="hard")
    >>> int((out.face_id == 0).sum()) > 0
    True

References:
    Catmull, "A Subdivision Algorithm for Computer Display of Curved Surfaces", 1974 (the z-buffer);
    the pixel-centre sampling rule as in OpenGL/Direct3D rasterization.
"""

from __future__ import annotations

import torch

from .raster_attributes import Attributes
from .raster_common import (
    Cameras,
    FaceSetup,
    RasterOutput,
    RasterSettings,
    barycentric,
    enumerate_pairs,
    perspective_weights,
)


def zbuffer_select(pix: torch.Tensor, depth: torch.Tensor, fi: torch.Tensor, n_pix: int) -> torch.Tensor:
    """Boolean mask of the winning pair per pixel: nearest depth, then the lowest face row."""
    with torch.no_grad():
        d = depth.detach()
        zmin = torch.full((n_pix,), float("inf"), dtype=d.dtype, device=d.device)
        zmin = zmin.scatter_reduce(0, pix, d, "amin", include_self=True)
        cand = d == zmin[pix]
        big = torch.iinfo(torch.int64).max
        fmin = torch.full((n_pix,), big, dtype=torch.int64, device=d.device)
        fmin = fmin.scatter_reduce(0, pix[cand], fi[cand], "amin", include_self=True)
        return cand & (fi == fmin[pix])


def scatter_hard(pix, fi, zp, wp, colour, n_faces: int, cams: Cameras, settings: RasterSettings,
                 dtype) -> RasterOutput:
    """Write the winning pairs (already selected) into images; background elsewhere."""
    B, H, W = cams.batch, cams.height, cams.width
    n_pix = B * H * W
    dev = zp.device
    face_id = torch.full((n_pix,), -1, dtype=torch.int64, device=dev)
    face_id[pix] = fi % n_faces
    depth = torch.zeros(n_pix, dtype=dtype, device=dev).index_put((pix,), zp.detach())
    bary = torch.zeros(n_pix, 3, dtype=dtype, device=dev).index_put((pix,), wp.detach())
    hit = torch.zeros(n_pix, dtype=dtype, device=dev)
    hit[pix] = 1.0
    bg = torch.as_tensor(settings.background, dtype=dtype, device=dev)
    rgb = bg.expand(n_pix, 3).index_put((pix,), colour) if colour is not None else bg.expand(n_pix, 3)
    return RasterOutput(
        rgb=rgb.reshape(B, H, W, 3).permute(0, 3, 1, 2),
        alpha=hit.reshape(B, 1, H, W),
        depth=depth.reshape(B, H, W),
        face_id=face_id.reshape(B, H, W),
        bary=bary.reshape(B, H, W, 3),
    )


def hard_pairs(setup: FaceSetup, cams: Cameras):
    """Inside pairs of every face and the z-buffer winners.

    Returns:
        ``(pix, fi, zp, wp)`` of the winning pair of each covered pixel (differentiable ``zp``, ``wp``).
    """
    W, H = cams.width, cams.height
    fi, px, py = enumerate_pairs(setup, W, H, 0.0)
    dtype = setup.uv.dtype
    with torch.no_grad():  # the pixel-centre test on detached geometry; the graph holds inside pairs only
        p = torch.stack([px.to(dtype) + 0.5, py.to(dtype) + 0.5], dim=1)
        inside = torch.nonzero((barycentric(setup.uv.detach()[fi], p) >= 0).all(1)).squeeze(1)
    fi, px, py = fi[inside], px[inside], py[inside]
    p = torch.stack([px.to(dtype) + 0.5, py.to(dtype) + 0.5], dim=1)
    w = barycentric(setup.uv[fi], p)
    wp, zp = perspective_weights(w, setup.z[fi])
    with torch.no_grad():
        ok = (zp > cams.near) & (zp < cams.far)
    fi, px, py, w, wp, zp = fi[ok], px[ok], py[ok], w[ok], wp[ok], zp[ok]
    pix = (fi // setup.n_faces) * (H * W) + py * W + px
    win = zbuffer_select(pix, zp, fi, cams.batch * H * W)
    return pix[win], fi[win], zp[win], wp[win]


def hard_forward(setup: FaceSetup, faces: torch.Tensor, shade: torch.Tensor, attrs: Attributes, cams: Cameras,
                 settings: RasterSettings, *, detach_weights: bool = False) -> RasterOutput:
    """Render with the z-buffer (see module doc). ``detach_weights`` cuts the barycentric gradient."""
    pix, fi, zp, wp = hard_pairs(setup, cams)
    w_used = wp.detach() if detach_weights else wp
    colour = attrs.sample(fi, w_used, faces, setup.n_faces) * shade[fi]
    return scatter_hard(pix, fi, zp, wp, colour, setup.n_faces, cams, settings, setup.uv.dtype)
