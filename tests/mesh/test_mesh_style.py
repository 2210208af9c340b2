"""2D→3D style transfer and 3D DeepDream (traingen.mesh.style, traingen.mesh.dream)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from traingen.core.errors import ConfigError, DataError
from traingen.data import open_source
from traingen.mesh.builtin import load_mesh
from traingen.mesh.dream import DreamConfig, dream, mean_activation
from traingen.mesh.io import read_mesh, save_mesh
from traingen.mesh.raster import Attributes, rasterize
from traingen.mesh.style import (
    StyleConfig,
    bake_cubes,
    edge_length_variance,
    heldout_style_loss,
    masked_tv,
    stylize,
)
from traingen.render.camera import Camera


@pytest.fixture(scope="module")
def brick():
    return open_source("builtin:textures")[0].image


def test_heldout_style_loss_falls_5x_in_50_steps_at_64px(brick):
    mesh = load_mesh("builtin:mesh/blob/1")
    cfg = StyleConfig(steps=50, size=64)
    before = heldout_style_loss(stylize(mesh, brick, StyleConfig(steps=0, size=64)).mesh, brick, cfg)
    after = heldout_style_loss(stylize(mesh, brick, cfg, seed=0).mesh, brick, cfg)
    assert before / after >= 5.0, (before, after)


def test_seeded_runs_are_identical_and_seed_matters(brick):
    mesh = load_mesh("builtin:mesh/blob/1")
    cfg = StyleConfig(steps=2, size=16, vertices=True)
    a, b = stylize(mesh, brick, cfg, seed=3), stylize(mesh, brick, cfg, seed=3)
    c = stylize(mesh, brick, cfg, seed=4)
    assert a.losses == b.losses
    assert np.array_equal(a.mesh.texture, b.mesh.texture) and np.array_equal(a.mesh.vertices, b.mesh.vertices)
    assert not np.array_equal(a.mesh.texture, c.mesh.texture)


def test_baked_atlas_renders_like_the_cubes(tmp_path):
    mesh = load_mesh("builtin:mesh/blob/1").normalized(1.0)
    g = torch.Generator().manual_seed(0)
    cubes = torch.rand(mesh.n_faces, 2, 2, 2, 3, generator=g)
    cubes = cubes.mean((1, 2, 3), keepdim=True).expand_as(cubes).contiguous()  # one colour per face
    baked = bake_cubes(mesh, cubes.numpy())
    save_mesh(baked, tmp_path / "m.obj")
    back = read_mesh(tmp_path / "m.obj")
    cam = Camera.orbit(3.0, 30, 20, width=64, height=64)
    ref = rasterize(torch.tensor(mesh.vertices, dtype=torch.float32), torch.tensor(mesh.faces), cam, mode="hard",
                    attributes=Attributes(texture_cubes=cubes))
    got = rasterize(torch.tensor(back.vertices, dtype=torch.float32), torch.tensor(back.faces), cam, mode="hard",
                    attributes=Attributes.from_mesh(back))
    inside = ref.alpha[0, 0] > 0.5
    assert torch.equal(inside, got.alpha[0, 0] > 0.5)
    err = (ref.rgb - got.rgb).abs()[0][:, inside]
    assert float(err.max()) <= 1.5 / 255 + 1e-6  # 8-bit PNG round trip


def test_masked_tv_and_edge_variance_match_float64_formulas():
    g = torch.Generator().manual_seed(1)
    rgb, alpha = torch.rand(2, 3, 5, 6, generator=g, dtype=torch.float64), torch.rand(2, 1, 5, 6, generator=g,
                                                                                     dtype=torch.float64)
    x, a = rgb.numpy(), alpha.numpy()[:, 0]
    dh = np.mean([((x[n, :, i + 1, j] - x[n, :, i, j]) ** 2).sum() * a[n, i + 1, j] * a[n, i, j]
                  for n in range(2) for i in range(4) for j in range(6)])
    dw = np.mean([((x[n, :, i, j + 1] - x[n, :, i, j]) ** 2).sum() * a[n, i, j + 1] * a[n, i, j]
                  for n in range(2) for i in range(5) for j in range(5)])
    assert float(masked_tv(rgb, alpha)) == pytest.approx(dh + dw, rel=1e-12)
    v = torch.rand(5, 3, generator=g, dtype=torch.float64)
    e = torch.tensor([[0, 1], [1, 2], [2, 3], [3, 4], [0, 4]])
    lengths = [np.linalg.norm(v[i].numpy() - v[j].numpy()) for i, j in e.tolist()]
    assert float(edge_length_variance(v, e)) == pytest.approx(np.var(lengths, ddof=1), rel=1e-12)


def test_dream_raises_the_layer_activation():
    mesh = load_mesh("builtin:mesh/blob/1")
    cfg = DreamConfig(steps=8, size=32, network="random-multiscale", layer="k11")
    before = mean_activation(dream(mesh, DreamConfig(steps=1, size=32, lr_texture=0.0, lr_vertices=0.0)).mesh, cfg)
    after = mean_activation(dream(mesh, cfg, seed=0).mesh, cfg)
    assert after > before * 1.2, (before, after)
    classifier = dream(mesh, DreamConfig(steps=2, size=32, network="mnist5k-classifier", layer="relu1"))
    assert np.isfinite(classifier.losses).all() and classifier.losses[-1] < 0


def test_clear_errors(brick):
    with pytest.raises(ConfigError, match="texture"):
        StyleConfig(texture="atlas")
    with pytest.raises(ConfigError, match="mode"):
        StyleConfig(vertices=True, mode="hard")
    with pytest.raises(ConfigError, match="vgg16"):
        stylize(load_mesh("builtin:mesh/blob/1"), brick, StyleConfig(steps=1, size=16, backbone="vgg16"))
    with pytest.raises(DataError, match="UVs"):
        m = load_mesh("builtin:mesh/blob/1")
        m.uv = None
        stylize(m, brick, StyleConfig(steps=1, size=16, texture="uv"))
    with pytest.raises(ConfigError, match="layer"):
        dream(load_mesh("builtin:mesh/blob/1"), DreamConfig(steps=1, size=16, layer="nope"))


def test_cli_style_variants_are_byte_identical(tmp_path):
    import json

    from typer.testing import CliRunner

    from traingen.cli.main import app

    outs = []
    for name in ("a", "b"):
        out = tmp_path / name
        r = CliRunner().invoke(app, ["mesh", "style", "builtin:mesh/blob/1", "builtin:textures/brick", str(out),
                                     "--steps", "2", "--size", "16", "--n", "2", "--styles", "builtin:textures",
                                     "--seed", "5", "--quiet"])
        assert r.exit_code == 0, r.output
        outs.append(out)
    for rel in ("variant_0/mesh.obj", "variant_0/mesh.png", "variant_1/mesh.png", "turntable.png"):
        assert (outs[0] / rel).read_bytes() == (outs[1] / rel).read_bytes(), rel
    assert (outs[0] / "variant_0/mesh.png").read_bytes() != (outs[0] / "variant_1/mesh.png").read_bytes()
    res = json.loads((outs[0] / "result.json").read_text())
    assert len(res["loss"]) == 2 and res["config"]["size"] == 16 and len(res["variants"]) == 2
    back = read_mesh(outs[0] / "variant_1/mesh.obj")
    assert back.texture is not None and back.uv is not None
