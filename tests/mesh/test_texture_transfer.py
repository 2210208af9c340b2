"""Texture transfer (Wang et al. 2016) on synthetic photos with a known texture, light and pose."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from traingen.core.errors import ConfigError, DataError
from traingen.mesh.procedural import family_member, lathe
from traingen.mesh.raster import Attributes, Lighting, rasterize
from traingen.mesh.texture_charts import chart_lengths, pack_parts, texel_geometry
from traingen.mesh.texture_pose import Pose, PoseConfig, view_angle_error
from traingen.mesh.texture_shading import (
    GBuffer,
    fill_from_neighbours,
    fit_lighting,
    gbuffer,
    grabcut_mask,
    part_colour_outliers,
    sphere_directions,
    unreliable_pixels,
)
from traingen.mesh.texture_transfer import Photo, TransferConfig, psnr, transfer_texture

S = 64
LIGHT_DIR = np.array([-0.5, 0.3, -0.8]) / np.linalg.norm([-0.5, 0.3, -0.8])  # the direction light travels


def truth_texture(part: int) -> np.ndarray:
    """A smooth known albedo over the canonical chart (float64 formula of u, v)."""
    j, i = np.meshgrid(np.arange(S), np.arange(S))
    u, v = (j + 0.5) / S, 1 - (i + 0.5) / S
    if part == 0:
        return np.stack([0.55 + 0.25 * np.sin(2 * np.pi * u), 0.5 + 0.2 * np.cos(2 * np.pi * (u + v)),
                         0.45 + 0.2 * np.sin(4 * np.pi * v)], -1)
    return np.stack([0.8 + 0 * u, 0.3 + 0 * u, 0.2 + 0 * u], -1)


def independent_texture() -> np.ndarray:
    """A body albedo unrelated to the geometry: 4 cycles around × 3 along the chart, so that over the
    photographed side it correlates with n·l at |corr| 0.016 (``truth_texture(0)``'s single cycle around
    the cup follows the light's azimuth: 0.15)."""
    j, i = np.meshgrid(np.arange(S), np.arange(S))
    u, v = (j + 0.5) / S, 1 - (i + 0.5) / S
    return np.stack([0.55 + 0.2 * np.sin(8 * np.pi * u) * np.cos(6 * np.pi * v),
                     0.5 + 0.2 * np.cos(8 * np.pi * u + 1) * np.sin(6 * np.pi * v + 0.5),
                     0.45 + 0.15 * np.sin(2 * np.pi * (4 * u + 3 * v))], -1)


def make_photo(shape_seed: int, body: np.ndarray | None = None):
    truth = family_member("cup", np.random.default_rng(shape_seed))
    body = truth_texture(0) if body is None else body
    textured = pack_parts(truth, {0: body, 1: truth_texture(1)})
    pose = Pose(40.0, 20.0, 3.2, tuple(truth.bounds().mean(0) + [0.05, -0.03, 0.02]))
    cam = pose.camera(128, 128, 40.0)
    out = rasterize(torch.tensor(textured.vertices), torch.tensor(textured.faces), cam, mode="hard",
                    attributes=Attributes.from_mesh(textured, dtype=torch.float64),
                    lighting=Lighting(ambient=0.45, directional=0.55, direction=tuple(LIGHT_DIR)))
    unlit = rasterize(torch.tensor(textured.vertices), torch.tensor(textured.faces), cam, mode="hard",
                      attributes=Attributes.from_mesh(textured, dtype=torch.float64))
    return (truth, pose, cam, out.rgb[0].permute(1, 2, 0).numpy(), out.alpha[0, 0].numpy(),
            unlit.rgb[0].permute(1, 2, 0).numpy())


CFG = TransferConfig(pose=PoseConfig(steps=40, starts=2))


@pytest.fixture(scope="module")
def in_collection():
    """The photographed shape is one of three collection models (texture, light and pose unknown)."""
    truth, pose, cam, img, mask, unlit = make_photo(100)
    coll = [family_member("cup", np.random.default_rng(k)) for k in (1, 100, 3)]
    return truth, pose, cam, img, mask, unlit, transfer_texture([Photo(img, mask)], coll, CFG)


@pytest.fixture(scope="module")
def held_out():
    """The photographed shape is not in the collection."""
    truth, pose, cam, img, mask, unlit = make_photo(100)
    coll = [family_member("cup", np.random.default_rng(k)) for k in (1, 2, 3)]
    return truth, pose, img, transfer_texture([Photo(img, mask)], coll, CFG)


@pytest.fixture(scope="module")
def independent():
    """The in-collection case with a body texture unrelated to the geometry (for the n·l correlation)."""
    truth, pose, cam, img, mask, unlit = make_photo(100, independent_texture())
    coll = [family_member("cup", np.random.default_rng(k)) for k in (1, 100, 3)]
    return truth, pose, cam, img, mask, unlit, transfer_texture([Photo(img, mask)], coll, CFG)


@pytest.fixture(scope="module")
def held_out_independent():
    """The issue's exact condition: the photographed shape held out of the collection, and the body texture
    unrelated to the geometry (for the n·l correlation)."""
    truth, pose, cam, img, mask, unlit = make_photo(100, independent_texture())
    coll = [family_member("cup", np.random.default_rng(k)) for k in (1, 2, 3)]
    return truth, pose, cam, img, mask, unlit, transfer_texture([Photo(img, mask)], coll, CFG)


def _light_error_deg(light) -> float:
    """Angle between a fitted light's ``to_light`` and the photo's (−LIGHT_DIR), degrees."""
    return math.degrees(math.acos(min(1.0, float(np.dot(light.to_light, -LIGHT_DIR)))))


def _light_correlations(truth, cam, img, unlit, albedo):
    """corr(luminance, n·l) over the object for the photo, the recovered albedo and the true albedo."""
    gt = gbuffer(truth, cam)
    on = gt.mask & (albedo.sum(-1) > 0)
    ndl = np.maximum(gt.normal[on] @ -LIGHT_DIR, 0.0)
    lum = np.array([0.299, 0.587, 0.114])
    return tuple(float(np.corrcoef(x[on] @ lum, ndl)[0, 1]) for x in (img, albedo, unlit))


def test_retrieval_and_pose(in_collection):
    truth, pose, *_, res = in_collection
    r = res.photos[0]
    assert r.alignment.model_index == 1
    assert view_angle_error(r.alignment.pose, pose) <= 5.0
    assert r.alignment.iou >= 0.95
    # The photometric pass ran and was kept (its loss fell); it took the silhouette fit's 3.9° to 1.7°.
    assert r.alignment.photo_losses and r.alignment.photo_losses[-1] < r.alignment.photo_losses[0]
    assert view_angle_error(r.alignment.pose, pose) <= 3.0


def test_albedo_texels_and_rerender(in_collection):
    truth, pose, cam, img, mask, unlit, res = in_collection
    obs = res.observed[0]
    assert obs.mean() > 0.1
    # Issue target: >= 25 dB on the visible texels (measured 30.8 body / 35.6 handle; docs page).
    assert psnr(res.part_textures[0], truth_texture(0), obs) >= 25.0
    assert psnr(res.part_textures[1], truth_texture(1), res.observed[1]) >= 25.0
    # Issue target 25 dB (24.9 with the silhouette pose alone; 25.9 after the photometric pass).
    assert res.photos[0].rerender_psnr >= 25.0


def test_shading_removed(in_collection):
    """With the original test texture: dividing out the fitted light removes most of the correlation.

    This texture's own albedo correlates with n·l (0.15: its sinusoid around the cup follows the light's
    azimuth), so the issue's |corr| <= 0.1 is tested on the geometry-independent texture below.
    """
    truth, pose, cam, img, mask, unlit, res = in_collection
    c_photo, c_albedo, c_truth = _light_correlations(truth, cam, img, unlit, res.photos[0].albedo)
    assert c_photo > 0.8 and abs(c_truth) < 0.2
    # Measured 0.180 against the true albedo's 0.158 (session 5: 0.27).
    assert abs(c_albedo) <= 0.25 and abs(c_albedo) <= 0.4 * c_photo
    # The light itself: measured 0.38° off, ambient 0.450 (session 5: 4.6°, 0.451).
    light = res.photos[0].light
    assert _light_error_deg(light) <= 2.0 and abs(light.ambient - 0.45) <= 0.02


def test_shading_removed_independent_texture(independent):
    """The issue's |corr(albedo, n·l)| <= 0.1 on a texture whose true albedo is uncorrelated with n·l.

    Measured (session 6, per-pixel biweight + part-balanced light fit): true albedo −0.008, photo 0.87,
    recovered albedo 0.034 (session 5: 0.156, with the light 3.9° off and ambient 0.50 because the aligned
    model's misregistered rim and handle pixels flattened the fitted shading); light 0.48° off, ambient
    0.449 (truth 0.45). Body texels 28.2 dB (session 5: 24.4).
    """
    truth, pose, cam, img, mask, unlit, res = independent
    c_photo, c_albedo, c_truth = _light_correlations(truth, cam, img, unlit, res.photos[0].albedo)
    assert abs(c_truth) < 0.05 and c_photo > 0.7
    assert abs(c_albedo) <= 0.1
    light = res.photos[0].light
    assert _light_error_deg(light) <= 2.0 and abs(light.ambient - 0.45) <= 0.02
    assert psnr(res.part_textures[0], independent_texture(), res.observed[0]) >= 25.0
    assert psnr(res.part_textures[1], truth_texture(1), res.observed[1]) >= 25.0


def test_shading_removed_held_out_shape(held_out_independent):
    """The issue's |corr(albedo, n·l)| <= 0.1 with the photographed shape held out of the collection.

    The nearest model's (member 1) handle is not the photographed one: without the part-colour test its
    handle pixels drawn over the photo's body (same brightness, other colour) pulled the light 4.4° off and
    left corr 0.152 (session 6 docs: 0.115). Measured with it (session 7): light 1.65°, ambient 0.451,
    corr 0.025; every pixel it excluded is a true part mismatch (38 of 38)."""
    truth, pose, cam, img, mask, unlit, res = held_out_independent
    r = res.photos[0]
    assert view_angle_error(r.alignment.pose, pose) <= 5.0 and r.rerender_psnr >= 25.0
    c_photo, c_albedo, c_truth = _light_correlations(truth, cam, img, unlit, r.albedo)
    assert abs(c_truth) < 0.05 and c_photo > 0.7
    assert abs(c_albedo) <= 0.1
    assert _light_error_deg(r.light) <= 3.0 and abs(r.light.ambient - 0.45) <= 0.02
    # The excluded pixels are the model's handle drawn over the photo's body (oracle: the true G-buffer).
    gt, gf = gbuffer(truth, cam), gbuffer(r.alignment.mesh, r.alignment.pose.camera(128, 128, 40.0))
    mismatch = gt.mask & gf.mask & (gt.part != gf.part) & (mask > 0.5)
    assert r.excluded.sum() >= 10
    assert (r.excluded & mismatch).sum() >= 0.95 * r.excluded.sum()
    assert (r.excluded & mismatch).sum() >= 0.7 * mismatch.sum()
    # Texels. Without the silhouette registration (stage 3b) the body read 24.3 dB on this high-frequency
    # texture (the held-out profile put rim texels and a column band on other surface points); with it
    # (session 8) 25.75 dB, handle 40.4 dB.
    assert r.flow is not None and np.abs(r.flow).max() > 0.5
    assert psnr(res.part_textures[1], truth_texture(1), res.observed[1]) >= 25.0
    assert psnr(res.part_textures[0], independent_texture(), res.observed[0]) >= 25.0


def test_part_colour_outliers_shading_invariant():
    """Shading (a white light's factor) never flags a pixel; pixels of another part's colour are flagged,
    exactly; a textured part's spread flags nothing of its own texture."""
    H, W = 20, 30
    rng = np.random.default_rng(3)
    part = np.where(np.arange(W)[None, :] < 10, 1, 0).repeat(H, 0)
    gb = GBuffer(np.zeros((H, W), int), part, np.zeros((H, W, 3)), np.ones((H, W)), np.zeros((H, W, 3)))
    shade = rng.uniform(0.2, 1.0, (H, W, 1))
    tex = rng.uniform(0.2, 0.8, (H, W, 3))  # part 0: random colours
    img = np.where(part[..., None] == 1, [0.8, 0.3, 0.2], tex) * shade
    assert not part_colour_outliers(img, gb).any()
    bad = np.zeros((H, W), bool)
    bad[3:8, 2:4] = True  # part 1 pixels showing a grey surface
    img2 = np.where(bad[..., None], np.array([0.5, 0.5, 0.5]) * shade, img)
    got = part_colour_outliers(img2, gb)
    assert np.array_equal(got, bad)
    dark = img2 * np.where(bad[..., None], 0.05, 1.0)  # too dark for a chromaticity: never flagged
    assert not part_colour_outliers(dark, gb).any()
    assert not part_colour_outliers(img2, gb, valid=~bad).any()


def test_held_out_shape(held_out):
    truth, pose, img, res = held_out
    assert view_angle_error(res.photos[0].alignment.pose, pose) <= 5.0
    assert res.photos[0].rerender_psnr >= 25.0
    # The texture comes from the nearest collection model (measured 28.9 body / 29.4 handle).
    assert psnr(res.part_textures[0], truth_texture(0), res.observed[0]) >= 25.0
    assert psnr(res.part_textures[1], truth_texture(1), res.observed[1]) >= 25.0


def test_texel_density_constant_across_family(held_out):
    *_, res = held_out
    for part in ("body", "handle"):
        du = np.array([d[part][0] for d in res.densities])
        dv = np.array([d[part][1] for d in res.densities])
        assert du.max() / du.min() <= 1.1 and dv.max() / dv.min() <= 1.1
    assert len(res.textured) == 3 and all(m.texture is not None for m in res.textured)


def test_fit_lighting_exact_on_piecewise_constant_albedo():
    rng = np.random.default_rng(0)
    n = sphere_directions(600)
    parts = rng.integers(0, 3, len(n))
    to_light = np.array([0.3, -0.4, 0.866])
    to_light /= np.linalg.norm(to_light)
    L = np.array([0.3, 0.6, 0.9])[parts] * (0.35 + 0.65 * np.maximum(n @ to_light, 0))
    fit = fit_lighting(L, n, parts)
    assert abs(fit.ambient - 0.35) < 1e-3
    assert math.degrees(math.acos(min(1.0, float(np.dot(fit.to_light, to_light))))) < 0.5
    assert np.allclose([fit.part_albedo[k] for k in range(3)], [0.3, 0.6, 0.9], atol=2e-3)


def test_part_reweighting_resists_a_textured_part():
    """A part whose albedo follows the normal (a texture mimicking light) biases the plain fit; the
    per-part reweighting lets the uniform parts set the light."""
    n = sphere_directions(1500)
    parts = (np.arange(len(n)) % 3 == 0).astype(int)  # part 1 uniform, part 0 textured
    to_light = np.array([0.3, -0.4, 0.866])
    to_light /= np.linalg.norm(to_light)
    albedo = np.where(parts == 1, 0.6, 0.5 + 0.2 * n[:, 0])
    L = albedo * (0.35 + 0.65 * np.maximum(n @ to_light, 0))

    def err(fit):
        return math.degrees(math.acos(min(1.0, float(np.dot(fit.to_light, to_light)))))

    plain, robust = fit_lighting(L, n, parts, rounds=1), fit_lighting(L, n, parts, rounds=3)
    assert err(plain) > 3.0
    assert err(robust) < 1.0 and abs(robust.ambient - 0.35) < 0.02


def test_biweight_resists_misregistered_normals():
    """Pixels whose model normal is not the photographed surface's (a rim or a thin handle moved by a pose
    error) act as noise in the regressor: the fit without the biweight flattens the shading (ambient too
    high); the biweight drops them. Truth from the float64 formula of the shading."""
    rng = np.random.default_rng(1)
    n = sphere_directions(3000)
    n = n[n[:, 2] > -0.2]  # the side a camera sees
    parts = (np.arange(len(n)) % 5 == 0).astype(int)  # part 1: a small uniform part, part 0 textured
    to_light = np.array([0.4, 0.2, 0.9])
    to_light /= np.linalg.norm(to_light)
    albedo = np.where(parts == 1, 0.7, 0.5 + 0.1 * np.sin(25 * n[:, 0] + 17 * n[:, 1]))
    L = albedo * (0.45 + 0.55 * np.maximum(n @ to_light, 0))
    model_n = n.copy()  # a quarter of the small part's pixels and 3 % of the rest take a normal from elsewhere
    bad = rng.random(len(n)) < np.where(parts == 1, 0.25, 0.03)
    model_n[bad] = n[rng.integers(0, len(n), int(bad.sum()))]

    def err(fit):
        return math.degrees(math.acos(min(1.0, float(np.dot(fit.to_light, to_light)))))

    plain = fit_lighting(L, model_n, parts, tukey_c=None)
    robust = fit_lighting(L, model_n, parts)
    assert plain.ambient - 0.45 > 0.008  # measured 0.4615
    assert abs(robust.ambient - 0.45) < 0.002 and err(robust) < 0.2  # measured 0.4499, 0.06°
    assert np.allclose([robust.part_albedo[0], robust.part_albedo[1]], [0.5, 0.7], atol=3e-3)
    assert 0.9 < robust.inliers < 0.99


def test_unreliable_pixels_and_fill():
    """A crease (normals 90° apart) flags the pixels within the radius on both sides; filling recovers a
    per-part constant exactly, from its own part only."""
    H, W = 12, 16
    normal = np.zeros((H, W, 3))
    normal[:, :8] = [0, 0, 1]
    normal[:, 8:] = [1, 0, 0]
    part = np.where(np.arange(W)[None, :] < 8, 0, 1).repeat(H, 0)
    gb = GBuffer(np.zeros((H, W), int), part, normal, np.ones((H, W)), np.zeros((H, W, 3)))
    bad = unreliable_pixels(gb, radius=2)
    assert bad[:, 6:10].all() and not bad[:, :6].any() and not bad[:, 10:].any()
    valid = np.ones((H, W), bool)
    valid[0, 0] = False
    assert unreliable_pixels(gb, radius=2, valid=valid)[0, 0]
    vals = np.where(part[..., None] == 0, [0.2, 0.4, 0.6], [0.9, 0.1, 0.3]) + 0.0
    noisy = np.where(bad[..., None], 5.0, vals)
    out = fill_from_neighbours(noisy, ~bad, bad, part)
    assert np.allclose(out, vals, atol=1e-12)


def test_texel_geometry_matches_cylinder_formula():
    r, h = 0.5, 1.2
    m = lathe([(r, 0.0), (r, h)], 64, part="side")
    (layer,) = texel_geometry(m, 0, 32)
    j, i = np.meshgrid(np.arange(32), np.arange(32))
    u, v = (j + 0.5) / 32, 1 - (i + 0.5) / 32
    p = layer.point
    assert layer.valid.all()
    ang = np.mod(np.arctan2(p[..., 1], p[..., 0]) / (2 * np.pi), 1.0)
    assert np.abs(ang - u).max() < 1e-9 + 0.5 / 64  # chord vs arc: u exact at the mesh's columns
    assert np.abs(p[..., 2] - v * h).max() < 1e-9
    lu, lv = chart_lengths(m, 0)
    assert abs(lu - 2 * np.pi * r) / (2 * np.pi * r) < 0.01 and abs(lv - h) < 1e-9


def test_grabcut_recovers_the_silhouette():
    *_, img, mask, _ = make_photo(100)
    ys, xs = np.nonzero(mask)
    box = (int(xs.min()) - 6, int(ys.min()) - 6, int(xs.max()) + 7, int(ys.max()) + 7)
    bg = np.zeros_like(img)
    bg[..., 2] = 0.6 + 0.1 * np.sin(np.arange(128) / 5.0)[None, :]
    photo = np.where(mask[..., None] > 0, img, bg)
    got = grabcut_mask(photo, box)
    inter, union = ((got > 0) & (mask > 0)).sum(), ((got > 0) | (mask > 0)).sum()
    assert inter / union >= 0.9


def test_bad_inputs_give_clear_errors():
    cup = family_member("cup")
    with pytest.raises(DataError, match="no photos"):
        transfer_texture([], [cup])
    bare = family_member("cup")
    bare.uv = None
    with pytest.raises(DataError, match="UVs and part labels"):
        transfer_texture([Photo(np.zeros((8, 8, 3)), np.ones((8, 8)))], [bare])
    with pytest.raises(DataError, match="does not match"):
        transfer_texture([Photo(np.zeros((8, 8, 3)), np.ones((9, 8)))], [cup])
    with pytest.raises(ConfigError, match="colour_outlier_k"):
        TransferConfig(colour_outlier_k=0.0)
    with pytest.raises(DataError, match="mask is empty"):
        transfer_texture([Photo(np.zeros((8, 8, 3)), np.zeros((8, 8)))], [cup])
