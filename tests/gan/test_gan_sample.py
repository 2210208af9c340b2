"""Sampling a run into a labelled dataset: manifest rows, per-class counts, classes, formats, filter."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
import torch

from traingen.core.errors import CheckpointError, ConfigError, DataError
from traingen.data import read_image
from traingen.gan.sample import (
    classifier_from_name,
    load_generator,
    main,
    plan_labels,
    run_classes,
    sample,
    save_grid,
)
from traingen.gan.train_config import TrainConfig
from traingen.gan.trainer import train


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    d = tmp_path_factory.mktemp("gan") / "run"
    train(TrainConfig(model="cdcgan", model_config={"image_size": 8, "ch": 4, "z_dim": 8},
                      data="builtin:digits@train", steps=2, batch_size=8, log_every=1, image_every=0,
                      tensorboard=False), d)
    return d


def _rows(out):
    return [json.loads(line) for line in (out / "metadata.jsonl").read_text().splitlines()]


def _sha(run):
    return json.loads((run / "checkpoints" / "step-00000002.json").read_text())["sha256"]


def test_per_class_with_classes_writes_a_complete_manifest(run, tmp_path):
    out = tmp_path / "out"
    res = sample(run, out, per_class=3, classes=[1, 3], truncation=0.7, seed=5)
    rows = _rows(out)
    assert res.n == len(rows) == 6 and res.rejected == 0 and res.candidates == 6
    assert [r["label"] for r in rows] == [1, 1, 1, 3, 3, 3]
    assert Counter(p.parent.name for p in out.glob("*/*.png")) == {"1": 3, "3": 3}
    sha = _sha(run)
    for r in rows:
        assert (out / r["path"]).is_file() and r["path"].startswith(f"{r['label']}/{r['key']}")
        assert r["params"]["truncation"] == 0.7 and r["params"]["checkpoint"] == sha and r["params"]["ema"] is True
        assert isinstance(r["seed"], int) and r["technique"] == "gan/cdcgan"
    assert len({r["seed"] for r in rows}) == 6
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["total"] == 6 and manifest["config"]["checkpoint_sha256"] == sha
    assert manifest["classes"] == [str(i) for i in range(10)]
    assert res.checkpoint_sha256 == sha and res.step == 2


def test_n_spreads_over_classes_and_is_reproducible(run, tmp_path):
    res = sample(run, tmp_path / "a", n=13, seed=1, batch_size=5, shard_size=4)
    rows = _rows(tmp_path / "a")
    assert [r["label"] for r in rows] == [i % 10 for i in range(13)]
    assert res.per_class == {c: (2 if c < 3 else 1) for c in range(10)}
    sample(run, tmp_path / "b", n=13, seed=1, batch_size=256, shard_size=13)
    for r in rows:  # the same images whatever the batch and shard sizes
        assert (tmp_path / "a" / r["path"]).read_bytes() == (tmp_path / "b" / r["path"]).read_bytes()
    sample(run, tmp_path / "c", n=13, seed=2)
    assert any((tmp_path / "a" / r["path"]).read_bytes() != (tmp_path / "c" / r["path"]).read_bytes() for r in rows)


def test_samples_come_from_the_ema_generator(run, tmp_path):
    ema = load_generator(run)
    raw = load_generator(run, use_ema=False)
    assert ema.ema and not raw.ema
    g = ema.model.G.state_dict()
    assert not all(torch.equal(v, raw.model.G.state_dict()[k]) for k, v in g.items())
    from traingen.core.checkpoint import load_checkpoint

    tree, _ = load_checkpoint(run / "checkpoints" / "step-00000002")
    for k, v in g.items():
        assert torch.equal(v, tree["G_ema"][k])


def test_webdataset_output_reads_back(run, tmp_path):
    from traingen.data import open_source

    sample(run, tmp_path / "wds", per_class=2, classes=[0, 9], fmt="webdataset")
    src = open_source(str(tmp_path / "wds"))
    assert len(src) == 4 and [src[i].label for i in range(4)] == [0, 0, 9, 9]
    assert src[0].image.shape == (8, 8) and src[0].image.dtype == np.uint8
    assert src[0].meta["params"]["checkpoint"] == _sha(run)


def test_classifier_filter_counts_rejections(run, tmp_path):
    seen = []

    def parity(images):  # keeps images whose pixel sum is even: about half, decided by the image alone
        assert images.dtype == torch.uint8 and images.shape[1:] == (1, 8, 8)
        keep = (images.view(len(images), -1).sum(1) % 2 == 0).double()
        seen.append(images.clone())
        probs = torch.zeros(len(images), 10, dtype=torch.float64)
        probs[:] = ((1 - keep) / 10).unsqueeze(1)
        return probs + keep.unsqueeze(1) * 0.95  # confidence 0.95+ when kept, 0.1 when rejected

    res = sample(run, tmp_path / "f", per_class=4, classes=[2, 7], classifier=parity, min_confidence=0.9,
                 batch_size=3)
    rows = _rows(tmp_path / "f")
    assert res.n == 8 and [r["label"] for r in rows] == [2] * 4 + [7] * 4
    for c in (2, 7):
        cand = [r["params"]["candidate"] for r in rows if r["label"] == c]
        assert cand == sorted(cand)
        assert res.rejected_per_class[c] == cand[-1] + 1 - 4  # every candidate before the last kept one
    assert res.rejected == sum(res.rejected_per_class.values()) > 0
    assert res.candidates == res.n + res.rejected
    for r in rows:
        img = read_image(tmp_path / "f" / r["path"])
        assert int(img.astype(np.int64).sum()) % 2 == 0 and r["params"]["confidence"] >= 0.9
    assert json.loads((tmp_path / "f" / "run.json").read_text())["rejected"] == res.rejected
    # Without the filter, the kept candidates are the same images (candidate j has fixed noise).
    last = max(r["params"]["candidate"] for r in rows[:4])
    sample(run, tmp_path / "nof", per_class=last + 1, classes=[2])
    plain = _rows(tmp_path / "nof")
    for r in rows[:4]:
        j = r["params"]["candidate"]
        assert (tmp_path / "f" / r["path"]).read_bytes() == (tmp_path / "nof" / plain[j]["path"]).read_bytes()


def test_a_classifier_that_rejects_everything_fails_clearly(run, tmp_path):
    with pytest.raises(DataError, match="kept only 0 of 2 images of class 0 after 6 candidates"):
        sample(run, tmp_path / "x", per_class=2, classes=[0], max_tries=3,
               classifier=lambda im: torch.zeros(len(im), 10), min_confidence=0.5)


def test_named_classifier_resolves_through_features(monkeypatch):
    import traingen.features

    class StubExtractor:  # the FeatureExtractor surface sample.py uses (issue 3's weights may be absent)
        outputs = ("pool", "logits")

        def __call__(self, images):
            assert images.dtype == torch.uint8
            return {"logits": torch.tensor([[0.0, 0.0], [2.0, 0.0]])[: len(images)]}

    asked = []
    monkeypatch.setattr(traingen.features, "get_extractor",
                        lambda name, device="cpu": asked.append((name, device)) or StubExtractor())
    clf = classifier_from_name("mnist5k-classifier")
    probs = clf(torch.zeros(2, 1, 8, 8, dtype=torch.uint8))
    assert asked == [("mnist5k-classifier", "cpu")] and clf.__name__ == "mnist5k-classifier"
    e = float(np.exp(2.0))
    torch.testing.assert_close(probs, torch.tensor([[0.5, 0.5], [e / (e + 1), 1 / (e + 1)]]))


def test_plan_labels_and_argument_errors(run, tmp_path):
    assert plan_labels(10, per_class=2, classes=[4, 1]) == [4, 4, 1, 1]
    assert plan_labels(3, n=5) == [0, 1, 2, 0, 1]
    assert plan_labels(0, n=2) == [-1, -1]
    with pytest.raises(ConfigError, match="exactly one"):
        plan_labels(10, n=2, per_class=2)
    with pytest.raises(ConfigError, match="class 12 outside"):
        plan_labels(10, per_class=1, classes=[12])
    with pytest.raises(ConfigError, match="unconditional"):
        plan_labels(0, per_class=1)
    with pytest.raises(ConfigError, match="format"):
        sample(run, tmp_path / "y", n=1, fmt="coco")
    with pytest.raises(CheckpointError, match="no checkpoint at step 7"):
        load_generator(run, step=7)
    assert run_classes(run) == [str(i) for i in range(10)]


def test_save_grid_equals_the_runs_samples_png_and_scales_by_nearest(run, tmp_path):
    import cv2

    ref = cv2.cvtColor(cv2.imread(str(run / "samples.png")), cv2.COLOR_BGR2RGB)  # written by the trainer
    png = save_grid(run, tmp_path / "g.png")
    assert (cv2.cvtColor(cv2.imread(str(png)), cv2.COLOR_BGR2RGB) == ref).all()
    assert main([str(run), "--grid", str(tmp_path / "big.png"), "--cell", "16", "--cols", "8"]) == 0
    big = cv2.cvtColor(cv2.imread(str(tmp_path / "big.png")), cv2.COLOR_BGR2RGB)
    assert big.shape == (10 * 16 + 11, 8 * 16 + 9, 3)  # 10 classes x 8 samples, 1-pixel padding
    for r, c in [(0, 0), (3, 5), (9, 7)]:  # each 16-px cell is its 8-px cell with every pixel doubled
        small = ref[1 + r * 9:1 + r * 9 + 8, 1 + c * 9:1 + c * 9 + 8]
        cell = big[1 + r * 17:1 + r * 17 + 16, 1 + c * 17:1 + c * 17 + 16]
        assert (cell == small.repeat(2, 0).repeat(2, 1)).all()
    with pytest.raises(ConfigError, match="cols"):
        save_grid(run, tmp_path / "x.png", cols=0)
