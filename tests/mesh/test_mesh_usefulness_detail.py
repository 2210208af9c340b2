"""Issue 9's third "data helps" demo (traingen.mesh.usefulness_detail): a tiny end-to-end run and its bookkeeping."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from traingen.core.errors import ConfigError
from traingen.mesh.usefulness_detail import (
    ARMS,
    DetailDemoConfig,
    data_key,
    gap_closed,
    main,
    periods,
    run_experiment,
    shape,
    true_displacement,
)
from traingen.mesh.usefulness_recon import load_sets

TINY = dict(kinds=("plain", "rings-6"), subdivisions=3, train_shapes=2, test_shapes=2, per_class=4,
            test_per_class=3, transfer={"size": 32, "levels": 2, "subdivisions": 0}, epochs=1, seeds=(0,))


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("usefulness-detail")
    cfg = DetailDemoConfig(**TINY)
    table = run_experiment(cfg, out)
    sets, extra = load_sets(out / "data.npz", data_key(cfg))
    return out, cfg, table, sets, extra


def test_tiny_run_has_every_arm_with_equal_counts(tiny_run):
    out, cfg, table, sets, _ = tiny_run
    assert list(table["arms"]) == list(ARMS)
    for r in table["arms"].values():
        assert r["train_images"] == 2 * 4 and len(r["accuracy"]) == 1
    assert table["test_images"] == 2 * 3
    assert json.loads((out / "table.json").read_text())["verdict"] == table["verdict"]
    assert (out / "figure.png").stat().st_size > 0
    assert len(table["transfers"]) == 2 * 2 and all(t["corr_with_truth"] is None
                                                   for t in table["transfers"] if t["kind"] == "plain")


def test_arms_share_shapes_views_and_light_and_differ_by_the_detail(tiny_run):
    _, cfg, _, sets, _ = tiny_run
    base, transferred, true = (sets[a] for a in ARMS)
    assert base[2] == transferred[2] == true[2] and np.array_equal(base[1], true[1])
    plain = base[1] == 0
    # the plain class has no true detail: arm (c) renders the very base mesh; the rings class does not
    np.testing.assert_array_equal(true[0][plain], base[0][plain])
    assert all(not np.array_equal(true[0][i], base[0][i]) for i in np.flatnonzero(~plain))
    assert all(not np.array_equal(transferred[0][i], base[0][i]) for i in np.flatnonzero(~plain))


def test_light_is_grazing_and_on_the_camera_side(tiny_run):
    _, cfg, _, sets, _ = tiny_run
    for m in sets["base"][2] + sets["test"][2]:
        assert 70.0 <= m["light_elevation"] <= 85.0
        d = abs(m["light_azimuth"] - m["azimuth"]) % 360.0
        assert min(d, 360.0 - d) <= cfg.light_spread + 1e-3


def test_test_shapes_are_held_out():
    cfg = DetailDemoConfig(**TINY)
    for kind in cfg.kinds:
        train = [shape(cfg, "train", kind, k).vertices for k in range(cfg.train_shapes)]
        for k in range(cfg.test_shapes):
            t = shape(cfg, "test", kind, k).vertices
            assert all(t.shape != v.shape or not np.allclose(t, v) for v in train)
        src = shape(cfg, "source", kind, 0).vertices
        assert all(src.shape != v.shape or not np.allclose(src, v) for v in train)


def test_true_displacement_matches_a_float64_formula():
    cfg = DetailDemoConfig(**TINY)
    m = shape(cfg, "train", "plain", 0)
    z = m.vertices[:, 2].astype(np.float64)
    want = [0.02 * math.sin(2 * math.pi * 6 * (h - z.min()) / (z.max() - z.min())) for h in z]
    np.testing.assert_allclose(true_displacement(m, "rings-6", 0.02), want, atol=1e-12)
    assert not true_displacement(m, "plain", 0.02).any()


def test_gap_closed_kinds_and_config_errors(tmp_path, capsys):
    assert gap_closed(33.3, 66.6, 99.9) == pytest.approx(0.5)
    assert gap_closed(50.0, 40.0, 70.0) == pytest.approx(-0.5)
    assert math.isnan(gap_closed(50.0, 60.0, 50.0))
    assert periods("plain") == 0 and periods("rings-12") == 12
    for bad in ("rings", "rings-0", "bumps-3"):
        with pytest.raises(ConfigError, match="kind"):
            periods(bad)
    with pytest.raises(ConfigError, match="light_elevation"):
        DetailDemoConfig(light_elevation=(80.0, 95.0))
    with pytest.raises(ConfigError, match="kinds"):
        DetailDemoConfig(kinds=("plain",))
    assert main(["--out", str(tmp_path), "--kinds", "plain,plain", "--quiet"]) == 2
