"""Retrieval and pose for texture transfer: which collection model is in the photo, and from where.

Wang et al. (2016) align every photo to every model of a part-labelled collection before anything
else. Their learned predictors are replaced here by optimisation through our rasterizer:

1. **Pose grid.** Each model is rendered (hard silhouette, ``grid_size`` px) from a grid of azimuths ×
   elevations at a fixed distance. Rendered and photo silhouettes are compared after normalising
   their bounding boxes (a square crop around the box, side = the larger box side, resized to 32 px),
   so that the grid needs no distance or image offset; the score is the IoU of those crops.
2. **Initial camera.** The best grid poses get a distance from the ratio of apparent sizes and a
   look-at target shifted by the offset between the two box centres.
3. **Gradient refinement** of the camera (azimuth, elevation, log distance, target) and of a per-part,
   per-axis log scale (parts scaled about the model's box centre, pulled toward their common mean),
   minimising ``1 − soft IoU`` between the Soft-Rasterizer alpha (back faces culled, σ annealed from
   ``sigma`` to ``sigma_final``) and the mask with Adam.
4. **Retrieval**: the model and start with the highest final hard-silhouette IoU.
5. **Photometric refinement** (:func:`refine_photometric`, called by
   :mod:`traingen.mesh.texture_transfer` once a first albedo exists): the same variables, on the
   masked photo against a Soft-Rasterizer re-render of the model textured with that albedo and lit by the
   fitted light, plus the soft IoU. The silhouette alone leaves free the directions that move only
   edges inside the outline — a cup's elevation against its height shows in the rim ellipse — and the
   re-render sees those edges through the shading jump there.

The photo's vertical field of view is an input (``fov_y_deg``); the camera looks at ``target`` from
``Camera.orbit(distance, azimuth, elevation)`` (``+z`` up), the camera of the rest of the project.

Example:
    >>> from traingen.mesh.procedural import family_member
    >>> cfg = PoseConfig(steps=2, azimuths=4, elevations=(20.0,))
    >>> m = family_member("cup")
    >>> cam = Pose(30.0, 20.0, 3.0, tuple(m.vertices.mean(0))).camera(64, 64, 40.0)
    >>> mask = silhouette(m, cam)
    >>> fit = align(mask, [m], cfg)
    >>> fit.model_index
    0

References:
    Wang, Su, Huang, Huang, Guibas & Mitra, "Unsupervised Texture Transfer from Images to Model
    Collections", SIGGRAPH Asia 2016. Liu, Li, Chen & Li, "Soft Rasterizer", ICCV 2019.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from ..core.config import require_at_least_one
from ..core.errors import ConfigError, DataError
from ..render.camera import Camera, intrinsics, look_at_rotation, orbit_eye
from .mesh import Mesh
from .raster import Attributes, Cameras, Lighting, RasterSettings, rasterize


@dataclass
class PoseConfig:
    """Pose search settings (defaults sized for 2 CPU cores)."""

    fov_y_deg: float = 40.0
    azimuths: int = 36
    elevations: tuple[float, ...] = (0.0, 15.0, 30.0, 45.0)
    grid_size: int = 48
    refine_size: int = 96
    starts: int = 3
    steps: int = 60
    lr: float = 0.02
    sigma: float = 3e-4
    sigma_final: float = 3e-5
    cull_backfaces: bool = True
    lambda_scale: float = 1.0
    part_scale: bool = True
    photo_steps: int = 30
    photo_lr: float = 0.005
    photo_size: int = 128
    photo_weight: float = 10.0

    def __post_init__(self) -> None:
        if not 0 < self.fov_y_deg < 170:
            raise ConfigError(f"fov_y_deg must be in (0, 170), got {self.fov_y_deg}", where="texture-transfer",
                              field="fov_y_deg")
        require_at_least_one(self, ("azimuths", "grid_size", "refine_size", "starts"), where="texture-transfer")
        for name in ("steps", "photo_steps"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0", where="texture-transfer", field=name)
        if self.photo_size < 8:
            raise ConfigError("photo_size must be >= 8", where="texture-transfer", field="photo_size")


@dataclass
class Pose:
    """An orbit camera around ``target`` plus per-part scales (part name -> 3 factors)."""

    azimuth: float
    elevation: float
    distance: float
    target: tuple[float, float, float]
    scales: dict[str, tuple[float, float, float]] = field(default_factory=dict)

    def camera(self, width: int, height: int, fov_y_deg: float) -> Camera:
        return Camera.orbit(self.distance, self.azimuth, self.elevation, target=self.target, width=width,
                            height=height, fov_y_deg=fov_y_deg)

    def to_dict(self) -> dict:
        return {"azimuth": self.azimuth, "elevation": self.elevation, "distance": self.distance,
                "target": list(self.target), "scales": {k: list(v) for k, v in self.scales.items()}}


@dataclass
class Alignment:
    """The retrieved model, its pose, the scaled model and the silhouette IoU."""

    model_index: int
    pose: Pose
    mesh: Mesh
    iou: float
    grid_iou: float
    losses: list[float] = field(default_factory=list)
    photo_losses: list[float] = field(default_factory=list)


def scale_parts(mesh: Mesh, scales: dict[str, tuple[float, float, float]]) -> Mesh:
    """A copy of ``mesh`` with each part's vertices scaled per axis about the model's box centre."""
    from dataclasses import replace

    if not scales:
        return mesh
    centre = mesh.bounds().mean(0)
    v = mesh.vertices.copy()
    for name, s in scales.items():
        idx = np.unique(mesh.faces[mesh.part_mask(name)])
        v[idx] = centre + (mesh.vertices[idx] - centre) * np.asarray(s, dtype=np.float64)
    return replace(mesh, vertices=v)


def silhouette(mesh: Mesh, camera: Camera) -> np.ndarray:
    """Hard silhouette (H×W float32 in {0, 1}) of ``mesh`` seen by ``camera``."""
    out = rasterize(torch.tensor(mesh.vertices, dtype=torch.float32), torch.tensor(mesh.faces), camera, mode="hard")
    return out.alpha[0, 0].numpy()


def _box_crop(mask: np.ndarray, size: int = 32) -> tuple[np.ndarray, tuple[float, float, float]]:
    """Square crop of side max(box) around the mask's box, resized to ``size``; and (cx, cy, side)."""
    import cv2

    ys, xs = np.nonzero(mask > 0.5)
    if len(xs) == 0:
        return np.zeros((size, size), np.float32), (0.0, 0.0, 0.0)
    x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    side = float(max(x1 - x0, y1 - y0))
    cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0
    scale = size / side
    M = np.array([[scale, 0, size / 2 - cx * scale], [0, scale, size / 2 - cy * scale]], np.float64)
    crop = cv2.warpAffine(mask.astype(np.float32), M, (size, size), flags=cv2.INTER_AREA)
    return crop, (cx, cy, side)


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two masks thresholded at 0.5."""
    a, b = a > 0.5, b > 0.5
    return float((a & b).sum() / max((a | b).sum(), 1))


def grid_search(mask: np.ndarray, mesh: Mesh, cfg: PoseConfig) -> list[tuple[float, Pose]]:
    """Score the pose grid for one model; return ``(iou, initial pose)`` best first (``cfg.starts``)."""
    H, W = mask.shape
    centre = mesh.bounds().mean(0)
    radius = float(np.linalg.norm(mesh.vertices - centre, axis=1).max())
    d0 = 1.15 * radius / math.sin(math.radians(cfg.fov_y_deg) / 2)
    photo_crop, (pcx, pcy, pside) = _box_crop(mask)
    if pside == 0:
        raise DataError("the photo's mask is empty", where="texture-transfer", field="mask")
    s = cfg.grid_size
    cams = [Camera.orbit(d0, 360.0 * a / cfg.azimuths, el, target=tuple(centre), width=s, height=s,
                         fov_y_deg=cfg.fov_y_deg) for el in cfg.elevations for a in range(cfg.azimuths)]
    out = rasterize(torch.tensor(mesh.vertices, dtype=torch.float32), torch.tensor(mesh.faces), cams, mode="hard")
    scored = []
    for cam, sil in zip(cams, out.alpha[:, 0].numpy(), strict=True):
        crop, (rcx, rcy, rside) = _box_crop(sil)
        if rside == 0:
            continue
        dist = d0 * (rside / s) / (pside / H)
        # Shift the target so that the model's box centre lands on the photo's box centre.
        f = intrinsics(W, H, cfg.fov_y_deg)[1, 1]
        want = np.array([pcx - W / 2, pcy - H / 2])
        have = np.array([rcx - s / 2, rcy - s / 2]) * pside / rside  # the render's offset at ``dist``
        shift_px = want - have
        R = cam.R
        target = centre - R.T @ np.array([shift_px[0] * dist / f, shift_px[1] * dist / f, 0.0])
        pose = Pose(cam.meta["azimuth_deg"], cam.meta["elevation_deg"], float(dist), tuple(map(float, target)))
        scored.append((mask_iou(crop, photo_crop), pose))
    scored.sort(key=lambda p: -p[0])
    return scored[: cfg.starts]


def cameras_from_params(az, el, log_d, target, W: int, H: int, fov_y_deg: float) -> Cameras:
    """Differentiable one-view :class:`Cameras` from orbit parameters (degrees, log distance)."""
    eye = orbit_eye(torch.exp(log_d), az, el, target)
    R = look_at_rotation(eye, target)
    t = -(R @ eye)
    K = torch.as_tensor(intrinsics(W, H, fov_y_deg), dtype=az.dtype)
    return Cameras(K[None], R[None], t[None], W, H)


class _PoseVariables:
    """The refined quantities: orbit camera (azimuth, elevation in degrees, log distance, target) and a
    per-part, per-axis log scale about the model's box centre, started from ``start`` (and its scales)."""

    def __init__(self, mesh: Mesh, start: Pose, part_scale: bool, dt=torch.float32):
        self.az = torch.tensor(float(start.azimuth), dtype=dt, requires_grad=True)
        self.el = torch.tensor(float(start.elevation), dtype=dt, requires_grad=True)
        self.log_d = torch.tensor(math.log(start.distance), dtype=dt, requires_grad=True)
        self.tgt = torch.tensor(start.target, dtype=dt, requires_grad=True)
        self.parts = list(mesh.part_names) if (part_scale and mesh.face_parts is not None) else []
        init = [np.log(start.scales.get(p, (1.0, 1.0, 1.0))) for p in self.parts]
        self.log_s = torch.tensor(np.reshape(init, (len(self.parts), 3)), dtype=dt).requires_grad_(True)
        self.verts0 = torch.tensor(mesh.vertices, dtype=dt)
        self.centre = self.verts0.new_tensor(mesh.bounds().mean(0))
        self.owner = torch.zeros(len(mesh.vertices), dtype=torch.int64)
        for i, _ in enumerate(self.parts):
            self.owner[torch.tensor(np.unique(mesh.faces[mesh.face_parts == i]))] = i
        self.faces = torch.tensor(mesh.faces)

    def optimizer(self, lr: float) -> torch.optim.Adam:
        # Angles move in degrees: a larger step for them than for the distance and the target.
        return torch.optim.Adam([{"params": [self.az, self.el], "lr": lr * 60},
                                 {"params": [self.log_d, self.tgt, self.log_s], "lr": lr}], betas=(0.9, 0.99))

    def vertices(self) -> torch.Tensor:
        scale = torch.exp(self.log_s)[self.owner] if self.parts else 1.0
        return self.centre + (self.verts0 - self.centre) * scale

    def cameras(self, w: int, h: int, fov_y_deg: float) -> Cameras:
        return cameras_from_params(self.az, self.el, self.log_d, self.tgt, w, h, fov_y_deg)

    def scale_penalty(self) -> torch.Tensor:
        """Parts pulled toward their common mean log scale."""
        if not self.parts:
            return self.log_s.new_zeros(())
        return ((self.log_s - self.log_s.mean(0, keepdim=True)) ** 2).sum()

    def clamp_(self) -> None:
        with torch.no_grad():
            self.el.clamp_(-89.0, 89.0)

    def pose(self) -> Pose:
        scales = {p: tuple(float(x) for x in torch.exp(self.log_s[i]).detach()) for i, p in enumerate(self.parts)}
        return Pose(float(self.az.detach()) % 360.0, float(self.el.detach()), float(torch.exp(self.log_d).detach()),
                    tuple(float(x) for x in self.tgt.detach()), scales)


def _soft_iou_loss(alpha: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    inter = (alpha * target).sum()
    union = (alpha + target - alpha * target).sum().clamp(min=1e-6)
    return 1 - inter / union


def _resized(img: np.ndarray, size: int) -> np.ndarray:
    import cv2

    H, W = img.shape[:2]
    k = size / max(H, W)
    h, w = max(8, round(H * k)), max(8, round(W * k))
    if (h, w) == (H, W):
        return img.astype(np.float32)
    return cv2.resize(img.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA)


def refine(mask: np.ndarray, mesh: Mesh, start: Pose, cfg: PoseConfig) -> tuple[Pose, list[float]]:
    """Adam on camera and per-part scales to maximise the soft IoU with ``mask`` (see module doc)."""
    target_mask = torch.tensor(_resized(mask, cfg.refine_size))
    h, w = target_mask.shape
    var = _PoseVariables(mesh, start, cfg.part_scale)
    opt = var.optimizer(cfg.lr)
    losses = []
    for step in range(cfg.steps):
        # Anneal σ geometrically: a wide basin first, then a sharp silhouette (soft alpha aggregates the
        # layers behind the edge, which fattens the silhouette while σ is large).
        frac = step / max(cfg.steps - 1, 1)
        settings = RasterSettings(sigma=cfg.sigma * (cfg.sigma_final / cfg.sigma) ** frac,
                                  cull_backfaces=cfg.cull_backfaces)
        alpha = rasterize(var.vertices(), var.faces, var.cameras(w, h, cfg.fov_y_deg), settings=settings).alpha[0, 0]
        loss = _soft_iou_loss(alpha, target_mask) + cfg.lambda_scale * var.scale_penalty()
        opt.zero_grad()
        loss.backward()
        opt.step()
        var.clamp_()
        losses.append(float(loss.detach()))
    return var.pose(), losses


def refine_photometric(image: np.ndarray, mask: np.ndarray, mesh: Mesh, start: Pose, attributes: Attributes,
                       lighting: Lighting, cfg: PoseConfig) -> tuple[Pose, list[float]]:
    """Refine a pose on the photo's colours: the aligned model, textured with the current albedo estimate
    and lit by the fitted light, is re-rendered (Soft Rasterizer, σ = ``sigma_final``) and compared with
    the masked photo.

    The silhouette leaves directions that change only the inside of the outline free (e.g. a cup's
    elevation against its height: the rim ellipse lies inside the silhouette); the re-render sees them
    through the shading, which jumps where the normal does (rim, handle, inner wall).

    Args:
        image: H×W×3 photo in [0, 1]; ``mask`` its H×W object mask.
        mesh: the unscaled collection model; ``start`` the pose (with part scales) to refine.
        attributes: the model's colour source (a UV texture from the current albedo estimate).
        lighting: the fitted light.
        cfg: ``photo_steps``, ``photo_lr``, ``photo_size``, ``photo_weight``, ``sigma_final``.

    Returns:
        The refined pose and the loss per step: ``photo_weight``·masked MSE + (1 − soft IoU) + the scale
        penalty.
    """
    photo = _resized(np.asarray(image, np.float64) * (np.asarray(mask) > 0.5)[..., None], cfg.photo_size)
    target_rgb = torch.tensor(photo).permute(2, 0, 1)
    target_mask = torch.tensor(_resized(mask, cfg.photo_size))
    h, w = target_mask.shape
    n_on = float(target_mask.sum().clamp(min=1.0))
    var = _PoseVariables(mesh, start, cfg.part_scale)
    opt = var.optimizer(cfg.photo_lr)
    settings = RasterSettings(sigma=cfg.sigma_final)
    losses = []
    for _ in range(cfg.photo_steps):
        out = rasterize(var.vertices(), var.faces, var.cameras(w, h, cfg.fov_y_deg), attributes=attributes,
                        lighting=lighting, settings=settings)
        mse = ((out.rgb[0] - target_rgb) ** 2).sum() / (3 * n_on)
        loss = cfg.photo_weight * mse + _soft_iou_loss(out.alpha[0, 0], target_mask)
        loss = loss + cfg.lambda_scale * var.scale_penalty()
        opt.zero_grad()
        loss.backward()
        opt.step()
        var.clamp_()
        losses.append(float(loss.detach()))
    return var.pose(), losses


def align(mask: np.ndarray, collection: list[Mesh], cfg: PoseConfig | None = None) -> Alignment:
    """Retrieve the collection model that best explains ``mask`` and its pose (see module doc).

    Args:
        mask: H×W silhouette of the object in the photo (values in [0, 1]).
        collection: part-labelled models.
        cfg: search settings.

    Returns:
        :class:`Alignment` with the model index, the refined pose, the part-scaled model and its hard IoU.
    """
    cfg = cfg or PoseConfig()
    if not collection:
        raise DataError("the model collection is empty", where="texture-transfer", field="collection")
    H, W = mask.shape
    cands = []
    for i, m in enumerate(collection):
        cands += [(iou, i, p) for iou, p in grid_search(mask, m, cfg)]
    cands.sort(key=lambda c: (-c[0], c[1]))
    best = None
    for grid_iou, i, start in cands[: cfg.starts]:
        pose, losses = refine(mask, collection[i], start, cfg)
        scaled = scale_parts(collection[i], pose.scales)
        iou = mask_iou(silhouette(scaled, pose.camera(W, H, cfg.fov_y_deg)), mask)
        if best is None or iou > best.iou:
            best = Alignment(i, pose, scaled, iou, grid_iou, losses)
    assert best is not None
    return best


def view_angle_error(a: Pose, b: Pose) -> float:
    """Angle in degrees between the viewing directions (azimuth/elevation) of two poses."""
    ea = orbit_eye(1.0, a.azimuth, a.elevation)
    eb = orbit_eye(1.0, b.azimuth, b.elevation)
    return float(np.degrees(np.arccos(np.clip(ea @ eb, -1.0, 1.0))))
