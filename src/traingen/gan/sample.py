"""Sampling a trained GAN into a labelled dataset, with an optional classifier filter.

:func:`sample` loads a run's latest checkpoint (the EMA generator when the run kept one), draws
images class by class and writes them through the foundation's writers (ImageFolder
``OUT/<class>/<key>.png`` + ``OUT/metadata.jsonl``, or WebDataset shards), one row per image with
its label, seed, truncation and the checkpoint's sha256. ``per_class=K`` draws ``K`` images of each
class, ``n=N`` spreads ``N`` images evenly over the classes (image ``i`` has class
``classes[i % len(classes)]``), ``classes=[1, 3]`` restricts either to those classes.

Each candidate image of class ``c`` has its own noise, ``torch_generator(seed, "gan-sample", c, j)``
for its candidate number ``j``, so the output does not depend on the batch size. With a classifier
(a callable ``classifier(images_uint8_NCHW) -> probs N x K``, or the name of an extractor in
:mod:`traingen.features` such as ``mnist5k-classifier``), a candidate is kept only when the
classifier gives its conditioning class a probability ``>= min_confidence``; rejected candidates are
counted and the next candidates of that class are drawn until the quota is met (at most
``max_tries`` candidates per requested image).

Example:
    >>> res = sample("runs/cdcgan", "out/gen", per_class=500, truncation=1.5,
    ...              classifier="mnist5k-classifier", min_confidence=0.9)
    >>> res.n, res.rejected
    (5000, 412)

References:
    Brock, Donahue, Simonyan. "Large Scale GAN Training for High Fidelity Natural Image Synthesis",
    ICLR 2019 (truncation trick). Ravuri, Vinyals. "Classification Accuracy Score for Conditional
    Generative Models", NeurIPS 2019 (generated data as training data). Yazıcı et al. "The Unusual
    Effectiveness of Averaging in GAN Training", ICLR 2019 (sampling from the EMA generator).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..core.checkpoint import load_checkpoint
from ..core.errors import CheckpointError, ConfigError, DataError
from ..core.run_dir import checkpoint_paths, latest_checkpoint
from ..core.sample import Sample
from ..core.seeding import derive_seed, torch_generator
from .train_config import build_model, read_run_config
from .trainer import sample_grid, to_uint8

Classifier = Callable[[torch.Tensor], Any]


@dataclass
class SampleResult:
    """What :func:`sample` wrote.

    Attributes:
        out: the output folder; ``manifest``: its ``manifest.json``; ``format``: the writer.
        n: images written; ``per_class``: images per class index.
        candidates: images generated (written + rejected); ``rejected`` / ``rejected_per_class``:
            candidates the classifier refused (0 without a classifier).
        checkpoint: the checkpoint used; ``checkpoint_sha256``: its tensor file's sha256; ``step``.
        ema: whether the EMA generator was used.
        seconds: wall time.
    """

    out: Path
    manifest: Path
    format: str
    n: int
    per_class: dict[int, int]
    candidates: int
    rejected: int
    rejected_per_class: dict[int, int]
    checkpoint: Path
    checkpoint_sha256: str
    step: int
    ema: bool
    seconds: float
    notices: list[str] = field(default_factory=list)


@dataclass
class LoadedGenerator:
    """A run's generator ready to sample: ``model`` (its ``G`` holds the chosen weights, eval mode)."""

    model: Any
    checkpoint: Path
    sha256: str
    step: int
    ema: bool
    classes: list[str]


def load_generator(run_dir: str | os.PathLike, *, step: int | None = None, use_ema: bool = True,
                   device: str = "cpu") -> LoadedGenerator:
    """Build the run's model and load G's weights (the EMA's when kept and ``use_ema``) from a checkpoint.

    Args:
        run_dir: a folder written by ``traingen train gan``.
        step: the checkpoint's step (default: the latest).
        use_ema: sample from the EMA generator when the checkpoint holds one.
        device: where the generator runs.

    Raises:
        CheckpointError: no checkpoint (or none at ``step``) in ``run_dir``.
    """
    run_dir = Path(run_dir)
    cfg = read_run_config(run_dir)
    if step is None:
        path = latest_checkpoint(run_dir)
        if path is None:
            raise CheckpointError("the run has no checkpoint yet", where=str(run_dir / "checkpoints"))
    else:
        found = dict(checkpoint_paths(run_dir))
        if step not in found:
            raise CheckpointError(f"no checkpoint at step {step}; steps: {sorted(found)}",
                                  where=str(run_dir / "checkpoints"), field="step")
        path = found[step]
    tree, state = load_checkpoint(path, device=device)
    model = build_model(cfg, generator=torch.Generator().manual_seed(0), where=str(run_dir / "config.yaml"))
    model.to(device)
    ema = use_ema and "G_ema" in tree
    model.G.load_state_dict(tree["G_ema"] if ema else tree["model"]["G"])
    model.eval()
    model.G.requires_grad_(False)
    sha = json.loads(path.with_name(path.name + ".json").read_text())["sha256"]
    k = model.config.num_classes
    classes = list(state.get("classes") or [str(i) for i in range(k)])
    return LoadedGenerator(model, path, sha, int(state.get("step", 0)), ema, classes)


def run_classes(run_dir: str | os.PathLike) -> list[str]:
    """The class names a run trained on (from its latest checkpoint's JSON; no tensors are read)."""
    path = latest_checkpoint(run_dir)
    if path is None:
        raise CheckpointError("the run has no checkpoint yet", where=str(Path(run_dir) / "checkpoints"))
    try:
        state = json.loads(path.with_name(path.name + ".json").read_text()).get("state", {})
    except (OSError, ValueError) as e:
        raise CheckpointError(f"unreadable checkpoint JSON: {e}", where=str(path) + ".json") from e
    return list(state.get("classes") or [])


def plan_labels(num_classes: int, *, n: int | None = None, per_class: int | None = None,
                classes: Sequence[int] | None = None) -> list[int]:
    """The label of each output image, in key order (``-1`` for an unconditional model).

    ``per_class=K`` gives ``K`` images of each class (class-major), ``n=N`` gives ``N`` images with
    image ``i`` in ``classes[i % len(classes)]``.
    """
    if (n is None) == (per_class is None):
        raise ConfigError("give exactly one of n and per_class", field="n")
    count = n if n is not None else per_class
    if count is None or count < 1:
        raise ConfigError(f"must be >= 1, got {count}", field="n" if n is not None else "per_class")
    if num_classes == 0:
        if classes or per_class is not None:
            raise ConfigError("the model is unconditional: per_class and classes do not apply", field="classes")
        return [-1] * count
    chosen = list(range(num_classes)) if classes is None else [int(c) for c in classes]
    if not chosen:
        raise ConfigError("classes is empty", field="classes")
    bad = [c for c in chosen if not 0 <= c < num_classes]
    if bad:
        raise ConfigError(f"class {bad[0]} outside the model's {num_classes} classes", field="classes")
    if len(set(chosen)) != len(chosen):
        raise ConfigError(f"classes repeat: {chosen}", field="classes")
    if per_class is not None:
        return [c for c in chosen for _ in range(per_class)]
    return [chosen[i % len(chosen)] for i in range(count)]


def classifier_from_name(name: str, *, device: str = "cpu") -> Classifier:
    """A classifier callable from a :mod:`traingen.features` extractor with ``logits`` (softmax probs)."""
    from ..features import get_extractor

    ext = get_extractor(name, device=device)
    if "logits" not in getattr(ext, "outputs", ()):
        raise ConfigError(f"feature extractor {name!r} has no class logits", field="filter_classifier")

    def classify(images: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return torch.softmax(ext(images)["logits"].float(), dim=1)

    classify.__name__ = name
    return classify


class _ClassStream:
    """Candidates of one class in order; hands out accepted images, counting rejections."""

    def __init__(self, gen: LoadedGenerator, label: int, *, seed: int, truncation: float | None,
                 classifier: Classifier | None, min_confidence: float, batch_size: int, device: str):
        self.gen, self.label, self.seed, self.truncation = gen, label, seed, truncation
        self.classifier, self.min_confidence = classifier, min_confidence
        self.batch_size, self.device = batch_size, device
        self.next_j = 0
        self.rejected = 0

    def take(self, count: int, limit: int) -> list[tuple[np.ndarray, int, float | None]]:
        """``count`` accepted ``(image uint8 CxHxW, candidate number, confidence)``; at most ``limit`` tries."""
        out: list[tuple[np.ndarray, int, float | None]] = []
        while len(out) < count:
            if self.next_j >= limit:
                raise DataError(f"the classifier kept only {len(out)} of {count} images of class {self.label} "
                                f"after {limit} candidates; lower min_confidence or train longer",
                                field="min_confidence")
            m = min(self.batch_size, limit - self.next_j, max(count - len(out), 1) * (2 if self.classifier else 1))
            js = list(range(self.next_j, self.next_j + m))
            images = self._generate(js)
            conf = self._confidence(images)
            for i, j in enumerate(js):
                self.next_j = j + 1
                c = None if conf is None else float(conf[i])
                if c is not None and c < self.min_confidence:
                    self.rejected += 1
                    continue
                out.append((images[i].numpy(), j, c))
                if len(out) == count:
                    break
        return out

    def candidate_seed(self, j: int) -> int:
        return derive_seed(self.seed, "gan-sample", self.label, j)

    @torch.no_grad()
    def _generate(self, js: list[int]) -> torch.Tensor:
        model = self.gen.model
        z = torch.cat([model.sample_z(1, generator=torch_generator(self.candidate_seed(j)),
                                      truncation=self.truncation) for j in js]).to(self.device)
        y = None if self.label < 0 else torch.full((len(js),), self.label, dtype=torch.long, device=self.device)
        return to_uint8(model.G(z, y)).cpu()

    def _confidence(self, images: torch.Tensor) -> np.ndarray | None:
        if self.classifier is None:
            return None
        probs = self.classifier(images)
        probs = np.asarray(probs.detach().cpu() if isinstance(probs, torch.Tensor) else probs, dtype=np.float64)
        if probs.ndim != 2 or probs.shape[0] != len(images) or probs.shape[1] <= self.label:
            raise DataError(f"classifier returned shape {probs.shape}; expected {len(images)} x K with K > "
                            f"{self.label}", field="classifier")
        return probs[:, self.label]


def sample(run_dir: str | os.PathLike, out: str | os.PathLike, *, n: int | None = None,
           per_class: int | None = None, classes: Sequence[int] | None = None, truncation: float | None = None,
           seed: int = 0, fmt: str = "imagefolder", classifier: Classifier | str | None = None,
           min_confidence: float = 0.5, max_tries: int = 20, step: int | None = None, use_ema: bool = True,
           batch_size: int = 256, shard_size: int = 1000, device: str = "cpu", overwrite: bool = False,
           progress: Callable[[int], Any] | None = None) -> SampleResult:
    """Generate a labelled dataset from a trained GAN run (see the module docstring).

    Args:
        run_dir: the run folder; ``out``: the output folder; ``fmt``: ``imagefolder`` or ``webdataset``.
        n, per_class, classes: how many images of which classes (exactly one of ``n`` / ``per_class``).
        truncation: resample latent values with ``|z| > truncation`` (None: no truncation).
        seed: the sampling seed (with the same seed and checkpoint, the same bytes).
        classifier: a callable ``uint8 N x C x H x W -> probs N x K`` or a feature-extractor name.
        min_confidence: the probability a kept image's class needs; ``max_tries``: candidates per image.
        step: the checkpoint's step (default the latest); ``use_ema``: sample the EMA generator.
        batch_size: images per forward pass; ``shard_size``: images per shard; ``device``; ``overwrite``.
        progress: called with the number of images written after each shard.

    Returns:
        :class:`SampleResult` (counts, rejections, the checkpoint and its hash).
    """
    from ..data import open_writer, plan_shards

    t0 = time.perf_counter()
    if fmt not in ("imagefolder", "webdataset"):
        raise ConfigError(f"format must be imagefolder or webdataset, got {fmt!r}", field="format")
    if not 0.0 <= min_confidence <= 1.0:
        raise ConfigError(f"must lie in [0, 1], got {min_confidence}", field="min_confidence")
    if truncation is not None and not truncation > 0:
        raise ConfigError(f"must be > 0, got {truncation}", field="truncation")
    gen = load_generator(run_dir, step=step, use_ema=use_ema, device=device)
    k = gen.model.config.num_classes
    labels = plan_labels(k, n=n, per_class=per_class, classes=classes)
    if classifier is not None and k == 0:
        raise ConfigError("a classifier filter needs a conditional model", field="classifier")
    clf_name = classifier if isinstance(classifier, str) else getattr(classifier, "__name__", None)
    if isinstance(classifier, str):
        classifier = classifier_from_name(classifier, device=device)
    quota = {c: labels.count(c) for c in sorted(set(labels))}
    streams = {c: _ClassStream(gen, c, seed=seed, truncation=truncation, classifier=classifier,
                               min_confidence=min_confidence, batch_size=batch_size, device=device) for c in quota}
    config = {"run": str(Path(run_dir).resolve()), "checkpoint_sha256": gen.sha256, "step": gen.step, "ema": gen.ema,
              "n": n, "per_class": per_class, "classes": list(classes) if classes is not None else None,
              "truncation": truncation, "classifier": clf_name if classifier is not None else None,
              "min_confidence": min_confidence if classifier is not None else None}
    writer = open_writer(fmt, out, classes=gen.classes if k else (), config=config, seed=seed, overwrite=overwrite,
                         shard_size=shard_size)
    technique = f"gan/{read_run_config(run_dir).model}"
    shards = plan_shards(len(labels), shard_size)
    for shard in shards:
        want = labels[shard.start:shard.stop]
        drawn = {c: iter(streams[c].take(want.count(c), max_tries * quota[c])) for c in set(want)}
        samples = []
        for c in want:
            image, j, conf = next(drawn[c])
            params = {"truncation": truncation, "checkpoint": gen.sha256, "step": gen.step, "ema": gen.ema,
                      "candidate": j, "confidence": conf}
            img = image.transpose(1, 2, 0)
            samples.append(Sample(image=img[:, :, 0] if img.shape[2] == 1 else img, label=None if c < 0 else c,
                                  meta={"source": f"gan:{Path(run_dir).name}", "seed": streams[c].candidate_seed(j),
                                        "technique": technique, "params": params}))
        writer.write_shard(shard, samples)
        if progress is not None:
            progress(len(samples))
    rejected = {c: s.rejected for c, s in streams.items()}
    seconds = time.perf_counter() - t0
    manifest = writer.finalize({"seconds": round(seconds, 3), "candidates": sum(s.next_j for s in streams.values()),
                                "rejected": sum(rejected.values()), "rejected_per_class": rejected,
                                "device": device, "batch_size": batch_size}, shards=shards)
    return SampleResult(out=Path(out), manifest=manifest, format=fmt, n=len(labels), per_class=quota,
                        candidates=sum(s.next_j for s in streams.values()), rejected=sum(rejected.values()),
                        rejected_per_class=rejected, checkpoint=gen.checkpoint, checkpoint_sha256=gen.sha256,
                        step=gen.step, ema=gen.ema, seconds=seconds)


def save_grid(run_dir: str | os.PathLike, path: str | os.PathLike, *, step: int | None = None,
              use_ema: bool = True, cols: int = 8, cell: int | None = None, seed: int | None = None) -> Path:
    """Write a checkpoint's sample grid (one row per class, ``cols`` samples each) as a PNG.

    The latent points are the trainer's grid noise for ``seed`` (default: the run's seed), so the grid
    of the final checkpoint equals the run's ``samples.png`` when ``cell`` is left at the image size.
    Docs figures are made with it (``python -m traingen.gan.sample RUN --grid OUT.png``).

    Args:
        run_dir: a folder written by ``traingen train gan``.
        path: the PNG to write (atomically).
        step: the checkpoint's step (default: the latest).
        use_ema: use the EMA generator when the checkpoint holds one.
        cols: samples per row.
        cell: side in pixels of each sample in the grid (nearest-neighbour scaling).
        seed: the grid noise's seed (default: the run's).

    Returns:
        The PNG's path.

    Example:
        >>> save_grid("runs/cdcgan-lfw25", "docs/gan/figures/cdcgan-lfw25.png", cols=12, cell=72)
    """
    from ..report.grid import save_png

    if cols < 1:
        raise ConfigError(f"must be >= 1, got {cols}", field="cols")
    gen = load_generator(run_dir, step=step, use_ema=use_ema)
    run_seed = read_run_config(run_dir).seed if seed is None else seed
    grid = sample_grid(gen.model.G, gen.model, seed=run_seed, cols=cols, cell=cell)
    return save_png(path, grid)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m traingen.gan.sample RUN --grid OUT.png [--step N] [--cols C] [--cell PX] [--no-ema]``."""
    p = argparse.ArgumentParser(prog="python -m traingen.gan.sample", description=save_grid.__doc__.splitlines()[0])
    p.add_argument("run")
    p.add_argument("--grid", required=True, help="the PNG to write")
    p.add_argument("--step", type=int, default=None)
    p.add_argument("--cols", type=int, default=8)
    p.add_argument("--cell", type=int, default=None)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--no-ema", action="store_true")
    a = p.parse_args(argv)
    out = save_grid(a.run, a.grid, step=a.step, use_ema=not a.no_ema, cols=a.cols, cell=a.cell, seed=a.seed)
    print(out)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
