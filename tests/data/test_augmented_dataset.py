"""AugmentedDataset + EpochSampler: randomness from (seed, epoch, index), any worker count, new every epoch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from traingen.core import Sample
from traingen.core.errors import ConfigError, DataError
from traingen.core.seeding import numpy_rng
from traingen.data.augmented import AugmentedDataset, EpochSampler, collate, sample_seed

N = 16


def make_source(n=N):
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        img = rng.integers(0, 256, size=(8, 10, 3), dtype=np.uint8)
        out.append(Sample(image=img, label=i % 4, boxes=np.array([[1, 1, 4, 5]] * (i % 3), np.float32),
                          box_labels=np.arange(i % 3), mask=np.full((8, 10), i % 2, np.int64)))
    return out


def tiny_pipeline(sample: Sample, seed: int) -> Sample:
    """A stand-in for Compose: a seeded flip and seeded noise (numpy, no global state)."""
    rng = numpy_rng(seed)
    img = sample.image.astype(np.float32) / 255
    if rng.random() < 0.5:
        img = img[:, ::-1]
    img = np.clip(img + rng.normal(0, 0.1, img.shape).astype(np.float32), 0, 1)
    return sample.replace(image=img, meta={"seed": seed})


def run_epochs(ds, num_workers, persistent=False, epochs=2, shuffle=True):
    sampler = EpochSampler(len(ds), shuffle=shuffle, seed=3)
    loader = DataLoader(ds, batch_size=5, sampler=sampler, num_workers=num_workers, collate_fn=collate,
                        persistent_workers=persistent)
    out = []
    for e in range(epochs):
        sampler.set_epoch(e)
        images, labels = zip(*list(loader), strict=True)
        out.append((torch.cat(images), torch.cat(labels)))
    return out


def test_same_output_with_any_worker_count_and_persistence():
    ds = AugmentedDataset(make_source(), tiny_pipeline, seed=7)
    ref = run_epochs(ds, 0)
    for workers, persistent in ((2, False), (2, True)):
        got = run_epochs(ds, workers, persistent)
        for (a, la), (b, lb) in zip(ref, got, strict=True):
            assert a.numpy().tobytes() == b.numpy().tobytes()
            assert torch.equal(la, lb)
    # a new epoch: new order and new augmentations of every sample
    (e0, l0), (e1, l1) = ref
    assert not torch.equal(l0, l1)
    assert all(not torch.equal(ds[(0, i)][0], ds[(1, i)][0]) for i in range(N))


def test_same_seed_same_bytes_other_seed_differs():
    a = AugmentedDataset(make_source(), tiny_pipeline, seed=1)
    b = AugmentedDataset(make_source(), tiny_pipeline, seed=1)
    c = AugmentedDataset(make_source(), tiny_pipeline, seed=2)
    for key in (3, (0, 3), (5, 3)):
        assert a[key][0].numpy().tobytes() == b[key][0].numpy().tobytes()
    assert torch.equal(a[3][0], a[(0, 3)][0])  # a plain int is epoch 0
    assert not torch.equal(a[3][0], c[3][0])


def test_auto_epoch_with_persistent_workers():
    ds = AugmentedDataset(make_source(), tiny_pipeline, seed=0, return_sample=True)
    sampler = EpochSampler(len(ds), shuffle=False, auto_epoch=True)
    loader = DataLoader(ds, batch_size=8, sampler=sampler, num_workers=2, persistent_workers=True,
                        collate_fn=collate)
    epochs = [torch.cat([b["epoch"] for b in loader]).unique().tolist() for _ in range(3)]
    assert epochs == [[0], [1], [2]]


def test_return_sample_dict_and_collate():
    ds = AugmentedDataset(make_source(), tiny_pipeline, seed=0, return_sample=True)
    item = ds[(2, 5)]
    assert item["image"].shape == (3, 8, 10) and item["image"].dtype == torch.float32
    assert item["epoch"] == 2 and item["index"] == 5 and item["seed"] == sample_seed(0, 2, 5)
    assert item["meta"]["seed"] == item["seed"]
    batch = collate([ds[(0, i)] for i in range(4)])
    assert batch["image"].shape == (4, 3, 8, 10)
    assert batch["mask"].shape == (4, 8, 10)
    assert batch["label"].tolist() == [0, 1, 2, 3]
    assert [b.shape[0] for b in batch["boxes"]] == [0, 1, 2, 0]  # variable-length boxes stay a list
    plain = AugmentedDataset(make_source(), None, seed=0)
    img, label = plain[1]
    torch.testing.assert_close(img, torch.from_numpy(make_source()[1].image).permute(2, 0, 1).float() / 255)
    assert label == 1


def test_sampler_orders():
    s = EpochSampler(10, shuffle=True, seed=1)
    s.set_epoch(4)
    pairs = list(s)
    assert len(pairs) == len(s) == 10 and {e for e, _ in pairs} == {4}
    assert sorted(i for _, i in pairs) == list(range(10))
    assert pairs == list(s)  # the same epoch replays
    s.set_epoch(5)
    assert [i for _, i in list(s)] != [i for _, i in pairs]
    assert [i for _, i in EpochSampler(5, shuffle=False)] == list(range(5))


def test_bad_arguments():
    ds = AugmentedDataset(make_source(), tiny_pipeline)
    with pytest.raises(IndexError):
        ds[N]
    with pytest.raises(DataError, match="index"):
        ds[(-1, 2)]
    with pytest.raises(ConfigError, match="pipeline"):
        AugmentedDataset(make_source(), pipeline=3)
    with pytest.raises(ConfigError, match="seed"):
        AugmentedDataset(make_source(), tiny_pipeline, seed="x")
    with pytest.raises(DataError, match="Sample"):
        AugmentedDataset([np.zeros((4, 4))], None)[0]
    with pytest.raises(ConfigError, match="epoch"):
        EpochSampler(3).set_epoch(-1)


class AlbumentationsDataset(torch.utils.data.Dataset):
    """The usual recipe: an albumentations Compose called inside __getitem__."""

    def __init__(self, images):
        import albumentations as A

        self.images = images
        self.aug = A.Compose([A.HorizontalFlip(p=0.5), A.GaussNoise(std_range=(0.05, 0.1), p=1.0)])

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return torch.from_numpy(self.aug(image=self.images[i])["image"].copy())


def test_albumentations_repeats_epochs_where_we_do_not():
    """FACTS: albumentations 2.0.8 repeats each sample's augmentation in every epoch with a default,
    non-persistent DataLoader(num_workers=2): its generator lives in the Compose, and every epoch's
    workers receive a copy of it in the same state."""
    images = [s.image for s in make_source()]
    alb = DataLoader(AlbumentationsDataset(images), batch_size=4, num_workers=2)
    e1, e2 = (torch.cat(list(alb)) for _ in range(2))
    repeated = sum(torch.equal(a, b) for a, b in zip(e1, e2, strict=True))
    assert repeated == N  # every one of the 16 samples comes back identical

    ds = AugmentedDataset(make_source(), tiny_pipeline, seed=0)
    (o1, _), (o2, _) = run_epochs(ds, 2, shuffle=False)
    assert sum(torch.equal(a, b) for a, b in zip(o1, o2, strict=True)) == 0


def test_source_address_and_pipeline_file(tmp_path):
    from traingen.augment import Compose, Rotate
    from traingen.data import AugmentedDataset, collate

    path = Compose([Rotate(20)]).save(tmp_path / "p.yaml")
    ds = AugmentedDataset("builtin:digits@test", str(path), seed=3)
    assert len(ds) == 359
    x, y = ds[(1, 5)]
    assert tuple(x.shape) == (1, 8, 8) and 0 <= int(y) < 10
    x2, _ = AugmentedDataset("builtin:digits@test", path, seed=3)[(1, 5)]
    assert (x == x2).all()
    assert callable(collate)
