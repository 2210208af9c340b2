"""AugmentedDataset: a torch Dataset whose randomness is a function of ``(seed, epoch, index)``.

Sample ``index`` of epoch ``e`` is augmented with the seed ``derive_seed(seed, "augment", e, index)``:
the result does not depend on which worker computes it, on the number of workers, or on whether the
workers persist, and it changes from epoch to epoch.

The epoch reaches the workers through the indices, not through the dataset object: worker processes
hold a copy of the dataset (made once, for the whole run, with ``persistent_workers=True``), so a
``dataset.set_epoch(e)`` in the main process would not reach them. :class:`EpochSampler` yields
``(epoch, index)`` pairs and :meth:`AugmentedDataset.__getitem__` reads them; a plain ``int`` index
means epoch 0.

This is what goes wrong with the usual recipe: albumentations 2.0.8 keeps its own random generator
inside the ``Compose``; each epoch a non-persistent ``DataLoader`` sends the workers a fresh copy of
the same object in the same state, so every epoch repeats the first one's augmentations exactly.

Example:
    >>> ds = AugmentedDataset(source, Compose([...]), seed=0)
    >>> sampler = EpochSampler(len(ds), shuffle=True, seed=0)
    >>> loader = DataLoader(ds, batch_size=64, sampler=sampler, num_workers=4, persistent_workers=True,
    ...                     collate_fn=collate)
    >>> for epoch in range(10):
    ...     sampler.set_epoch(epoch)
    ...     for images, labels in loader: ...

References:
    PyTorch ``DistributedSampler.set_epoch`` (the epoch travels with the sampler).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from ..core.errors import ConfigError, DataError
from ..core.sample import Sample
from ..core.seeding import derive_seed, numpy_rng

#: Sample fields returned (as tensors where they are arrays) with ``return_sample=True``.
SAMPLE_FIELDS = ("image", "mask", "instance_mask", "boxes", "box_labels", "keypoints", "keypoint_visible", "label")


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """The pipeline seed of sample ``index`` in ``epoch``."""
    return derive_seed(seed, "augment", epoch, index)


def image_to_tensor(image: Any, where: str = "AugmentedDataset") -> torch.Tensor:
    """HxW / HxWxC numpy (uint8, uint16 or float in [0, 1]) or a CHW tensor -> CHW float32 in [0, 1]."""
    if isinstance(image, torch.Tensor):
        t = image
        if t.ndim == 2:
            t = t[None]
        if t.ndim != 3:
            raise DataError(f"expected a CHW tensor, got shape {tuple(t.shape)}", where=where, field="image")
        if t.dtype == torch.uint8:
            return t.float().div_(255.0)
        return t.float() if t.dtype != torch.float32 else t
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3:
        raise DataError(f"expected HxW or HxWxC, got shape {arr.shape}", where=where, field="image")
    t = torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))
    if arr.dtype == np.uint8:
        return t.float().div_(255.0)
    if arr.dtype == np.uint16:
        return t.float().div_(65535.0)
    if arr.dtype.kind == "f":
        return t.float()
    raise DataError(f"unsupported image dtype {arr.dtype}", where=where, field="image")


def _label_value(label: Any) -> Any:
    if label is None:
        return -1
    if isinstance(label, (int, np.integer)):
        return int(label)
    arr = np.asarray(label)
    if arr.ndim == 0:
        return int(arr) if arr.dtype.kind in "iub" else float(arr)
    return torch.as_tensor(arr, dtype=torch.float32)


class AugmentedDataset(Dataset):
    """A map-style dataset that augments ``source[index]`` with a seed from ``(seed, epoch, index)``.

    Args:
        source: anything with ``__len__`` and ``__getitem__(i) -> Sample`` (a traingen source, a list
            of Samples).
        pipeline: ``pipeline(sample, seed=int) -> Sample`` (a ``Compose``), or None for no augmentation.
        seed: run seed.
        return_sample: return a dict of every target (tensors; ``epoch``, ``index`` and ``seed`` too)
            instead of ``(image, label)``.

    Targets:
        whatever the pipeline changes; images come back as CHW float32 tensors in [0, 1].

    Returns:
        ``(image, label)`` (label: int, ``-1`` when the sample has none, or a float tensor for a soft
        label), or a dict with ``return_sample=True``.

    Example:
        >>> ds = AugmentedDataset(open_source("builtin:digits"), Compose([Rotate(15)]), seed=0)
        >>> image, label = ds[(3, 17)]  # epoch 3, sample 17

    References:
        See the module docstring.
    """

    def __init__(self, source: Any, pipeline: Callable[..., Any] | None = None, seed: int = 0, *,
                 return_sample: bool = False):
        if isinstance(source, (str, os.PathLike)):
            from .sources import open_source

            source = open_source(source)  # an address: builtin:NAME@split, a folder, COCO, shards
        if isinstance(pipeline, (str, os.PathLike)):
            from ..augment import load

            pipeline = load(pipeline)  # a pipeline YAML file
        if not (hasattr(source, "__len__") and hasattr(source, "__getitem__")):
            raise ConfigError(f"expected a sequence of Samples, got {type(source).__name__}", where="AugmentedDataset",
                              field="source")
        if pipeline is not None and not callable(pipeline):
            raise ConfigError(f"expected a callable pipeline(sample, seed=int), got {type(pipeline).__name__}",
                              where="AugmentedDataset", field="pipeline")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise ConfigError(f"expected an integer seed, got {seed!r}", where="AugmentedDataset", field="seed")
        self.source = source
        self.pipeline = pipeline
        self.seed = int(seed)
        self.return_sample = bool(return_sample)

    def __len__(self) -> int:
        return len(self.source)

    def _key(self, key: Any) -> tuple[int, int]:
        if isinstance(key, (tuple, list)) and len(key) == 2:
            epoch, index = key
        else:
            epoch, index = 0, key
        if isinstance(index, torch.Tensor):
            index = int(index)
        if isinstance(epoch, torch.Tensor):
            epoch = int(epoch)
        ok = all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in (epoch, index))
        if not ok or epoch < 0:
            raise DataError(f"expected an index or an (epoch, index) pair, got {key!r}", where="AugmentedDataset",
                            field="index")
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"index {index} out of range for {n} samples")
        return int(epoch), int(index) % n

    def get_sample(self, key: Any) -> tuple[Sample, int, int, int]:
        """The augmented :class:`Sample` for ``key`` with its epoch, index and seed."""
        epoch, index = self._key(key)
        sample = self.source[index]
        if not isinstance(sample, Sample):
            raise DataError(f"source[{index}] is a {type(sample).__name__}, expected a Sample",
                            where="AugmentedDataset", field="source")
        s = sample_seed(self.seed, epoch, index)
        if self.pipeline is not None:
            sample = self.pipeline(sample, seed=s)
            if not isinstance(sample, Sample):
                raise DataError(f"the pipeline returned a {type(sample).__name__}, expected a Sample",
                                where="AugmentedDataset", field="pipeline")
        return sample, epoch, index, s

    def __getitem__(self, key: Any) -> Any:
        sample, epoch, index, s = self.get_sample(key)
        image = image_to_tensor(sample.image)
        if not self.return_sample:
            return image, _label_value(sample.label)
        out: dict[str, Any] = {"image": image, "label": _label_value(sample.label)}
        for name in SAMPLE_FIELDS[1:-1]:
            v = getattr(sample, name)
            if v is not None:
                arr = np.asarray(v)
                out[name] = torch.from_numpy(np.ascontiguousarray(arr))
        out.update(epoch=epoch, index=index, seed=s, meta=dict(sample.meta))
        return out


class EpochSampler(Sampler):
    """Yield ``(epoch, index)`` pairs: the epoch reaches every worker with the indices.

    Args:
        dataset_len: number of samples.
        shuffle: a new permutation each epoch (from ``(seed, epoch)``), else ``0..n-1``.
        seed: seed of the permutations (the dataset's seed is a fine choice).
        auto_epoch: start the next epoch by itself each time a pass is started (no ``set_epoch`` call
            needed); a ``set_epoch`` call still sets the next pass's epoch.

    Example:
        >>> sampler = EpochSampler(len(ds), seed=0)
        >>> sampler.set_epoch(2); list(sampler)[:2]
        [(2, 41), (2, 7)]
    """

    def __init__(self, dataset_len: int, shuffle: bool = True, seed: int = 0, *, auto_epoch: bool = False):
        if isinstance(dataset_len, bool) or not isinstance(dataset_len, (int, np.integer)) or dataset_len < 0:
            raise ConfigError(f"expected a length >= 0, got {dataset_len!r}", where="EpochSampler",
                              field="dataset_len")
        self.n = int(dataset_len)
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        self.auto_epoch = bool(auto_epoch)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        if isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)) or epoch < 0:
            raise ConfigError(f"expected an epoch >= 0, got {epoch!r}", where="EpochSampler", field="epoch")
        self.epoch = int(epoch)

    def order(self, epoch: int) -> np.ndarray:
        """The indices of ``epoch``, in the order they are yielded."""
        if not self.shuffle:
            return np.arange(self.n)
        return numpy_rng(self.seed, "sampler", epoch).permutation(self.n)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        # A generator: the body (and the epoch advance) runs on the first next(), so an iterator that
        # the DataLoader creates and drops unused does not skip an epoch.
        epoch = self.epoch
        if self.auto_epoch:
            self.epoch += 1
        for i in self.order(epoch).tolist():
            yield (epoch, i)

    def __len__(self) -> int:
        return self.n


def _stack_or_list(values: Sequence[Any]) -> Any:
    if all(isinstance(v, torch.Tensor) for v in values) and len({tuple(v.shape) for v in values}) == 1:
        return torch.stack(list(values))
    return list(values)


def collate(batch: Sequence[Any]) -> Any:
    """Collate ``(image, label)`` pairs or sample dicts; variable-length targets stay lists.

    Images (and masks of one size) are stacked; int labels become an int64 tensor and soft labels an
    N x K float tensor; boxes, box labels, keypoints and their flags stay lists of per-image tensors.
    """
    if not batch:
        raise DataError("empty batch", where="collate", field="batch")
    first = batch[0]
    if isinstance(first, dict):
        out: dict[str, Any] = {}
        for key in first:
            values = [b[key] for b in batch]
            if key in ("image", "mask", "instance_mask"):
                out[key] = _stack_or_list(values)
            elif key == "label":
                out[key] = _labels(values)
            elif key in ("epoch", "index", "seed"):
                out[key] = torch.as_tensor(values, dtype=torch.int64) if key != "seed" else list(values)
            else:
                out[key] = list(values)
        return out
    images, labels = zip(*batch, strict=True)
    return _stack_or_list(images), _labels(labels)


def _labels(values: Sequence[Any]) -> Any:
    if all(isinstance(v, int) for v in values):
        return torch.as_tensor(values, dtype=torch.int64)
    if all(isinstance(v, torch.Tensor) for v in values):
        return torch.stack(list(values))
    return list(values)
