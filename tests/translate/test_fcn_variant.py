"""The class-textures render variant (``builtin:render-mask2rgb-classtex``) and the FCN experiment's
``--variant``: the scene the variant's config makes (checked on the renderer's own scene draws), rendered
pixels (objects of one class share a colour, unlike the default scene's), the cache names, and the variant
checks of the experiment's commands."""

from __future__ import annotations

import json

import numpy as np
import pytest

from traingen.core.errors import DataError
from traingen.data.render_mask2rgb import SEED, SIZE, VARIANTS


def _scene(variant: str):
    from traingen.render.scene import Catalogue, scene_from_dict

    cfg = scene_from_dict({"version": 1, "width": SIZE, "height": SIZE, **VARIANTS[variant]})
    return cfg, Catalogue.build(cfg)


def test_classtex_scene_gives_each_class_its_own_fixed_texture():
    from traingen.render.scene import sample_scene

    cfg, cat = _scene("class-textures")
    n_objects = 0
    for index in range(40):
        draw = sample_scene(cfg, cat, seed=SEED, index=index)
        for o in draw.objects:
            assert o.layer == o.label and o.uv == (1.0, 1.0, 0.0, 0.0, 0.0) and o.tint == (1.0, 1.0, 1.0)
        assert all(d.layer == cfg.textures.pool - 1 for d in draw.distractors)   # distractors: their own layer
        assert draw.ground is None and draw.background[0] == 0
        n_objects += len(draw.objects)
    assert n_objects > 40 and cfg.textures.pool == len(cat.classes) + 1
    # the default scene draws a layer per object at random: some object wears another class's layer
    cfg, cat = _scene("default")
    draws = [sample_scene(cfg, cat, seed=SEED, index=i) for i in range(10)]
    assert any(o.layer != o.label for d in draws for o in d.objects)


def test_classfam_scene_draws_each_class_from_its_own_family_of_layers():
    from traingen.core.errors import ConfigError
    from traingen.render.scene import sample_scene, scene_from_dict

    cfg, cat = _scene("class-families")
    n = cfg.textures.pool // cfg.textures.per_class
    kinds = cfg.textures.procedural
    used: dict[int, set[int]] = {}
    for index in range(60):
        draw = sample_scene(cfg, cat, seed=SEED, index=index)
        for o in draw.objects:
            # layer c + n*j: class c's kind, one of its per_class members; no tint or UV jitter
            assert o.layer % n == o.label and kinds[o.layer % len(kinds)] == kinds[o.label]
            assert o.uv == (1.0, 1.0, 0.0, 0.0, 0.0) and o.tint == (1.0, 1.0, 1.0)
            used.setdefault(o.label, set()).add(o.layer)
        assert all(d.layer == cfg.textures.pool - 1 for d in draw.distractors)
        assert kinds[(cfg.textures.pool - 1) % len(kinds)] == "dead-leaves"
    assert all(len(v) == cfg.textures.per_class for v in used.values()) and len(used) == len(cat.classes)
    with pytest.raises(ConfigError, match="textures.per_class"):
        scene_from_dict({"version": 1, "textures": {"pool": 4, "per_class": 5}})


def _class_colour_spread(pairs: np.ndarray) -> float:
    """Mean over classes of the spread (std over objects) of an object's mean colour, at full light."""
    from traingen.translate.sims_data import decode_labels

    per_class: dict[int, list[np.ndarray]] = {}
    for pair in pairs:
        labels = decode_labels(pair[:, :SIZE], 4)[0]
        rgb = pair[:, SIZE:].astype(np.float64)
        for c in (1, 2, 3):
            m = labels == c
            if m.sum() >= 20:
                col = rgb[m].mean(0)
                per_class.setdefault(c, []).append(col / max(col.max(), 1.0))   # brightness (light) divided out
    return float(np.mean([np.std(v, axis=0).mean() for v in per_class.values() if len(v) >= 3]))


def test_classtex_renders_objects_of_a_class_alike_and_caches_apart():
    pytest.importorskip("moderngl", reason="rendering needs the [render] extra")
    from traingen.data.cache import cache_dir
    from traingen.data.render_mask2rgb import render_range

    fixed = render_range(0, 24, variant="class-textures")
    random = render_range(0, 24)
    assert fixed.shape == random.shape == (24, SIZE, 2 * SIZE, 3)
    assert (cache_dir() / "datasets" / "render-mask2rgb-classtex-range-0-24-v1.npz").is_file()
    # an object's chromaticity is set by its class in the variant, by a random texture in the default
    assert _class_colour_spread(fixed) < 0.6 * _class_colour_spread(random)
    family = render_range(0, 24, variant="class-families")
    assert (cache_dir() / "datasets" / "render-mask2rgb-classfam-range-0-24-v1.npz").is_file()
    # a family's colours differ: between the fixed textures and the random ones
    assert _class_colour_spread(fixed) < _class_colour_spread(family)
    with pytest.raises(DataError, match="unknown variant"):
        render_range(0, 2, variant="photo")


def test_arm_config_takes_the_variants_data():
    from traingen.translate.fcn_experiment import arm_config

    p2p, l1 = arm_config("p2p", 8, variant="class-textures"), arm_config("l1", 8, variant="class-textures")
    assert p2p.data_a == l1.data_a == "builtin:render-mask2rgb-classtex@train"
    assert arm_config("p2p", 8).data_a == "builtin:render-mask2rgb@train"
    sims = arm_config("sims", 8, variant="class-textures")
    assert sims.model_config["bank"] == sims.data_a == "builtin:render-mask2rgb-classtex@train"
    assert arm_config("sims", 8).model_config["bank"] == "builtin:render-mask2rgb@train"
    with pytest.raises(DataError, match="unknown variant"):
        arm_config("p2p", 8, variant="photo")


def test_commands_refuse_mixed_variants(tmp_path):
    from traingen.translate import fcn_experiment as fx

    net = fx.SegUNet(width=4, levels=1)
    fx.save_segmenter(net, tmp_path / "segmenter-real", fx.SegConfig(width=4, levels=1), {"variant": "class-textures"})
    assert fx.work_variant(tmp_path) == "class-textures"
    with pytest.raises(DataError, match="variant 'class-textures', not 'default'"):
        fx.train_arm("p2p", tmp_path, 1.0, steps=1)             # refused before any training
    assert not (tmp_path / "p2p").exists()
    (tmp_path / "l1").mkdir()
    (tmp_path / "l1" / "budget.json").write_text(json.dumps({"name": "pix2pix L1 only", "steps": 1, "cpu_s": 1}))
    with pytest.raises(DataError, match="trained on variant 'default'"):   # a record without a variant: default
        fx.run_score(tmp_path)
    with pytest.raises(DataError, match="has not been trained"):
        fx.run_curve(tmp_path, "p2p")
