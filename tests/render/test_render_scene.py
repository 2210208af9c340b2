"""Scene config (strict keys, clear errors), user meshes through trimesh, primitives, textures, seeding."""

from __future__ import annotations

import numpy as np
import pytest

from traingen.core.errors import ConfigError, DataError
from traingen.render.primitives import BUILTIN_CLASSES, DISTRACTOR_TYPES, ground_plane
from traingen.render.scene import (
    Catalogue,
    MeshSpec,
    SceneConfig,
    load_mesh,
    load_scene,
    sample_scene,
    scene_from_dict,
)
from traingen.render.textures import PROCEDURAL, texture_pool


def test_defaults_follow_the_paper():
    cfg = scene_from_dict({"version": 1})
    assert cfg.camera.azimuth == (0.0, 360.0) and cfg.camera.elevation == (5.0, 30.0)
    assert cfg.camera.pan == cfg.camera.tilt == cfg.camera.roll == (-30.0, 30.0)
    assert cfg.lights.count == (1, 12) and cfg.distractors.count == (0, 20)
    assert cfg.classes == ["car", "chair", "mug"]
    assert {"cone", "pyramid", "sphere", "cylinder", "partial-torus", "arrow"} <= set(DISTRACTOR_TYPES)


@pytest.mark.parametrize("data,field", [
    ({"version": 1, "camera": {"azimut": [0, 10]}}, "camera.azimut"),
    ({"version": 1, "bogus": 1}, "bogus"),
    ({"version": 1, "lights": {"count": "many"}}, "lights.count"),
    ({"version": 1, "camera": {"elevation": [30, 5]}}, "camera.elevation"),
    ({"version": 1, "lights": {"count": [1, 40]}}, "lights.count"),
    ({"version": 1, "distractors": {"types": ["cone", "teapot"]}}, "distractors.types"),
    ({"version": 1, "objects": {"builtin": ["boat"]}}, "objects.builtin"),
    ({"version": 1, "objects": {"meshes": [{"path": "a.obj"}]}}, "objects.meshes[0]"),
])
def test_bad_scene_keys_name_the_field(data, field):
    with pytest.raises(ConfigError) as e:
        scene_from_dict(data)
    assert e.value.field == field
    if "meshes" in field:
        assert "class_name" in str(e.value)


def test_scene_file_without_version_and_with_bad_key(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text("width: 64\n")
    with pytest.raises(ConfigError, match="version"):
        load_scene(p)
    p.write_text("version: 1\ncamera:\n  rol: [0, 1]\n")
    with pytest.raises(ConfigError) as e:
        load_scene(p)
    assert str(p) in str(e.value) and e.value.field == "camera.rol"


def test_user_mesh_loads_normalised_and_relative_to_the_scene_file(tmp_path):
    import trimesh

    trimesh.creation.box(extents=(2.0, 1.0, 4.0)).export(tmp_path / "tall.ply")
    trimesh.creation.icosphere(subdivisions=1, radius=3.0).export(tmp_path / "ball.stl")
    (tmp_path / "s.yaml").write_text(
        "version: 1\nobjects:\n  meshes:\n    - {path: tall.ply, class_name: box, size: 2.0}\n"
        "    - {path: ball.stl, class_name: ball}\n")
    cfg = load_scene(tmp_path / "s.yaml")
    assert cfg.classes == ["box", "ball"]
    cat = Catalogue.build(cfg)
    tall = cat.meshes[cat.class_meshes[0][0]]
    lo, hi = tall.bounds()
    np.testing.assert_allclose(hi - lo, [1.0, 0.5, 2.0], atol=1e-6)  # largest extent 2 m, proportions kept
    assert lo[2] == pytest.approx(0.0) and (lo[:2] + hi[:2]) == pytest.approx([0.0, 0.0])


def test_bad_meshes_give_clear_errors(tmp_path):
    with pytest.raises(DataError, match="not found") as e:
        load_mesh(MeshSpec(str(tmp_path / "missing.obj"), "x"))
    assert "missing.obj" in str(e.value)
    empty = tmp_path / "empty.obj"
    empty.write_text("# nothing here\n")
    with pytest.raises(DataError, match="no triangles|cannot read") as e:
        load_mesh(MeshSpec(str(empty), "x"))
    assert "empty.obj" in str(e.value)
    junk = tmp_path / "junk.glb"
    junk.write_bytes(b"\x00\x01 not a gltf at all")
    with pytest.raises(DataError, match="cannot read|no triangles") as e:
        load_mesh(MeshSpec(str(junk), "x"))
    assert "junk.glb" in str(e.value)
    bad_index = tmp_path / "bad.obj"
    bad_index.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 9\n")
    with pytest.raises(DataError):
        load_mesh(MeshSpec(str(bad_index), "x"))


@pytest.mark.parametrize("name", sorted(DISTRACTOR_TYPES) + sorted(BUILTIN_CLASSES))
def test_primitives_are_well_formed(name):
    m = (DISTRACTOR_TYPES.get(name) or BUILTIN_CLASSES[name])()
    assert m.vertices.dtype == np.float32 and m.faces.dtype == np.int32
    assert m.faces.min() >= 0 and m.faces.max() < len(m.vertices)
    assert np.isfinite(m.uvs).all() and m.uvs.shape == (len(m.vertices), 2)
    np.testing.assert_allclose(np.linalg.norm(m.normals, axis=1), 1.0, atol=1e-5)
    assert m.vertices[:, 2].min() == pytest.approx(0.0, abs=1e-6)  # rests on the ground
    assert 0.3 < np.ptp(m.vertices, axis=0).max() < 5.0
    area = np.linalg.norm(np.cross(m.vertices[m.faces[:, 1]] - m.vertices[m.faces[:, 0]],
                                   m.vertices[m.faces[:, 2]] - m.vertices[m.faces[:, 0]]), axis=1)
    assert area.sum() > 0.1


def test_sphere_normals_point_outward():
    m = DISTRACTOR_TYPES["sphere"]()
    centre = np.array([0.0, 0.0, 0.5])
    radial = (m.vertices - centre) / np.linalg.norm(m.vertices - centre, axis=1, keepdims=True)
    assert (np.sum(radial * m.normals, axis=1) > 0.99).all()
    assert ground_plane().vertices[:, 2].max() == 0.0


def test_scene_draw_is_a_function_of_seed_and_index():
    cfg = SceneConfig()
    cat = Catalogue.build(cfg)
    a = sample_scene(cfg, cat, seed=5, index=11).to_meta()
    b = sample_scene(cfg, cat, seed=5, index=11).to_meta()
    c = sample_scene(cfg, cat, seed=5, index=12).to_meta()
    assert a == b and a != c
    assert 1 <= len(a["objects"]) <= 14 and 0 <= len(a["distractors"]) <= 20 and 1 <= len(a["lights"]) <= 12
    cam = a["camera"]["meta"]
    assert 5 <= cam["elevation_deg"] <= 30 and -30 <= cam["roll_deg"] <= 30


def test_draws_cover_the_ranges():
    cfg = SceneConfig()
    cat = Catalogue.build(cfg)
    metas = [sample_scene(cfg, cat, seed=0, index=i).to_meta() for i in range(200)]
    az = [m["camera"]["meta"]["azimuth_deg"] for m in metas]
    n_d = [len(m["distractors"]) for m in metas]
    labels = {o["label"] for m in metas for o in m["objects"]}
    assert min(az) < 30 and max(az) > 330 and min(n_d) <= 1 and max(n_d) >= 19 and labels == {0, 1, 2}
    ground = sum(m["ground"] is not None for m in metas)
    assert 60 < ground < 140  # p_visible = 0.5


def test_fixed_mode_turns_randomization_off():
    cfg = scene_from_dict({"version": 1, "textures": {"randomize": False}, "lights": {"randomize": False}})
    cat = Catalogue.build(cfg)
    metas = [sample_scene(cfg, cat, seed=0, index=i).to_meta() for i in range(20)]
    assert all(o["texture"] == o["label"] for m in metas for o in m["objects"])
    assert len({str(m["lights"]) for m in metas}) == 1


def test_texture_pools(tmp_path):
    rng = np.random.default_rng(0)
    pool = texture_pool(rng, size=32, count=10, kinds=list(PROCEDURAL))
    assert pool.shape == (10, 32, 32, 3) and pool.dtype == np.uint8
    assert pool.reshape(10, -1).std(axis=1)[[0, 1, 2, 3]].min() > 1  # checker/stripes/noise/gradient vary
    import cv2

    for i in range(3):
        cv2.imwrite(str(tmp_path / f"t{i}.png"), np.full((40, 60, 3), 50 * i, np.uint8))
    pool = texture_pool(rng, size=16, count=8, kinds=[], folder=str(tmp_path))
    assert pool.shape == (3, 16, 16, 3) and sorted(pool[:, 0, 0, 0].tolist()) == [0, 50, 100]
    with pytest.raises(ConfigError, match="not found"):
        texture_pool(rng, size=16, count=4, kinds=[], folder=str(tmp_path / "none"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no images"):
        texture_pool(rng, size=16, count=4, kinds=[], folder=str(tmp_path / "empty"))
    with pytest.raises(ConfigError, match="unknown procedural"):
        texture_pool(rng, size=16, count=4, kinds=["plaid"])
