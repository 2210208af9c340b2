"""3D DeepDream through the differentiable rasterizer (Kato et al. 2018, §4.4).

The vertices and the texture of a mesh are optimised so that renders from random views excite one
layer of a network: ``L = −mean(a_l(render)²) + λ_edge · Var(edge lengths)``. The edge-length
variance is Kato's regulariser; it keeps the triangles even while the surface grows features.
Views and light follow :mod:`traingen.mesh.style` (Kato's distributions); the background is grey.

Offline networks: ``random-multiscale`` (a tap ``kN``), or the project's trained digit classifiers
``mnist5k-classifier`` / ``digits-classifier`` (a layer of their ``features`` block, e.g. ``relu1``;
renders are turned grey and normalised as the classifier expects).

Example:
    >>> from traingen.mesh.builtin import load_mesh
    >>> res = dream(load_mesh("builtin:mesh/blob/1"), DreamConfig(steps=2, size=32), seed=0)
    >>> len(res.losses)
    2

References:
    Kato, Ushiku & Harada, "Neural 3D Mesh Renderer", CVPR 2018, arXiv 1711.07566 (§4.4 3D
    DeepDream). Mordvintsev, Olah & Tyka, "Inceptionism: Going Deeper into Neural Networks", 2015.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..core.config import require_at_least_one
from ..core.errors import ConfigError
from ..core.seeding import torch_generator
from .fit import _topology
from .mesh import Mesh, check_mesh
from .style import (
    StyleConfig,
    StyleResult,
    TextureParam,
    edge_length_variance,
    render_views,
    result_mesh,
    sample_views,
)

NETWORKS = ("random-multiscale", "mnist5k-classifier", "digits-classifier")


@dataclass
class DreamConfig:
    """3D DeepDream settings (CPU defaults: 64 px, 50 steps)."""

    steps: int = 50
    size: int = 64
    views_per_step: int = 4
    network: str = "random-multiscale"
    layer: str = "k11"
    network_seed: int = 0
    cube_size: int = 4
    lr_texture: float = 0.05
    lr_vertices: float = 0.002
    lambda_edge: float = 10.0

    def __post_init__(self) -> None:
        if self.network not in NETWORKS:
            raise ConfigError(f"network must be one of {NETWORKS}, got {self.network!r}", where="mesh dream",
                              field="network")
        require_at_least_one(self, ("steps", "size", "views_per_step"), where="mesh dream")


def layer_activation(cfg: DreamConfig):
    """A function ``rgb (N×3×H×W in [0, 1]) -> activation maps`` of the chosen layer."""
    from ..features import get_extractor

    if cfg.network == "random-multiscale":
        ext = get_extractor("random-multiscale", seed=cfg.network_seed)
        if cfg.layer not in ext.taps:
            raise ConfigError(f"unknown layer {cfg.layer!r}; known: {', '.join(ext.taps)}", where="mesh dream",
                              field="layer")
        return lambda x: ext.maps(x, [cfg.layer])[cfg.layer]
    ext = get_extractor(cfg.network)
    layers = dict(ext.module.features.named_children())
    if cfg.layer not in layers:
        raise ConfigError(f"unknown layer {cfg.layer!r}; known: {', '.join(layers)}", where="mesh dream",
                          field="layer")

    def run(x):
        h = x.mean(1, keepdim=True) * 2.0 - 1.0
        for name, mod in ext.module.features.named_children():
            h = mod(h) if not isinstance(mod, torch.nn.ReLU) else torch.relu(h)
            if name == cfg.layer:
                return h
        return h

    return run


def dream(mesh: Mesh, config: DreamConfig | None = None, seed: int = 0, *, on_step=None) -> StyleResult:
    """3D DeepDream of ``mesh``: vertices and texture cubes maximise a layer's mean squared activation.

    Args:
        mesh: the input mesh (normalised to radius 1).
        config: :class:`DreamConfig`.
        seed: decides the views.
        on_step: optional ``callback(step, loss)``.

    Returns:
        :class:`~traingen.mesh.style.StyleResult` (``style_losses`` holds ``−mean(a²)`` per step).
    """
    cfg = config or DreamConfig()
    mesh = check_mesh(check_mesh(mesh).welded()).normalized(1.0)  # one vertex per point: no cracks
    act = layer_activation(cfg)
    scfg = StyleConfig(size=cfg.size, views_per_step=cfg.views_per_step, cube_size=cfg.cube_size)
    faces = torch.tensor(mesh.faces)
    edges, _ = _topology(mesh.faces)
    v0 = torch.tensor(mesh.vertices, dtype=torch.float32)
    tex = TextureParam(mesh, scfg)
    offset = torch.zeros_like(v0, requires_grad=True)
    opt = torch.optim.Adam([{"params": [tex.logits], "lr": cfg.lr_texture},
                            {"params": [offset], "lr": cfg.lr_vertices}], betas=(0.5, 0.999))
    gen = torch_generator(seed, "mesh-dream-views")
    res = StyleResult(mesh=mesh)
    for step in range(cfg.steps):
        cams, light = sample_views(cfg.views_per_step, scfg, gen)
        v = v0 + offset
        rgb, _ = render_views(v, faces, tex.attributes(), cams, light, (0.5, 0.5, 0.5), "soft")
        a = -(act(rgb) ** 2).mean()
        loss = a + cfg.lambda_edge * edge_length_variance(v, edges)
        opt.zero_grad()
        loss.backward()
        opt.step()
        res.losses.append(float(loss.detach()))
        res.style_losses.append(float(a.detach()))
        if on_step is not None:
            on_step(step, res.losses[-1])
    res.mesh = result_mesh(mesh, (v0 + offset).detach(), tex)
    return res


def mean_activation(mesh: Mesh, cfg: DreamConfig, *, views: int = 4, view_seed: int = 999) -> float:
    """Mean squared activation of ``cfg.layer`` over held-out views of a textured ``mesh``."""
    from .raster_attributes import Attributes

    scfg = StyleConfig(size=cfg.size)
    cams, light = sample_views(views, scfg, torch_generator(view_seed, "mesh-dream-heldout"))
    with torch.no_grad():
        rgb, _ = render_views(torch.tensor(mesh.vertices, dtype=torch.float32), torch.tensor(mesh.faces),
                              Attributes.from_mesh(mesh), cams, light, (0.5, 0.5, 0.5), "soft")
        return float((layer_activation(cfg)(rgb) ** 2).mean())


__all__ = ["NETWORKS", "DreamConfig", "dream", "layer_activation", "mean_activation"]
