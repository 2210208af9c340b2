"""Bad recipes fail before any work, naming the key and its line, and leave nothing in RUN."""

import numpy as np
import pytest

from traingen.core.errors import ConfigError, OutputError, TraingenError
from traingen.core.sample import Sample
from traingen.data import open_writer, plan_shards
from traingen.pipeline.recipe import load_recipe, load_recipe_text, override
from traingen.pipeline.run import prepare, run
from traingen.recipes import recipe_path

GOOD = """version: 1
source: builtin:digits@train
steps:
  - step: augment
    pipeline: augment-light.yaml
mix:
  augment: 40
output:
  format: webdataset
  shard_size: 20
"""


def _write(tmp_path, text, name="r.yaml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_line_tracking_loader():
    data, lines = load_recipe_text(GOOD)
    assert data["steps"][0]["pipeline"] == "augment-light.yaml"
    assert lines["steps[0].pipeline"] == 5 and lines["output.shard_size"] == 10 and lines["mix.augment"] == 7


@pytest.mark.parametrize("text, field, line, words", [
    (GOOD.replace("  shard_size: 20", "  shard_sise: 20"), "output.shard_sise", 10, "unknown key"),
    (GOOD.replace("    pipeline: augment-light.yaml", "    pipline: augment-light.yaml"), "steps[0].pipline", 5,
     "unknown key"),
    (GOOD + "workerz: 2\n", "workerz", 11, "unknown key"),
    (GOOD.replace("step: augment", "step: agument"), "steps[0].step", 4, "unknown step"),
    (GOOD.replace("  augment: 40", "  augment: many"), "mix.augment", 7, "expected a count"),
    (GOOD.replace("format: webdataset", "format: tfrecord"), "output.format", 9, "expected one of"),
    (GOOD.replace("version: 1\n", ""), "version", None, "version"),
])
def test_bad_recipe_names_key_and_line(tmp_path, text, field, line, words):
    p = _write(tmp_path, text)
    with pytest.raises(ConfigError) as ei:
        load_recipe(p)
    e = ei.value
    assert e.field == field and str(p) in str(e) and words in str(e)
    if line is not None:
        assert f"(line {line})" in str(e)


def test_step_before_its_input(tmp_path):
    text = GOOD.replace("  - step: augment\n", "  - step: augment\n    input: fewlabel\n")
    text = text.replace("mix:", "  - step: fewlabel\n    per_class: 2\nmix:")
    p = _write(tmp_path, text)
    with pytest.raises(ConfigError, match="comes after it") as ei:
        load_recipe(p)
    assert ei.value.field == "steps[0].input" and "(line 5)" in str(ei.value)


def test_no_source_for_a_step_that_reads_one(tmp_path):
    p = _write(tmp_path, GOOD.replace("source: builtin:digits@train\n", ""))
    with pytest.raises(ConfigError, match="no 'source:'"):
        load_recipe(p)


def _coco_with_masks(folder):
    w = open_writer("coco", folder, classes=["a", "b"], config={})
    samples = []
    for i in range(4):
        inst = np.zeros((16, 16), np.uint16)
        inst[2:8, 3:9] = 1
        mask = (inst > 0).astype(np.uint8)
        samples.append(Sample(image=np.full((16, 16, 3), 40 * i, np.uint8), label=i % 2, instance_mask=inst,
                              mask=mask, boxes=np.array([[3, 2, 9, 8]], np.float32), box_labels=np.array([i % 2])))
    (sh,) = plan_shards(4, 4)
    w.write_shard(sh, samples)
    w.finalize({}, shards=[sh])
    return folder / "annotations.json"


def test_format_that_cannot_hold_masks_fails_and_leaves_nothing(tmp_path):
    ann = _coco_with_masks(tmp_path / "coco")
    text = f"""version: 1
source: {ann}
steps:
  - step: augment
    pipeline: {{version: 1, pipeline: {{transforms: [{{name: rotate, degrees: 10}}]}}}}
mix: {{augment: 8}}
output: {{format: imagefolder, shard_size: 4}}
"""
    p = _write(tmp_path, text)
    out = tmp_path / "RUN"
    with pytest.raises(ConfigError, match="cannot hold the instance_mask") as ei:
        run(p, out)
    assert ei.value.field == "output.format" and "(line 7)" in str(ei.value)
    assert not out.exists()
    # the same recipe with a format that holds masks runs
    res = run(_write(tmp_path, text.replace("imagefolder", "webdataset"), "ok.yaml"), out, report=False)
    assert res.manifest["total"] == 8


@pytest.mark.parametrize("bad", [
    {"steps": [{"step": "augment", "pipeline": "no-such-pipeline.yaml"}]},
    {"steps": [{"step": "augment"}], "mix": {"augment": 10}, "output": {"shard_size": 0}},
    {"steps": [{"step": "gan-sample", "checkpoint": "no-such-gan"}], "mix": {"gan-sample": 10}},
])
def test_bad_recipes_leave_nothing(tmp_path, bad):
    out = tmp_path / "RUN"
    with pytest.raises(TraingenError):
        run({"version": 1, "source": "builtin:digits@train", **bad}, out)
    assert not out.exists()


def test_run_refuses_foreign_folder_and_other_recipe(tmp_path):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "x.txt").write_text("mine")
    with pytest.raises(OutputError):
        run(_write(tmp_path, GOOD), foreign)
    assert (foreign / "x.txt").read_text() == "mine" and len(list(foreign.iterdir())) == 1
    out = tmp_path / "RUN"
    run(_write(tmp_path, GOOD), out, report=False)
    with pytest.raises(OutputError, match="overwrite"):
        run(_write(tmp_path, GOOD.replace("augment: 40", "augment: 20"), "b.yaml"), out, report=False)
    res = run(_write(tmp_path, GOOD.replace("augment: 40", "augment: 20"), "b.yaml"), out, report=False,
              overwrite=True)
    assert res.manifest["total"] == 20


def test_shipped_recipes_parse_and_override():
    r = load_recipe(recipe_path("run-augment-mnist5k.yaml"))
    assert r.mix == {"augment": 2000} and r.output.format == "webdataset"
    r2 = override(r, workers=2, engine="ray", seed=None)
    assert (r2.workers, r2.engine, r2.seed) == (2, "ray", 0)
    with pytest.raises(ConfigError):
        override(r, engine="spark")
    q = load_recipe(recipe_path("quickstart.yaml"))
    assert [s.step for s in q.steps] == ["fewlabel", "augment", "gan-sample"]
    p = prepare(recipe_path("run-augment-mnist5k.yaml"), "/nonexistent/never-created")
    assert p.job.total == 2000 and len(p.job.segments) == 1
