"""The 3D "data helps" experiment (traingen.mesh.usefulness): a tiny end-to-end run and its bookkeeping."""

from __future__ import annotations

import json

import numpy as np
import pytest

from traingen.core.errors import ConfigError
from traingen.mesh.usefulness import ExperimentConfig, load_data, main, run_experiment, verdict
from traingen.mesh.usefulness_data import (
    ARMS,
    DataConfig,
    build_data,
    check_sources,
    heldout_key,
    style_choice,
)

TINY_DATA = dict(classes=("cup", "chair"), train_members=2, test_members=1, per_class=4, test_per_class=4,
                 variants=1, style={"steps": 1, "size": 16, "views_per_step": 1},
                 style_sources=("photos/astronaut", "textures/brick"), test_photos=("coffee",),
                 transfer_size=64, texture_size=16,
                 transfer={"azimuths": 8, "elevations": [15.0], "starts": 1, "steps": 1, "refine_size": 32,
                           "grid_size": 32})


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("usefulness")
    cfg = ExperimentConfig(data=DataConfig(**TINY_DATA), epochs=1, seeds=(0,), input_size=32)
    return out, cfg, run_experiment(cfg, out)


def test_tiny_run_has_every_arm_and_writes_its_files(tiny_run):
    out, _, table = tiny_run
    assert list(table["arms"]) == list(ARMS)
    for r in table["arms"].values():
        assert len(r["accuracy"]) == 1 and 0.0 <= r["accuracy"][0] <= 100.0
        assert r["train_images"] == 8  # 2 classes x 4, equal in every arm
    assert table["test_images"] == 8
    assert json.loads((out / "table.json").read_text())["verdict"] == table["verdict"]
    assert (out / "figure.png").stat().st_size > 0


def test_test_set_textures_come_only_from_held_out_photos(tiny_run):
    out, cfg, table = tiny_run
    data = load_data(cfg.data, out / "data.npz")
    held_out = {f"photos/{p}" for p in cfg.data.test_photos}
    assert {m["texture"] for m in data.test.meta} == held_out
    assert {m["background"] for m in data.test.meta} <= held_out
    # The training arms never saw them: (c)'s styles are the style sources, (a)/(b) their own kinds.
    assert {m["texture"] for m in data.train["stylised"].meta} <= set(cfg.data.style_sources)
    assert {m["texture"] for m in data.train["flat"].meta} == {"flat"}
    assert not held_out & set(table["style_sources"])
    # Test shapes are held out too.
    assert {m["member"] for m in data.test.meta}.isdisjoint({m["member"] for m in data.train["flat"].meta})


def test_arms_differ_only_in_texture(tiny_run):
    out, cfg, _ = tiny_run
    data = load_data(cfg.data, out / "data.npz")
    ref = data.train["flat"]
    for arm in ARMS[1:]:
        s = data.train[arm]
        np.testing.assert_array_equal(s.labels, ref.labels)
        np.testing.assert_array_equal(s.masks, ref.masks)  # same member, view and framing
        assert all(a["azimuth"] == b["azimuth"] for a, b in zip(s.meta, ref.meta, strict=True))
        # ... but not the same pixels on the object.
        obj = ref.masks
        assert np.abs(s.images.astype(int) - ref.images.astype(int))[obj].mean() > 5
    # Background pixels are the same draw in every arm.
    bg = ~ref.masks
    np.testing.assert_array_equal(data.train["procedural"].images[bg], ref.images[bg])


def test_cached_data_is_reused_and_the_rerun_repeats(tiny_run):
    out, cfg, table = tiny_run
    again = run_experiment(cfg, out)
    assert again["data_reused"] is True
    assert {a: r["accuracy"] for a, r in again["arms"].items()} == {a: r["accuracy"] for a, r in table["arms"].items()}
    other = DataConfig(**{**TINY_DATA, "per_class": 3})
    assert load_data(other, out / "data.npz") is None


def test_cached_style_copies_and_test_set_give_the_same_bytes(tiny_run):
    out, cfg, _ = tiny_run
    d = cfg.data
    files = sorted((out / "style").glob("*.npz"))
    assert len(files) == len(d.classes) * d.train_members * d.variants
    first = load_data(d, out / "data.npz")  # made with freshly stylised copies and a fresh test set
    stages = []
    again = build_data(d, cache_dir=out, on_stage=stages.append)  # every copy and the test set from the cache
    assert "test set reused" in stages and "test_transfer" not in again.cpu_s
    assert again.cpu_s["style"] < 1.0 and again.cpu_s["style_all"] > 0.0
    for arm in ARMS:
        np.testing.assert_array_equal(again.train[arm].images, first.train[arm].images)
    np.testing.assert_array_equal(again.test.images, first.test.images)


def test_style_choice_spreads_sources_and_crops_stay_inside():
    cfg = DataConfig(variants=3)
    C, M, n = len(cfg.classes), cfg.train_members, len(cfg.style_sources)
    styles = [np.zeros((40 + 10 * i, 60, 3), np.uint8) for i in range(n)]
    rng = np.random.default_rng(0)
    seen = set()
    for ci in range(C):
        for k in range(M):
            srcs = []
            for j in range(cfg.variants):
                s, (y, x, side) = style_choice(cfg, ci, k, j, styles, rng)
                h, w = styles[s].shape[:2]
                assert 0 <= y and y + side <= h and 0 <= x and x + side <= w
                assert 0.5 * min(h, w) - 1 <= side <= min(h, w)
                srcs.append(s)
            assert len(set(srcs)) == cfg.variants  # a member's copies use different sources
            seen.update(srcs)
    assert seen == set(range(n))
    # A copy keeps its source when more copies are asked for.
    more = DataConfig(variants=5)
    assert [style_choice(more, 2, 1, j, styles, rng)[0] for j in range(3)] == \
        [style_choice(cfg, 2, 1, j, styles, rng)[0] for j in range(3)]


def test_test_set_key_ignores_training_settings():
    base = DataConfig()
    assert heldout_key(DataConfig(per_class=7, variants=9, style={"steps": 3}, style_crop=(0.2, 0.3))) == heldout_key(base)
    assert heldout_key(DataConfig(test_photos=("coffee",))) != heldout_key(base)
    assert heldout_key(DataConfig(test_per_class=7)) != heldout_key(base)
    with pytest.raises(ConfigError, match="style_crop"):
        DataConfig(style_crop=(0.8, 0.5))


def test_style_sources_and_test_photos_must_not_overlap():
    with pytest.raises(ConfigError, match="held out"):
        check_sources(("photos/coffee", "textures/brick"), ("coffee", "rocket"))
    with pytest.raises(ConfigError, match="style source"):
        check_sources(("photos/nope",), ("coffee",))
    with pytest.raises(ConfigError, match="unknown test photo"):
        DataConfig(test_photos=("moon",))
    with pytest.raises(ConfigError, match="families"):
        DataConfig(classes=("cup", "teapot"))


def test_verdict_arithmetic():
    def arms(a, b, c):
        return {"flat": {"mean": a}, "procedural": {"mean": b}, "stylised": {"mean": c}}

    assert verdict(arms(50.0, 60.0, 60.0))["met"] is True
    v = verdict(arms(50.0, 60.0, 54.0))
    assert v["met"] is False and v["beats_a_by_5"] is False and v["c_minus_a"] == 4.0
    v = verdict(arms(40.0, 60.0, 59.5))
    assert v["beats_a_by_5"] is True and v["no_worse_than_b"] is False and v["met"] is False


def test_cli_reports_config_errors(capsys, tmp_path):
    assert main(["--out", str(tmp_path), "--classes", "cup", "--quiet"]) == 2
    assert "classes" in capsys.readouterr().err
