"""The quickstart's augmentation: the shipped digit chain (recipes/augment-digits.yaml)."""

import numpy as np

from traingen.augment import load
from traingen.data import open_source
from traingen.pipeline.fewlabel import fewlabel_indices
from traingen.pipeline.quickstart import QuickstartConfig, quickstart_recipe
from traingen.pipeline.run import prepare
from traingen.recipes import recipe_path


def test_quickstart_uses_the_digit_chain(tmp_path):
    doc = quickstart_recipe(QuickstartConfig())
    (aug,) = [s for s in doc["steps"] if s["step"] == "augment"]
    assert aug["pipeline"] == "augment-digits.yaml"
    cfg = QuickstartConfig()
    assert doc["mix"]["augment"] == cfg.augmented * len(cfg.seeds)  # one block of augmentations per seed
    pipe = load(recipe_path("augment-digits.yaml"))
    names = [t.registry_name for t in pipe.transforms]
    assert names == ["rotate", "scale", "translate"]  # no noise, no Cutout (they cost accuracy on digits)
    prepared = prepare(doc, tmp_path / "never-created")
    assert prepared.job.total == doc["mix"]["augment"] + doc["mix"]["gan-sample"] + 50 * 10
    assert not (tmp_path / "never-created").exists()


def test_digit_chain_keeps_the_digit():
    """The shipped mnist5k classifier still reads most augmented digits as their label, and the chain
    changes them more than rounding would (an identity chain would pass the first check alone)."""
    from traingen.features.classifiers import accuracy, load_weights, shipped_file

    src = open_source("builtin:mnist5k@train")
    labels = [int(src[i].label) for i in range(len(src))]
    idx = fewlabel_indices(labels, per_class=5)
    pipe = load(recipe_path("augment-digits.yaml"))
    x = np.stack([np.asarray(src[int(i)].image) for i in idx])
    x = x[..., 0] if x.ndim == 4 else x
    y = np.asarray([labels[int(i)] for i in idx])
    xa = np.stack([pipe(image=img, seed=k)["image"] for k, img in enumerate(x)])
    assert xa.shape == x.shape and xa.dtype == np.uint8
    changed = np.abs(xa.astype(int) - x.astype(int)).mean(axis=(1, 2))
    assert np.median(changed) > 20  # mean grey levels per pixel (33 measured): the digits really moved
    net = load_weights(shipped_file("mnist5k-classifier.safetensors"), image_size=28)
    assert accuracy(net, xa, y) >= 0.85


def test_each_seed_trains_on_its_own_block_and_workers_do_not_matter(tmp_path):
    """Two seeds at toy size: the run holds one block of augmentations per seed, each arm reports the
    block size, and the two blocks differ (different draws of the same 20 originals)."""
    from traingen.data.wds import WebDatasetSource
    from traingen.pipeline.quickstart import run_quickstart

    cfg = QuickstartConfig(per_class=2, augmented=20, gan_candidates=10, seeds=(0, 1), budget=40, test_limit=20)
    res = run_quickstart(tmp_path / "qs", cfg)
    data = WebDatasetSource(str(res.run_dir / "data"))
    assert len(data) == 20 + 2 * 20 + 10
    assert [a.augmented for a in res.arms] == [0, 20, 20]
    assert all(len(a.per_seed) == 2 for a in res.arms)
    block0 = np.stack([np.asarray(data[20 + i].image) for i in range(20)])
    block1 = np.stack([np.asarray(data[40 + i].image) for i in range(20)])
    assert block0.tobytes() != block1.tobytes()
    assert [int(data[20 + i].label) for i in range(20)] == [int(data[40 + i].label) for i in range(20)]
    # The training runs are spread over worker processes, one thread each: one worker gives the same accuracies.
    one = run_quickstart(tmp_path / "qs1", QuickstartConfig(per_class=2, augmented=20, gan_candidates=10, seeds=(0, 1),
                                                            budget=40, test_limit=20, workers=1))
    assert cfg.workers == 2
    assert [a.per_seed for a in one.arms] == [a.per_seed for a in res.arms]
    assert [a.gan for a in one.arms] == [a.gan for a in res.arms]
