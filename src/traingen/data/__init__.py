"""Data: embedded datasets, source readers, format writers, atomic shards and the manifest.

``import traingen.data`` does not import torch: ``AugmentedDataset`` and ``EpochSampler`` (which need
it) load from :mod:`traingen.data.augmented` on first access.

Example:
    >>> from traingen.data import open_source, open_writer, plan_shards
    >>> src = open_source("builtin:mnist5k@test")
    >>> w = open_writer("webdataset", "out", classes=src.classes, config={"source": src.name})
    >>> for sh in plan_shards(len(src), 500):
    ...     w.write_shard(sh, [src[i] for i in sh.indices])
    >>> w.finalize({})
"""

from __future__ import annotations

from ..core.lazy import lazy_attributes
from . import (  # noqa: F401  (register datasets and writers)
    dem2relief,
    edges2photos,
    fonts2mnist,
    kitti,
    parquet,
    render_mask2rgb,
    render_sketch2rgb,
    stereo_depth,
)
from .builtin import DATASETS, BuiltinData, DatasetInfo, dataset_info, load_builtin, stratified_split
from .cache import cache_dir
from .coco import CocoSource, CocoWriter
from .export import ExportResult, export_source
from .imagefolder import ImageFolderSource, ImageFolderWriter
from .imageio import decode_image, encode_image, encode_png, read_image, safe_join
from .shards import WRITERS, Shard, ShardWriter, open_writer, plan_shards
from .sources import READERS, BuiltinSource, Source, open_source
from .wds import WebDatasetSource, WebDatasetWriter

_LAZY = {"AugmentedDataset": ".augmented", "EpochSampler": ".augmented", "collate": ".augmented"}

__all__ = [
    "DATASETS",
    "READERS",
    "WRITERS",
    "AugmentedDataset",
    "BuiltinData",
    "BuiltinSource",
    "CocoSource",
    "CocoWriter",
    "DatasetInfo",
    "EpochSampler",
    "ExportResult",
    "ImageFolderSource",
    "ImageFolderWriter",
    "Shard",
    "ShardWriter",
    "Source",
    "WebDatasetSource",
    "WebDatasetWriter",
    "cache_dir",
    "collate",
    "dataset_info",
    "decode_image",
    "encode_image",
    "encode_png",
    "export_source",
    "load_builtin",
    "open_source",
    "open_writer",
    "plan_shards",
    "read_image",
    "safe_join",
    "stratified_split",
]


__getattr__, __dir__ = lazy_attributes(__name__, globals(), _LAZY)
