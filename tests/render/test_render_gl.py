"""The GL renderer against projection maths: silhouettes, boxes, depth, ids, truncation, occlusion.

The references are independent of the renderer: the silhouette of a convex mesh is the convex hull of
its projected vertices, and a pixel is covered when its centre (i + 0.5, j + 0.5) lies inside
(scipy's Delaunay); the depth is a float64 ray / box slab intersection.
"""

from __future__ import annotations

import os

os.environ.setdefault("LP_NUM_THREADS", "1")

import numpy as np
import pytest
from scipy.spatial import ConvexHull, Delaunay

from traingen.render.annotate import annotate, tight_boxes
from traingen.render.camera import Camera
from traingen.render.gl import GLRenderer, render_mesh
from traingen.render.primitives import cube
from traingen.render.scene import AnnotateConfig, Catalogue, Placed, SceneDraw, model_matrix

#: GL rasterizers snap vertices to a sub-pixel grid (llvmpipe: 1/256 px); a pixel centre closer than
#: this to the silhouette edge may fall either way.
SUBPIXEL = 1.0 / 256


def hull_mask(cam: Camera, verts: np.ndarray, pad: int = 0, *, ambiguous: bool = False):
    """Pixels (of an image extended by ``pad`` on each side) whose centre is inside the projected hull;
    with ``ambiguous`` also the pixels whose centre lies within :data:`SUBPIXEL` of the hull's edge."""
    uv, z = cam.project(verts)
    assert (z > 0).all()
    hull = ConvexHull(uv)
    ys, xs = np.mgrid[-pad:cam.height + pad, -pad:cam.width + pad]
    pts = np.stack([xs.ravel() + 0.5, ys.ravel() + 0.5], -1)
    # Signed distance to the hull: max over its edges' outward half-planes (unit normals).
    dist = (pts @ hull.equations[:, :2].T + hull.equations[:, 2]).max(axis=1).reshape(ys.shape)
    mask = Delaunay(uv).find_simplex(pts).reshape(ys.shape) >= 0
    return (mask, np.abs(dist) < SUBPIXEL) if ambiguous else mask


def box_vertices(model: np.ndarray, size: float = 1.0) -> np.ndarray:
    h = size / 2
    c = np.array([[x, y, z] for x in (-h, h) for y in (-h, h) for z in (0, size)], float)
    return c @ model[:3, :3].T + model[:3, 3]


@pytest.fixture(scope="module")
def gl():
    r = GLRenderer(96, 80)
    r.add_mesh("cube", cube(1.0))
    yield r
    r.release()


@pytest.mark.parametrize("az,el,roll", [(30.0, 20.0, 0.0), (-65.0, 35.0, 12.0), (140.0, 8.0, -25.0)])
def test_cube_mask_and_box_match_projection(az, el, roll):
    cam = Camera.orbit(4.0, az, el, (0.1, -0.2, 0.4), fov_y_deg=45, width=96, height=80, roll_deg=roll)
    m = cube(1.0)
    out = render_mesh(m.vertices, m.faces, cam)
    want, amb = hull_mask(cam, m.vertices.astype(np.float64), ambiguous=True)
    got = out["instance_id"] == 1
    assert set(np.unique(out["instance_id"])) == {0, 1}
    assert amb.sum() <= 3
    assert np.array_equal(got[~amb], want[~amb]), f"{(got != want)[~amb].sum()} pixels differ"
    ys, xs = np.nonzero(want)
    expected_box = [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
    assert tight_boxes(out["instance_id"], 1)[0].tolist() == expected_box


def _slab_depth(cam: Camera, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """float64 linear depth of the first hit of each pixel-centre ray with the box [lo, hi] (nan = miss)."""
    ys, xs = np.mgrid[0:cam.height, 0:cam.width]
    pix = np.stack([xs + 0.5, ys + 0.5, np.ones_like(xs, float)], -1).reshape(-1, 3)
    d_cam = pix @ np.linalg.inv(cam.K).T  # camera-frame direction with z = 1
    d_world = d_cam @ cam.R  # R^T d
    o = cam.eye
    with np.errstate(divide="ignore", invalid="ignore"):
        t0, t1 = (lo - o) / d_world, (hi - o) / d_world
    tmin = np.nanmax(np.minimum(t0, t1), axis=1)
    tmax = np.nanmin(np.maximum(t0, t1), axis=1)
    hit = tmax >= tmin
    return np.where(hit, tmin, np.nan).reshape(cam.height, cam.width)  # z = 1 per unit t: t is the depth


def test_linear_depth_matches_ray_box_intersection():
    cam = Camera.orbit(3.5, 40.0, 25.0, (0.0, 0.0, 0.5), fov_y_deg=50, width=96, height=80)
    m = cube(1.0)
    out = render_mesh(m.vertices, m.faces, cam)
    ref = _slab_depth(cam, np.array([-0.5, -0.5, 0.0]), np.array([0.5, 0.5, 1.0]))
    inside = out["instance_id"] == 1
    both = inside & np.isfinite(ref)
    assert both.sum() > 0.98 * inside.sum()
    assert np.abs(out["depth"][both] - ref[both]).max() < 2e-3
    assert (out["depth"][~inside] == 0).all()


def test_instance_ids_are_exactly_the_objects_present(gl):
    cam = Camera.orbit(6.0, 0.0, 15.0, (0, 0, 0.5), fov_y_deg=40, width=96, height=80)
    draws = [{"mesh": "cube", "model": model_matrix(np.eye(3), 0.8, (0, -1.2, 0)), "id": 1},
             {"mesh": "cube", "model": model_matrix(np.eye(3), 0.8, (0, 1.2, 0)), "id": 2},
             {"mesh": "cube", "model": model_matrix(np.eye(3), 0.8, (0, 40.0, 0)), "id": 3},  # out of view
             {"mesh": "cube", "model": model_matrix(np.eye(3), 0.5, (30, 0, 0)), "id": 4}]  # behind the camera (at +x)
    frame = gl.render(cam, draws)
    assert set(np.unique(frame.ids).tolist()) == {0, 1, 2}
    assert frame.rgb.shape == (80, 96, 3) and frame.rgb.dtype == np.uint8


def _scene(cam: Camera, models: list[np.ndarray]) -> tuple[SceneDraw, Catalogue]:
    objs = [Placed("cube", m, 0, (1.0, 1.0, 0.0, 0.0, 0.0), (1.0, 1.0, 1.0), 0) for m in models]
    draw = SceneDraw(cam, objs, [], np.array([[0, 0, 10, 1, 1, 1.0]]), (0.3, 0.3, 0.3), None,
                     (0, (1.0, 1.0, 0.0, 0.0, 0.0)))
    return draw, Catalogue(["cube"], [["cube"]], [], {"cube": cube(1.0)})


def _annotate(gl, draw, cat, cfg=None):
    draws = [{"mesh": o.mesh, "model": o.model, "id": i + 1} for i, o in enumerate(draw.objects)]
    frame = gl.render(draw.camera, draws)
    return frame, annotate(draw, frame, gl.visibility(draw.camera, draws), cat, cfg or AnnotateConfig())


def test_fully_occluded_object_gets_no_annotation(gl):
    cam = Camera.look_at((6.0, 0.0, 0.5), (0.0, 0.0, 0.5), fov_y_deg=40, width=96, height=80)
    front = model_matrix(np.eye(3), 2.0, (2.0, 0.0, -0.5))  # a big cube between the camera and the small one
    hidden = model_matrix(np.eye(3), 0.4, (-1.0, 0.0, 0.3))
    draw, cat = _scene(cam, [hidden, front])
    frame, ann = _annotate(gl, draw, cat)
    assert set(np.unique(frame.ids).tolist()) == {0, 2}
    assert len(ann.boxes) == 1 and [f["object"] for f in ann.fields] == [1]
    assert set(np.unique(ann.instance_mask).tolist()) == {0, 1}
    assert ann.fields[0]["occlusion"] == 0.0 and ann.fields[0]["truncation"] == 0.0


def test_occlusion_fraction_matches_hull_overlap(gl):
    cam = Camera.look_at((7.0, 0.0, 1.0), (0.0, 0.0, 0.5), fov_y_deg=40, width=96, height=80)
    front = model_matrix(np.eye(3), 0.8, (2.0, 0.35, 0.0))
    back = model_matrix(np.eye(3), 1.0, (-1.0, -0.3, 0.0))
    draw, cat = _scene(cam, [back, front])
    _, ann = _annotate(gl, draw, cat)
    a = hull_mask(cam, box_vertices(back))
    b = hull_mask(cam, box_vertices(front))
    ref = (a & b).sum() / a.sum()
    assert 0.1 < ref < 0.9
    assert ann.fields[0]["occlusion"] == pytest.approx(ref, abs=0.01)
    assert ann.fields[0]["visible_px"] == int((a & ~b).sum())


def test_truncation_fraction_matches_projection(gl):
    cam = Camera.look_at((6.0, 0.0, 0.5), (0.0, 0.0, 0.5), fov_y_deg=40, width=96, height=80, pan_deg=24.0)
    model = model_matrix(np.eye(3), 1.2, (0.0, 0.0, 0.0))
    draw, cat = _scene(cam, [model])
    _, ann = _annotate(gl, draw, cat)
    full = hull_mask(cam, box_vertices(model), pad=96)
    inside = full[96:96 + 80, 96:96 + 96].sum()
    ref = 1 - inside / full.sum()
    assert 0.1 < ref < 0.9
    assert ann.fields[0]["truncation"] == pytest.approx(ref, abs=0.005)
    assert ann.fields[0]["occlusion"] == pytest.approx(0.0, abs=1e-9)


def test_easy_filter_drops_small_and_truncated_boxes(gl):
    cam = Camera.look_at((6.0, 0.0, 0.5), (0.0, 0.0, 0.5), fov_y_deg=40, width=96, height=80)
    small = model_matrix(np.eye(3), 0.3, (0.0, -1.0, 0.0))  # about 15 px tall
    big = model_matrix(np.eye(3), 1.2, (0.0, 0.8, 0.0))
    draw, cat = _scene(cam, [small, big])
    _, ann = _annotate(gl, draw, cat, AnnotateConfig(easy_filter=True, min_height=20.0))
    assert [f["object"] for f in ann.fields] == [1] and len(ann.dontcare) == 1
    assert (ann.boxes[:, 3] - ann.boxes[:, 1] > 20).all()


def test_torch_dynamo_imports_after_rendering(tmp_path):
    """Rendering first, then torch's lazy triton import (L-BFGS, torch._dynamo) must not crash the process."""
    import subprocess
    import sys

    script = tmp_path / "gl_then_dynamo.py"
    script.write_text(
        "import numpy as np\n"
        "from traingen.render.camera import Camera\n"
        "from traingen.render.gl import render_mesh\n"
        "v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], float)\n"
        "out = render_mesh(v, np.array([[0, 1, 2]]), Camera.orbit(3, 30, 20, width=16, height=16))\n"
        "assert out['instance_id'].max() == 1\n"
        "import torch._dynamo  # noqa: F401\n"
        "print('ok')\n"
    )
    res = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0 and res.stdout.strip().endswith("ok"), res.stderr[-2000:]
