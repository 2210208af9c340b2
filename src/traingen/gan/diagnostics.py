"""Conditional-GAN diagnostics: does G follow its condition, and how varied is each class?

A conditional generator can fail in two ways that a classification accuracy score (CAS) mixes up:
its samples may not show the conditioning class, or they may show it but vary too little (a
collapse within the class: every "3" is nearly the same "3"). This module measures both, with a
classifier from :mod:`traingen.features` that has ``pool`` features and ``logits``:

* **conditional accuracy**: how often the classifier's prediction equals the conditioning label
  (chance: 1 / K);
* **diversity ratio**: per class, the mean pairwise Euclidean distance between the classifier's
  ``pool`` features of the generated images, divided by the same for real images of that class
  (1: as varied as the data; well below 1: collapse within the class); the mean over classes;
* optionally a **quick CAS**: the fixed small CNN of :mod:`traingen.metrics.cas` trained (one seed)
  on the generated images only and tested on held-out real images. It is a cheap proxy for the full
  3-seed protocol of ``traingen eval cas``, useful to compare checkpoints and recipes.

Images are generated with G in evaluation mode (BatchNorm running statistics), or with
``batch_stats=True`` in training mode on a copy of G (each batch normalised by its own statistics,
as during training; classes are interleaved so that every batch mixes them); the copy's running
statistics are thrown away.

Example:
    >>> from traingen.gan.diagnostics import diagnose
    >>> d = diagnose("runs/sagan", test="builtin:mnist5k@test")
    >>> d.summary()
    'step 1500 EMA: conditional accuracy 0.972, diversity 0.562 of real, quick CAS 0.542'

    python -m traingen.gan.diagnostics runs/sagan --test builtin:mnist5k@test

References:
    Ravuri, Vinyals. "Classification Accuracy Score for Conditional Generative Models", NeurIPS 2019.
    Salimans et al. "Improved Techniques for Training GANs", NeurIPS 2016 (mode collapse within a
    batch, minibatch discrimination).
    Brock, Donahue, Simonyan. "Large Scale GAN Training for High Fidelity Natural Image Synthesis",
    ICLR 2019 (sampling with batch statistics / "standing statistics").
"""

from __future__ import annotations

import argparse
import copy
import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch

from ..core.errors import ConfigError, DataError
from ..core.seeding import torch_generator
from .sample import load_generator
from .trainer import to_uint8


@dataclass(frozen=True)
class Diagnosis:
    """What :func:`diagnose` measured for one checkpoint.

    Attributes:
        step, ema, checkpoint: which weights were scored.
        n_per_class: generated (and at most this many real) images per class.
        conditional_accuracy: fraction of generated images the classifier puts in their class.
        diversity: mean over classes of the generated / real mean pairwise feature distance.
        per_class_diversity: the per-class ratios.
        quick_cas: test accuracy of the small CNN trained on the generated images (None if not asked).
        batch_stats: whether G normalised with batch statistics (training mode).
        classifier: the feature extractor's name.
    """

    step: int
    ema: bool
    checkpoint: str
    n_per_class: int
    conditional_accuracy: float
    diversity: float
    per_class_diversity: tuple[float, ...]
    quick_cas: float | None
    batch_stats: bool
    classifier: str

    def summary(self) -> str:
        text = (f"step {self.step} {'EMA' if self.ema else 'G'}{' (batch stats)' if self.batch_stats else ''}: "
                f"conditional accuracy {self.conditional_accuracy:.3f}, diversity {self.diversity:.3f} of real")
        if self.quick_cas is not None:
            text += f", quick CAS {self.quick_cas:.3f}"
        return text


def mean_pairwise_distance(features: torch.Tensor) -> float:
    """Mean Euclidean distance over the ``n (n - 1)`` ordered pairs of distinct rows (float64).

    Raises:
        DataError: fewer than two rows.
    """
    f = torch.as_tensor(features).double().flatten(1)
    n = f.shape[0]
    if n < 2:
        raise DataError(f"needs at least 2 feature vectors, got {n}", field="features")
    return float(torch.cdist(f, f).sum() / (n * (n - 1)))


def diversity_ratio(fake: torch.Tensor, fake_labels: torch.Tensor, real: torch.Tensor,
                    real_labels: torch.Tensor, num_classes: int) -> tuple[float, list[float]]:
    """Per class ``mean_pairwise_distance(fake of c) / mean_pairwise_distance(real of c)``; their mean.

    Args:
        fake, real: N×D feature matrices.
        fake_labels, real_labels: their class indices.
        num_classes: K; every class needs at least 2 vectors on both sides.

    Returns:
        ``(mean ratio, [ratio of class 0, ..., class K-1])``.
    """
    ratios = []
    for c in range(num_classes):
        f, r = fake[fake_labels == c], real[real_labels == c]
        if len(f) < 2 or len(r) < 2:
            raise DataError(f"class {c} has {len(f)} generated and {len(r)} real vectors; needs 2 of each",
                            field="labels")
        ratios.append(mean_pairwise_distance(f) / mean_pairwise_distance(r))
    return float(np.mean(ratios)), ratios


def conditional_accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of rows whose arg-max equals the label."""
    return float((torch.as_tensor(logits).argmax(1) == torch.as_tensor(labels)).double().mean())


@torch.no_grad()
def generate(G: torch.nn.Module, model, labels: torch.Tensor, *, generator: torch.Generator,
             batch_size: int = 500, batch_stats: bool = False) -> torch.Tensor:
    """uint8 N×C×H×W samples of ``G`` for ``labels`` (noise from ``generator``, in batches).

    With ``batch_stats`` a copy of G runs in training mode (batch statistics in BatchNorm).
    """
    net = copy.deepcopy(G).train() if batch_stats else G
    was_training = net.training
    if not batch_stats:
        net.eval()
    try:
        out = [to_uint8(net(model.sample_z(len(y), generator=generator), y).cpu())
               for y in labels.split(batch_size)]
    finally:
        net.train(was_training)
    return torch.cat(out)


def _load_labelled(address: str, classes: Sequence[str], field: str) -> tuple[np.ndarray, np.ndarray]:
    from ..data import open_source
    from ..metrics.cas import _load

    src = open_source(address)
    if list(src.classes) != list(classes):
        raise DataError(f"classes {list(src.classes)} differ from the run's {list(classes)}", where=src.name,
                        field=field)
    x, y, _ = _load(src, range(len(src)), list(classes), None, field, convert=False)
    return x, y


def diagnose(run_dir: str | os.PathLike, *, classifier: str = "mnist5k-classifier",
             real: str = "builtin:mnist5k@train", test: str | None = None, n_per_class: int = 200,
             step: int | None = None, use_ema: bool = True, batch_stats: bool = False, seed: int = 0,
             cas_epochs: int = 5) -> Diagnosis:
    """Score one checkpoint of a conditional run: conditional accuracy, diversity, optional quick CAS.

    Args:
        run_dir: a ``traingen train gan`` run folder.
        classifier: a :mod:`traingen.features` extractor with ``pool`` and ``logits``.
        real: labelled real images of the run's classes (the diversity reference).
        test: held-out labelled real images for the quick CAS (None: no CAS).
        n_per_class: generated images per class (real: at most this many per class, the first ones).
        step: checkpoint step (default: the latest); ``use_ema``: the EMA generator when kept.
        batch_stats: normalise with batch statistics (see the module docstring).
        seed: noise stream ``(seed, "gan-diagnose")`` and the CAS network's seed.
        cas_epochs: epochs of the quick CAS classifier.

    Returns:
        :class:`Diagnosis`.
    """
    from ..features import get_extractor
    from ..features.classifiers import FitConfig, accuracy, fit_classifier
    from ..metrics.cas import convert_image

    if n_per_class < 2:
        raise ConfigError(f"must be >= 2, got {n_per_class}", field="n_per_class")
    loaded = load_generator(run_dir, step=step, use_ema=use_ema)
    model, k = loaded.model, loaded.model.config.num_classes
    ext = get_extractor(classifier)
    if "logits" not in getattr(ext, "outputs", ()) or "pool" not in ext.outputs:
        raise ConfigError(f"feature extractor {classifier!r} has no pool features and logits", field="classifier")
    labels = torch.arange(k).repeat(n_per_class)  # classes interleaved: every batch mixes them
    fake = generate(model.G, model, labels, generator=torch_generator(seed, "gan-diagnose"), batch_stats=batch_stats)
    x_real, y_real = _load_labelled(real, loaded.classes, "real")
    keep = np.concatenate([np.flatnonzero(y_real == c)[:n_per_class] for c in range(k)])
    x_real, y_real = x_real[keep], y_real[keep]
    real_t = torch.from_numpy(x_real if x_real.ndim == 4 else x_real[..., None]).permute(0, 3, 1, 2)
    with torch.no_grad():
        out_fake = ext(fake)
        out_real = ext(real_t)
    div, per_class = diversity_ratio(out_fake["pool"].flatten(1), labels, out_real["pool"].flatten(1),
                                     torch.from_numpy(y_real), k)
    cas = None
    if test is not None:
        x_test, y_test = _load_labelled(test, loaded.classes, "test")
        imgs = fake.permute(0, 2, 3, 1).numpy()
        imgs = np.stack([convert_image(im if im.shape[-1] > 1 else im[..., 0], x_test.shape[1:]) for im in imgs])
        net = fit_classifier(imgs, labels.numpy(), num_classes=k, seed=seed, config=FitConfig(epochs=cas_epochs))
        cas = accuracy(net, x_test, y_test)
    return Diagnosis(step=loaded.step, ema=loaded.ema, checkpoint=str(loaded.checkpoint), n_per_class=n_per_class,
                     conditional_accuracy=conditional_accuracy(out_fake["logits"], labels), diversity=div,
                     per_class_diversity=tuple(per_class), quick_cas=cas, batch_stats=batch_stats,
                     classifier=classifier)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m traingen.gan.diagnostics RUN [--test ADDR] [--step N] [--batch-stats] [--json]``."""
    p = argparse.ArgumentParser(prog="python -m traingen.gan.diagnostics", description=__doc__.split("\n")[0])
    p.add_argument("run")
    p.add_argument("--classifier", default="mnist5k-classifier")
    p.add_argument("--real", default="builtin:mnist5k@train")
    p.add_argument("--test", default=None, help="held-out real images: also compute a quick CAS")
    p.add_argument("--n-per-class", type=int, default=200)
    p.add_argument("--step", type=int, default=None)
    p.add_argument("--no-ema", action="store_true")
    p.add_argument("--batch-stats", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    d = diagnose(a.run, classifier=a.classifier, real=a.real, test=a.test, n_per_class=a.n_per_class, step=a.step,
                 use_ema=not a.no_ema, batch_stats=a.batch_stats, seed=a.seed)
    print(json.dumps(asdict(d)) if a.json else d.summary())
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())


__all__ = ["Diagnosis", "conditional_accuracy", "diagnose", "diversity_ratio", "generate", "main",
           "mean_pairwise_distance"]
