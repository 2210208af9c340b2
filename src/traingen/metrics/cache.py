"""Feature cache keyed by what decides the features: the pixels and the extractor, never a name.

torch-fidelity caches features under the input's *name*: regenerate a folder in place and it returns
the old folder's features. Here the key is the sha256 of

- the data: every image's shape, dtype and bytes, in order (:func:`data_hash`);
- the extractor's provenance: its name, weights id (sha256 of the weight file, or the seed of seeded
  weights), resize method, input size and channels (:meth:`FeatureExtractor.provenance`);
- :data:`CACHE_VERSION`, bumped whenever the layout or the extraction code changes what is stored.

Entries are ``.npz`` files (``pool``, ``logits``, and the key material as JSON) under
``traingen.data.cache_dir() / "features"``, written to a temporary name and renamed, so concurrent
runs never read half a file; an unreadable or mismatching entry is recomputed.

Hashing needs the decoded pixels, so a cache lookup reads the data once. When the images fit in
:data:`KEEP_BYTES`, that read is kept in memory and a miss extracts from it without reading again.

Example:
    >>> from traingen.data import open_source
    >>> from traingen.features import get_extractor
    >>> from traingen.metrics.cache import cached_features
    >>> feats = cached_features(get_extractor("random-multiscale"), open_source("builtin:digits@test"))
    >>> feats.provenance["cache"]          # "miss" the first time, "hit" after
    'miss'

References:
    torch-fidelity ``utils.get_cacheable_input_name`` (the name-keyed cache this one replaces).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..core.sample import Sample
from ..data.cache import cache_dir, canonical_json, load_npz, save_npz_atomic

#: Bump when what a cache entry holds changes for the same key material.
CACHE_VERSION = 1

#: Images up to this many bytes are kept in memory between hashing and extraction.
KEEP_BYTES = 512 * 1024 * 1024


def _image_of(item: Any) -> np.ndarray:
    img = item.image if isinstance(item, Sample) else item
    if hasattr(img, "detach") and hasattr(img, "numpy"):
        img = img.detach().cpu().numpy()
    return np.ascontiguousarray(np.asarray(img))


def _update(h: Any, arr: np.ndarray) -> None:
    # Shape and dtype go in before the bytes: the same bytes as 28x28 or 14x56 are different images.
    h.update(f"{arr.dtype.str}{arr.shape};".encode())
    h.update(memoryview(arr).cast("B") if arr.size else b"")


def data_hash(images: Any, *, keep_bytes: int = 0) -> tuple[str, list[Any] | None]:
    """sha256 of a set of images (shapes, dtypes and bytes, in order).

    Args:
        images: an ``(N, ...)`` numpy array, a torch tensor, or an iterable of images or Samples
            (e.g. a data Source).
        keep_bytes: keep the decoded images in memory while their total size stays below this.

    Returns:
        ``(hexdigest, images)``: ``images`` is the list read (reusable for extraction) when it fit in
        ``keep_bytes``, else None.

    Example:
        >>> len(data_hash(np.zeros((2, 8, 8), np.uint8))[0])
        64
    """
    h = hashlib.sha256()
    if isinstance(images, np.ndarray) or (hasattr(images, "detach") and hasattr(images, "numpy")):
        arr = _image_of(images)
        h.update(b"array;")
        _update(h, arr)
        return h.hexdigest(), None
    kept: list[Any] | None = [] if keep_bytes > 0 else None
    total = 0
    h.update(b"items;")
    for item in images:
        arr = _image_of(item)
        _update(h, arr)
        if kept is not None:
            total += arr.nbytes
            if total <= keep_bytes:
                kept.append(item)  # the item itself: a CHW tensor must stay a tensor for the extractor
            else:
                kept = None
    return h.hexdigest(), kept


class FeatureCache:
    """``.npz`` feature files under ``root`` (default ``cache_dir() / "features"``), keyed by content.

    Args:
        root: the folder; created on the first save.
    """

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root) if root is not None else cache_dir() / "features"

    @staticmethod
    def key_material(digest: str, provenance: dict[str, Any]) -> dict[str, Any]:
        """What the key hashes: data digest, extractor provenance (minus per-run fields and the weight
        file's path: its sha256 decides), version."""
        prov = {k: v for k, v in provenance.items() if k not in ("n", "cache", "data_sha256", "weights_file")}
        return {"version": CACHE_VERSION, "data_sha256": digest, "extractor": prov}

    def key(self, digest: str, provenance: dict[str, Any]) -> str:
        text = canonical_json(self.key_material(digest, provenance), indent=None)
        return hashlib.sha256(text.encode()).hexdigest()

    def path(self, key: str, extractor_name: str = "features") -> Path:
        safe = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in extractor_name) or "features"
        return self.root / f"{safe}-{key[:24]}.npz"

    def load(self, key: str, material: dict[str, Any], extractor_name: str = "features") -> Any | None:
        """The cached :class:`~traingen.features.Features`, or None when missing, unreadable or stale."""
        from ..features.base import Features

        arrays = load_npz(self.path(key, extractor_name))
        if arrays is None or "meta" not in arrays:
            return None
        try:
            meta = json.loads(str(arrays["meta"]))
        except ValueError:
            return None
        if meta.get("key") != material:  # a truncated key collision or an old layout: recompute
            return None
        pool = arrays.get("pool")
        logits = arrays.get("logits")
        prov = dict(meta.get("provenance", {}))
        return Features(pool=pool, logits=logits, provenance=prov)

    def save(self, key: str, material: dict[str, Any], features: Any, extractor_name: str = "features") -> Path:
        """Write ``features`` atomically; returns the file's path."""
        arrays: dict[str, np.ndarray] = {}
        if features.pool is not None:
            arrays["pool"] = np.asarray(features.pool, dtype=np.float64)
        if features.logits is not None:
            arrays["logits"] = np.asarray(features.logits, dtype=np.float64)
        meta = {"key": material, "provenance": features.provenance}
        arrays["meta"] = np.array(canonical_json(meta, indent=None))
        path = self.path(key, extractor_name)
        save_npz_atomic(path, **arrays)
        return path


def cached_features(
    extractor: Any,
    images: Any,
    *,
    cache: bool | FeatureCache | None = True,
    batch_size: int = 64,
    device: str | None = None,
    progress: Callable[[int], Any] | None = None,
) -> Any:
    """Features of ``images`` through ``extractor``, from the cache when the same pixels and the same
    extractor were seen before.

    Args:
        extractor: a :class:`~traingen.features.FeatureExtractor`.
        images: anything ``extractor.extract`` takes (array, tensor, Source, iterable of images).
        cache: True (the default cache folder), a :class:`FeatureCache`, or False/None (no cache).
        batch_size: images per forward pass.
        device: where to run the network (None keeps the extractor's).
        progress: called with a count after each batch (not called on a cache hit).

    Returns:
        :class:`~traingen.features.Features`; ``provenance`` gains ``data_sha256`` and ``cache``
        (``"hit"``, ``"miss"`` or ``"off"``).
    """
    if cache is None or cache is False:
        feats = extractor.extract(images, batch_size=batch_size, device=device, progress=progress)
        feats.provenance["cache"] = "off"
        return feats
    store = cache if isinstance(cache, FeatureCache) else FeatureCache()
    if isinstance(images, Iterator):  # a one-shot stream cannot be read twice (hash, then extract)
        images = list(images)
    digest, kept = data_hash(images, keep_bytes=KEEP_BYTES)
    provenance = extractor.provenance()
    material = store.key_material(digest, provenance)
    key = store.key(digest, provenance)
    hit = store.load(key, material, extractor.name)
    if hit is not None:
        hit.provenance.update(data_sha256=digest, cache="hit")
        return hit
    source: Iterable[Any] | Any = kept if kept is not None else images
    feats = extractor.extract(source, batch_size=batch_size, device=device, progress=progress)
    feats.provenance["data_sha256"] = digest
    store.save(key, material, feats, extractor.name)
    feats.provenance["cache"] = "miss"
    return feats
