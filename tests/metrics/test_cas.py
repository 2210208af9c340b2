"""Classification Accuracy Score on builtin:digits with a few epochs: real-as-generated scores like real,
shuffled labels score near chance, labels travel by class name, seeds decide everything, bad inputs
raise clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from traingen.core.errors import ConfigError, DataError
from traingen.core.sample import Sample
from traingen.data import Source, open_source
from traingen.metrics import MetricResult
from traingen.metrics.cas import CASResult, classification_accuracy_score, convert_image

TRAIN, TEST = "builtin:digits@train", "builtin:digits@test"


class ArraySource(Source):
    """Labelled images from arrays (what a generator's output folder would hold)."""

    def __init__(self, images, labels, classes, name="arrays"):
        self.images, self.labels, self.classes, self.name = images, labels, list(classes), name

    def __len__(self):
        return len(self.images)

    def _get(self, i):
        label = self.labels[i]
        return Sample(image=self.images[i], label=None if label is None else int(label))


@pytest.fixture(scope="module")
def digits_train():
    src = open_source(TRAIN)
    x = np.stack([src[i].image for i in range(len(src))])
    y = np.array([src[i].label for i in range(len(src))], np.int64)
    return x, y, list(src.classes)


@pytest.fixture(scope="module")
def baseline():
    """The real train split itself as the 'generated' data, n below the set size (different subsets)."""
    return classification_accuracy_score(TRAIN, TRAIN, TEST, n=700, epochs=4, seeds=(0, 1))


def test_real_data_as_generated_scores_like_real(baseline):
    r = baseline
    assert isinstance(r, CASResult) and isinstance(r, MetricResult)
    assert r.n == 700 and r.n_test == 359 and r.epochs == 4 and r.seeds == (0, 1)
    assert r.real_mean > 0.8
    assert r.ratio == pytest.approx(1.0, abs=0.06)
    assert r.mean == pytest.approx(np.mean(r.per_seed)) and r.std == pytest.approx(np.std(r.per_seed))
    assert r.real_std == pytest.approx(np.std(r.real_per_seed, ddof=0))
    assert r.ratio == pytest.approx(r.mean / r.real_mean)
    # accuracies are counts over the 359 test images
    for acc in (*r.per_seed, *r.real_per_seed):
        assert acc * 359 == pytest.approx(round(acc * 359), abs=1e-9)
    d = r.to_dict()
    assert d["metric"] == "cas" and d["value"] == r.mean and d["real"] == TEST and d["fake"] == TRAIN
    assert "ratio" in r.summary()


def test_same_seeds_same_numbers(baseline):
    again = classification_accuracy_score(TRAIN, TRAIN, TEST, n=700, epochs=4, seeds=(0, 1))
    assert again.per_seed == baseline.per_seed and again.real_per_seed == baseline.real_per_seed


def test_identical_arms_score_identically():
    # generated == real train at full size: both arms see the same images, seeds and batch order
    r = classification_accuracy_score(TRAIN, TRAIN, TEST, epochs=1, seeds=(5,))
    assert r.n == 1438 and r.per_seed == r.real_per_seed and r.ratio == 1.0


def test_shuffled_labels_score_near_chance(digits_train):
    x, y, classes = digits_train
    shuffled = ArraySource(x, np.random.default_rng(0).permutation(y), classes, name="shuffled")
    r = classification_accuracy_score(shuffled, TRAIN, TEST, epochs=4, seeds=(0, 1))
    assert r.real_mean > 0.85
    assert r.mean < 0.25  # chance is 0.1
    assert r.ratio < 0.3


def test_labels_travel_by_class_name(digits_train):
    x, y, classes = digits_train
    x, y = x[:300], y[:300]
    plain = ArraySource(x, y, classes, name="plain")
    # the same data, its class list reversed and the integer labels renumbered to match
    reversed_ = ArraySource(x, 9 - y, classes[::-1], name="reversed")
    a = classification_accuracy_score(plain, TRAIN, TEST, epochs=1, seeds=(0,))
    b = classification_accuracy_score(reversed_, TRAIN, TEST, epochs=1, seeds=(0,))
    assert a.per_seed == b.per_seed
    unknown = ArraySource(x, y, [*classes[:9], "nine"], name="gen")
    with pytest.raises(DataError, match="'nine'") as e:
        classification_accuracy_score(unknown, TRAIN, TEST, epochs=1, seeds=(0,))
    assert e.value.where == "gen"


def test_extra_arm_and_converted_images(digits_train):
    x, y, classes = digits_train
    big_rgb = np.stack([np.repeat(convert_image(im, (16, 16))[:, :, None], 3, axis=2) for im in x[:900]])
    gen = ArraySource(big_rgb, y[:900], classes, name="rgb16")
    r = classification_accuracy_score(gen, TRAIN, TEST, n=450, extra_n=900, epochs=5, seeds=(0,))
    assert r.n == 450 and r.extra_n == 900 and len(r.extra_per_seed) == 1
    assert r.resized_from == ((16, 16, 3),) and r.image_shape == (8, 8)
    assert r.extra_mean is not None and "900 generated" in r.summary()
    assert r.mean > 0.6 and r.extra_mean > 0.6  # the converted digits still teach the classes


def test_convert_image_against_numpy():
    rgb = np.random.default_rng(1).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    grey = convert_image(rgb, (8, 8))
    np.testing.assert_array_equal(grey, np.rint(rgb.astype(np.float64).mean(axis=2)).astype(np.uint8))
    up = convert_image(grey, (8, 8, 3))
    assert up.shape == (8, 8, 3) and (up == grey[:, :, None]).all()
    block = np.kron(grey.astype(np.float64), np.ones((2, 2)))  # each pixel a 2x2 block
    np.testing.assert_array_equal(convert_image(block.astype(np.uint8), (8, 8)), grey)  # area shrink


def test_bad_inputs(digits_train):
    x, y, classes = digits_train
    with pytest.raises(ConfigError) as e:
        classification_accuracy_score(TRAIN, TRAIN, TEST, seeds=())
    assert e.value.field == "seeds"
    with pytest.raises(ConfigError, match="distinct"):
        classification_accuracy_score(TRAIN, TRAIN, TEST, seeds=(1, 1))
    with pytest.raises(ConfigError) as e:
        classification_accuracy_score(TRAIN, TRAIN, TEST, epochs=0)
    assert e.value.field == "epochs"
    with pytest.raises(DataError, match="fewer than n=5000"):
        classification_accuracy_score(TRAIN, TRAIN, TEST, n=5000)
    with pytest.raises(DataError, match="extra_n"):
        classification_accuracy_score(TRAIN, TRAIN, TEST, n=100, extra_n=5000)
    unlabelled = ArraySource(x[:50], [None] * 50, classes, name="unlabelled")
    with pytest.raises(DataError, match="no integer class label"):
        classification_accuracy_score(unlabelled, TRAIN, TEST, epochs=1)
    with pytest.raises(DataError, match="the real test images are"):
        classification_accuracy_score(TRAIN, "builtin:mnist5k@train", TEST, n=50, epochs=1)
    with pytest.raises(DataError):
        classification_accuracy_score("/no/such/folder", TRAIN, TEST)
    with pytest.raises(DataError, match="floats in"):
        bad = ArraySource(x[:50].astype(np.float32), y[:50], classes)  # 0..255 floats, not [0, 1]
        classification_accuracy_score(bad, TRAIN, TEST, epochs=1)
