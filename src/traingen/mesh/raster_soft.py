"""Soft Rasterizer: every face covers every pixel with a probability, aggregated by a depth softmax.

For pixel ``i`` and face ``j`` (Liu et al. 2019, eq. 1–6):

- coverage ``D_j = sigmoid(δ_j · d²(i, j) / σ)``, with ``d`` the distance from the pixel centre to
  the face's boundary (normalised units: pixels × 2 / max(W, H)) and ``δ = +1`` inside, ``−1``
  outside. Outside a face, pairs with ``d² ≥ σ·ln(1/ε − 1)`` (``D < ε``) are dropped, so each face
  visits only its bounding box dilated by ``r = √(σ·ln(1/ε − 1))``.
- depth ``z_j = (far − z)/(far − near)``, with ``z`` the perspective-correct linear depth at the
  pixel; outside a face the barycentrics are clipped to [0, 1] and renormalised first (as the
  paper's code does), and so are the colour weights.
- colour ``I = Σ_j w_j C_j + w_b C_b``, ``w_j = D_j e^{z_j/γ} / (Σ_k D_k e^{z_k/γ} + e^{ε/γ})``,
  ``w_b = e^{ε/γ} / (…)``; computed with the per-pixel maximum subtracted (exact, and stable at
  γ = 1e-4).
- alpha ``A = 1 − Π_j (1 − D_j)``, as ``1 − exp(Σ log σ(−δ d²/σ))`` so saturated faces keep a
  finite gradient.

Depth, face ids and barycentrics come from the z-buffer over the same pairs (see
:mod:`traingen.mesh.raster_hard`).

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
import torch.nn.functional as F

from .raster_attributes import Attributes
from .raster_common import (
    Cameras,
    FaceSetup,
    RasterOutput,
    RasterSettings,
    edge_lines,
    enumerate_pairs,
    face_columns,
    soft_pair_geometry,
)
from .raster_hard import scatter_hard, zbuffer_select


def soft_forward(setup: FaceSetup, faces: torch.Tensor, shade: torch.Tensor, attrs: Attributes, cams: Cameras,
                 settings: RasterSettings) -> RasterOutput:
    """Render with Soft Rasterizer's aggregation (see module doc); returns every output."""
    W, H, B = cams.width, cams.height, cams.batch
    n_pix = B * H * W
    scale = 2.0 / max(W, H)
    radius_px = settings.blur_radius() / scale
    fi, px, py = enumerate_pairs(setup, W, H, radius_px)
    thr = settings.sigma * math.log(1.0 / settings.eps - 1.0)
    dtype = setup.uv.dtype
    with torch.no_grad():  # cull on the detached geometry first: the graph only holds near pairs
        # A cheap superset of the cutoff disk: the signed distance to each edge's line must be > −r
        # (three affine functions per face). The exact d² cutoff follows on the differentiable terms.
        lines = edge_lines(setup.uv.detach())
        ln = lines.index_select(0, fi)
        x = px.to(dtype) + 0.5
        y = py.to(dtype) + 0.5
        dist = ln[:, :, 0] * x.unsqueeze(1) + ln[:, :, 1] * y.unsqueeze(1) + ln[:, :, 2]
        dmin = dist.min(1).values
        near = torch.nonzero(dmin > -radius_px).squeeze(1)
        fi, px, py = fi[near], px[near], py[near]
        inside = dmin[near] >= 0
    d2, zp, wp = soft_pair_geometry(face_columns(setup), fi, px, py, inside)
    d2 = d2 * (scale * scale)
    with torch.no_grad():
        keep = torch.nonzero(inside | (d2 < thr)).squeeze(1)
    # index_select: its backward is index_add_, much cheaper on CPU than advanced indexing's index_put_.
    fi, px, py, inside = fi[keep], px[keep], py[keep], inside[keep]
    d2, zp, wp = d2.index_select(0, keep), zp.index_select(0, keep), wp.index_select(0, keep)
    with torch.no_grad():
        ok = (zp > cams.near) & (zp < cams.far)
    if not bool(ok.all()):
        ok = torch.nonzero(ok).squeeze(1)
        fi, px, py, inside = fi[ok], px[ok], py[ok], inside[ok]
        d2, wp, zp = d2.index_select(0, ok), wp.index_select(0, ok), zp.index_select(0, ok)
    pix = (fi // setup.n_faces) * (H * W) + py * W + px

    x = d2 / settings.sigma
    signed = torch.where(inside, x, -x)
    cover = torch.sigmoid(signed)
    log_miss = F.logsigmoid(-signed)
    colour = attrs.sample(fi, wp, faces, setup.n_faces) * shade.index_select(0, fi)
    znorm = (cams.far - zp) / (cams.far - cams.near)

    eps = settings.eps
    with torch.no_grad():
        zmax = torch.full((n_pix,), eps, dtype=dtype, device=zp.device)
        zmax = zmax.scatter_reduce(0, pix, znorm.detach(), "amax", include_self=True)
    e = cover * torch.exp((znorm - zmax[pix]) / settings.gamma)
    w_bg = torch.exp((eps - zmax) / settings.gamma)
    denom = w_bg + torch.zeros(n_pix, dtype=dtype, device=zp.device).index_add(0, pix, e)
    num = torch.zeros(n_pix, 3, dtype=dtype, device=zp.device).index_add(0, pix, e.unsqueeze(1) * colour)
    bg = torch.as_tensor(settings.background, dtype=dtype, device=zp.device)
    rgb = (num + w_bg.unsqueeze(1) * bg) / denom.unsqueeze(1)
    miss = torch.zeros(n_pix, dtype=dtype, device=zp.device).index_add(0, pix, log_miss)
    alpha = 1.0 - torch.exp(miss)

    # Hard outputs from the inside pairs of the same list.
    hp, hf, hz, hw = pix[inside], fi[inside], zp.detach()[inside], wp.detach()[inside]
    win = zbuffer_select(hp, hz, hf, n_pix)
    out = scatter_hard(hp[win], hf[win], hz[win], hw[win], None, setup.n_faces, cams, settings, dtype)
    out.rgb = rgb.reshape(B, H, W, 3).permute(0, 3, 1, 2)
    out.alpha = alpha.reshape(B, 1, H, W)
    return out
