"""Session-6 changes of the renderer: scipy-free tight boxes, batched uniforms, compact scene records,
dead-leaves textures."""

from __future__ import annotations

import numpy as np
import pytest

from traingen.render.annotate import tight_boxes
from traingen.render.textures import PROCEDURAL, dead_leaves, texture_pool


def _reference_boxes(ids: np.ndarray, n: int) -> np.ndarray:
    """scipy's find_objects: the independent reference (the renderer no longer imports scipy)."""
    from scipy import ndimage

    out = np.zeros((n, 4), np.float32)
    for k, sl in enumerate(ndimage.find_objects(np.where(ids <= n, ids, 0), max_label=n)):
        if sl is not None:
            out[k] = (sl[1].start, sl[0].start, sl[1].stop, sl[0].stop)
    return out


def test_tight_boxes_match_find_objects():
    rng = np.random.default_rng(0)
    for _ in range(100):
        h, w = (int(v) for v in rng.integers(1, 40, 2))
        ids = rng.integers(0, 9, (h, w)).astype(np.int32)
        ids[rng.random((h, w)) < 0.7] = 0
        n = int(rng.integers(0, 10))
        np.testing.assert_array_equal(tight_boxes(ids, n), _reference_boxes(ids, n))


def test_tight_boxes_large_map_in_blocks():
    ids = np.zeros((3000, 3000), np.int32)  # 9 M pixels: one id per block
    ids[5:9, 7:100] = 3
    ids[2000:2999, :] = 2
    assert tight_boxes(ids, 3).tolist() == [[0, 0, 0, 0], [0, 2000, 3000, 2999], [7, 5, 100, 9]]


def test_scene_record_model_is_top_three_rows():
    from traingen.render.scene import Catalogue, sample_scene, scene_from_dict

    cfg = scene_from_dict({"version": 1, "objects": {"count": [3, 3]}, "distractors": {"count": [2, 2]}})
    draw = sample_scene(cfg, Catalogue.build(cfg), seed=0, index=5)
    meta = draw.to_meta()
    for placed, rec in zip(draw.objects + draw.distractors, meta["objects"] + meta["distractors"], strict=True):
        assert len(rec["model"]) == 12
        np.testing.assert_allclose(np.array(rec["model"]).reshape(3, 4), placed.model[:3], atol=5e-7)


def test_batched_uniforms_render_like_one_draw_at_a_time():
    """The batched matrix uploads give the pixels of separate renders composited by depth."""
    pytest.importorskip("moderngl")
    from traingen.core.seeding import Rng
    from traingen.render.camera import Camera
    from traingen.render.gl import GLRenderer
    from traingen.render.primitives import cube
    from traingen.render.scene import _random_rotation, model_matrix

    r = GLRenderer(48, 40)
    r.add_mesh("cube", cube(1.0))
    cam = Camera.orbit(6.0, 30, 25, width=48, height=40)
    rng = Rng(0, "test", 0)
    draws = [{"mesh": "cube", "model": model_matrix(_random_rotation(rng), 0.7 + 0.2 * k, (k - 1.0, 0.5 * k, 0.3)),
              "id": k + 1, "uv": (1.5, 1.0, 0.3 * k, 0.1, 0.2), "tint": (1.0, 0.9, 0.8)} for k in range(3)]
    together = r.render(cam, draws)
    alone = [r.render(cam, [d]) for d in draws]
    depth = np.stack([np.where(a.ids > 0, a.depth, np.inf) for a in alone])
    nearest = depth.argmin(0)
    covered = np.isfinite(depth.min(0))
    want_ids = np.where(covered, np.take_along_axis(np.stack([a.ids for a in alone]), nearest[None], 0)[0], 0)
    np.testing.assert_array_equal(together.ids, want_ids)
    rgb = np.stack([a.rgb for a in alone])
    want_rgb = np.take_along_axis(rgb, nearest[None, ..., None], 0)[0]
    assert np.array_equal(together.rgb[covered], want_rgb[covered])
    r.release()


def test_dead_leaves_is_deterministic_and_scale_rich():
    a = dead_leaves(np.random.default_rng(3), 64)
    b = dead_leaves(np.random.default_rng(3), 64)
    assert a.shape == (64, 64, 3) and a.dtype == np.float64 and np.array_equal(a, b)
    assert 0.0 <= a.min() and a.max() <= 1.0
    assert "dead-leaves" in PROCEDURAL
    # Piecewise-constant discs: most neighbouring pixels are equal, yet there are many distinct colours.
    same = np.mean(np.all(a[:, 1:] == a[:, :-1], axis=2))
    assert same > 0.6
    assert len(np.unique(a.reshape(-1, 3), axis=0)) > 20
    pool = texture_pool(np.random.default_rng(0), size=32, count=4, kinds=["dead-leaves"])
    assert pool.shape == (4, 32, 32, 3) and pool.dtype == np.uint8
