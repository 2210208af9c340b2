"""The one camera of traingen: the domain-randomization renderer and the mesh rasterizer share it.

Conventions (DESIGN §3), held by tests:

- World: right-handed, ``z`` up; the ground plane is ``z = 0``.
- Camera frame: OpenCV axes, ``x`` right, ``y`` down, ``z`` forward; a point is in front of the camera
  when its camera ``z`` (its *linear depth*) is positive. ``X_cam = R @ X_world + t``.
- Pixels: pixel ``(i, j)`` (column ``i``, row ``j``) covers ``[i, i+1) × [j, j+1)``; its centre is
  ``(i + 0.5, j + 0.5)``; the top-left corner of the image is ``(0, 0)``. The default principal point
  is the image centre ``(W/2, H/2)``.
- Projection: ``u = fx·x/z + s·y/z + cx``, ``v = fy·y/z + cy`` in those continuous pixel coordinates.
- OpenGL: :meth:`Camera.gl_projection` ``@`` :meth:`Camera.gl_view` maps a world point to clip space
  so that NDC ``x = -1 / +1`` is the left / right image edge (``u = 0 / W``) and NDC ``y = +1`` is the
  top edge (``v = 0``). A framebuffer read back from OpenGL has its bottom row first: flip it
  (``np.flipud``) and row 0 is the top, matching :meth:`Camera.project`.

The free functions (:func:`look_at_rotation`, :func:`orbit_eye`, :func:`project_points`) work on numpy
arrays and on torch tensors alike (autograd flows through them), so the differentiable rasterizer uses
the same maths as the GL renderer. :class:`Camera` is the numpy record a scene stores and serialises.

Example:
    >>> cam = Camera.orbit(distance=3.0, azimuth_deg=30, elevation_deg=20, fov_y_deg=40,
    ...                    width=256, height=256)
    >>> uv, depth = cam.project([[0.0, 0.0, 0.0]])   # the target projects to the image centre
    >>> uv.round(6).tolist(), round(float(depth[0]), 6)
    ([[128.0, 128.0]], 3.0)

References:
    Hartley & Zisserman, "Multiple View Geometry in Computer Vision", 2nd ed., ch. 6 (the pinhole
    camera ``K[R|t]``). The OpenGL projection from ``K`` follows the usual derivation for intrinsics
    given in pixels with the image origin at the top-left corner.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core.errors import ConfigError

WORLD_UP = (0.0, 0.0, 1.0)


def _is_torch(x: Any) -> bool:
    return type(x).__module__.startswith("torch")


def _normalize(v):
    if _is_torch(v):
        import torch

        return v / torch.linalg.norm(v, dim=-1, keepdim=True)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _cross(a, b):
    if _is_torch(a):
        import torch

        return torch.linalg.cross(a, b, dim=-1)
    return np.cross(a, b)


def _stack_rows(rows):
    if _is_torch(rows[0]):
        import torch

        return torch.stack(rows, dim=-2)
    return np.stack(rows, axis=-2)


def _as_like(value, like):
    if _is_torch(like):
        import torch

        return torch.as_tensor(value, dtype=like.dtype, device=like.device)
    return np.asarray(value, dtype=np.float64)


def look_at_rotation(eye, target, up=WORLD_UP):
    """World→camera rotation (rows: right, down, forward) of a camera at ``eye`` looking at ``target``.

    Args:
        eye, target: 3-vectors (or ``...×3`` batches), numpy or torch.
        up: the world direction that appears upward in the image (default ``+z``). When the view is
            parallel to it, ``+y`` (then ``+x``) is used instead so the frame stays defined.

    Returns:
        ``...×3×3`` rotation ``R`` with ``X_cam = R @ (X_world - eye)``.
    """
    eye = _as_like(eye, eye) if not _is_torch(eye) else eye
    target = _as_like(target, eye)
    forward = _normalize(target - eye)
    up_v = _as_like(up, eye)
    if not _is_torch(forward) and forward.ndim == 1:
        for cand in (up_v, _as_like((0.0, 1.0, 0.0), eye), _as_like((1.0, 0.0, 0.0), eye)):
            if np.linalg.norm(np.cross(forward, cand)) > 1e-9:
                up_v = cand
                break
    right = _normalize(_cross(forward, up_v))
    down = _cross(forward, right)
    return _stack_rows([right, down, forward])


def orbit_eye(distance, azimuth_deg, elevation_deg, target=(0.0, 0.0, 0.0)):
    """Camera position on a sphere around ``target``: azimuth from ``+x`` toward ``+y``, elevation up from the ground.

    Works on python floats, numpy arrays or torch tensors (then differentiable in all three angles).
    """
    if any(_is_torch(v) for v in (distance, azimuth_deg, elevation_deg)):
        import torch

        like = next(v for v in (distance, azimuth_deg, elevation_deg) if _is_torch(v))
        d, az, el = (torch.as_tensor(v, dtype=like.dtype, device=like.device)
                     for v in (distance, azimuth_deg, elevation_deg))
        az, el = torch.deg2rad(az), torch.deg2rad(el)
        off = torch.stack([d * torch.cos(el) * torch.cos(az), d * torch.cos(el) * torch.sin(az),
                           d * torch.sin(el)], dim=-1)
        return off + torch.as_tensor(target, dtype=like.dtype, device=like.device)
    az, el = math.radians(float(azimuth_deg)), math.radians(float(elevation_deg))
    d = float(distance)
    off = np.array([d * math.cos(el) * math.cos(az), d * math.cos(el) * math.sin(az), d * math.sin(el)])
    return off + np.asarray(target, dtype=np.float64)


def euler_camera_rotation(pan_deg: float = 0.0, tilt_deg: float = 0.0, roll_deg: float = 0.0) -> np.ndarray:
    """Rotation applied in the camera frame after look-at: pan about camera ``y``, tilt about ``x``, roll about ``z``.

    A positive pan turns the view to the right, a positive tilt turns it down, a positive roll turns
    the camera clockwise about its view axis (the scene then appears rotated counter-clockwise).
    Returns ``Q`` (3×3) with ``R_new = Q @ R``.
    """
    p, t, r = (math.radians(a) for a in (pan_deg, tilt_deg, roll_deg))
    # A camera turned by an angle about its own axis sees the world rotated the opposite way: Q = rotᵀ.
    pan = np.array([[math.cos(p), 0, math.sin(p)], [0, 1, 0], [-math.sin(p), 0, math.cos(p)]])
    tilt = np.array([[1, 0, 0], [0, math.cos(t), math.sin(t)], [0, -math.sin(t), math.cos(t)]])
    roll = np.array([[math.cos(r), -math.sin(r), 0], [math.sin(r), math.cos(r), 0], [0, 0, 1]])
    return (roll @ tilt @ pan).T


def intrinsics(width: int, height: int, fov_y_deg: float, *, cx: float | None = None,
               cy: float | None = None) -> np.ndarray:
    """Pinhole ``K`` with square pixels, vertical field of view ``fov_y_deg`` and the pixel convention above."""
    if not 0.0 < fov_y_deg < 180.0:
        raise ConfigError(f"fov_y_deg must be in (0, 180), got {fov_y_deg}", where="camera", field="fov_y_deg")
    f = (height / 2.0) / math.tan(math.radians(fov_y_deg) / 2.0)
    return np.array([[f, 0.0, width / 2.0 if cx is None else cx],
                     [0.0, f, height / 2.0 if cy is None else cy],
                     [0.0, 0.0, 1.0]])


def project_points(points, K, R, t):
    """Project world points: returns ``(uv, depth)``, ``uv`` ``N×2`` continuous pixels, ``depth`` = camera ``z``.

    numpy or torch (differentiable in points, K, R and t). Points behind the camera get a negative depth
    and a meaningless ``uv``; callers cull them.
    """
    cam = points @ R.T + t if not _is_torch(points) else points @ R.transpose(-1, -2) + t
    z = cam[..., 2]
    x, y = cam[..., 0] / z, cam[..., 1] / z
    u = K[0, 0] * x + K[0, 1] * y + K[0, 2]
    v = K[1, 1] * y + K[1, 2]
    if _is_torch(points):
        import torch

        return torch.stack([u, v], dim=-1), z
    return np.stack([u, v], axis=-1), z


@dataclass(frozen=True, eq=False)
class Camera:
    """A pinhole camera: intrinsics ``K``, world→camera ``R``, ``t``, image size and clip planes.

    Args:
        K: 3×3 intrinsics in pixels (pixel convention in the module docstring).
        R: 3×3 world→camera rotation (OpenCV axes); t: translation, ``X_cam = R X + t``.
        width, height: image size in pixels.
        near, far: clip distances along the view axis (linear depth), ``0 < near < far``.
    """

    K: np.ndarray
    R: np.ndarray
    t: np.ndarray
    width: int
    height: int
    near: float = 0.05
    far: float = 100.0
    meta: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        for name, shape in (("K", (3, 3)), ("R", (3, 3)), ("t", (3,))):
            arr = np.asarray(getattr(self, name), dtype=np.float64)
            if arr.shape != shape or not np.all(np.isfinite(arr)):
                raise ConfigError(f"{name} must be a finite array of shape {shape}, got {arr.shape}",
                                  where="camera", field=name)
            object.__setattr__(self, name, arr)
        if not 0 < self.near < self.far:
            raise ConfigError(f"need 0 < near < far, got near={self.near}, far={self.far}",
                              where="camera", field="near")
        if int(self.width) < 1 or int(self.height) < 1:
            raise ConfigError(f"image size must be positive, got {self.width}×{self.height}",
                              where="camera", field="width")

    # ------------------------------------------------------------------ constructors
    @classmethod
    def look_at(cls, eye, target=(0.0, 0.0, 0.0), up=WORLD_UP, *, fov_y_deg: float = 40.0, width: int = 256,
                height: int = 256, near: float = 0.05, far: float = 100.0, pan_deg: float = 0.0,
                tilt_deg: float = 0.0, roll_deg: float = 0.0) -> Camera:
        """A camera at ``eye`` looking at ``target``, then panned, tilted and rolled in its own frame."""
        eye = np.asarray(eye, dtype=np.float64)
        R = euler_camera_rotation(pan_deg, tilt_deg, roll_deg) @ look_at_rotation(eye, target, up)
        return cls(intrinsics(width, height, fov_y_deg), R, -R @ eye, int(width), int(height), near, far,
                   meta={"eye": eye.tolist(), "target": list(map(float, target)), "fov_y_deg": fov_y_deg,
                         "pan_deg": pan_deg, "tilt_deg": tilt_deg, "roll_deg": roll_deg})

    @classmethod
    def orbit(cls, distance: float, azimuth_deg: float, elevation_deg: float, target=(0.0, 0.0, 0.0), **kw) -> Camera:
        """A look-at camera on a sphere of radius ``distance`` around ``target`` (see :func:`orbit_eye`)."""
        cam = cls.look_at(orbit_eye(distance, azimuth_deg, elevation_deg, target), target, **kw)
        cam.meta.update(distance=float(distance), azimuth_deg=float(azimuth_deg),
                        elevation_deg=float(elevation_deg))
        return cam

    # ------------------------------------------------------------------ geometry
    @property
    def eye(self) -> np.ndarray:
        """The camera centre in world coordinates."""
        return -self.R.T @ self.t

    def world_to_camera(self, points) -> np.ndarray:
        return np.asarray(points, dtype=np.float64) @ self.R.T + self.t

    def project(self, points) -> tuple[np.ndarray, np.ndarray]:
        """``(uv, depth)`` of world points (see :func:`project_points`)."""
        return project_points(np.asarray(points, dtype=np.float64).reshape(-1, 3), self.K, self.R, self.t)

    def view_matrix(self) -> np.ndarray:
        """4×4 world→camera (OpenCV axes)."""
        m = np.eye(4)
        m[:3, :3], m[:3, 3] = self.R, self.t
        return m

    def projection_matrix(self) -> np.ndarray:
        """3×4 ``P = K [R | t]`` (the KITTI ``P2`` calibration row layout)."""
        return self.K @ np.hstack([self.R, self.t[:, None]])

    # ------------------------------------------------------------------ OpenGL
    def gl_view(self) -> np.ndarray:
        """4×4 world→OpenGL eye space (``x`` right, ``y`` up, ``z`` backward)."""
        return np.diag([1.0, -1.0, -1.0, 1.0]) @ self.view_matrix()

    def gl_projection(self) -> np.ndarray:
        """4×4 OpenGL clip matrix equivalent to ``K`` (NDC ``y = +1`` at the top image edge)."""
        W, H, n, f = float(self.width), float(self.height), self.near, self.far
        fx, s, cx = self.K[0]
        fy, cy = self.K[1, 1], self.K[1, 2]
        return np.array([
            [2 * fx / W, -2 * s / W, 1 - 2 * cx / W, 0.0],
            [0.0, 2 * fy / H, 2 * cy / H - 1, 0.0],
            [0.0, 0.0, -(f + n) / (f - n), -2 * f * n / (f - n)],
            [0.0, 0.0, -1.0, 0.0],
        ])

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict[str, Any]:
        return {"K": self.K.tolist(), "R": self.R.tolist(), "t": self.t.tolist(), "width": int(self.width),
                "height": int(self.height), "near": float(self.near), "far": float(self.far),
                "meta": dict(self.meta)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Camera:
        known = {"K", "R", "t", "width", "height", "near", "far", "meta"}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"unknown camera keys {unknown}; known: {sorted(known)}", where="camera",
                              field=unknown[0])
        return cls(np.asarray(d["K"]), np.asarray(d["R"]), np.asarray(d["t"]), int(d["width"]),
                   int(d["height"]), float(d.get("near", 0.05)), float(d.get("far", 100.0)),
                   meta=dict(d.get("meta", {})))
