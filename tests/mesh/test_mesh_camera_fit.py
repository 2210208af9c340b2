"""Camera recovery from one silhouette (traingen.mesh.camera_fit)."""

from __future__ import annotations

import numpy as np
import pytest

from traingen.core.errors import DataError
from traingen.mesh.builtin import load_mesh
from traingen.mesh.camera_fit import CameraFitConfig, recover_camera, silhouette, view_angle_error


def test_recovers_the_view_within_5_degrees():
    mesh = load_mesh("builtin:mesh/teapot").normalized(1.0)
    cfg = CameraFitConfig(size=64)
    truth = (305.0, -12.0, 2.9)  # between grid poses, off the grid's distance
    fit = recover_camera(mesh, silhouette(mesh, *truth, cfg), cfg)
    assert view_angle_error(truth[0], truth[1], fit.azimuth, fit.elevation) <= 5.0, fit
    assert fit.iou >= 0.9
    assert len(fit.starts) == cfg.starts and fit.ious[-1] > fit.ious[0]


def test_view_angle_error_against_the_dot_product():
    assert view_angle_error(10.0, 0.0, 40.0, 0.0) == pytest.approx(30.0, abs=1e-9)
    assert view_angle_error(0.0, 0.0, 0.0, 90.0) == pytest.approx(90.0, abs=1e-9)
    a = np.array([np.cos(np.radians(20)) * np.cos(np.radians(70)), np.cos(np.radians(20)) * np.sin(np.radians(70)),
                  np.sin(np.radians(20))])
    b = np.array([np.cos(np.radians(-5)) * np.cos(np.radians(300)), np.cos(np.radians(-5)) * np.sin(np.radians(300)),
                  np.sin(np.radians(-5))])
    assert view_angle_error(70, 20, 300, -5) == pytest.approx(np.degrees(np.arccos(a @ b)), abs=1e-9)


def test_bad_targets_are_named():
    mesh = load_mesh("builtin:mesh/blob/1").normalized(1.0)
    with pytest.raises(DataError, match="empty"):
        recover_camera(mesh, np.zeros((16, 16)), CameraFitConfig(size=16, steps=1))
    with pytest.raises(DataError, match="16×16"):
        recover_camera(mesh, np.ones((8, 8)), CameraFitConfig(size=16, steps=1))
