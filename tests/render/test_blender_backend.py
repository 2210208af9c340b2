"""The optional Blender Cycles backend (``renderer.backend: blender``).

Without ``bpy`` (CI): the config key is strict, choosing the backend fails early with the install hint, and the
pure conversions hold against independent references -- Blender's view-plane rule (written from its camera
parameters, not from ``K``) against :meth:`Camera.project`, and GL's own background pass against
:func:`background_image`. With ``bpy`` (the documented optional dependency, ``traingen[blender]``; the only
skip): a cube at a known pose rendered by Cycles has the GL renderer's silhouette (IoU >= 0.98) and the
projected hull's, a white floor under one light is as bright as GL's formula, and a scene rendered with the
blender backend keeps GL's labels exactly and is deterministic.
"""

from __future__ import annotations

import math
import os
import sys

os.environ.setdefault("LP_NUM_THREADS", "1")

import numpy as np
import pytest
from scipy.spatial import ConvexHull, Delaunay

from traingen.core.errors import ConfigError, TraingenError
from traingen.render.blender import (
    background_image,
    blender_camera,
    composite,
    point_light,
    project_blender,
    require_bpy,
)
from traingen.render.camera import Camera, look_at_rotation
from traingen.render.scene import scene_from_dict


def _off_centre_camera(width=64, height=48) -> Camera:
    """A look-at camera with a principal point away from the image centre (exercises the lens shift)."""
    eye = np.array([2.2, -1.5, 1.8])
    R = look_at_rotation(eye, (0.0, -0.2, 0.46))
    f = 80.0
    K = np.array([[f, 0.0, width / 2 + 4.5], [0.0, f, height / 2 - 3.25], [0.0, 0.0, 1.0]])
    return Camera(K, R, -R @ eye, width, height, 0.1, 50.0)


# ------------------------------------------------------------------------------------ without bpy
def test_backend_key_is_strict():
    assert scene_from_dict({"version": 1}).renderer.backend == "gl"
    cfg = scene_from_dict({"version": 1, "renderer": {"backend": "blender", "samples": 4}})
    assert (cfg.renderer.backend, cfg.renderer.samples) == ("blender", 4)
    with pytest.raises(ConfigError) as e:
        scene_from_dict({"version": 1, "renderer": {"backend": "cycles"}})
    assert "backend" in str(e.value)
    with pytest.raises(ConfigError) as e:
        scene_from_dict({"version": 1, "renderer": {"sampels": 4}})
    assert "sampels" in str(e.value)
    with pytest.raises(ConfigError):
        scene_from_dict({"version": 1, "renderer": {"samples": 0}})


def test_missing_bpy_is_a_clear_error(monkeypatch, tmp_path):
    from traingen.render.job import SceneRenderer, run_render

    monkeypatch.setitem(sys.modules, "bpy", None)  # import bpy -> ImportError, find_spec -> None
    with pytest.raises(ConfigError) as e:
        require_bpy()
    assert "traingen[blender]" in str(e.value) and e.value.field == "renderer.backend"
    cfg = scene_from_dict({"version": 1, "width": 32, "height": 32, "renderer": {"backend": "blender"}})
    out = tmp_path / "out"
    with pytest.raises(ConfigError, match=r"traingen\[blender\]"):
        run_render(out, n=2, scene=cfg, workers=1)
    assert not out.exists()  # failed before any shard or manifest was written
    with pytest.raises(ConfigError, match=r"traingen\[blender\]"):
        SceneRenderer(cfg, seed=0)


def test_camera_conversion_matches_projection():
    cam = _off_centre_camera()
    pts = np.random.default_rng(0).uniform(-1.0, 1.0, (50, 3))
    uv, z = cam.project(pts)
    assert (z > 0).all()
    bc = blender_camera(cam)
    np.testing.assert_allclose(project_blender(bc, pts), uv, atol=1e-9)
    assert bc.shift_x == pytest.approx(-4.5 / 48) and bc.shift_y == pytest.approx(-3.25 / 48)
    assert bc.lens / bc.sensor_height == pytest.approx(80.0 / 48)
    # Blender's camera frame: it looks down local -z, so the camera centre and axis come out of matrix_world.
    np.testing.assert_allclose(bc.matrix_world[:3, 3], cam.eye, atol=1e-12)
    np.testing.assert_allclose(-bc.matrix_world[:3, 2], cam.R[2], atol=1e-12)
    skewed = Camera(cam.K + [[0, 0.5, 0], [0, 0, 0], [0, 0, 0]], cam.R, cam.t, 64, 48)
    with pytest.raises(TraingenError, match="square pixels"):
        blender_camera(skewed)


def test_point_light_power_matches_gl_falloff():
    light = np.array([3.0, -4.0, 12.0, 0.9, 0.6, 0.3])
    colour, watts = point_light(light)
    d2 = 9 + 16 + 144
    # Cycles: Lambertian albedo/pi times the point light's intensity P/(4 pi) over d^2 (PBRT §12.2, §8.3).
    cycles = watts / (4 * math.pi) / d2 / math.pi
    assert cycles * np.array(colour) == pytest.approx(light[3:] / (1 + 0.002 * d2), rel=1e-12)
    assert max(colour) == 1.0 and point_light(np.zeros(6))[1] == 0.0


def test_background_matches_gl_pass():
    from traingen.render.gl import GLRenderer

    rng = np.random.default_rng(3)
    pool = rng.integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    gl = GLRenderer(40, 24, preload=False)
    try:
        gl.set_backgrounds(pool)
        cam = Camera.orbit(4.0, 0.0, 20.0, width=40, height=24)
        uv = (0.8, 0.6, 0.0, 0.3, 0.7)
        frame = gl.render(cam, [], background=(1, uv))
    finally:
        gl.release()
    ours = background_image(pool[1], uv, 40, 24) * 255.0
    diff = np.abs(ours - frame.rgb.astype(np.float64))
    assert diff.mean() < 1.0 and diff.max() <= 3.0  # GL's texel filtering rounds to ~1/256 of a texel
    shifted = background_image(pool[1], (0.8, 0.6, 0.0, 0.3, 0.2), 40, 24) * 255.0
    assert np.abs(shifted - frame.rgb).mean() > 20  # the comparison can fail


def test_composite_is_straight_alpha_over():
    rgba = np.array([[[1.0, 0.5, 0.0, 0.25], [0.2, 0.4, 0.6, 1.0]]], np.float32)
    bg = np.array([[[0.0, 0.0, 1.0], [1.0, 1.0, 1.0]]], np.float32)
    expect = np.array([[[0.25, 0.125, 0.75], [0.2, 0.4, 0.6]]]) * 255
    np.testing.assert_array_equal(composite(rgba, bg), np.rint(expect).astype(np.uint8))


# ------------------------------------------------------------------------------------ with bpy
@pytest.fixture(scope="module")
def bpy_module():
    return pytest.importorskip("bpy", reason="optional dependency: pip install 'traingen[blender]'")


def _hull_mask(cam: Camera, verts: np.ndarray) -> np.ndarray:
    uv, _ = cam.project(verts)
    ys, xs = np.mgrid[0:cam.height, 0:cam.width]
    return Delaunay(uv).find_simplex(np.stack([xs.ravel() + 0.5, ys.ravel() + 0.5], -1)).reshape(ys.shape) >= 0


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def test_cycles_cube_silhouette_matches_gl(bpy_module):
    from traingen.render.blender_scene import BlenderRenderer
    from traingen.render.gl import render_mesh
    from traingen.render.primitives import cube
    from traingen.render.scene import model_matrix

    cam = _off_centre_camera()
    model = model_matrix(look_at_rotation([1.0, 2.0, 0.5], [0, 0, 0])[[2, 0, 1]], 0.9, (0.1, -0.2, 0.9))
    mesh = cube(1.0)
    verts = mesh.vertices.astype(np.float64) @ model[:3, :3].T + model[:3, 3]
    gl_mask = render_mesh(verts, mesh.faces, cam)["instance_id"] > 0
    r = BlenderRenderer(cam.width, cam.height, samples=8)
    r.add_mesh("cube", mesh)
    out = r.render(cam, [{"mesh": "cube", "model": model, "id": 1}])
    r.release()
    cyc = out.alpha > 0.5
    assert cyc.sum() > 600 and not cyc[0].any() and not cyc[-1].any()  # whole cube inside the image
    assert _iou(cyc, gl_mask) >= 0.98
    assert _iou(cyc, _hull_mask(cam, verts)) >= 0.98
    # Sub-pixel: Cycles' antialiased coverage has the projected hull's area and centroid (float64 polygon).
    uv, _ = cam.project(verts)
    p = uv[ConvexHull(uv).vertices]
    x, y, x1, y1 = p[:, 0], p[:, 1], np.roll(p[:, 0], -1), np.roll(p[:, 1], -1)
    cross = x * y1 - x1 * y
    area = cross.sum() / 2
    centroid = np.array([((x + x1) * cross).sum(), ((y + y1) * cross).sum()]) / (6 * area)
    a = out.alpha.astype(np.float64)
    ys, xs = np.mgrid[0:cam.height, 0:cam.width]
    assert a.sum() == pytest.approx(abs(area), rel=0.01)
    np.testing.assert_allclose([(a * (xs + 0.5)).sum() / a.sum(), (a * (ys + 0.5)).sum() / a.sum()], centroid,
                               atol=0.05)
    # A one-pixel shift of the reference would fail: the match is the camera's, not a loose tolerance.
    assert _iou(cyc, np.roll(gl_mask, 2, axis=1)) < 0.95


def test_cycles_floor_brightness_matches_gl_light(bpy_module):
    from traingen.render.blender_scene import BlenderRenderer
    from traingen.render.primitives import box

    cam = Camera.look_at([6.0, 0.0, 6.0], (0.0, 0.0, 0.0), fov_y_deg=30.0, width=48, height=48)
    r = BlenderRenderer(48, 48, samples=32)
    r.add_mesh("floor", box(8.0, 8.0, 0.01))
    light = np.array([[0.0, 0.0, 6.0, 1.0, 1.0, 1.0]])
    out = r.render(cam, [{"mesh": "floor", "model": np.eye(4), "id": 1}], lights=light, ambient=(0, 0, 0))
    r.release()
    uv, _ = cam.project([[0.0, 0.0, 0.01]])
    u, v = uv[0]
    patch = out.rgb[int(v) - 4:int(v) + 5, int(u) - 4:int(u) + 5].astype(np.float64) / 255
    gl_formula = 1.0 / (1.0 + 0.002 * 36.0)  # white albedo, light straight above at 6 m, cos = 1
    assert patch.mean() == pytest.approx(gl_formula, rel=0.1)


def test_scene_with_blender_backend_keeps_gl_labels(bpy_module):
    from traingen.render.job import SceneRenderer

    base = {"version": 1, "width": 48, "height": 32, "objects": {"count": [2, 2]},
            "distractors": {"count": [1, 1]}, "textures": {"pool": 4, "size": 16}, "background": {"pool": 2, "size": 16}}
    gl = SceneRenderer(scene_from_dict(base), seed=5)
    a = gl.sample(1)
    gl.close()
    cy = SceneRenderer(scene_from_dict({**base, "renderer": {"backend": "blender", "samples": 4}}), seed=5)
    b, again = cy.sample(1), cy.sample(1)
    cy.close()
    np.testing.assert_array_equal(a.instance_mask, b.instance_mask)
    np.testing.assert_array_equal(a.boxes, b.boxes)
    np.testing.assert_array_equal(b.image, again.image)  # same seed, same bytes
    assert b.image.shape == a.image.shape and b.image.dtype == np.uint8
    assert not np.array_equal(a.image, b.image)
    # Colours agree on average (same textures, lights and background), not pixel for pixel.
    assert np.abs(a.image.astype(float).mean((0, 1)) - b.image.astype(float).mean((0, 1))).max() < 40


def test_blender_backend_same_bytes_any_workers(bpy_module, tmp_path):
    """Spawned workers import bpy although this process already did (its sys.path holds Blender's own
    ``scripts/modules``), and Cycles' per-image seed makes the shards independent of the worker count."""
    import json

    from traingen.render.job import run_render

    cfg = scene_from_dict({"version": 1, "width": 32, "height": 24, "objects": {"count": [1, 2]},
                           "distractors": {"count": [0, 2]}, "renderer": {"backend": "blender", "samples": 2}})
    digests = []
    for workers in (1, 2):
        res = run_render(tmp_path / f"w{workers}", n=2, scene=cfg, seed=4, fmt="coco", workers=workers, shard_size=1)
        manifest = json.loads(res.manifest.read_text())
        digests.append([s["sha256"] for s in manifest["shards"]])
        assert manifest["config"]["scene"]["renderer"]["backend"] == "blender"
    assert digests[0] == digests[1] and len(digests[0]) == 2
