"""Silhouette fitting: deform an icosphere until its soft renders match target silhouettes.

The mesh reconstruction demo of Soft Rasterizer: a template sphere (642 vertices) is displaced
vertex by vertex, with the cameras known, to minimise

``L = (1 − IoU_soft) + λ_lap · L_laplacian + λ_flat · L_flatten``

- soft IoU ``Σ a·t / Σ (a + t − a·t)`` between rendered alpha ``a`` and target silhouette ``t``,
  averaged over the views of a step;
- Laplacian: the mean squared distance of each vertex from the centroid of its neighbours;
- flatten: ``Σ (1 − cos θ_e)²`` over the edges, ``θ_e`` the angle between the normals of the two
  faces sharing the edge.

Adam with the demo's betas (0.5, 0.99). The template, the view schedule and the optimiser are seeded,
so a run is reproducible bit for bit on one machine.

Example:
    >>> from traingen.mesh.builtin import load_mesh
    >>> target = load_mesh("builtin:mesh/blob/1")
    >>> res = fit_silhouettes(target_views(target, FitConfig(views=4, size=32)), FitConfig(steps=2, size=32))
    >>> len(res.losses)
    2

References:
    Liu, Li, Chen & Li, "Soft Rasterizer", ICCV 2019, arXiv 1904.01786 (§4.2 and the public demo
    ``soft_renderer/examples/demo_deform.py``: IoU + Laplacian + flatten losses). Kato et al. 2018
    (the 642-vertex sphere template).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ..core.config import require_at_least_one
from ..core.errors import ConfigError
from ..render.camera import Camera
from .mesh import Mesh
from .procedural import icosphere
from .raster import RasterSettings, rasterize


@dataclass
class FitConfig:
    """Silhouette fitting settings (tiny CPU defaults: 64 px, 100 steps, 642-vertex template)."""

    steps: int = 100
    size: int = 64
    views: int = 12
    views_per_step: int = 4
    distance: float = 3.0
    elevation: float = 25.0
    fov_y_deg: float = 45.0
    lr: float = 0.01
    sigma: float = 1e-4
    lambda_laplacian: float = 0.03
    lambda_flatten: float = 0.0003
    template_subdivisions: int = 3
    template_radius: float = 0.6
    seed: int = 0

    def __post_init__(self) -> None:
        require_at_least_one(self, ("steps", "size", "views", "views_per_step"), where="mesh fit")


@dataclass
class FitResult:
    """The fitted mesh, the loss and soft IoU per step."""

    mesh: Mesh
    losses: list[float] = field(default_factory=list)
    ious: list[float] = field(default_factory=list)


def ring_cameras(n: int, cfg: FitConfig, *, offset_deg: float = 0.0, elevation: float | None = None) -> list[Camera]:
    """``n`` cameras on a ring around the origin, alternating ±elevation."""
    el = cfg.elevation if elevation is None else elevation
    return [Camera.orbit(cfg.distance, offset_deg + 360.0 * k / n, el if k % 2 == 0 else -el, width=cfg.size,
                         height=cfg.size, fov_y_deg=cfg.fov_y_deg) for k in range(n)]


def target_views(mesh: Mesh, cfg: FitConfig, *, offset_deg: float = 0.0) -> tuple[list[Camera], torch.Tensor]:
    """Hard silhouettes (V×1×H×W) of ``mesh`` (normalised to radius 1) from :func:`ring_cameras`."""
    m = mesh.normalized(1.0)
    cams = ring_cameras(cfg.views, cfg, offset_deg=offset_deg)
    out = rasterize(torch.tensor(m.vertices, dtype=torch.float32), torch.tensor(m.faces), cams, mode="hard")
    return cams, out.alpha.detach()


def laplacian_loss(v: torch.Tensor, edges: torch.Tensor, n: int) -> torch.Tensor:
    """Mean squared offset of each vertex from the mean of its neighbours (uniform weights)."""
    i, j = torch.cat([edges[:, 0], edges[:, 1]]), torch.cat([edges[:, 1], edges[:, 0]])
    deg = torch.zeros(n, dtype=v.dtype).index_add_(0, i, torch.ones_like(i, dtype=v.dtype))
    mean = torch.zeros_like(v).index_add_(0, i, v[j]) / deg.clamp(min=1).unsqueeze(1)
    return ((v - mean) ** 2).sum(1).mean()


def flatten_loss(v: torch.Tensor, faces: torch.Tensor, pairs: torch.Tensor) -> torch.Tensor:
    """``Σ (1 − n_a·n_b)²`` over pairs of faces sharing an edge."""
    t = v[faces]
    n = torch.linalg.cross(t[:, 1] - t[:, 0], t[:, 2] - t[:, 0], dim=1)
    n = n / torch.linalg.norm(n, dim=1, keepdim=True).clamp(min=1e-12)
    return ((1 - (n[pairs[:, 0]] * n[pairs[:, 1]]).sum(1)) ** 2).sum()


def _topology(faces: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    e = np.sort(faces[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2), axis=1)
    owner = np.repeat(np.arange(len(faces)), 3)
    order = np.lexsort((e[:, 1], e[:, 0]))
    e, owner = e[order], owner[order]
    same = (e[1:] == e[:-1]).all(1)
    pairs = np.stack([owner[:-1][same], owner[1:][same]], 1)
    return torch.tensor(np.unique(e, axis=0)), torch.tensor(pairs)


def soft_iou(alpha: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    inter = (alpha * target).sum((1, 2, 3))
    union = (alpha + target - alpha * target).sum((1, 2, 3))
    return (inter / union.clamp(min=1e-12)).mean()


def fit_silhouettes(views: tuple[list[Camera], torch.Tensor], cfg: FitConfig | None = None, *,
                    on_step=None) -> FitResult:
    """Deform the icosphere template to the silhouettes ``views = (cameras, V×1×H×W targets)``."""
    cfg = cfg or FitConfig()
    cams, targets = views
    if len(cams) != len(targets):
        raise ConfigError("need one target silhouette per camera", where="mesh fit", field="views")
    template = icosphere(cfg.template_subdivisions, cfg.template_radius)
    base = torch.tensor(template.vertices, dtype=torch.float32)
    faces = torch.tensor(template.faces)
    edges, pairs = _topology(template.faces)
    offset = torch.zeros_like(base, requires_grad=True)
    opt = torch.optim.Adam([offset], lr=cfg.lr, betas=(0.5, 0.99))
    gen = torch.Generator().manual_seed(cfg.seed)
    settings = RasterSettings(sigma=cfg.sigma)
    res = FitResult(mesh=template)
    k = min(cfg.views_per_step, len(cams))
    for step in range(cfg.steps):
        pick = torch.randperm(len(cams), generator=gen)[:k].tolist()
        v = base + offset
        out = rasterize(v, faces, [cams[i] for i in pick], settings=settings)
        iou = soft_iou(out.alpha, targets[pick])
        loss = (1 - iou) + cfg.lambda_laplacian * laplacian_loss(v, edges, len(base)) \
            + cfg.lambda_flatten * flatten_loss(v, faces, pairs)
        opt.zero_grad()
        loss.backward()
        opt.step()
        res.losses.append(float(loss.detach()))
        res.ious.append(float(iou.detach()))
        if on_step is not None:
            on_step(step, res.losses[-1], res.ious[-1])
    final = (base + offset).detach().numpy().astype(np.float64)
    res.mesh = Mesh(final, template.faces.copy(), uv=template.uv, face_parts=template.face_parts,
                    part_names=template.part_names, name="fit")
    return res


def hard_iou(mesh: Mesh, cams: list[Camera], targets: torch.Tensor) -> float:
    """Mean IoU of the hard silhouettes of ``mesh`` with ``targets`` over ``cams``."""
    out = rasterize(torch.tensor(mesh.vertices, dtype=torch.float32), torch.tensor(mesh.faces), cams, mode="hard")
    a, t = out.alpha > 0.5, targets > 0.5
    return float(((a & t).sum((1, 2, 3)).float() / (a | t).sum((1, 2, 3)).clamp(min=1).float()).mean())
