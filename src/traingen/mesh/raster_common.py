"""What the three rasterizer modes share: cameras, settings, sparse pixel–face pairs, attributes, light.

The cost of every mode scales with covered pixels, never pixels × faces: each (view, face) visits only
the pixel centres inside its screen bounding box dilated by a radius ``r`` (the Soft Rasterizer blur
radius ``r = √(σ·ln(1/ε − 1))`` for ``soft``, 0 for ``hard``). :func:`enumerate_pairs` lists those
(face, pixel) pairs with a handful of vectorised integer ops (``soft`` uses the tighter row-by-row
list of :mod:`traingen.mesh.raster_pairs`); everything after works on the flat pair list and is
reduced per pixel with ``index_add_`` / ``scatter_reduce``. The same code runs on CPU and CUDA
tensors, batched over views.

Projection uses :func:`traingen.render.camera.project_points` (the camera shared with the EGL
renderer): pixel ``i`` covers ``[i, i+1)``, its centre is ``i + 0.5``, image row 0 is the top.

Distances for the soft coverage are measured in *normalised units*: pixels × ``2 / max(W, H)``, so
that a square image spans ``[-1, 1]`` as in Soft Rasterizer's NDC and ``σ = 1e-4`` means the same
blur as in the paper.

References:
    Liu, Li, Chen & Li, "Soft Rasterizer: A Differentiable Renderer for Image-based 3D Reasoning",
    ICCV 2019, arXiv 1904.01786. Kato, Ushiku & Harada, "Neural 3D Mesh Renderer", CVPR 2018,
    arXiv 1711.07566 (texture cubes, ambient + directional lighting).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ..core.errors import ConfigError, DataError
from ..render.camera import Camera, project_points


@dataclass(frozen=True)
class RasterSettings:
    """Rasterizer knobs (defaults: Soft Rasterizer's σ = γ = ε = 1e-4).

    Args:
        sigma: coverage sharpness σ of ``sigmoid(±d²/σ)`` (normalised units², see module doc).
        gamma: softmax temperature γ of the depth term ``(far − z)/(far − near)``.
        eps: ε: the coverage cutoff ``D < ε`` outside a face and the background depth term.
        background: RGB of the background (also used by ``soft``'s background term).
        cull_backfaces: drop faces whose front side (counter-clockwise vertex order) looks away.
        nmr_reach: ``nmr`` backward: how many pixels either side of an edge a scanline walk visits.
    """

    sigma: float = 1e-4
    gamma: float = 1e-4
    eps: float = 1e-4
    background: tuple[float, float, float] = (0.0, 0.0, 0.0)
    cull_backfaces: bool = False
    nmr_reach: int = 8

    def __post_init__(self) -> None:
        for name in ("sigma", "gamma"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be > 0, got {getattr(self, name)}", where="raster", field=name)
        if not 0 < self.eps < 0.5:
            raise ConfigError(f"eps must be in (0, 0.5), got {self.eps}", where="raster", field="eps")
        if self.nmr_reach < 1:
            raise ConfigError(f"nmr_reach must be >= 1, got {self.nmr_reach}", where="raster", field="nmr_reach")

    def blur_radius(self) -> float:
        """``r = √(σ·ln(1/ε − 1))`` in normalised units: beyond it outside a face, coverage < ε."""
        return math.sqrt(self.sigma * math.log(1.0 / self.eps - 1.0))


@dataclass(frozen=True)
class Lighting:
    """Ambient + one directional light (Kato et al.): ``shade = ambient + directional·max(0, n·(−d))``.

    ``direction`` is the direction the light travels, in world coordinates (default straight down).
    Faces are lit double-sided: the normal is flipped toward the camera first.
    """

    ambient: float = 0.5
    directional: float = 0.5
    direction: tuple[float, float, float] = (0.0, 0.0, -1.0)
    ambient_color: tuple[float, float, float] = (1.0, 1.0, 1.0)
    directional_color: tuple[float, float, float] = (1.0, 1.0, 1.0)


@dataclass
class Cameras:
    """A batch of B pinhole views of one image size, as tensors (``K``, ``R``: B×3×3, ``t``: B×3).

    Build it from :class:`~traingen.render.camera.Camera` records with :meth:`from_cameras`, or give
    tensors directly (then differentiable, e.g. for camera recovery).
    """

    K: torch.Tensor
    R: torch.Tensor
    t: torch.Tensor
    width: int
    height: int
    near: float = 0.05
    far: float = 100.0

    @classmethod
    def from_cameras(cls, cameras: Camera | Sequence[Camera], *, dtype=torch.float32,
                     device: str | torch.device = "cpu") -> Cameras:
        cams = [cameras] if isinstance(cameras, Camera) else list(cameras)
        if not cams:
            raise ConfigError("need at least one camera", where="raster", field="cameras")
        c0 = cams[0]
        for c in cams[1:]:
            if (c.width, c.height, c.near, c.far) != (c0.width, c0.height, c0.near, c0.far):
                raise ConfigError("all cameras of a batch need the same size and clip planes", where="raster",
                                  field="cameras")

        def stack(name):
            return torch.stack([torch.as_tensor(getattr(c, name), dtype=dtype, device=device) for c in cams])

        return cls(stack("K"), stack("R"), stack("t"), int(c0.width), int(c0.height), float(c0.near),
                   float(c0.far))

    @property
    def batch(self) -> int:
        return int(self.R.shape[0])

    def eyes(self) -> torch.Tensor:
        """Camera centres in world coordinates (B×3)."""
        return -(self.R.transpose(1, 2) @ self.t.unsqueeze(-1)).squeeze(-1)


@dataclass
class RasterOutput:
    """What a render returns. ``rgb`` B×3×H×W; ``alpha`` B×1×H×W; ``depth`` B×H×W linear camera depth
    (0 on the background); ``face_id`` B×H×W int64 (−1 on the background); ``bary`` B×H×W×3
    perspective-correct barycentrics of the visible face (0 on the background)."""

    rgb: torch.Tensor
    alpha: torch.Tensor
    depth: torch.Tensor
    face_id: torch.Tensor
    bary: torch.Tensor


@dataclass
class FaceSetup:
    """Per (view, face) screen geometry, flattened to N = B·F rows."""

    uv: torch.Tensor  # N×3×2 pixels
    z: torch.Tensor  # N×3 linear depth
    valid: torch.Tensor  # N bool
    batch: int
    n_faces: int


def as_batched_vertices(vertices: torch.Tensor, batch: int) -> torch.Tensor:
    """Vertices V×3 (shared by all views) or B×V×3 (one set per view) -> B×V×3."""
    if vertices.ndim == 2:
        return vertices.unsqueeze(0).expand(batch, -1, -1)
    if vertices.ndim != 3 or vertices.shape[0] != batch:
        raise DataError(f"vertices must be V×3 or B×V×3 with B={batch}, got {tuple(vertices.shape)}",
                        where="raster", field="vertices")
    return vertices


def check_inputs(vertices: torch.Tensor, faces: torch.Tensor) -> None:
    if vertices.shape[-1] != 3 or vertices.shape[-2] == 0:
        raise DataError(f"vertices must be (B×)V×3 and non-empty, got {tuple(vertices.shape)}", where="raster",
                        field="vertices")
    if faces.ndim != 2 or faces.shape[1] != 3 or faces.shape[0] == 0:
        raise DataError(f"faces must be F×3 and non-empty, got {tuple(faces.shape)}", where="raster",
                        field="faces")
    if not torch.isfinite(vertices).all():
        raise DataError("vertices hold NaN or infinite values", where="raster", field="vertices")
    if int(faces.min()) < 0 or int(faces.max()) >= vertices.shape[-2]:
        raise DataError(f"face indices out of range [0, {vertices.shape[-2] - 1}]", where="raster", field="faces")


def setup_faces(verts: torch.Tensor, faces: torch.Tensor, cams: Cameras, settings: RasterSettings) -> FaceSetup:
    """Project every view's vertices with the shared camera and gather per-face screen triangles."""
    B = cams.batch
    uvs, zs = [], []
    for b in range(B):  # B is small; the shared projection function is unbatched
        uv_b, z_b = project_points(verts[b], cams.K[b], cams.R[b], cams.t[b])
        uvs.append(uv_b)
        zs.append(z_b)
    uv = gather_corners(torch.stack(uvs), faces)  # B×F×3×2
    z = gather_corners(torch.stack(zs).unsqueeze(-1), faces).squeeze(-1)  # B×F×3
    F = faces.shape[0]
    uv, z = uv.reshape(B * F, 3, 2), z.reshape(B * F, 3)
    with torch.no_grad():
        area2 = edge_fn(uv[:, 0], uv[:, 1], uv[:, 2])
        valid = (z.min(1).values > cams.near) & (z.min(1).values < cams.far) & (area2.abs() > 1e-12)
        if settings.cull_backfaces:
            # With y pointing down, a face counter-clockwise seen from the camera has area2 < 0.
            valid &= area2 < 0
    return FaceSetup(uv, z, valid, B, F)


def gather_corners(x: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """``x[:, faces]`` (B×V×C → B×F×3×C) through ``index_select``, whose backward (``index_add_``) is
    several times cheaper on CPU than advanced indexing's (``index_put_`` with accumulation)."""
    B, V, C = x.shape
    idx = faces.reshape(-1)
    if B > 1:
        idx = (idx.unsqueeze(0) + torch.arange(B, device=x.device).unsqueeze(1) * V).reshape(-1)
    return x.reshape(B * V, C).index_select(0, idx).reshape(B, faces.shape[0], 3, C)


def edge_fn(a: torch.Tensor, b: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """Twice the signed area of triangle (a, b, p): ``(b − a) × (p − a)``."""
    return (b[..., 0] - a[..., 0]) * (p[..., 1] - a[..., 1]) - (b[..., 1] - a[..., 1]) * (p[..., 0] - a[..., 0])


def expand_ranges(counts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For item counts ``n_i``: the item index and the offset ``0..n_i−1`` of every element."""
    total = int(counts.sum())
    item = torch.repeat_interleave(torch.arange(len(counts), device=counts.device), counts, output_size=total)
    starts = torch.cumsum(counts, 0) - counts
    offset = torch.arange(total, device=counts.device) - starts[item]
    return item, offset


def pixel_bounds(setup: FaceSetup, width: int, height: int, radius_px: float
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per face row: the first and last pixel column and row (float, inclusive, clipped to the image) whose
    centre lies within the face's screen bounding box dilated by ``radius_px``; empty when first > last."""
    with torch.no_grad():
        uv = setup.uv.detach()
        # Elementwise over the three corners: a reduction over a dimension of 3 costs more on CPU.
        lo = torch.minimum(torch.minimum(uv[:, 0], uv[:, 1]), uv[:, 2]).sub_(radius_px)
        hi = torch.maximum(torch.maximum(uv[:, 0], uv[:, 1]), uv[:, 2]).add_(radius_px)
        # Pixel i is visited when its centre i + 0.5 lies in [lo, hi].
        x0 = torch.ceil(lo[:, 0] - 0.5).clamp_(min=0)
        x1 = torch.floor(hi[:, 0] - 0.5).clamp_(max=width - 1)
        y0 = torch.ceil(lo[:, 1] - 0.5).clamp_(min=0)
        y1 = torch.floor(hi[:, 1] - 0.5).clamp_(max=height - 1)
    return x0, x1, y0, y1


def enumerate_pairs(setup: FaceSetup, width: int, height: int, radius_px: float):
    """(face row, pixel x, pixel y) of every pixel centre inside each valid face's dilated bounding box.

    Returns:
        ``(fi, px, py)`` int64 vectors of equal length P (``fi`` indexes the B·F face rows).
    """
    with torch.no_grad():
        x0, x1, y0, y1 = pixel_bounds(setup, width, height, radius_px)
        w = (x1 - x0 + 1).clamp(min=0)
        h = (y1 - y0 + 1).clamp(min=0)
        w = torch.where(setup.valid, w, torch.zeros_like(w)).long()
        h = torch.where(setup.valid, h, torch.zeros_like(h)).long()
        fi, off = expand_ranges(w * h)
        wf = w[fi]
        px = x0.long()[fi] + off % wf
        py = y0.long()[fi] + off // wf
    return fi, px, py


def barycentric(uv: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """Screen-space barycentrics (P×3) of points ``p`` (P×2) in triangles ``uv`` (P×3×2)."""
    a, b, c = uv[:, 0], uv[:, 1], uv[:, 2]
    area = edge_fn(a, b, c)
    return torch.stack([edge_fn(b, c, p), edge_fn(c, a, p), edge_fn(a, b, p)], dim=1) / area.unsqueeze(1)


def edge_lines(uv: torch.Tensor) -> torch.Tensor:
    """Per triangle (N×3×2), the three edges' lines as ``(a, b, c)`` (N×3×3) with ``a·x + b·y + c`` the
    signed distance in pixels, positive on the triangle's side (either winding)."""
    a = uv
    b = uv.roll(-1, dims=1)
    c = uv.roll(-2, dims=1)
    nx = -(b[..., 1] - a[..., 1])
    ny = b[..., 0] - a[..., 0]
    norm = torch.sqrt(nx * nx + ny * ny).clamp(min=1e-30)
    nx, ny = nx / norm, ny / norm
    off = -(nx * a[..., 0] + ny * a[..., 1])
    sign = torch.sign(nx * c[..., 0] + ny * c[..., 1] + off)
    sign = torch.where(sign == 0, torch.ones_like(sign), sign)
    return torch.stack([nx * sign, ny * sign, off * sign], dim=-1)


def perspective_weights(w_screen: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Perspective-correct weights and depth from screen barycentrics: ``z_p = 1/Σ(w_k/z_k)``."""
    q = w_screen / z
    zp = 1.0 / q.sum(1)
    return q * zp.unsqueeze(1), zp


def clip_barycentric(w: torch.Tensor) -> torch.Tensor:
    """Soft Rasterizer's clipping for pixels outside a face: clamp to [0, 1], renormalise."""
    wc = w.clamp(0.0, 1.0)
    return wc / wc.sum(1, keepdim=True).clamp(min=1e-12)


def face_shading(verts: torch.Tensor, faces: torch.Tensor, cams: Cameras, light: Lighting) -> torch.Tensor:
    """Per (view, face) RGB light factor (B·F×3), normals flipped toward each camera (double-sided).

    Without a directional term the factor is the ambient colour for every face: returned as one
    expanded row (stride 0), which callers may broadcast instead of gathering.
    """
    if light.directional == 0:
        amb = torch.as_tensor(light.ambient_color, dtype=verts.dtype, device=verts.device) * light.ambient
        return amb.expand(verts.shape[0] * faces.shape[0], 3)
    v = gather_corners(verts, faces)  # B×F×3×3
    n = torch.linalg.cross(v[:, :, 1] - v[:, :, 0], v[:, :, 2] - v[:, :, 0], dim=-1)  # unnormalised
    d = torch.as_tensor(light.direction, dtype=verts.dtype, device=verts.device)
    d = d / torch.linalg.norm(d)
    with torch.no_grad():  # which side faces the camera: a sign, constant almost everywhere
        to_eye = cams.eyes().unsqueeze(1) - v.mean(2)
        side = (n * to_eye).sum(-1).ge(0).to(verts.dtype).mul_(2.0).sub_(1.0)
    # n·(−d) of the unit normal turned toward the camera, in few autograd nodes (this runs every render).
    lam = torch.relu((n @ d).mul(side).neg().div(torch.linalg.norm(n, dim=-1).clamp(min=1e-12))).unsqueeze(-1)
    amb = torch.as_tensor(light.ambient_color, dtype=verts.dtype, device=verts.device) * light.ambient
    dirc = torch.as_tensor(light.directional_color, dtype=verts.dtype, device=verts.device) * light.directional
    return (amb + lam * dirc).reshape(-1, 3)
