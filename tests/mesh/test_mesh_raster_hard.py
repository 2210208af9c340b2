"""Hard forward against trimesh ray casting through pixel centres (an independent reference)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import trimesh

from traingen.mesh.builtin import load_mesh
from traingen.mesh.raster import rasterize
from traingen.render.camera import Camera


def _ray_cast(mesh, cam: Camera):
    """Face id (−1 miss), linear depth and world hit point of the ray through every pixel centre."""
    tm = trimesh.Trimesh(mesh.vertices, mesh.faces, process=False)
    H, W = cam.height, cam.width
    jj, ii = np.meshgrid(np.arange(H) + 0.5, np.arange(W) + 0.5, indexing="ij")
    pix = np.stack([ii.ravel(), jj.ravel(), np.ones(H * W)], 1)
    dirs_cam = pix @ np.linalg.inv(cam.K).T
    dirs = dirs_cam @ cam.R  # camera -> world (R is world -> camera)
    origins = np.repeat(cam.eye[None], len(dirs), 0)
    inter = trimesh.ray.ray_triangle.RayMeshIntersector(tm)
    tri, ray, loc = inter.intersects_id(origins, dirs, multiple_hits=True, return_locations=True)
    face = np.full(H * W, -1)
    depth = np.full(H * W, np.inf)
    hit = np.zeros((H * W, 3))
    z = (loc - cam.eye) @ cam.R[2]  # linear depth of each hit
    order = np.lexsort((tri, z))  # nearest first, then lowest face id (the rasterizer's tie rule)
    seen = np.zeros(H * W, bool)
    for k in order:
        r = ray[k]
        if not seen[r]:
            seen[r] = True
            face[r], depth[r], hit[r] = tri[k], z[k], loc[k]
    return face.reshape(H, W), depth.reshape(H, W), hit.reshape(H, W, 3)


CASES = [
    ("builtin:mesh/teapot", 64, 30.0, 25.0),
    ("builtin:mesh/teapot", 128, 200.0, -15.0),
    ("builtin:mesh/cup", 256, 75.0, 40.0),
]


@pytest.mark.parametrize(("spec", "size", "az", "el"), CASES)
def test_hard_face_ids_equal_ray_casting(spec, size, az, el):
    mesh = load_mesh(spec)
    centre = mesh.bounds().mean(0)
    radius = float(np.linalg.norm(mesh.vertices - centre, axis=1).max())
    cam = Camera.orbit(radius * 3.0, az, el, target=tuple(centre), width=size, height=size, fov_y_deg=45)
    ref_face, ref_depth, ref_hit = _ray_cast(mesh, cam)
    out = rasterize(torch.tensor(mesh.vertices), torch.tensor(mesh.faces), cam, mode="hard")
    face = out.face_id[0].numpy()
    assert (ref_face >= 0).sum() > 0.05 * size * size  # the object is in view
    np.testing.assert_array_equal(face >= 0, ref_face >= 0)  # silhouette, to the pixel
    np.testing.assert_array_equal(face, ref_face)  # and every face id
    hit = face >= 0
    np.testing.assert_allclose(out.depth[0].numpy()[hit], ref_depth[hit], rtol=1e-9)
    # Perspective-correct barycentrics reproduce the world hit point.
    tri = mesh.vertices[mesh.faces[face[hit]]]
    point = (out.bary[0].numpy()[hit][:, :, None] * tri).sum(1)
    np.testing.assert_allclose(point, ref_hit[hit], atol=1e-9)


def test_hard_agrees_across_views_in_one_batch():
    mesh = load_mesh("builtin:mesh/bottle")
    cams = [Camera.orbit(5.0, az, 20, target=(0, 0, 0.8), width=48, height=40) for az in (0, 120, 240)]
    v, f = torch.tensor(mesh.vertices), torch.tensor(mesh.faces)
    batched = rasterize(v, f, cams, mode="hard")
    for b, cam in enumerate(cams):
        single = rasterize(v, f, cam, mode="hard")
        assert torch.equal(batched.face_id[b], single.face_id[0])
        ref_face, _, _ = _ray_cast(mesh, cam)
        np.testing.assert_array_equal(single.face_id[0].numpy(), ref_face)
