"""The shared camera: projection against OpenCV, the OpenGL matrices, look-at and the pan/tilt/roll signs."""

import cv2
import numpy as np
import pytest
import torch

from traingen.core.errors import ConfigError
from traingen.render.camera import Camera, look_at_rotation, orbit_eye, project_points


def _ndc_to_pixels(cam, pts):
    hom = np.hstack([pts, np.ones((len(pts), 1))])
    clip = hom @ (cam.gl_projection() @ cam.gl_view()).T
    ndc = clip[:, :3] / clip[:, 3:]
    u = (ndc[:, 0] + 1) / 2 * cam.width
    v = (1 - ndc[:, 1]) / 2 * cam.height
    return np.stack([u, v], 1), ndc[:, 2], clip[:, 3]


def test_target_projects_to_centre_at_its_distance():
    cam = Camera.orbit(3.0, 30, 20, fov_y_deg=40, width=200, height=100)
    uv, depth = cam.project([[0, 0, 0]])
    np.testing.assert_allclose(uv, [[100.0, 50.0]], atol=1e-9)
    np.testing.assert_allclose(depth, [3.0], atol=1e-12)
    np.testing.assert_allclose(cam.eye, orbit_eye(3.0, 30, 20), atol=1e-12)
    np.testing.assert_allclose(cam.R @ cam.R.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(cam.R) == pytest.approx(1.0)


def test_projection_matches_opencv_project_points():
    rng = np.random.default_rng(0)
    cam = Camera.look_at([2.0, -3.0, 1.5], [0.1, 0.2, 0.3], fov_y_deg=55, width=320, height=240,
                         pan_deg=7, tilt_deg=-4, roll_deg=12)
    pts = rng.uniform(-0.5, 0.5, (50, 3))
    rvec, _ = cv2.Rodrigues(cam.R)
    ref, _ = cv2.projectPoints(pts, rvec, cam.t, cam.K, None)
    uv, depth = cam.project(pts)
    np.testing.assert_allclose(uv, ref[:, 0, :], atol=1e-9)
    assert np.all(depth > 0)


def test_axes_right_and_up_appear_right_and_up():
    cam = Camera.look_at([0.0, 0.0, 0.0], [0.0, 5.0, 0.0], width=64, height=64)
    (right, up), _ = cam.project([[1.0, 5.0, 0.0], [0.0, 5.0, 1.0]])[0], None
    assert right[0] > 32 and right[1] == pytest.approx(32)
    assert up[1] < 32 and up[0] == pytest.approx(32)


def test_gl_matrices_agree_with_project_and_depth_range():
    rng = np.random.default_rng(1)
    cam = Camera.orbit(4.0, 123, 25, fov_y_deg=35, width=256, height=128, near=0.5, far=20.0, roll_deg=9)
    pts = rng.uniform(-1, 1, (40, 3))
    uv, depth = cam.project(pts)
    uv_gl, z_ndc, w = _ndc_to_pixels(cam, pts)
    np.testing.assert_allclose(uv_gl, uv, atol=1e-8)
    np.testing.assert_allclose(w, depth, atol=1e-10)  # clip w is the linear depth
    # NDC depth: -1 at near, +1 at far.
    near_pt = cam.eye + cam.R[2] * cam.near
    far_pt = cam.eye + cam.R[2] * cam.far
    _, zn, _ = _ndc_to_pixels(cam, np.stack([near_pt, far_pt]))
    np.testing.assert_allclose(zn, [-1.0, 1.0], atol=1e-9)


@pytest.mark.parametrize("angle", ["pan_deg", "tilt_deg", "roll_deg"])
def test_pan_tilt_roll_signs(angle):
    base = Camera.look_at([0.0, -4.0, 0.0], [0.0, 0.0, 0.0], width=100, height=100)
    turned = Camera.look_at([0.0, -4.0, 0.0], [0.0, 0.0, 0.0], width=100, height=100, **{angle: 10.0})
    if angle == "roll_deg":  # a point right of centre moves up: the scene turns counter-clockwise
        (p0,), _ = base.project([[1.0, 0.0, 0.0]])
        (p1,), _ = turned.project([[1.0, 0.0, 0.0]])
        assert p0[1] == pytest.approx(50) and p1[1] < 50
        return
    (c,), _ = turned.project([[0.0, 0.0, 0.0]])
    if angle == "pan_deg":   # view turned right: the target moves left
        assert c[0] < 50 and c[1] == pytest.approx(50)
    else:                    # view turned down: the target moves up
        assert c[1] < 50 and c[0] == pytest.approx(50)


def test_torch_path_matches_numpy_and_is_differentiable():
    cam = Camera.orbit(3.0, 40, 30, fov_y_deg=45, width=64, height=64)
    pts = np.random.default_rng(2).uniform(-0.5, 0.5, (10, 3))
    az = torch.tensor(40.0, dtype=torch.float64, requires_grad=True)
    eye = orbit_eye(torch.tensor(3.0, dtype=torch.float64), az, torch.tensor(30.0, dtype=torch.float64))
    R = look_at_rotation(eye, torch.zeros(3, dtype=torch.float64))
    t = -(R @ eye)
    uv, depth = project_points(torch.from_numpy(pts), torch.from_numpy(cam.K), R, t)
    ref_uv, ref_depth = cam.project(pts)
    np.testing.assert_allclose(uv.detach().numpy(), ref_uv, atol=1e-9)
    np.testing.assert_allclose(depth.detach().numpy(), ref_depth, atol=1e-12)
    uv[:, 0].sum().backward()
    assert az.grad is not None and torch.isfinite(az.grad) and az.grad.abs() > 0


def test_round_trip_and_errors():
    cam = Camera.orbit(2.0, 10, 15, width=32, height=48, near=0.1, far=9.0)
    back = Camera.from_dict(cam.to_dict())
    assert back.to_dict() == cam.to_dict()
    with pytest.raises(ConfigError, match="lens"):
        Camera.from_dict({**cam.to_dict(), "lens": 1})
    with pytest.raises(ConfigError, match="near"):
        Camera(cam.K, cam.R, cam.t, 32, 48, near=2.0, far=1.0)
    with pytest.raises(ConfigError, match="K"):
        Camera(np.eye(2), cam.R, cam.t, 32, 48)
    # looking straight down the up axis still gives a proper rotation
    R = look_at_rotation([0.0, 0.0, 5.0], [0.0, 0.0, 0.0])
    np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-12)
