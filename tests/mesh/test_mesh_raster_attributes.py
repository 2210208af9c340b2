"""Colour lookups against independent references: OpenCV remap (UV), scipy map_coordinates (cubes)."""

from __future__ import annotations

import cv2
import numpy as np
import torch
from scipy.ndimage import map_coordinates

from traingen.mesh.builtin import load_mesh
from traingen.mesh.raster import Attributes, rasterize
from traingen.mesh.raster_attributes import bilinear, cube_lookup
from traingen.render.camera import Camera


def test_uv_bilinear_equals_opencv_remap():
    rng = np.random.default_rng(0)
    tex = rng.uniform(0, 1, (13, 17, 3)).astype(np.float32)
    uv = rng.uniform(-0.05, 1.05, (500, 2))
    ours = bilinear(torch.tensor(tex, dtype=torch.float64), torch.tensor(uv)).numpy()
    # OpenCV puts texel centres on integers: x = u·W − 0.5, y = (1 − v)·H − 0.5 (DESIGN §3).
    mx = (uv[:, 0] * 17 - 0.5).astype(np.float32).reshape(1, -1)
    my = ((1 - uv[:, 1]) * 13 - 0.5).astype(np.float32).reshape(1, -1)
    ref = cv2.remap(tex, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)[0]
    np.testing.assert_allclose(ours, ref, atol=2e-3)  # OpenCV quantises the weights to 1/32


def test_texture_cube_trilinear_equals_scipy():
    rng = np.random.default_rng(1)
    cubes = rng.uniform(0, 1, (3, 4, 4, 4, 3))
    w = rng.dirichlet([1, 1, 1], size=50)
    f = rng.integers(0, 3, 50)
    ours = cube_lookup(torch.tensor(cubes), torch.tensor(f), torch.tensor(w)).numpy()
    coords = w.T * 3
    ref = np.stack([[map_coordinates(cubes[f[k], ..., c], coords[:, k:k + 1], order=1)[0] for c in range(3)]
                    for k in range(50)])
    np.testing.assert_allclose(ours, ref, atol=1e-12)


def test_vertex_colours_per_view_and_texture_render():
    mesh = load_mesh("builtin:mesh/bottle")
    cams = [Camera.orbit(4.0, az, 15, target=(0, 0, 0.8), width=32, height=32) for az in (0, 180)]
    v, f = torch.tensor(mesh.vertices), torch.tensor(mesh.faces)
    red = torch.zeros(2, mesh.n_vertices, 3, dtype=torch.float64)
    red[0, :, 0] = 1.0
    red[1, :, 2] = 1.0  # view 1 sees blue vertices
    out = rasterize(v, f, cams, mode="hard", attributes=Attributes(vertex_colors=red))
    hit = out.face_id >= 0
    assert torch.allclose(out.rgb[0, 0][hit[0]], torch.tensor(1.0, dtype=torch.float64))
    assert torch.allclose(out.rgb[1, 2][hit[1]], torch.tensor(1.0, dtype=torch.float64))
    # A UV texture that is constant per half in u: every visible pixel takes one of the two colours.
    mesh.texture = np.zeros((4, 8, 3), np.uint8)
    mesh.texture[:, :4] = (255, 0, 0)
    mesh.texture[:, 4:] = (0, 0, 255)
    tex = rasterize(v, f, cams[0], mode="hard", attributes=Attributes.from_mesh(mesh, dtype=torch.float64))
    rgb = tex.rgb[0].permute(1, 2, 0)[tex.face_id[0] >= 0]
    assert (rgb.sum(1) - 1).abs().max() < 1e-9 and rgb[:, 1].abs().max() == 0
