"""Per-vertex features of detail transfer against closed-form values (sphere, open cylinder, cup)."""

from __future__ import annotations

import numpy as np

from traingen.mesh.atlas import build_atlas
from traingen.mesh.detail_features import (
    FEATURES,
    ambient_occlusion,
    sphere_directions,
    texel_features,
    thickness,
    vertex_feature_table,
)
from traingen.mesh.detail_metric import learn_weights, masked_blur, patch_descriptors
from traingen.mesh.geometric_features import weld
from traingen.mesh.procedural import icosphere, lathe


def test_sphere_directions_are_uniform_unit_vectors():
    d = sphere_directions(256)
    assert np.allclose(np.linalg.norm(d, axis=1), 1)
    assert np.abs(d.mean(0)).max() < 0.01  # balanced
    assert abs((d[:, 2] > 0).mean() - 0.5) < 0.01


def test_ambient_occlusion_convex_is_one_and_inside_of_a_tube_is_occluded():
    s = icosphere(3, 1.0)
    assert np.allclose(ambient_occlusion(s.vertices, s.faces), 1.0)
    # an open tube of radius 0.5 and height 4: at mid-height the inner wall sees the sky only through the ends
    prof = [(0.5, z) for z in np.linspace(0, 4, 33)]
    outer = weld(lathe(prof, 32))
    inner_v = outer.vertices * np.array([0.8, 0.8, 1.0])
    verts = np.concatenate([outer.vertices, inner_v])
    faces = np.concatenate([outer.faces, outer.faces[:, ::-1] + len(outer.vertices)])  # inner wall faces inward
    ao = ambient_occlusion(verts, faces)
    mid = np.abs(verts[:, 2] - 2) < 0.2
    inner = np.arange(len(verts)) >= len(outer.vertices)
    assert ao[mid & ~inner].min() > 0.95  # outside wall: open half-space
    # inner wall at mid-height: the visible solid angle through the two ends is tiny (< 3 % by the formula
    # 2·(1 − cos(atan(0.4 / 2))) / 2 for the cosine-weighted hemisphere, up to the shadow-map bias)
    assert ao[mid & inner].max() < 0.15


def test_thickness_of_sphere_and_slab():
    s = icosphere(3, 1.5)
    t = thickness(s.vertices, s.faces)
    assert np.median(t) > 0.98 * 3.0 and t.max() <= 3.0 + 1e-9  # the diameter
    # a closed thin lathe disc (radius 1, thickness 0.2): the flat faces measure the slab's thickness
    prof = [(0.0, 0.0), (0.5, 0.0), (1.0, 0.0), (1.0, 0.2), (0.5, 0.2), (0.0, 0.2)]
    disc = weld(lathe(prof, 48))
    tt = thickness(disc.vertices, disc.faces)
    flat = (np.hypot(disc.vertices[:, 0], disc.vertices[:, 1]) < 0.6) & (np.hypot(disc.vertices[:, 0],
                                                                                   disc.vertices[:, 1]) > 0.4)
    assert np.allclose(tt[flat], 0.2, rtol=0.05)


def test_texel_features_are_normalised_per_mesh():
    s = weld(icosphere(3, 2.0))
    table = vertex_feature_table(s.vertices, s.faces)
    assert table.shape == (s.n_vertices, len(FEATURES))
    atlas = build_atlas(s)
    tmaps, feats = texel_features(atlas, table, [16, 32])
    m = tmaps[-1].mask
    h = feats[-1][..., FEATURES.index("height")][m]
    assert abs(h.min()) < 0.05 and abs(h.max() - 1) < 0.05  # min–max
    for name in ("mean_curv_0", "mean_curv_16"):
        x = feats[-1][..., FEATURES.index(name)][m]
        assert abs(x.mean()) < 1e-9 and (x.std() < 1e-9 or abs(x.std() - 1) < 1e-9)


def test_masked_blur_ignores_uncovered_texels_and_metric_finds_the_feature():
    img = np.full((9, 9), 100.0)
    mask = np.zeros((9, 9), bool)
    mask[2:7, 2:7] = True
    img[mask] = 1.0
    assert np.allclose(masked_blur(img, mask, 1.5)[mask], 1.0)  # the 100s outside never leak in
    assert np.allclose(patch_descriptors(img, mask)[mask][:, 3:], 0)  # flat patch: zero local sd
    rng = np.random.default_rng(0)
    f = rng.random((2000, 4))
    d = np.cos(9 * f[:, 2])
    w = learn_weights(f, np.stack([d, d], 1), rng, n_pairs=2000)
    assert np.argmax(w) == 2 and w[2] > 0.8
