"""Surface colour for the rasterizer: per-vertex colours, Kato's T×T×T texture cubes, or a UV texture.

Every lookup takes the flat pixel–face pairs of :mod:`traingen.mesh.raster_common` (the face row
``fi`` and perspective-correct barycentrics ``w``) and returns one RGB per pair, differentiable in
the colours, the texture and the weights.

- Vertex colours: ``Σ w_k c_k``.
- Texture cubes (Kato et al. §3.3): face ``f`` owns a cube ``T×T×T×3``; the colour at barycentrics
  ``(w0, w1, w2)`` is the trilinear interpolation of the cube at ``(w0, w1, w2)·(T − 1)``.
- UV texture: ``uv = Σ w_k uv_k`` (OBJ convention, ``v`` up), bilinear with the pixel convention of
  DESIGN §3 (texel ``i`` covers ``[i, i+1)``), clamped at the border.

Example:
    >>> import torch
    >>> a = Attributes(vertex_colors=torch.eye(3))
    >>> a.sample(torch.tensor([0]), torch.tensor([[0.2, 0.3, 0.5]]), torch.tensor([[0, 1, 2]]), 1).tolist()
    [[0.20000000298023224, 0.30000001192092896, 0.5]]

References:
    Kato, Ushiku & Harada, "Neural 3D Mesh Renderer", CVPR 2018, arXiv 1711.07566.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..core.errors import DataError
from .mesh import Mesh, texture_float
from .raster_common import gather_corners


@dataclass
class Attributes:
    """One colour source (at most one of the tensors; none gives the constant ``color``).

    Args:
        vertex_colors: V×3 (or B×V×3) RGB in [0, 1].
        face_uv: F×3×2 texture coordinates of each face corner; with ``texture`` (Ht×Wt×3).
        texture_cubes: F×T×T×T×3, Kato's per-face cubes.
        color: the constant RGB used when no source is given.
    """

    vertex_colors: torch.Tensor | None = None
    face_uv: torch.Tensor | None = None
    texture: torch.Tensor | None = None
    texture_cubes: torch.Tensor | None = None
    color: tuple[float, float, float] = (1.0, 1.0, 1.0)

    def __post_init__(self) -> None:
        given = [n for n in ("vertex_colors", "texture", "texture_cubes") if getattr(self, n) is not None]
        if len(given) > 1:
            raise DataError(f"give one colour source, got {given}", where="raster", field="attributes")
        if (self.texture is None) != (self.face_uv is None):
            raise DataError("a UV texture needs both face_uv and texture", where="raster", field="texture")
        if self.texture is not None and (self.texture.ndim != 3 or self.texture.shape[-1] != 3):
            raise DataError(f"texture must be Ht×Wt×3, got {tuple(self.texture.shape)}", where="raster",
                            field="texture")
        if self.texture_cubes is not None:
            tc = self.texture_cubes
            if tc.ndim != 5 or not (tc.shape[1] == tc.shape[2] == tc.shape[3]) or tc.shape[4] != 3:
                raise DataError(f"texture_cubes must be F×T×T×T×3, got {tuple(tc.shape)}", where="raster",
                                field="texture_cubes")

    @classmethod
    def from_mesh(cls, mesh: Mesh, *, dtype=torch.float32, device="cpu") -> Attributes:
        """The mesh's texture (with its UVs) if it has one, else its vertex colours, else white."""
        if mesh.texture is not None and mesh.uv is not None:
            tex = torch.as_tensor(texture_float(mesh), dtype=dtype, device=device)
            fuv = torch.as_tensor(np.asarray(mesh.uv)[mesh.faces], dtype=dtype, device=device)
            return cls(face_uv=fuv, texture=tex)
        if mesh.vertex_colors is not None:
            return cls(vertex_colors=torch.as_tensor(mesh.vertex_colors, dtype=dtype, device=device))
        return cls()

    def sample(self, fi: torch.Tensor, w: torch.Tensor, faces: torch.Tensor, n_faces: int) -> torch.Tensor:
        """RGB (P×3) at pairs ``fi`` (rows of the B·F face list) with perspective-correct weights ``w``."""
        f = fi % n_faces
        if self.vertex_colors is not None:
            corners = _corner_colors(self.vertex_colors, faces, fi, n_faces)
            return (corners * w.unsqueeze(-1)).sum(1)
        if self.texture is not None:
            uv = (self.face_uv.index_select(0, f) * w.unsqueeze(-1)).sum(1)
            return bilinear(self.texture, uv)
        if self.texture_cubes is not None:
            return cube_lookup(self.texture_cubes, f, w)
        return torch.as_tensor(self.color, dtype=w.dtype, device=w.device).expand(len(fi), 3)

    def sample_sorted(self, fi: torch.Tensor, w: torch.Tensor, faces: torch.Tensor, n_faces: int,
                      seg: torch.Tensor, shade: torch.Tensor | None = None) -> torch.Tensor:
        """:meth:`sample` for pair lists sorted by face row (``seg``: their segment matrix, see
        :mod:`~traingen.mesh.raster_soft_ops`), times the per-face-row light factor ``shade`` (N×3) when
        given. Vertex colours take a fused path: the corner colours are gathered and multiplied by the
        light factor per face row (a face's factor is constant over it, so ``shade·Σ w_k c_k =
        Σ w_k (shade·c_k)``), then interpolated per pair in one
        :class:`~traingen.mesh.raster_soft_ops.SortedInterpolate` node. Other sources fall back to
        :meth:`sample` and a gathered product."""
        from .raster_soft_ops import SortedGather, SortedInterpolate

        if self.vertex_colors is None:
            colour = self.sample(fi, w, faces, n_faces)
            if shade is None:
                return colour
            if shade.stride(0) == 0 and not shade.requires_grad:  # one light factor for every face
                return (colour[:1] * shade[:1]).expand(len(fi), 3) if colour.stride(0) == 0 else colour * shade[:1]
            return colour * SortedGather.apply(shade, fi, seg)
        vc = self.vertex_colors
        n_rows = seg.shape[0]
        if vc.ndim == 3:
            corners = gather_corners(vc, faces).reshape(n_rows, 3, 3)
        else:
            corners = gather_corners(vc.unsqueeze(0), faces).expand(n_rows // n_faces, -1, -1, -1).reshape(n_rows, 3, 3)
        if shade is not None:
            corners = corners * shade.unsqueeze(1)
        return SortedInterpolate.apply(corners, w, fi, seg)


def _corner_colors(vc: torch.Tensor, faces: torch.Tensor, fi: torch.Tensor, n_faces: int) -> torch.Tensor:
    # index_select (backward: index_add_) rather than advanced indexing (backward: index_put_ accumulate).
    idx = faces.index_select(0, fi % n_faces).reshape(-1)
    if vc.ndim == 3:
        idx = idx + (fi // n_faces).repeat_interleave(3) * vc.shape[1]
    return vc.reshape(-1, 3).index_select(0, idx).reshape(-1, 3, 3)


def bilinear(texture: torch.Tensor, uv: torch.Tensor) -> torch.Tensor:
    """Bilinear texture lookup (P×C) at OBJ-convention ``uv`` (P×2); texel centres at ``i + 0.5``."""
    H, W = texture.shape[0], texture.shape[1]
    x = uv[:, 0] * W - 0.5
    y = (1.0 - uv[:, 1]) * H - 0.5
    x0f, y0f = torch.floor(x), torch.floor(y)
    fx, fy = (x - x0f).unsqueeze(1), (y - y0f).unsqueeze(1)
    x0 = x0f.long().clamp(0, W - 1)
    x1 = (x0f.long() + 1).clamp(0, W - 1)
    y0 = y0f.long().clamp(0, H - 1)
    y1 = (y0f.long() + 1).clamp(0, H - 1)
    flat = texture.reshape(H * W, -1)
    c00, c01 = flat.index_select(0, y0 * W + x0), flat.index_select(0, y0 * W + x1)
    c10, c11 = flat.index_select(0, y1 * W + x0), flat.index_select(0, y1 * W + x1)
    return (c00 * (1 - fx) + c01 * fx) * (1 - fy) + (c10 * (1 - fx) + c11 * fx) * fy


def cube_lookup(cubes: torch.Tensor, f: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Trilinear lookup in Kato's per-face cubes (F×T×T×T×3) at ``w·(T − 1)``."""
    T = cubes.shape[1]
    pos = w.clamp(0.0, 1.0) * (T - 1)
    lo = torch.floor(pos).long().clamp(0, T - 1)
    hi = (lo + 1).clamp(max=T - 1)
    frac = pos - lo.to(pos.dtype)
    flat = cubes.reshape(-1, 3)
    out = 0.0
    for corner in range(8):
        bits = [(corner >> k) & 1 for k in range(3)]
        idx = [hi[:, k] if bits[k] else lo[:, k] for k in range(3)]
        wt = torch.ones_like(frac[:, 0])
        for k in range(3):
            wt = wt * (frac[:, k] if bits[k] else 1 - frac[:, k])
        lin = (idx[0] * T + idx[1]) * T + idx[2]
        out = out + flat.index_select(0, f * (T * T * T) + lin) * wt.unsqueeze(1)
    return out
