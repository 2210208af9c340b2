"""Soft Rasterizer: every face covers every pixel with a probability, aggregated by a depth softmax.

For pixel ``i`` and face ``j`` (Liu et al. 2019, eq. 1–6):

- coverage ``D_j = sigmoid(δ_j · d²(i, j) / σ)``, with ``d`` the distance from the pixel centre to
  the face's boundary (normalised units: pixels × 2 / max(W, H)) and ``δ = +1`` inside, ``−1``
  outside. Outside a face, pairs with ``d² ≥ σ·ln(1/ε − 1)`` (``D < ε``) are dropped, so each face
  visits only the pixels within ``r = √(σ·ln(1/ε − 1))`` of its edge lines, listed row by row
  (:mod:`traingen.mesh.raster_pairs`).
- depth ``z_j = (far − z)/(far − near)``, with ``z`` the perspective-correct linear depth at the
  pixel; outside a face the barycentrics are clipped to [0, 1] and renormalised first (as the
  paper's code does), and so are the colour weights.
- colour ``I = Σ_j w_j C_j + w_b C_b``, ``w_j = D_j e^{z_j/γ} / (Σ_k D_k e^{z_k/γ} + e^{ε/γ})``,
  ``w_b = e^{ε/γ} / (…)``; computed with the per-pixel maximum subtracted (exact, and stable at
  γ = 1e-4).
- alpha ``A = 1 − Π_j (1 − D_j)``, as ``1 − exp(Σ log σ(−δ d²/σ))`` so saturated faces keep a
  finite gradient.

Depth, face ids and barycentrics come from the z-buffer over the same pairs (see
:mod:`traingen.mesh.raster_hard`). The per-pair terms run in custom autograd functions with
hand-written backward passes (:mod:`traingen.mesh.raster_soft_ops`).

Example:
    >>> import torch
    >>> from traingen.render.camera import Camera
    >>> from traingen.mesh.raster import rasterize
    >>> v = torch.tensor([[0, -1, -1], [0, 1, -1], [0, 0, 1.0]], requires_grad=True)
    >>> out = rasterize(v, torch.tensor([[0, 1, 2]]), Camera.orbit(3.0, 0, 0, width=32, height=32))
    >>> out.alpha.sum().backward(); bool(v.grad.abs().sum() > 0)
    True

References:
    Liu, Li, Chen & Li, "Soft Rasterizer: A Differentiable Renderer for Image-based 3D Reasoning",
    ICCV 2019, arXiv 1904.01786.
"""

from __future__ import annotations

import math

import torch

from .raster_attributes import Attributes
from .raster_common import (
    Cameras,
    FaceSetup,
    RasterOutput,
    RasterSettings,
)
from .raster_hard import scatter_hard, zbuffer_select
from .raster_pairs import enumerate_near_pairs
from .raster_soft_ops import SoftAggregate, SoftGeometry, SortedGather, segment_matrix


def soft_forward(setup: FaceSetup, faces: torch.Tensor, shade: torch.Tensor, attrs: Attributes, cams: Cameras,
                 settings: RasterSettings) -> RasterOutput:
    """Render with Soft Rasterizer's aggregation (see module doc); returns every output."""
    W, H, B = cams.width, cams.height, cams.batch
    n_pix = B * H * W
    scale = 2.0 / max(W, H)
    radius_px = settings.blur_radius() / scale
    pairs = enumerate_near_pairs(setup, W, H, radius_px)
    fi, pix, crow = pairs.fi, pairs.pix, pairs.crow
    thr_px = settings.sigma * math.log(1.0 / settings.eps - 1.0) / (scale * scale)
    dtype = setup.uv.dtype
    # Hand-written backward passes (raster_soft_ops): autograd's graph of ~100 elementwise nodes per
    # pair list was most of the cost. Pairs are sorted by face row, which SortedGather relies on.
    n_rows = setup.uv.shape[0]
    seg = segment_matrix(crow, dtype)  # sums pair rows into face rows: the gathers' backward
    g9 = SortedGather.apply(torch.cat([setup.uv.reshape(n_rows, 6), setup.z], 1), fi, seg)
    d2, zp, wp, inside = SoftGeometry.apply(g9, pairs.X, pairs.Y)
    with torch.no_grad():  # float 0/1 masks (bool tensors are slow on CPU): ε cutoff, clip planes
        zd = zp.detach()
        keep = torch.maximum((d2.detach() - thr_px).lt_(0.0), inside)
        if len(zd) and not (float(zd.min()) > cams.near and float(zd.max()) < cams.far):
            ok = (zd - cams.near).gt_(0.0).mul_((zd - cams.far).lt_(0.0))
            keep *= ok
            inside = inside * ok
    colour = attrs.sample_sorted(fi, wp, faces, setup.n_faces, seg, shade)
    # Distances stay in pixels²: σ in pixel units is σ / scale² (scale = normalised units per pixel).
    rgb, alpha = SoftAggregate.apply(d2, zp, colour, pix, n_pix, inside, keep, settings.sigma / (scale * scale),
                                     settings.gamma, settings.eps, settings.background, cams.near, cams.far)

    # Hard outputs from the inside pairs of the same list.
    with torch.no_grad():
        sel = torch.nonzero(inside > 0).squeeze(1)
        hp, hf, hz, hw = pix[sel], fi[sel], zd[sel], wp.detach()[sel]
    win = zbuffer_select(hp, hz, hf, n_pix)
    out = scatter_hard(hp[win], hf[win], hz[win], hw[win], None, setup.n_faces, cams, settings, dtype)
    out.rgb = rgb.reshape(B, H, W, 3).permute(0, 3, 1, 2)
    out.alpha = alpha.reshape(B, 1, H, W)
    return out
