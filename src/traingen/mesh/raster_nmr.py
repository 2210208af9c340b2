"""Neural 3D Mesh Renderer: a hard forward pass with Kato's approximate gradient for the vertices.

The forward pass is the z-buffer of :mod:`traingen.mesh.raster_hard` (colour and alpha). The
backward pass is a custom :class:`torch.autograd.Function` that, for every face edge and each image
axis, walks the scanlines crossing the edge. On a scanline the edge sits at ``x_e``; for each pixel
``p`` within ``nmr_reach`` pixels of it:

- ``p`` outside the face, the face in front of what ``p`` shows: moving the edge by ``Δ = x_p − x_e``
  would paint ``p`` with the face's colour there, a change ``ΔI = I_face(p) − I(p)``;
- ``p`` inside the face and showing it: moving the edge past ``p`` would uncover it; the colour
  behind is taken from the first pixel just outside the edge on that scanline, ``ΔI = I_out − I(p)``.

The pixel's contribution to the moved vertex's coordinate is ``(∂L/∂I · ΔI) / Δ`` times the vertex's
share of the edge at that scanline (the edge point moves by that share of the vertex's move), kept
only when ``∂L/∂I · ΔI < 0``, i.e. when the move would lower the loss (Kato et al. §3.2). Colours,
textures and lighting get their ordinary gradients through the visible faces.

Deviations, stated: the walk is limited to ``nmr_reach`` pixels each side of the edge (the original
walks the whole scanline) so the cost scales with the edges' lengths, and the colour revealed behind
an inside pixel is the neighbouring outside pixel's (the original re-rasterizes).

Example:
    >>> import torch
    >>> from traingen.render.camera import Camera
    >>> from traingen.mesh.raster import rasterize
    >>> v = torch.tensor([[0, -1, -1], [0, 1, -1], [0, 0, 1.0]], requires_grad=True)
    >>> out = rasterize(v, torch.tensor([[0, 1, 2]]), Camera.orbit(3.0, 0, 0, width=32, height=32), mode="nmr")
    >>> (1 - out.alpha).sum().backward(); bool(v.grad.abs().sum() > 0)
    True

References:
    Kato, Ushiku & Harada, "Neural 3D Mesh Renderer", CVPR 2018, arXiv 1711.07566.
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
    clip_barycentric,
    expand_ranges,
    perspective_weights,
)
from .raster_hard import hard_forward


class _EdgeContext:
    """What the backward pass needs: the screen faces, the z-buffer and a way to colour any pair."""

    def __init__(self, setup: FaceSetup, faces, shade, attrs: Attributes, cams: Cameras, settings, out):
        self.uv = setup.uv.detach()
        self.z = setup.z.detach()
        self.valid = setup.valid
        self.n_faces = setup.n_faces
        self.faces, self.shade, self.attrs = faces, shade.detach(), attrs
        self.cams, self.settings = cams, settings
        B, H, W = out.face_id.shape
        rows = out.face_id + (torch.arange(B, device=out.face_id.device) * setup.n_faces).view(B, 1, 1)
        self.face_row = torch.where(out.face_id >= 0, rows, torch.full_like(rows, -1))
        self.zbuf = torch.where(out.face_id >= 0, out.depth.detach(), torch.full_like(out.depth, float("inf")))
        self.background = torch.tensor([*settings.background, 0.0], dtype=self.uv.dtype, device=self.uv.device)

    def colour_at(self, fi: torch.Tensor, px: torch.Tensor, py: torch.Tensor):
        """RGBA and depth of face rows ``fi`` at pixel centres (clipped barycentrics outside)."""
        uvp = self.uv[fi]
        p = torch.stack([px.to(uvp.dtype) + 0.5, py.to(uvp.dtype) + 0.5], dim=1)
        w = clip_barycentric(barycentric(uvp, p))
        wp, zp = perspective_weights(w, self.z[fi])
        rgb = self.attrs.sample(fi, wp, self.faces, self.n_faces).detach() * self.shade[fi]
        return torch.cat([rgb, torch.ones_like(rgb[:, :1])], dim=1), zp


def _axis_gradient(ctx: _EdgeContext, image: torch.Tensor, grad: torch.Tensor, transpose: bool) -> torch.Tensor:
    """Kato's gradient of the vertices' x (or, transposed, y) screen coordinates: N×3."""
    uv = ctx.uv[..., [1, 0]] if transpose else ctx.uv
    face_row = ctx.face_row.transpose(1, 2) if transpose else ctx.face_row
    zbuf = ctx.zbuf.transpose(1, 2) if transpose else ctx.zbuf
    img = image.transpose(2, 3) if transpose else image
    grd = grad.transpose(2, 3) if transpose else grad
    B, C, H, W = img.shape
    img_flat = img.permute(0, 2, 3, 1).reshape(-1, C)
    grad_flat = grd.permute(0, 2, 3, 1).reshape(-1, C)
    face_row, zbuf = face_row.reshape(-1), zbuf.reshape(-1)
    reach = float(ctx.settings.nmr_reach)
    out = torch.zeros(uv.shape[0], 3, dtype=uv.dtype, device=uv.device)
    faces_ok = torch.nonzero(ctx.valid).squeeze(1)
    for k in range(3):
        n = faces_ok
        a, b, c = uv[n, k], uv[n, (k + 1) % 3], uv[n, (k + 2) % 3]
        # Scanlines j with min(ya, yb) <= j + 0.5 < max(ya, yb).
        ylo, yhi = torch.minimum(a[:, 1], b[:, 1]), torch.maximum(a[:, 1], b[:, 1])
        j0 = torch.ceil(ylo - 0.5).clamp(min=0).long()
        j1 = (torch.ceil(yhi - 0.5) - 1).clamp(max=H - 1).long()
        e_item, e_off = expand_ranges((j1 - j0 + 1).clamp(min=0))
        if len(e_item) == 0:
            continue
        j = j0[e_item] + e_off
        ae, be, ce = a[e_item], b[e_item], c[e_item]
        yc = j.to(uv.dtype) + 0.5
        share_a = (yc - be[:, 1]) / (ae[:, 1] - be[:, 1])
        xe = be[:, 0] + share_a * (ae[:, 0] - be[:, 0])
        # The face's interior lies on the +x side of the edge when this is positive.
        e_c = (be[:, 0] - ae[:, 0]) * (ce[:, 1] - ae[:, 1]) - (be[:, 1] - ae[:, 1]) * (ce[:, 0] - ae[:, 0])
        s_in = torch.sign(-(be[:, 1] - ae[:, 1]) * e_c)
        i0 = torch.ceil(xe - reach - 0.5).clamp(min=0).long()
        i1 = torch.floor(xe + reach - 0.5).clamp(max=W - 1).long()
        p_item, p_off = expand_ranges((i1 - i0 + 1).clamp(min=0))
        if len(p_item) == 0:
            continue
        i = i0[p_item] + p_off
        jj = j[p_item]
        row = n[e_item][p_item]
        bview = row // ctx.n_faces
        q = (bview * H + jj) * W + i
        delta = i.to(uv.dtype) + 0.5 - xe[p_item]
        s = s_in[p_item]
        inside = delta * s > 0
        # Outside pixels: the face would paint them if it is in front there.
        out_idx = torch.nonzero(~inside).squeeze(1)
        px, py = (jj[out_idx], i[out_idx]) if transpose else (i[out_idx], jj[out_idx])
        col, zf = ctx.colour_at(row[out_idx], px, py)
        front = zf < zbuf[q[out_idx]]
        d_out = (col - img_flat[q[out_idx]]) * front.unsqueeze(1)
        # Inside pixels showing this face: uncovering them reveals the neighbour just outside the edge.
        in_idx = torch.nonzero(inside & (face_row[q] == row)).squeeze(1)
        xe_in, s_i = xe[p_item][in_idx], s[in_idx]
        i_out = torch.where(s_i > 0, torch.ceil(xe_in - 0.5) - 1, torch.floor(xe_in - 0.5) + 1).long()
        in_img = (i_out >= 0) & (i_out < W)
        q_out = (bview[in_idx] * H + jj[in_idx]) * W + i_out.clamp(0, W - 1)
        behind = torch.where(in_img.unsqueeze(1), img_flat[q_out], ctx.background.expand(len(in_idx), C))
        d_in = behind - img_flat[q[in_idx]]
        idx = torch.cat([out_idx, in_idx])
        d_img = torch.cat([d_out, d_in])
        g = (grad_flat[q[idx]] * d_img).sum(1)
        g = torch.where(g < 0, g, torch.zeros_like(g))
        dl = delta[idx]
        dl = torch.where(dl.abs() < 1e-3, torch.full_like(dl, 1e-3) * torch.sign(dl + 1e-30), dl)
        contrib = g / dl
        sa = share_a[p_item][idx]
        rows_idx = row[idx]
        out.index_put_((rows_idx, torch.full_like(rows_idx, k)), contrib * sa, accumulate=True)
        out.index_put_((rows_idx, torch.full_like(rows_idx, (k + 1) % 3)), contrib * (1 - sa), accumulate=True)
    return out


class _KatoGradient(torch.autograd.Function):
    """Identity on the rendered RGBA; the backward adds Kato's gradient for the screen vertices."""

    @staticmethod
    def forward(fctx, rgba: torch.Tensor, uv: torch.Tensor, ectx: _EdgeContext) -> torch.Tensor:
        fctx.ectx = ectx
        fctx.save_for_backward(rgba.detach())
        return rgba.view_as(rgba)

    @staticmethod
    def backward(fctx, grad: torch.Tensor):
        (rgba,) = fctx.saved_tensors
        ectx = fctx.ectx
        g_uv = None
        if fctx.needs_input_grad[1]:
            with torch.no_grad():
                gx = _axis_gradient(ectx, rgba, grad, transpose=False)
                gy = _axis_gradient(ectx, rgba, grad, transpose=True)
                g_uv = torch.stack([gx, gy], dim=-1)
        return grad, g_uv, None


def nmr_forward(setup: FaceSetup, faces: torch.Tensor, shade: torch.Tensor, attrs: Attributes, cams: Cameras,
                settings: RasterSettings) -> RasterOutput:
    """Hard forward; vertex gradients by Kato's edge walk (see module doc)."""
    out = hard_forward(setup, faces, shade, attrs, cams, settings, detach_weights=True)
    ectx = _EdgeContext(setup, faces, shade, attrs, cams, settings, out)
    rgba = torch.cat([out.rgb, out.alpha], dim=1)
    rgba = _KatoGradient.apply(rgba, setup.uv, ectx)
    out.rgb, out.alpha = rgba[:, :3], rgba[:, 3:]
    return out
