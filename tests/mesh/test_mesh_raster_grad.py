"""Gradients: gradcheck (σ = 1e-3), central differences (σ = γ = 1e-4), Kato's nmr signs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from traingen.mesh.raster import Attributes, Lighting, RasterSettings, rasterize
from traingen.render.camera import Camera

CAM = Camera.orbit(3.0, 0.0, 0.0, width=16, height=16, fov_y_deg=50)
# Two overlapping triangles at different depths (the camera looks down −x; image right is +y, up is +z).
VERTS = np.array([[0.0, -0.9, -0.7], [0.1, 0.8, -0.5], [-0.1, 0.05, 0.8],
                  [0.4, -0.3, -0.2], [0.3, 0.9, 0.3], [0.5, -0.6, 0.7]])
FACES = torch.tensor([[0, 1, 2], [3, 4, 5]])


def _render_fn(settings, weights_rgb, weights_alpha, light=None):
    def fn(v, colors):
        out = rasterize(v, FACES, CAM, attributes=Attributes(vertex_colors=colors), settings=settings,
                        lighting=light)
        return (out.rgb * weights_rgb).sum() + (out.alpha * weights_alpha).sum()
    return fn


def test_gradcheck_float64_sigma_1e3():
    settings = RasterSettings(sigma=1e-3, gamma=1e-2)
    v = torch.tensor(VERTS, dtype=torch.float64, requires_grad=True)
    colors = torch.rand(6, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0), requires_grad=True)

    def images(v, colors):
        out = rasterize(v, FACES, CAM, attributes=Attributes(vertex_colors=colors), settings=settings,
                        lighting=Lighting(ambient=0.3, directional=0.7, direction=(-1.0, 0.2, -0.5)))
        return out.rgb, out.alpha

    assert torch.autograd.gradcheck(images, (v, colors), eps=1e-6, atol=1e-5, rtol=1e-3)


def test_central_differences_sigma_gamma_1e4():
    settings = RasterSettings(sigma=1e-4, gamma=1e-4)
    g = torch.Generator().manual_seed(1)
    wr = torch.rand(1, 3, 16, 16, dtype=torch.float64, generator=g)
    wa = torch.rand(1, 1, 16, 16, dtype=torch.float64, generator=g)
    colors = torch.rand(6, 3, dtype=torch.float64, generator=g)
    fn = _render_fn(settings, wr, wa)
    v = torch.tensor(VERTS, dtype=torch.float64, requires_grad=True)
    fn(v, colors).backward()
    analytic = v.grad.numpy().ravel()
    h = 1e-7
    numeric = np.zeros_like(analytic)
    base = torch.tensor(VERTS, dtype=torch.float64)
    for k in range(len(numeric)):
        d = torch.zeros(18, dtype=torch.float64)
        d[k] = h
        d = d.reshape(6, 3)
        numeric[k] = (float(fn(base + d, colors)) - float(fn(base - d, colors))) / (2 * h)
    rel = np.linalg.norm(numeric - analytic) / np.linalg.norm(analytic)
    assert np.linalg.norm(analytic) > 1.0
    assert rel < 1e-4, rel


@pytest.mark.parametrize("shift", [(0.0, 0.15, 0.0), (0.0, 0.0, -0.12), (0.0, -0.1, 0.0)])
def test_nmr_vertex_gradient_signs_match_large_step_differences(shift):
    """Kato's gradient of one triangle against a shifted target: signs where the finite difference is clear.

    (With a diagonal shift, Kato's per-edge approximation can disagree with the finite difference
    for a vertex whose two edges pull opposite ways; the docs say so.)
    """
    cam = Camera.orbit(3.0, 0.0, 0.0, width=32, height=32, fov_y_deg=50)
    tri = np.array([[0.0, -0.6, -0.5], [0.0, 0.5, -0.6], [0.0, -0.1, 0.6]])
    faces = torch.tensor([[0, 1, 2]])
    target = rasterize(torch.tensor(tri + shift), faces, cam, mode="hard").alpha

    def loss(v, mode):
        out = rasterize(v, faces, cam, mode=mode, attributes=Attributes(color=(0.8, 0.4, 0.2)))
        return ((out.alpha - target) ** 2).sum() + ((out.rgb.mean(1, keepdim=True) - 0.47 * target) ** 2).sum()

    v = torch.tensor(tri, requires_grad=True)
    loss(v, "nmr").backward()
    grad = v.grad.numpy().ravel()
    h = 0.1  # about 3 pixels at this distance and field of view
    fd = np.zeros(9)
    for k in range(9):
        d = np.zeros(9)
        d[k] = h
        fd[k] = (float(loss(torch.tensor(tri + d.reshape(3, 3)), "hard"))
                 - float(loss(torch.tensor(tri - d.reshape(3, 3)), "hard"))) / (2 * h)
    clear = np.abs(fd) > 0.2 * np.abs(fd).max()
    assert clear.sum() >= 3
    np.testing.assert_array_equal(np.sign(grad[clear]), np.sign(fd[clear]))


def test_nmr_texture_gradient_flows_and_forward_equals_hard():
    cam = Camera.orbit(3.0, 30.0, 10.0, width=24, height=24)
    v = torch.tensor(VERTS, dtype=torch.float32)
    cubes = torch.full((2, 2, 2, 2, 3), 0.5, requires_grad=True)
    out = rasterize(v, FACES, cam, mode="nmr", attributes=Attributes(texture_cubes=cubes))
    hard = rasterize(v, FACES, cam, mode="hard", attributes=Attributes(texture_cubes=cubes.detach()))
    assert torch.equal(out.rgb, hard.rgb) and torch.equal(out.face_id, hard.face_id)
    out.rgb.sum().backward()
    assert cubes.grad.abs().sum() > 0
