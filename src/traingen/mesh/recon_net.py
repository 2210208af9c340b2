"""Kato's single-image mesh reconstruction network, trained from silhouettes only.

An encoder reads one silhouette (1×S×S) and predicts per-vertex offsets of a 642-vertex sphere
template plus a centroid; the mesh is ``template + 0.1·offsets + 0.2·tanh(centroid)``. Training needs
no 3D supervision: the predicted mesh is rendered (soft rasterizer) from the input view and from a
second view of the same object, and

``L = Σ_views (1 − IoU_soft(render, silhouette)) + λ_smooth · Σ_edges (1 − cos θ_e)²``

where ``θ_e`` is the dihedral angle between the faces meeting at edge ``e`` (Kato's smoothness
term). The training collection is procedural: members of the part-labelled families
(:mod:`traingen.mesh.procedural`), normalised to radius 1 and rendered at ``size`` pixels from
``views`` azimuths (24 by default) at a fixed elevation, as in Kato's ShapeNet setup. The encoder's
widths are configurable, so a small model trains on 2 CPU cores.

Training is deterministic: the batch of every step comes from ``(seed, step)``, the model from
``seed``, and a checkpoint (model + Adam + step + losses, safetensors) resumes a run exactly.

Example:
    >>> cfg = ReconConfig(size=16, views=4, objects=2, widths=(4, 8), hidden=16, steps=2, subdivisions=1)
    >>> run = train(cfg)
    >>> len(run.losses)
    2

References:
    Kato, Ushiku & Harada, "Neural 3D Mesh Renderer", CVPR 2018, arXiv 1711.07566 (§4.1
    single-image 3D reconstruction: sphere template, two-view silhouette IoU, smoothness loss).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..core.checkpoint import load_checkpoint, save_checkpoint
from ..core.config import require_at_least_one
from ..core.errors import CheckpointError, ConfigError
from ..core.seeding import numpy_rng, torch_generator
from ..render.camera import Camera
from .fit import _topology, flatten_loss, soft_iou
from .mesh import Mesh
from .procedural import FAMILIES, family_member, icosphere
from .raster import RasterSettings, rasterize


@dataclass
class ReconConfig:
    """Reconstruction-network settings (small CPU defaults)."""

    size: int = 64
    views: int = 24
    elevation: float = 30.0
    distance: float = 2.732
    fov_y_deg: float = 60.0
    families: tuple[str, ...] = ("cup", "bottle", "vase", "rocket", "blob")
    objects: int = 20
    widths: tuple[int, ...] = (16, 32, 64)
    hidden: int = 256
    subdivisions: int = 3
    template_radius: float = 0.5
    steps: int = 50
    batch: int = 8
    lr: float = 1e-3
    lambda_smooth: float = 1e-3
    sigma: float = 1e-4
    seed: int = 0

    def __post_init__(self) -> None:
        self.families = tuple(self.families)
        self.widths = tuple(int(w) for w in self.widths)
        require_at_least_one(self, ("size", "views", "objects", "hidden", "batch", "steps"), where="mesh reconstruct")
        unknown = [f for f in self.families if f not in FAMILIES]
        if unknown or not self.families:
            raise ConfigError(f"unknown families {unknown}; known: {', '.join(FAMILIES)}", where="mesh reconstruct",
                              field="families")
        if not self.widths or self.size % (2 ** len(self.widths)):
            raise ConfigError(f"size {self.size} must be divisible by 2^{len(self.widths)} (one stride-2 conv "
                              "per width)", where="mesh reconstruct", field="widths")


class ReconNet(nn.Module):
    """Encoder (stride-2 convs, ``widths``) → FC ``hidden`` → per-vertex offsets (V×3) + centroid (3)."""

    def __init__(self, cfg: ReconConfig):
        super().__init__()
        layers, c = [], 1
        for w in cfg.widths:
            layers += [nn.Conv2d(c, w, 5, stride=2, padding=2), nn.ReLU()]
            c = w
        self.encoder = nn.Sequential(*layers, nn.Flatten())
        feat = c * (cfg.size // 2 ** len(cfg.widths)) ** 2
        template = icosphere(cfg.subdivisions, cfg.template_radius)
        self.register_buffer("template", torch.tensor(template.vertices, dtype=torch.float32))
        self.register_buffer("faces", torch.tensor(template.faces))
        self.fc = nn.Sequential(nn.Linear(feat, cfg.hidden), nn.ReLU(), nn.Linear(cfg.hidden, cfg.hidden), nn.ReLU())
        self.head = nn.Linear(cfg.hidden, 3 * len(template.vertices) + 3)

    def forward(self, silhouettes: torch.Tensor) -> torch.Tensor:
        """N×1×S×S silhouettes in [0, 1] → N×V×3 vertices."""
        out = self.head(self.fc(self.encoder(silhouettes)))
        offsets = out[:, :-3].reshape(len(out), -1, 3)
        return self.template + 0.1 * offsets + 0.2 * torch.tanh(out[:, -3:]).unsqueeze(1)


def init_model(cfg: ReconConfig) -> ReconNet:
    """The network with weights drawn from ``cfg.seed`` (no global RNG); the head starts near zero."""
    net = ReconNet(cfg)
    g = torch_generator(cfg.seed, "recon-net-init")
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                bound = (1.0 / m.weight[0].numel()) ** 0.5
                m.weight.uniform_(-bound, bound, generator=g)
                m.bias.zero_()
        net.head.weight.mul_(0.01)
    return net


def view_cameras(cfg: ReconConfig) -> list[Camera]:
    """The ``views`` cameras of the collection: evenly spaced azimuths at ``elevation``."""
    return [Camera.orbit(cfg.distance, 360.0 * k / cfg.views, cfg.elevation, width=cfg.size, height=cfg.size,
                         fov_y_deg=cfg.fov_y_deg) for k in range(cfg.views)]


def collection_meshes(cfg: ReconConfig, *, offset: int = 0) -> list[Mesh]:
    """``objects`` procedural members, families cycled, member ``k`` drawn from ``(seed, family, k)``."""
    out = []
    for k in range(offset, offset + cfg.objects):
        fam = cfg.families[k % len(cfg.families)]
        out.append(family_member(fam, numpy_rng(cfg.seed, "recon-collection", fam, k)).normalized(1.0))
    return out


def render_collection(meshes: list[Mesh], cfg: ReconConfig) -> torch.Tensor:
    """Hard silhouettes, objects × views × 1 × S × S (float 0/1)."""
    cams = view_cameras(cfg)
    sil = [rasterize(torch.tensor(m.vertices, dtype=torch.float32), torch.tensor(m.faces), cams, mode="hard").alpha
           for m in meshes]
    return torch.stack(sil).detach()


@dataclass
class TrainRun:
    """A trained (or training) network with its loss history."""

    model: ReconNet
    config: ReconConfig
    losses: list[float] = field(default_factory=list)
    step: int = 0
    optimizer: torch.optim.Optimizer | None = None


def _ckpt(out: Path) -> Path:
    return out / "checkpoint"


def train(cfg: ReconConfig, out: str | os.PathLike | None = None, *, silhouettes: torch.Tensor | None = None,
          resume: bool = True, checkpoint_every: int = 25, on_step=None) -> TrainRun:
    """Train the network; with ``out``, checkpoint there every ``checkpoint_every`` steps and at the end.

    Args:
        cfg: :class:`ReconConfig`.
        out: run folder (``checkpoint.safetensors``/``.json``); an existing checkpoint is resumed.
        silhouettes: objects × views × 1 × S × S training silhouettes (default: the procedural collection).
        resume: resume from ``out``'s checkpoint when there is one.
        on_step: optional ``callback(step, loss)``.

    Returns:
        :class:`TrainRun`.
    """
    sil = render_collection(collection_meshes(cfg), cfg) if silhouettes is None else silhouettes
    cams = view_cameras(cfg)
    net = init_model(cfg)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    run = TrainRun(net, cfg, optimizer=opt)
    if out is not None and resume and _ckpt(Path(out)).with_suffix(".json").is_file():
        tree, state = load_checkpoint(_ckpt(Path(out)))
        if _same(state.get("config", {})) != _same(_plain(cfg)):
            raise CheckpointError("the checkpoint was written with another config", where=str(out), field="config")
        net.load_state_dict(tree["model"])
        opt.load_state_dict(tree["opt"])
        run.step, run.losses = int(state["step"]), list(state["losses"])
    _, pairs = _topology(net.faces.numpy())
    settings = RasterSettings(sigma=cfg.sigma)
    n_obj, n_views = sil.shape[0], sil.shape[1]
    while run.step < cfg.steps:
        g = torch_generator(cfg.seed, "recon-batch", run.step)
        obj = torch.randint(n_obj, (cfg.batch,), generator=g)
        va = torch.randint(n_views, (cfg.batch,), generator=g)
        vb = (va + torch.randint(1, n_views, (cfg.batch,), generator=g)) % n_views if n_views > 1 else va
        x = sil[obj, va]
        v = net(x)
        both = torch.cat([v, v])
        out_r = rasterize(both, net.faces, [cams[i] for i in torch.cat([va, vb]).tolist()], settings=settings)
        target = torch.cat([x, sil[obj, vb]])
        iou = soft_iou(out_r.alpha, target)
        smooth = sum(flatten_loss(v[b], net.faces, pairs) for b in range(len(v))) / len(v)
        loss = 2 * (1 - iou) + cfg.lambda_smooth * smooth
        opt.zero_grad()
        loss.backward()
        opt.step()
        run.step += 1
        run.losses.append(float(loss.detach()))
        if on_step is not None:
            on_step(run.step, run.losses[-1])
        if out is not None and (run.step % checkpoint_every == 0 or run.step == cfg.steps):
            save(run, out)
    return run


def _plain(cfg: ReconConfig) -> dict:
    import json

    return json.loads(json.dumps(asdict(cfg)))


def _same(cfg: dict) -> dict:
    return {k: v for k, v in cfg.items() if k != "steps"}  # a run may be continued to more steps


def save(run: TrainRun, out: str | os.PathLike) -> Path:
    """Checkpoint ``run`` (model, Adam state, step, losses, config) into ``out/checkpoint.*``."""
    opt = run.optimizer.state_dict() if run.optimizer is not None else {}
    return save_checkpoint(_ckpt(Path(out)), {"model": run.model.state_dict(), "opt": opt},
                           {"step": run.step, "losses": run.losses, "config": _plain(run.config)})


def load_model(out: str | os.PathLike) -> tuple[ReconNet, ReconConfig]:
    """The trained network and its config from a run folder."""
    tree, state = load_checkpoint(_ckpt(Path(out)))
    cfg = ReconConfig(**state["config"])
    net = ReconNet(cfg)
    net.load_state_dict(tree["model"])
    net.eval()
    return net, cfg


def predict(net: ReconNet, silhouette: np.ndarray) -> Mesh:
    """The mesh predicted from one silhouette (S×S, values in [0, 1], the network's input size)."""
    x = torch.as_tensor(np.asarray(silhouette, dtype=np.float32))[None, None]
    with torch.no_grad():
        v = net(x)[0]
    return Mesh(v.numpy().astype(np.float64), net.faces.numpy().copy(), name="reconstruction")
