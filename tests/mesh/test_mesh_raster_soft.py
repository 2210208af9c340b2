"""Soft forward against a dense float64 reference (every pixel against every face), limits and areas."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.special import expit

from traingen.mesh.builtin import load_mesh
from traingen.mesh.raster import Attributes, Lighting, RasterSettings, rasterize
from traingen.render.camera import Camera


def _dense_soft(verts, faces, colors, shade, cam, sigma, gamma, eps, background):
    """Soft Rasterizer written from the paper, dense: no bounding boxes, only the d² cutoff outside faces."""
    H, W = cam.height, cam.width
    S = max(W, H)
    uv, z = cam.project(verts)
    jj, ii = np.meshgrid(np.arange(H) + 0.5, np.arange(W) + 0.5, indexing="ij")
    P = np.stack([ii.ravel(), jj.ravel()], 1)
    thr = sigma * math.log(1 / eps - 1)
    log_miss = np.zeros(H * W)
    terms = []  # per face: (mask, D, znorm, colour)
    for f, (a, b, c) in enumerate(faces):
        A, B, C = uv[a], uv[b], uv[c]
        za = np.array([z[a], z[b], z[c]])
        if za.min() <= cam.near:
            continue
        cross = lambda o, p, q: (p[0] - o[0]) * (q[:, 1] - o[1]) - (p[1] - o[1]) * (q[:, 0] - o[0])  # noqa: E731
        area = (B[0] - A[0]) * (C[1] - A[1]) - (B[1] - A[1]) * (C[0] - A[0])
        w = np.stack([cross(B, C, P), cross(C, A, P), cross(A, B, P)], 1) / area
        inside = (w >= 0).all(1)
        d2 = np.full(len(P), np.inf)
        for p0, p1 in ((A, B), (B, C), (C, A)):
            e = p1 - p0
            t = np.clip(((P - p0) @ e) / (e @ e), 0, 1)
            q = P - p0 - t[:, None] * e
            d2 = np.minimum(d2, (q * q).sum(1))
        d2 *= (2.0 / S) ** 2
        use = inside | (d2 < thr)
        wc = np.clip(w, 0, 1)
        wc = np.where(inside[:, None], w, wc / wc.sum(1, keepdims=True))
        zp = 1 / (wc / za).sum(1)
        use &= (zp > cam.near) & (zp < cam.far)
        wp = wc / za * zp[:, None]
        sgn = np.where(inside, 1.0, -1.0)
        D = expit(np.minimum(sgn * d2 / sigma, 700.0))
        log_miss[use] -= np.logaddexp(0, sgn[use] * d2[use] / sigma)  # log(1 - D)
        col = (wp @ colors[[a, b, c]]) * shade[f]
        terms.append((use, D, (cam.far - zp) / (cam.far - cam.near), col))
    zmax = np.full(H * W, eps)
    for use, _, zn, _ in terms:
        zmax[use] = np.maximum(zmax[use], zn[use])
    num = np.zeros((H * W, 3))
    den = np.exp((eps - zmax) / gamma)
    num += den[:, None] * np.asarray(background)
    for use, D, zn, col in terms:
        e = np.zeros(H * W)
        e[use] = D[use] * np.exp((zn[use] - zmax[use]) / gamma)
        num += e[:, None] * col
        den = den + e
    rgb = (num / den[:, None]).reshape(H, W, 3)
    alpha = (1 - np.exp(log_miss)).reshape(H, W)
    return rgb, alpha


def _face_shade(verts, faces, cam, light: Lighting):
    v = verts[faces]
    n = np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0])
    n /= np.linalg.norm(n, axis=1, keepdims=True)
    n = np.where(((cam.eye - v.mean(1)) * n).sum(1, keepdims=True) < 0, -n, n)
    d = np.asarray(light.direction) / np.linalg.norm(light.direction)
    lam = np.maximum(0, -(n @ d))
    return light.ambient * np.asarray(light.ambient_color) + lam[:, None] * light.directional * np.asarray(
        light.directional_color)


@pytest.mark.parametrize(("sigma", "gamma", "size"), [(1e-4, 1e-4, 32), (3e-3, 1e-2, 24)])
def test_soft_equals_dense_reference(sigma, gamma, size):
    mesh = load_mesh("builtin:mesh/superquadric")
    rng = np.random.default_rng(0)
    colors = rng.uniform(0, 1, (mesh.n_vertices, 3))
    cam = Camera.orbit(4.0, 35, 20, width=size, height=size, fov_y_deg=50)
    light = Lighting(ambient=0.4, directional=0.6, direction=(0.3, -0.2, -1.0))
    settings = RasterSettings(sigma=sigma, gamma=gamma, background=(0.2, 0.3, 0.4))
    out = rasterize(torch.tensor(mesh.vertices), torch.tensor(mesh.faces), cam,
                    attributes=Attributes(vertex_colors=torch.tensor(colors)), lighting=light, settings=settings)
    ref_rgb, ref_alpha = _dense_soft(mesh.vertices, mesh.faces, colors, _face_shade(mesh.vertices, mesh.faces, cam,
                                     light), cam, sigma, gamma, settings.eps, settings.background)
    assert 0.1 < ref_alpha.mean() < 0.9
    print("max |alpha - ref|", np.abs(out.alpha[0, 0].numpy() - ref_alpha).max(),
          "max |rgb - ref|", np.abs(out.rgb[0].permute(1, 2, 0).numpy() - ref_rgb).max())
    np.testing.assert_allclose(out.alpha[0, 0].numpy(), ref_alpha, atol=1e-6, rtol=0)
    np.testing.assert_allclose(out.rgb[0].permute(1, 2, 0).numpy(), ref_rgb, atol=1e-6, rtol=0)


def test_soft_converges_to_hard_silhouette():
    mesh = load_mesh("builtin:mesh/cup")
    cam = Camera.orbit(3.0, 60, 30, target=(0.1, 0, 0.45), width=64, height=64)
    v, f = torch.tensor(mesh.vertices), torch.tensor(mesh.faces)
    hard = rasterize(v, f, cam, mode="hard").alpha
    errs = []
    for sigma in (1e-3, 1e-4, 1e-5, 1e-6, 1e-8):
        soft = rasterize(v, f, cam, settings=RasterSettings(sigma=sigma)).alpha
        errs.append(float((soft - hard).abs().mean()))
    assert all(a > b for a, b in zip(errs, errs[1:], strict=False)), errs
    assert errs[-1] < 1e-3
    soft = rasterize(v, f, cam, settings=RasterSettings(sigma=1e-8)).alpha
    assert torch.equal(soft > 0.5, hard > 0.5) or float(((soft > 0.5) != (hard > 0.5)).float().sum()) <= 2


def test_single_triangle_alpha_area_equals_analytic_area():
    cam = Camera.orbit(4.0, 10, 15, width=256, height=256, fov_y_deg=40)
    tri = np.array([[0.2, -0.9, -0.6], [-0.1, 0.8, -0.4], [0.0, 0.1, 0.9]])
    uv, _ = cam.project(tri)
    analytic = 0.5 * abs((uv[1, 0] - uv[0, 0]) * (uv[2, 1] - uv[0, 1]) - (uv[2, 0] - uv[0, 0]) * (uv[1, 1] - uv[0, 1]))
    out = rasterize(torch.tensor(tri), torch.tensor([[0, 1, 2]]), cam, settings=RasterSettings(sigma=1e-5))
    area = float(out.alpha.sum())
    print("area", area, "analytic", analytic)
    assert abs(area - analytic) / analytic < 2e-3, (area, analytic)


def test_seeded_renders_are_byte_identical():
    mesh = load_mesh("builtin:mesh/blob/4")
    again = load_mesh("builtin:mesh/blob/4")
    assert np.array_equal(mesh.vertices, again.vertices)
    cam = Camera.orbit(3.5, 10, 10, width=48, height=48)
    gen = torch.Generator().manual_seed(3)
    colors = torch.rand(mesh.n_vertices, 3, generator=gen)
    outs = [rasterize(torch.tensor(mesh.vertices, dtype=torch.float32), torch.tensor(mesh.faces), cam,
                      attributes=Attributes(vertex_colors=colors), lighting=Lighting()) for _ in range(2)]
    assert outs[0].rgb.numpy().tobytes() == outs[1].rgb.numpy().tobytes()
    assert outs[0].alpha.numpy().tobytes() == outs[1].alpha.numpy().tobytes()
