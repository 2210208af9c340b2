"""Optional Blender Cycles backend: the same randomized scene path-traced through the ``bpy`` package.

The GL renderer (:mod:`traingen.render.gl`) stays the source of every label: instance ids, depth and the
truncation / occlusion counts come from its exact, non-antialiased targets. With ``renderer.backend:
blender`` in the scene file, :class:`BlenderRenderer` renders the *colour* image of the same draw with
Cycles on the CPU -- the same meshes (their normals and UVs), camera, texture layers and UV transforms,
tints, point lights and ambient term -- and the job swaps it into the frame. Shadows, inter-reflections
and antialiasing are what Cycles adds.

Exact conversions (pure functions, tested without ``bpy``):

- Camera (:func:`blender_camera`): Blender's camera looks down its local ``-z`` with ``+y`` up, the axes of
  :meth:`Camera.gl_view`, so its world matrix is ``gl_view⁻¹``. With ``sensor_fit = VERTICAL`` the
  view-plane spans ``sensor_height`` over the image height, so ``lens / sensor_height = fy / H``; the
  lens shift is measured in image heights: ``shift_x = (W/2 - cx) / H``, ``shift_y = (cy - H/2) / H``.
  Cycles puts raster pixel ``(i, j)`` on ``[i, i+1) × [j, j+1)`` from the bottom-left; the saved image
  has its top row first, which is the DESIGN §3 convention.
- Lights (:func:`point_light`): GL lights a surface with ``albedo · c · cosθ / (1 + 0.002 d²)``; a Cycles
  point light of power ``P`` watts gives ``albedo · P · cosθ / (4π² d²)``. The power is chosen so both
  agree at the scene centre (the world origin), where the objects stand.
- Ambient: a uniform world colour ``a`` lights an unoccluded diffuse surface to ``albedo · a``, GL's
  ambient term (Cycles also occludes it).
- Background (:func:`background_image`): GL draws a screen-space texture behind everything; Cycles renders
  with a transparent film and the same texture is composited behind its alpha (:func:`composite`).

Colour: texture bytes are read as linear values ("Non-Color") and the film is written with the "Raw" view
transform, the pipeline the GL shader uses, so the two backends differ in light transport, not in tone.

``bpy`` is GPL-3 and Python 3.11 only: it is the optional ``[blender]`` extra, imported only when the
backend is chosen (:func:`import_bpy` names the install command when it is absent).

Example:
    >>> from traingen.render.camera import Camera
    >>> bc = blender_camera(Camera.orbit(4.0, 30, 20, width=64, height=48))
    >>> round(bc.lens / bc.sensor_height * 48, 6), bc.shift_x, bc.shift_y    # fy in pixels, centred
    (65.939458, 0.0, 0.0)
    >>> cfg = scene_from_dict({"version": 1, "renderer": {"backend": "blender", "samples": 4}})  # doctest: +SKIP
    >>> run_render("out/cycles", n=8, scene=cfg)   # needs bpy (blender_scene.BlenderRenderer)  # doctest: +SKIP

References:
    Blender Foundation, "Cycles" (Blender 4.5 manual: Render > Cycles; camera sensor fit and shift;
    light power in watts). Pharr, Jakob & Humphreys, "Physically Based Rendering", 3rd ed., §12.2
    (point-light irradiance ``I cosθ / d²``) and §8.3 (Lambertian BRDF ``albedo / π``).
    Tremblay et al. 2018 (arXiv 1804.06516) render their domain-randomized scenes with a game engine; the
    path-traced backend is the "higher fidelity" option of the issue.
"""

from __future__ import annotations

import math
import os
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from ..core.errors import ConfigError, TraingenError
from .camera import Camera

MAX_LIGHTS = 12
#: GL's light fall-off ``1 / (1 + GL_FALLOFF · d²)`` (see the scene shader in :mod:`traingen.render.gl`).
GL_FALLOFF = 0.002
INSTALL_HINT = ("the blender backend needs the bpy package: pip install 'traingen[blender]' "
                "(Python 3.11 only, ~370 MB, GPL-3; bpy needs numpy < 2)")


def import_bpy():
    """``bpy``, or a ConfigError that names the extra to install."""
    import sys

    if "bpy" not in sys.modules:
        # A worker spawned by a process that imported bpy inherits its sys.path, which then holds Blender's
        # own scripts/modules folder: the pure-Python ``bpy`` package there would shadow the compiled module
        # ("No module named '_bpy'"). Drop such folders; importing the module adds them back.
        sys.path[:] = [p for p in sys.path if not os.path.isfile(os.path.join(p or ".", "bpy", "__init__.py"))]
    try:
        import bpy
    except ImportError as e:
        raise ConfigError(f"{INSTALL_HINT} ({e})", where="scene", field="renderer.backend") from None
    return bpy


def require_bpy() -> None:
    """Fail early (without importing it, ~1 s) when ``bpy`` cannot be found."""
    import importlib.util

    if importlib.util.find_spec("bpy") is None:
        raise ConfigError(INSTALL_HINT, where="scene", field="renderer.backend")


# ---------------------------------------------------------------------------------- pure conversions
@dataclass
class BlenderCamera:
    """Blender camera settings equivalent to a :class:`Camera` (``sensor_fit = VERTICAL``)."""

    matrix_world: np.ndarray
    lens: float
    sensor_height: float
    shift_x: float
    shift_y: float
    clip_start: float
    clip_end: float
    width: int
    height: int


def blender_camera(camera: Camera, sensor_height: float = 24.0) -> BlenderCamera:
    """The exact Blender camera of ``camera`` (see the module docstring).

    Args:
        camera: square pixels and no skew (Blender has neither per-axis focal lengths nor skew).
        sensor_height: any positive size; only ``lens / sensor_height`` matters.

    Returns:
        BlenderCamera.
    """
    fx, s, cx = camera.K[0]
    fy, cy = camera.K[1, 1], camera.K[1, 2]
    if abs(s) > 1e-9 * fy or abs(fx - fy) > 1e-9 * fy:
        raise TraingenError(f"the blender backend needs square pixels without skew, got fx={fx}, fy={fy}, s={s}",
                            where="render.blender", field="camera.K")
    h = float(camera.height)
    return BlenderCamera(np.linalg.inv(camera.gl_view()), float(fy / h * sensor_height), float(sensor_height),
                         float((camera.width / 2.0 - cx) / h), float((cy - h / 2.0) / h), float(camera.near),
                         float(camera.far), int(camera.width), int(camera.height))


def project_blender(bc: BlenderCamera, points) -> np.ndarray:
    """Pixel coordinates (DESIGN §3) of world points seen by a Blender camera, by Blender's view-plane rule.

    The independent route for tests: camera-local coordinates from ``matrix_world⁻¹``, the view-plane at unit
    distance spanning ``sensor_height / lens`` over the image height, shifted by ``shift · height``.
    """
    p = np.asarray(points, np.float64).reshape(-1, 3)
    local = (np.linalg.inv(bc.matrix_world) @ np.hstack([p, np.ones((len(p), 1))]).T).T[:, :3]
    x, y = local[:, 0] / -local[:, 2], local[:, 1] / -local[:, 2]
    pix = bc.height * bc.lens / bc.sensor_height  # pixels per unit of the view-plane at distance 1
    u = bc.width / 2.0 + x * pix - bc.shift_x * bc.height
    v_up = bc.height / 2.0 + y * pix - bc.shift_y * bc.height
    return np.stack([u, bc.height - v_up], 1)


def point_light(light: np.ndarray, reference=(0.0, 0.0, 0.0)) -> tuple[tuple[float, float, float], float]:
    """``(colour, watts)`` of a Cycles point light that lights ``reference`` as the GL light ``light`` does.

    Args:
        light: 6 numbers, position xyz and colour rgb (the scene's ``lights`` row).
        reference: the point where both renderers agree (the scene centre).

    Returns:
        A colour with maximum 1 and the power in watts.
    """
    pos, col = np.asarray(light[:3], np.float64), np.asarray(light[3:6], np.float64)
    peak = float(col.max())
    if peak <= 0:
        return (0.0, 0.0, 0.0), 0.0
    d2 = float(np.sum((pos - np.asarray(reference, np.float64)) ** 2))
    watts = 4.0 * math.pi ** 2 * d2 * peak / (1.0 + GL_FALLOFF * d2)
    return tuple(float(c) for c in col / peak), watts


def background_image(layer: np.ndarray, uv, width: int, height: int) -> np.ndarray:
    """GL's background: texture ``layer`` (S×S×3 uint8, row 0 at ``t = 0``) sampled bilinearly, wrapping, at
    ``t = ((i + 0.5) / W · su + du, (j + 0.5) / H · sv + dv)`` for pixel ``(i, j)``; H×W×3 float32 in [0, 1]."""
    su, sv, _, du, dv = (float(x) for x in uv)
    tex = np.asarray(layer, np.float32)[..., :3] / 255.0
    s_h, s_w = tex.shape[:2]
    # Separable bilinear weights in float64 (cv2.remap rounds them to 1/32 of a texel).
    x = ((np.arange(width) + 0.5) / width * su + du) * s_w - 0.5
    y = ((np.arange(height) + 0.5) / height * sv + dv) * s_h - 0.5
    x0, y0 = np.floor(x), np.floor(y)
    fx, fy = (x - x0).astype(np.float32)[None, :, None], (y - y0).astype(np.float32)[:, None, None]
    xi, yi = x0.astype(np.int64) % s_w, y0.astype(np.int64) % s_h
    xj, yj = (xi + 1) % s_w, (yi + 1) % s_h
    top = tex[yi][:, xi] * (1 - fx) + tex[yi][:, xj] * fx
    bottom = tex[yj][:, xi] * (1 - fx) + tex[yj][:, xj] * fx
    return top * (1 - fy) + bottom * fy


def composite(rgba: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Straight-alpha RGBA (float, [0, 1]) over an RGB background: ``rgb · a + bg · (1 - a)``, as uint8."""
    a = rgba[..., 3:4]
    out = rgba[..., :3] * a + background * (1.0 - a)
    return np.clip(np.rint(out * 255.0), 0, 255).astype(np.uint8)


@contextmanager
def quiet_fds():
    """Silence Cycles' progress lines, which its C code writes straight to file descriptors 1 and 2."""
    saved = [os.dup(1), os.dup(2)]
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        os.dup2(null, 2)
        yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, null):
            os.close(fd)


@dataclass
class CyclesFrame:
    """A Cycles image: ``rgb`` H×W×3 uint8 (background composited) and ``alpha`` H×W float32 (coverage)."""

    rgb: np.ndarray
    alpha: np.ndarray
