"""Issue 9's second "data helps" demo (traingen.mesh.usefulness_recon): a tiny end-to-end run and its bookkeeping."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from traingen.core.errors import ConfigError
from traingen.mesh.builtin import load_mesh
from traingen.mesh.usefulness_recon import (
    ARMS,
    ReconDemoConfig,
    azimuth_gap,
    load_data,
    main,
    run_experiment,
    shaded,
)

TINY = dict(classes=("cup", "chair"), objects=2, per_object=4, test_per_object=3,
            recon={"steps": 2, "objects": 4, "widths": [4, 8], "hidden": 16, "batch": 2},
            epochs=1, seeds=(0,))


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("usefulness-recon")
    cfg = ReconDemoConfig(**TINY)
    return out, cfg, run_experiment(cfg, out)


def test_tiny_run_has_every_arm_with_equal_counts(tiny_run):
    out, cfg, table = tiny_run
    assert list(table["arms"]) == list(ARMS)
    for r in table["arms"].values():
        assert r["train_images"] == 2 * 2 * 4 and len(r["accuracy"]) == 1
    assert table["test_images"] == 2 * 2 * 3
    assert json.loads((out / "table.json").read_text())["verdict"] == table["verdict"]
    assert (out / "figure.png").stat().st_size > 0 and (out / "recon-net" / "checkpoint.json").is_file()


def test_test_views_are_at_least_90_degrees_from_the_input_view(tiny_run):
    out, cfg, table = tiny_run
    data = load_data(cfg, out / "data.npz")
    rcfg = cfg.recon_config()
    for m in data.test[2]:
        a, b = math.radians(m["azimuth"]), math.radians(m["input_azimuth"])
        # independent of azimuth_gap: horizontal viewing directions at >= 90° have a dot product <= 0
        assert math.cos(a) * math.cos(b) + math.sin(a) * math.sin(b) <= 1e-9
    assert table["min_test_gap_deg"] >= 90.0
    # the stored azimuth is the one rendered: the test image re-renders from its record bit for bit
    i = 5
    m, label = data.test[2][i], int(data.test[1][i])
    true = load_mesh(f"builtin:mesh/{cfg.classes[label]}/{m['member']}").normalized(1.0)
    np.testing.assert_array_equal(shaded(true.vertices, true.faces, m["azimuth"], m["elevation"], rcfg)[0],
                                  data.test[0][i])


def test_arm_i_sees_only_the_input_view(tiny_run):
    out, cfg, _ = tiny_run
    data = load_data(cfg, out / "data.npz")
    rcfg = cfg.recon_config()
    x, y, meta = data.train["aug2d"]
    for o, inp in enumerate(data.inputs):
        true = load_mesh(f"builtin:mesh/{inp['class']}/{inp['member']}").normalized(1.0)
        view = shaded(true.vertices, true.faces, inp["input_azimuth"], rcfg.elevation, rcfg)[0]
        np.testing.assert_array_equal(x[o * cfg.per_object], view)  # image 0 is the view itself
        assert not np.array_equal(x[o * cfg.per_object + 1], view)  # the others are augmentations of it
        assert {m["input_azimuth"] for m in meta[o * cfg.per_object:(o + 1) * cfg.per_object]} == {inp["input_azimuth"]}


def test_recon_and_true_views_share_views_but_not_shapes(tiny_run):
    out, cfg, _ = tiny_run
    data = load_data(cfg, out / "data.npz")
    r, t = data.train["recon"], data.train["true-views"]
    assert r[2] == t[2] and np.array_equal(r[1], t[1])
    assert not np.array_equal(r[0], t[0])
    assert {m["azimuth"] // 90 for m in r[2]} != {0}  # the views go around the object


def test_rerun_reuses_the_data_and_gives_the_same_table(tiny_run):
    out, cfg, table = tiny_run
    again = run_experiment(cfg, out)
    # Everything but the measured CPU seconds (which differ run to run) must be the same.
    def strip(arms):
        return {a: {k: v for k, v in r.items() if not k.endswith("cpu_s")} for a, r in arms.items()}

    assert again["data_reused"] and strip(again["arms"]) == strip(table["arms"])


def test_main_writes_the_table(tmp_path, capsys):
    assert main(["--out", str(tmp_path), "--classes", "cup,vase", "--objects", "1", "--per-object", "2",
                 "--test-per-object", "2", "--epochs", "1", "--seeds", "0", "--recon-steps", "1",
                 "--recon-objects", "2", "--quiet"]) == 0
    assert "(ii) − (i)" in capsys.readouterr().out
    assert json.loads((tmp_path / "table.json").read_text())["min_test_gap_deg"] >= 90.0
    assert main(["--out", str(tmp_path), "--classes", "cup", "--quiet"]) == 2  # one class: a clear error


def test_azimuth_gap_and_config_errors():
    assert azimuth_gap(350.0, 10.0) == pytest.approx(20.0)
    assert azimuth_gap(0.0, 180.0) == pytest.approx(180.0)
    assert azimuth_gap(45.0, 405.0) == pytest.approx(0.0)
    with pytest.raises(ConfigError, match="min_gap|180"):
        ReconDemoConfig(min_gap=200.0)
    with pytest.raises(ConfigError, match="families"):
        ReconDemoConfig(classes=("cup", "spaceship"))
    with pytest.raises(ConfigError):
        ReconDemoConfig(objects=0)
