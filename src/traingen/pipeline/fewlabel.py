"""The few-label regime of the main job: K labelled images per class from a training split.

The quickstart (``traingen quickstart``) and the cDCGAN it ships both use the same labelled subset:
the first ``per_class`` images of each class in the order of the source (``builtin:mnist5k@train``),
a rule with no seed, so the GAN checkpoint, the classifier arms and any rerun agree on which 500 of
the 4,000 training digits carry labels. The 1,000 test digits are never touched.

Example:
    >>> src = open_source("builtin:mnist5k@train")
    >>> idx = fewlabel_indices([src[i].label for i in range(len(src))], per_class=50)
    >>> len(idx)
    500

References:
    Oliver et al., "Realistic Evaluation of Deep Semi-Supervised Learning Algorithms", NeurIPS 2018
    (the few-label protocol: a small labelled subset of the training split, the test split held out).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

import numpy as np

from ..core.errors import DataError
from ..data.sources import Source, open_source

FEWLABEL_SOURCE = "builtin:mnist5k@train"
FEWLABEL_PER_CLASS = 50


def fewlabel_indices(labels: Sequence[int] | np.ndarray, per_class: int = FEWLABEL_PER_CLASS) -> np.ndarray:
    """Indices of the first ``per_class`` items of each class, in source order (sorted).

    Args:
        labels: the integer label of every item of the split.
        per_class: how many labelled items each class keeps.

    Returns:
        Sorted int64 indices, ``per_class`` of each class present.

    Raises:
        DataError: a class has fewer than ``per_class`` items.
    """
    lab = np.asarray(labels, dtype=np.int64)
    picked = []
    for c in np.unique(lab):
        where = np.flatnonzero(lab == c)
        if where.size < per_class:
            raise DataError(f"class {int(c)} has {where.size} items, fewer than per_class={per_class}",
                            field="per_class")
        picked.append(where[:per_class])
    return np.sort(np.concatenate(picked)) if picked else np.zeros(0, dtype=np.int64)


def fewlabel_source(spec: str = FEWLABEL_SOURCE, per_class: int = FEWLABEL_PER_CLASS) -> Source:
    """The labelled subset of ``spec`` as a :class:`~traingen.data.sources.Source` view."""
    src = open_source(spec)
    labels = src_labels(src)
    return src.subset(fewlabel_indices(labels, per_class).tolist())


def src_labels(src: Source) -> np.ndarray:
    """Every integer label of ``src`` (reads the arrays of an embedded dataset when it can)."""
    return np.asarray([int(src[i].label) for i in range(len(src))], dtype=np.int64)


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m traingen.pipeline.fewlabel OUT``: export the labelled subset as an ImageFolder.

    This is the data the few-label cDCGAN recipe (``recipes/gan-cdcgan-mnist5k-fewlabel.yaml``)
    trains on.
    """
    from ..data.export import export_source

    ap = argparse.ArgumentParser(prog="python -m traingen.pipeline.fewlabel")
    ap.add_argument("out")
    ap.add_argument("--per-class", type=int, default=FEWLABEL_PER_CLASS)
    ap.add_argument("--source", default=FEWLABEL_SOURCE)
    args = ap.parse_args(argv)
    res = export_source(fewlabel_source(args.source, args.per_class), os.fspath(args.out), fmt="imagefolder",
                        shard_size=1000)
    print(f"{res.total} images -> {res.out_dir}")


if __name__ == "__main__":
    main()
