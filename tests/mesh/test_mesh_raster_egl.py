"""The hard forward agrees with the EGL renderer (traingen.render.gl.render_mesh) on >= 99.9 % of pixels."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from traingen.mesh.builtin import load_mesh
from traingen.mesh.raster import rasterize
from traingen.render.camera import Camera


@pytest.mark.parametrize(("spec", "size", "az", "el"), [("builtin:mesh/teapot", 128, 30.0, 25.0),
                                                         ("builtin:mesh/chair", 96, 210.0, 35.0)])
def test_hard_silhouette_and_depth_agree_with_egl(spec, size, az, el):
    from traingen.render.gl import render_mesh

    mesh = load_mesh(spec)
    centre = mesh.bounds().mean(0)
    radius = float(np.linalg.norm(mesh.vertices - centre, axis=1).max())
    cam = Camera.orbit(radius * 3.0, az, el, target=tuple(centre), width=size, height=size, fov_y_deg=45)
    gl = render_mesh(mesh.vertices, mesh.faces, cam)
    out = rasterize(torch.tensor(mesh.vertices), torch.tensor(mesh.faces), cam, mode="hard")
    ours = out.face_id[0].numpy() >= 0
    theirs = gl["instance_id"] == 1
    assert theirs.sum() > 0.05 * size * size
    agree = float((ours == theirs).mean())
    print(spec, "agreement", agree)
    assert agree >= 0.999, agree
    both = ours & theirs
    np.testing.assert_allclose(out.depth[0].numpy()[both], gl["depth"][both], rtol=1e-4)
