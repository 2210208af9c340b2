"""The ``mesh-style`` step: views of stylised meshes, masks vs trimesh ray casting, assets, run wiring."""

import json

import cv2
import numpy as np
import pytest

from traingen.core.errors import ConfigError
from traingen.pipeline.steps import STEPS, step_config

TINY = {"variants": 1, "views": 2, "size": 24, "style": {"steps": 2, "size": 24, "views_per_step": 1}}


def _style_png(path):
    """A small colour checkerboard written with OpenCV (BGR on disk)."""
    img = np.zeros((48, 48, 3), np.uint8)
    img[::8] = (0, 80, 255)
    img[:, ::6] = (255, 200, 0)
    cv2.imwrite(str(path), img)
    return str(path)


def _raycast_silhouette(mesh_path, cam):
    """The object mask of ``cam``'s pixel centres by trimesh ray casting of the OBJ (independent loader)."""
    import trimesh

    tm = trimesh.load(mesh_path, force="mesh", process=False)
    h, w = cam.height, cam.width
    jj, ii = np.mgrid[0:h, 0:w]
    pix = np.stack([ii.ravel() + 0.5, jj.ravel() + 0.5, np.ones(h * w)], 1)
    d = (np.linalg.inv(cam.K) @ pix.T).T @ cam.R  # camera rays to world: R^T K^-1 p
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    origin = -cam.R.T @ cam.t
    hit = trimesh.ray.ray_triangle.RayMeshIntersector(tm).intersects_any(np.tile(origin, (h * w, 1)), d)
    return hit.reshape(h, w)


def test_views_labels_masks_and_assets(tmp_path):
    from traingen.mesh.io import read_mesh
    from traingen.pipeline.steps_mesh_style import DISTANCE, FOV_Y_DEG
    from traingen.render.camera import Camera

    cfg = step_config("mesh-style", {**TINY, "meshes": ["builtin:mesh/cup", "builtin:mesh/bottle/2"],
                                     "styles": _style_png(tmp_path / "style.png"), "background": [0.2, 0.4, 0.6],
                                     "assets": str(tmp_path / "assets")})
    step = STEPS.get("mesh-style")(cfg, seed=5)
    assert step.classes == ["cup", "bottle"] and step.default_count() == 4 and step.input is None
    got = step.make(0, 4)
    again = step.make(1, 3)  # a sample does not depend on the range it is made in
    for a, b in zip(got[1:3], again, strict=True):
        np.testing.assert_array_equal(a.image, b.image)
    assert [s.label for s in got] == [0, 0, 1, 1]
    assert [s.meta["params"]["variant"] for s in got] == [0, 0, 1, 1]
    assert not np.array_equal(got[0].image, got[1].image)
    bg = np.array([0.2, 0.4, 0.6]) * 255
    for s in got:
        obj = s.instance_mask > 0
        assert s.image.shape == (24, 24, 3) and s.image.dtype == np.uint8
        np.testing.assert_array_equal(s.mask, obj * (s.label + 1))
        assert 0.05 < obj.mean() < 0.9
        assert np.abs(s.image[~obj].astype(float) - bg).max() <= 1.0  # background is the configured colour
        ys, xs = np.nonzero(obj)
        np.testing.assert_array_equal(s.boxes, [[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]])
        assert s.box_labels.tolist() == [s.label]
        # the mask is the silhouette of the written asset seen by the sample's camera (trimesh ray casting)
        p = s.meta["params"]
        name = step.variant_info(p["variant"])["name"]
        cam = Camera.orbit(DISTANCE, p["azimuth_deg"], p["elevation_deg"], width=24, height=24, fov_y_deg=FOV_Y_DEG)
        ref = _raycast_silhouette(tmp_path / "assets" / name / "mesh.obj", cam)
        assert (ref & obj).sum() / (ref | obj).sum() >= 0.95, name
    # the assets: OBJ + MTL + PNG whose texels are the ones rendered, and a variant record
    for v in range(2):
        info = step.variant_info(v)
        folder = tmp_path / "assets" / info["name"]
        png = cv2.cvtColor(cv2.imread(str(folder / "mesh.png"), cv2.IMREAD_UNCHANGED), cv2.COLOR_BGR2RGB)
        np.testing.assert_array_equal(png, step.variant(v).texture)
        assert "map_Kd mesh.png" in (folder / "mesh.mtl").read_text()
        back = read_mesh(folder / "mesh.obj")
        assert back.n_faces == step.variant(v).n_faces and back.uv is not None
        rec = json.loads((folder / "variant.json").read_text())
        assert rec["mesh"] == info["mesh"] and rec["seed"] == info["seed"] and len(rec["style_loss"]) == 2
    # the object's colours come from the stylised texture, not a flat shade
    assert np.unique(got[0].image[got[0].instance_mask > 0].reshape(-1, 3), axis=0).shape[0] > 10


def test_config_errors_name_the_field(tmp_path):
    cls = STEPS.get("mesh-style")
    with pytest.raises(ConfigError, match="vews"):
        step_config("mesh-style", {"vews": 2})
    with pytest.raises(ConfigError, match="steps_"):
        cls(step_config("mesh-style", {**TINY, "style": {"steps_": 3}}))
    with pytest.raises(ConfigError, match="listed twice"):
        step_config("mesh-style", {"meshes": ["builtin:mesh/cup", "builtin:mesh/cup"]})
    with pytest.raises(ConfigError, match="elevation"):
        step_config("mesh-style", {"elevation": [40, 20]})
    with pytest.raises(ConfigError, match="nothere.obj") as e:
        cls(step_config("mesh-style", {**TINY, "meshes": ["builtin:mesh/cup", str(tmp_path / "nothere.obj")]}))
    assert e.value.field == "meshes[1]"
    with pytest.raises(ConfigError, match="unknown embedded mesh"):
        cls(step_config("mesh-style", {**TINY, "meshes": ["builtin:mesh/spaceship"]}))
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG not really")
    with pytest.raises(ConfigError, match="broken.png") as e:
        cls(step_config("mesh-style", {**TINY, "styles": str(bad)}))
    assert e.value.field == "styles"
    with pytest.raises(ConfigError, match="no such style image"):
        cls(step_config("mesh-style", {**TINY, "styles": str(tmp_path / "missing.jpg")}))


RECIPE = """version: 1
steps:
  - step: mesh-style
    meshes: [builtin:mesh/cup, builtin:mesh/bottle/2]
    variants: 1
    views: 2
    size: 24
    style: {{steps: 2, size: 24, views_per_step: 1}}
    assets: {assets}
output:
  format: {fmt}
  shard_size: 2
seed: 7
"""


def _files(root):
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != "run.json"}


def test_run_same_bytes_with_1_and_2_workers(tmp_path):
    import shutil

    from traingen.data import open_source
    from traingen.pipeline.run import run

    recipe = tmp_path / "r.yaml"
    recipe.write_text(RECIPE.format(assets=tmp_path / "assets", fmt="webdataset"))
    a = run(recipe, tmp_path / "w1", workers=1, report=False)
    assets1 = _files(tmp_path / "assets")
    shutil.rmtree(tmp_path / "assets")
    run(recipe, tmp_path / "w2", workers=2, report=False)
    assert a.counts == {"mesh-style": 4} and a.manifest["total"] == 4
    assert _files(tmp_path / "w1" / "data") == _files(tmp_path / "w2" / "data")
    assert _files(tmp_path / "assets") == assets1
    assert sorted(p.name for p in (tmp_path / "assets").iterdir()) == ["bottle-2-0", "cup-0"]
    data = open_source(str(tmp_path / "w1" / "data"))
    assert list(data.classes) == ["cup", "bottle"] and [data[i].label for i in range(4)] == [0, 0, 1, 1]
    assert data[2].mask is not None and set(np.unique(data[2].mask)) == {0, 2}
    doc = (tmp_path / "w1" / "recipe.yaml").read_text()
    assert "mesh-style" in doc and "views_per_step: 1" in doc
    # a format that cannot hold masks is refused before any work, leaving nothing behind
    bad = tmp_path / "bad.yaml"
    bad.write_text(RECIPE.format(assets=tmp_path / "assets3", fmt="imagefolder"))
    with pytest.raises(ConfigError, match="mask"):
        run(bad, tmp_path / "bad", report=False)
    assert not (tmp_path / "bad").exists() and not (tmp_path / "assets3").exists()
