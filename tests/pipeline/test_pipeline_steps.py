"""Steps: samples depend on (seed, step, index) only; the few-label subset; the shipped generator."""

import numpy as np
import pytest

from traingen.core.errors import CheckpointError, ConfigError, DataError
from traingen.data import open_source
from traingen.pipeline.fewlabel import fewlabel_indices
from traingen.pipeline.steps import STEPS, step_config


def _same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x.image, y.image)
        assert x.label == y.label


def test_fewlabel_indices_first_k_per_class():
    labels = np.array([2, 0, 1, 0, 2, 2, 1, 0, 1, 2])
    assert fewlabel_indices(labels, 2).tolist() == [0, 1, 2, 3, 4, 6]
    with pytest.raises(DataError, match="fewer than"):
        fewlabel_indices(labels, 4)
    src = open_source("builtin:mnist5k@train")
    step = STEPS.get("fewlabel")(step_config("fewlabel", {"per_class": 50}), input=src)
    assert step.default_count() == 500
    got = step.make(0, 500)
    assert np.bincount([s.label for s in got]).tolist() == [50] * 10
    # independent count: the kept items are exactly the first 50 of each class in source order
    all_labels = [int(src[i].label) for i in range(len(src))]
    firsts = sorted(i for c in range(10) for i in [j for j, v in enumerate(all_labels) if v == c][:50])
    assert step.indices.tolist() == firsts


def test_augment_step_is_a_function_of_index():
    src = open_source("builtin:digits@train")
    cls = STEPS.get("augment")
    a = cls(step_config("augment", {}), input=src, seed=11)
    b = cls(step_config("augment", {}), input=src, seed=11)
    _same(a.make(0, 6), b.make(0, 3) + b.make(3, 6))
    _same(a.make(4, 5), [a.make(0, 6)[4]])
    c = cls(step_config("augment", {}), input=src, seed=12)
    assert not np.array_equal(a.make(0, 1)[0].image, c.make(0, 1)[0].image)
    with pytest.raises(ConfigError, match="unknown key"):
        step_config("augment", {"pipelines": "x"})


def test_gan_sample_step_shipped_generator_and_filter():
    cls = STEPS.get("gan-sample")
    step = cls(step_config("gan-sample", {"checkpoint": "cdcgan-mnist5k-fewlabel"}), seed=5)
    first = step.make(0, 12)
    assert [s.label for s in first] == [i % 10 for i in range(12)]
    assert first[0].image.shape == (28, 28) and first[0].image.dtype == np.uint8
    _same(first[7:9], step.make(7, 9))
    assert step.checkpoints()["gan-sample:cdcgan-mnist5k-fewlabel"] == step.gen.sha256
    # a filter that accepts nothing fails clearly; one that accepts everything keeps candidate 0
    strict = cls(step_config("gan-sample", {"min_confidence": 1.0, "max_tries": 2}), seed=5)
    strict.classifier = lambda x: np.zeros((len(x), 10))
    with pytest.raises(DataError, match="rejected all 2 candidates"):
        strict.make(0, 2)
    lenient = cls(step_config("gan-sample", {"min_confidence": 0.0}), seed=5)
    import torch

    lenient.classifier = lambda x: torch.ones((len(x), 10))
    kept = lenient.make(0, 3)
    _same(kept, first[:3])
    assert all(s.meta["params"]["candidate"] == 0 for s in kept)
    with pytest.raises(CheckpointError, match="no shipped generator"):
        cls(step_config("gan-sample", {"checkpoint": "nope"}))


def test_style_step_keeps_labels_and_is_deterministic():
    src = open_source("builtin:digits@train")
    cfg = step_config("style", {"style": "builtin:textures/brick", "method": "gatys", "config": {"evaluations": 2},
                                "size": 16})
    a = STEPS.get("style")(cfg, input=src, seed=1).make(0, 2)
    b = STEPS.get("style")(cfg, input=src, seed=1).make(1, 2)
    _same(a[1:], b)
    for i, s in enumerate(a):
        assert s.label == src[i].label and s.image.shape == src[i].image.shape
        assert not np.array_equal(s.image, src[i].image)
