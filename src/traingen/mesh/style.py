"""2D→3D style transfer through the differentiable rasterizer (Kato et al. 2018, §4.3).

The texture of a mesh (Kato's per-face T×T×T cubes, or a UV texture when the mesh has UVs) and,
optionally, its vertices are optimised so that renders from random views carry the Gram statistics
of a style image:

``L = λ_style · Σ_l ||G_l(render ⊙ mask) − G_l(style)||² / C_l² + λ_content · Σ ||v − v₀||² + λ_tv · TV_mask``

- Gram matrices of the rendered views are masked by the rendered silhouette (alpha), so the
  background does not count (:func:`traingen.texture.gram.gram_matrix` with a mask);
- ``λ_content ||v − v₀||²`` keeps the vertices near the input shape (only with ``vertices=True``);
- ``TV_mask``: squared differences of adjacent pixels, weighted by both pixels' alpha.

Views follow Kato's distributions: camera distance ``2.732 ± 0.1`` (uniform) from the centre of the
mesh normalised to radius 1, elevation uniform in 20–40°, any azimuth, 4 views per step; one
directional light 30° off vertical (ambient 0.5 + directional 0.5); the background is the style
image's mean colour. Backbone: ``random-multiscale`` offline, or ``vgg19`` from a local weight file
with Kato's layers ``conv1_2, conv2_2, conv3_3, conv4_3``. Adam (β₁ = 0.5) on the texture logits
(colour = sigmoid) and on the vertex offsets.

Example:
    >>> from traingen.mesh.builtin import load_mesh
    >>> res = stylize(load_mesh("builtin:mesh/teapot"), style_rgb, StyleConfig(steps=2, size=32), seed=0)
    >>> res.mesh.texture.shape[2], len(res.losses)
    (3, 2)

References:
    Kato, Ushiku & Harada, "Neural 3D Mesh Renderer", CVPR 2018, arXiv 1711.07566 (§4.3 2D-to-3D
    style transfer: losses, view and light distributions). Gatys, Ecker & Bethge, "Image Style
    Transfer Using Convolutional Neural Networks", CVPR 2016 (Gram matrices).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from ..core.config import require_at_least_one
from ..core.errors import ConfigError, DataError
from ..core.seeding import torch_generator
from ..render.camera import Camera
from .mesh import Mesh, check_mesh
from .raster import Attributes, Lighting, RasterSettings, rasterize

#: Kato's VGG layers for style (vgg19 names).
KATO_VGG_TAPS = ("conv1_2", "conv2_2", "conv3_3", "conv4_3")
TEXTURES = ("cubes", "uv")


@dataclass
class StyleConfig:
    """2D→3D style transfer settings (CPU defaults: 64 px, 50 steps, T = 4 cubes)."""

    steps: int = 50
    size: int = 64
    views_per_step: int = 4
    texture: str = "cubes"
    cube_size: int = 4
    uv_size: int = 128
    vertices: bool = False
    mode: str = "soft"
    backbone: str = "random-multiscale"
    weights: str | None = None
    backbone_seed: int = 0
    lr_texture: float = 0.1
    lr_vertices: float = 0.001
    lambda_style: float = 1.0
    lambda_content: float = 1.0
    lambda_tv: float = 0.01
    distance: float = 2.732
    distance_jitter: float = 0.1
    elevation_range: tuple[float, float] = (20.0, 40.0)
    fov_y_deg: float = 60.0
    light_tilt_deg: float = 30.0
    style_size: int | None = None

    def __post_init__(self) -> None:
        if self.steps < 0:
            raise ConfigError("steps must be >= 0", where="mesh style", field="steps")
        require_at_least_one(self, ("size", "views_per_step", "cube_size", "uv_size"), where="mesh style")
        if self.texture not in TEXTURES:
            raise ConfigError(f"texture must be one of {TEXTURES}, got {self.texture!r}", where="mesh style",
                              field="texture")
        if self.mode not in ("soft", "nmr", "hard"):
            raise ConfigError(f"mode must be soft, nmr or hard, got {self.mode!r}", where="mesh style", field="mode")
        if self.vertices and self.mode == "hard":
            raise ConfigError("optimising vertices needs mode soft or nmr", where="mesh style", field="mode")
        self.elevation_range = tuple(float(e) for e in self.elevation_range)


@dataclass
class StyleResult:
    """The stylised mesh (UV texture baked), the loss per step, the cameras of the last step."""

    mesh: Mesh
    losses: list[float] = field(default_factory=list)
    style_losses: list[float] = field(default_factory=list)


# -- views ----------------------------------------------------------------------------------------


def sample_views(n: int, cfg: StyleConfig, generator: torch.Generator) -> tuple[list[Camera], Lighting]:
    """Kato's view distribution (distance 2.732 ± 0.1, elevation 20–40°, any azimuth) and light."""
    u = torch.rand(n, 3, generator=generator, dtype=torch.float64).numpy()
    lo, hi = cfg.elevation_range
    cams = [Camera.orbit(cfg.distance + cfg.distance_jitter * (2 * a - 1), 360.0 * b, lo + (hi - lo) * c,
                         width=cfg.size, height=cfg.size, fov_y_deg=cfg.fov_y_deg) for a, b, c in u]
    return cams, kato_light(cfg.light_tilt_deg)


def kato_light(tilt_deg: float = 30.0) -> Lighting:
    """Ambient 0.5 + a directional 0.5 travelling down, ``tilt_deg`` off vertical."""
    t = math.radians(tilt_deg)
    return Lighting(ambient=0.5, directional=0.5, direction=(-math.sin(t), 0.0, -math.cos(t)))


# -- losses ---------------------------------------------------------------------------------------


def masked_tv(rgb: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of adjacent pixels weighted by the product of their alphas."""
    dh = ((rgb[..., 1:, :] - rgb[..., :-1, :]) ** 2).sum(1, keepdim=True) * alpha[..., 1:, :] * alpha[..., :-1, :]
    dw = ((rgb[..., :, 1:] - rgb[..., :, :-1]) ** 2).sum(1, keepdim=True) * alpha[..., :, 1:] * alpha[..., :, :-1]
    return dh.mean() + dw.mean()


def edge_length_variance(v: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
    """Variance of the edge lengths (Kato's 3D DeepDream regulariser)."""
    return torch.linalg.norm(v[edges[:, 0]] - v[edges[:, 1]], dim=1).var()


def style_backbone(cfg: StyleConfig, seed: int | None = None):
    """(backbone, taps): random-multiscale (seeded) or vgg19 with Kato's layers from a local file."""
    from ..texture.gram import get_backbone

    if cfg.backbone == "random-multiscale":
        bb = get_backbone("random-multiscale", seed=cfg.backbone_seed if seed is None else seed)
        return bb, bb.default_style_taps
    if cfg.backbone in ("vgg19", "vgg16"):
        if cfg.backbone == "vgg16":
            raise ConfigError("vgg16 is not shipped as a feature network in this release; use vgg19 with a "
                              "local weight file", where="mesh style", field="backbone")
        return get_backbone("vgg19", weights=cfg.weights), KATO_VGG_TAPS
    raise ConfigError(f"unknown backbone {cfg.backbone!r}; known: random-multiscale, vgg19",
                      where="mesh style", field="backbone")


def style_image_tensor(image: np.ndarray, size: int) -> torch.Tensor:
    """H×W×3 (uint8 or float [0, 1]) -> 1×3×s×s float in [0, 1] (shorter side to ``size``, centre crop)."""
    import torch.nn.functional as F

    a = np.asarray(image)
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    if a.ndim != 3 or a.shape[2] < 3:
        raise DataError(f"style image must be H×W×3, got {a.shape}", where="mesh style", field="style_image")
    a = a[..., :3].astype(np.float32) / (255.0 if a.dtype == np.uint8 else 1.0)
    x = torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)[None]
    h, w = x.shape[-2:]
    s = size / min(h, w)
    x = F.interpolate(x, size=(max(size, round(h * s)), max(size, round(w * s))), mode="bilinear",
                      antialias=True, align_corners=False)
    top, left = (x.shape[-2] - size) // 2, (x.shape[-1] - size) // 2
    return x[..., top:top + size, left:left + size].clamp(0, 1)


# -- texture parametrisation ----------------------------------------------------------------------


class TextureParam:
    """Texture logits (cubes F×T×T×T×3 or UV Ht×Wt×3); colour = sigmoid(logits)."""

    def __init__(self, mesh: Mesh, cfg: StyleConfig):
        self.kind = cfg.texture
        if self.kind == "uv" and mesh.uv is None:
            raise DataError("texture 'uv' needs a mesh with UVs; use texture 'cubes'", where=mesh.name, field="uv")
        if self.kind == "cubes":
            t = cfg.cube_size
            self.logits = torch.zeros(mesh.n_faces, t, t, t, 3, requires_grad=True)
        else:
            self.face_uv = torch.tensor(mesh.uv[mesh.faces], dtype=torch.float32)
            self.logits = torch.zeros(cfg.uv_size, cfg.uv_size, 3, requires_grad=True)

    def attributes(self) -> Attributes:
        col = torch.sigmoid(self.logits)
        if self.kind == "cubes":
            return Attributes(texture_cubes=col)
        return Attributes(face_uv=self.face_uv, texture=col)


def bake_cubes(mesh: Mesh, cubes: np.ndarray, cell: int = 8) -> Mesh:
    """A copy of ``mesh`` with one atlas cell per face, its texels the cube colours (OBJ-exportable).

    Each face gets its own three vertices and a right triangle inside a ``cell``×``cell`` texel square;
    every texel of the cell takes the trilinear cube colour at its (clamped) barycentrics.
    """
    from .raster_attributes import cube_lookup

    F_ = mesh.n_faces
    cols = int(math.ceil(math.sqrt(F_)))
    rows = int(math.ceil(F_ / cols))
    W, H = cols * cell, rows * cell
    m = 1.0
    corners = np.array([[m, cell - m], [cell - m, cell - m], [m, m]])  # (x, y) in the cell, y down
    py, px = np.mgrid[0:cell, 0:cell] + 0.5
    p = np.stack([px.ravel(), py.ravel()], 1)
    a, b, c = corners
    den = (b[1] - c[1]) * (a[0] - c[0]) + (c[0] - b[0]) * (a[1] - c[1])
    w0 = ((b[1] - c[1]) * (p[:, 0] - c[0]) + (c[0] - b[0]) * (p[:, 1] - c[1])) / den
    w1 = ((c[1] - a[1]) * (p[:, 0] - c[0]) + (a[0] - c[0]) * (p[:, 1] - c[1])) / den
    w = np.clip(np.stack([w0, w1, 1 - w0 - w1], 1), 0, None)
    w = w / w.sum(1, keepdims=True)
    fi = np.repeat(np.arange(F_), cell * cell)
    ww = np.tile(w, (F_, 1))
    rgb = cube_lookup(torch.as_tensor(cubes, dtype=torch.float32), torch.as_tensor(fi),
                      torch.as_tensor(ww, dtype=torch.float32)).numpy()
    tex = np.zeros((H, W, 3), dtype=np.float32)
    cy, cx = np.divmod(np.arange(F_), cols)
    blocks = rgb.reshape(F_, cell, cell, 3)
    for k in range(F_):
        tex[cy[k] * cell:(cy[k] + 1) * cell, cx[k] * cell:(cx[k] + 1) * cell] = blocks[k]
    origin = np.stack([cx * cell, cy * cell], 1).astype(np.float64)  # F×2
    pix = origin[:, None, :] + corners[None]  # F×3×2, x right / y down in texels
    uv = np.stack([pix[..., 0] / W, 1.0 - pix[..., 1] / H], -1).reshape(-1, 2)
    parts = mesh.face_parts
    return check_mesh(Mesh(mesh.vertices[mesh.faces].reshape(-1, 3), np.arange(3 * F_).reshape(F_, 3), uv=uv,
                           texture=np.clip(tex, 0, 1), face_parts=parts, part_names=mesh.part_names,
                           name=mesh.name))


# -- the optimisation -----------------------------------------------------------------------------


def render_views(v: torch.Tensor, faces: torch.Tensor, attrs: Attributes, cams: list[Camera], light: Lighting,
                 background, mode: str):
    out = rasterize(v, faces, cams, mode=mode, attributes=attrs, lighting=light,
                    settings=RasterSettings(background=tuple(float(b) for b in background)))
    return out.rgb, out.alpha


def stylize(mesh: Mesh, style_image: np.ndarray, config: StyleConfig | None = None, seed: int = 0, *,
            on_step=None) -> StyleResult:
    """Stylise ``mesh`` with ``style_image`` (Kato's 2D→3D style transfer).

    Args:
        mesh: the input mesh (any size; it is normalised to radius 1 for rendering and the result
            keeps that normalisation).
        style_image: H×W×3 uint8 or float [0, 1].
        config: :class:`StyleConfig`.
        seed: decides the views of every step.
        on_step: optional ``callback(step, loss)``.

    Returns:
        :class:`StyleResult` with the mesh carrying a UV texture (cubes baked into a per-face atlas).
    """
    cfg = config or StyleConfig()
    mesh = check_mesh(mesh)
    if cfg.vertices and cfg.texture == "cubes":
        mesh = check_mesh(mesh.welded())  # one vertex per point, so moving vertices opens no cracks
    mesh = mesh.normalized(1.0)
    style = style_image_tensor(style_image, cfg.style_size or cfg.size)
    bb, taps = style_backbone(cfg)
    from ..texture.gram import style_loss, style_targets

    targets = style_targets(bb.maps(style, taps))
    background = style.mean((0, 2, 3)).tolist()
    faces = torch.tensor(mesh.faces)
    v0 = torch.tensor(mesh.vertices, dtype=torch.float32)
    tex = TextureParam(mesh, cfg)
    offset = torch.zeros_like(v0, requires_grad=True)
    groups = [{"params": [tex.logits], "lr": cfg.lr_texture}]
    if cfg.vertices:
        groups.append({"params": [offset], "lr": cfg.lr_vertices})
    opt = torch.optim.Adam(groups, betas=(0.5, 0.999))
    gen = torch_generator(seed, "mesh-style-views")
    res = StyleResult(mesh=mesh)
    for step in range(cfg.steps):
        cams, light = sample_views(cfg.views_per_step, cfg, gen)
        v = v0 + offset
        rgb, alpha = render_views(v, faces, tex.attributes(), cams, light, background, cfg.mode)
        ls = style_loss(bb.maps(rgb, taps), targets, masks=alpha.detach() if cfg.mode != "soft" else alpha)
        loss = cfg.lambda_style * ls + cfg.lambda_tv * masked_tv(rgb, alpha)
        if cfg.vertices:
            loss = loss + cfg.lambda_content * ((v - v0) ** 2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        res.losses.append(float(loss.detach()))
        res.style_losses.append(float(ls.detach()))
        if on_step is not None:
            on_step(step, res.losses[-1])
    res.mesh = result_mesh(mesh, (v0 + offset).detach(), tex)
    return res


def result_mesh(mesh: Mesh, v: torch.Tensor, tex: TextureParam) -> Mesh:
    """The optimised geometry with its texture as a UV texture (cubes baked)."""
    shaped = replace(mesh, vertices=v.numpy().astype(np.float64), vertex_colors=None)
    col = torch.sigmoid(tex.logits.detach()).numpy()
    if tex.kind == "cubes":
        out = bake_cubes(shaped, col)
        out.meta = {"texture_cubes": col}
        return out
    return check_mesh(replace(shaped, texture=col))


def heldout_style_loss(mesh: Mesh, style_image: np.ndarray, cfg: StyleConfig, *, backbone_seed: int = 12345,
                       views: int = 4, view_seed: int = 999) -> float:
    """Style loss of ``mesh`` (with its texture) under a random-multiscale backbone of another seed."""
    from ..texture.gram import get_backbone, style_loss, style_targets
    from .raster_attributes import Attributes as Attr

    bb = get_backbone("random-multiscale", seed=backbone_seed)
    style = style_image_tensor(style_image, cfg.style_size or cfg.size)
    cams, light = sample_views(views, cfg, torch_generator(view_seed, "mesh-style-heldout"))
    with torch.no_grad():
        rgb, alpha = render_views(torch.tensor(mesh.vertices, dtype=torch.float32), torch.tensor(mesh.faces),
                                  Attr.from_mesh(mesh), cams, light, style.mean((0, 2, 3)).tolist(), "soft")
        taps = bb.default_style_taps
        return float(style_loss(bb.maps(rgb, taps), style_targets(bb.maps(style, taps)), masks=alpha))


def turntable(mesh: Mesh, n: int = 8, size: int = 64, *, elevation: float = 30.0, fov_y_deg: float = 42.0,
              background=(1.0, 1.0, 1.0)) -> list[np.ndarray]:
    """``n`` hard renders (H×W×3 float) of ``mesh`` (normalised) at evenly spaced azimuths."""
    from .raster_attributes import Attributes as Attr

    m = check_mesh(mesh).normalized(1.0)
    cams = [Camera.orbit(2.732, 360.0 * k / n, elevation, width=size, height=size, fov_y_deg=fov_y_deg)
            for k in range(n)]
    with torch.no_grad():
        rgb, _ = render_views(torch.tensor(m.vertices, dtype=torch.float32), torch.tensor(m.faces), Attr.from_mesh(m),
                              cams, kato_light(), background, "hard")
    return [im.permute(1, 2, 0).clamp(0, 1).numpy() for im in rgb]
