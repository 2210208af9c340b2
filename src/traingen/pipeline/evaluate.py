"""Evaluation of a run's final set (the recipe's ``evaluate:`` block).

Feature metrics (``fid``, ``kid``, ``pr``, ``is``) go through :func:`traingen.metrics.evaluate` on
``N`` images of the output against ``reference``; ``cas`` and ``classifier`` train the fixed small
CNN of :mod:`traingen.features.classifiers` on the output and test it on ``reference``
(:func:`traingen.metrics.classification_accuracy_score`). Every result keeps its provenance
(extractor, N, seed, reference) for the report.

Example:
    >>> evaluate_run(recipe, job, Path("RUN"))["fid"]["value"]
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..data.sources import Source


class JobSource(Source):
    """The run's final set as a Source, read back from the job (works for every output format).

    With ``limit``, ``limit`` samples spread evenly over the whole set, so every part and class shows.
    """

    def __init__(self, job: Any, limit: int | None = None):
        self.job = job
        self.n = job.total if limit is None else min(limit, job.total)
        self.classes = list(job.classes)
        self.name = f"run:{Path(job.data_dir).parent.name}"

    def __len__(self) -> int:
        return self.n

    def _get(self, i: int):
        j = int(i) * self.job.total // self.n
        return self.job.samples(j, j + 1)[0]


def evaluate_run(recipe: Any, job: Any, out: Path) -> dict[str, Any]:
    """Compute the recipe's metrics on the final set; returns ``{metric: result dict}``."""
    from ..data import open_source
    from ..metrics import evaluate

    ev = recipe.evaluate
    results: dict[str, Any] = {}
    fake = JobSource(job, limit=ev.n)
    ref = open_source(ev.reference)
    for m in ev.metrics:
        if m in ("fid", "kid", "pr"):
            r = evaluate(m, fake, ref, features=ev.extractor, seed=recipe.seed, limit=ev.n, cache=False)
            results[m] = {**r.to_dict(), "n": len(fake), "seed": recipe.seed, "reference": ev.reference}
        elif m == "is":
            r = evaluate("is", fake, features=ev.classifier_features, seed=recipe.seed, limit=ev.n, cache=False)
            results[m] = {**r.to_dict(), "n": len(fake), "seed": recipe.seed, "extractor": ev.classifier_features}
        elif m == "cas":
            from ..metrics import classification_accuracy_score

            full = JobSource(job)
            r = classification_accuracy_score(full, ev.real_train, ev.reference, epochs=ev.epochs,
                                              seeds=(recipe.seed,))
            results[m] = {**r.to_dict(), "value": r.mean, "seed": recipe.seed, "reference": ev.reference,
                          "classifier": "traingen-small-cnn-v1"}
        elif m == "classifier":
            results[m] = downstream_classifier(JobSource(job), ref, epochs=ev.epochs, seed=recipe.seed)
            results[m]["reference"] = ev.reference
    return results


def downstream_classifier(train: Any, test: Any, *, epochs: int, seed: int) -> dict[str, Any]:
    """Train the fixed small CNN on ``train`` (a Source), test on ``test``; accuracy with provenance."""
    import numpy as np

    from ..features.classifiers import FitConfig, accuracy, fit_classifier
    from ..metrics.cas import convert_image

    def arrays(src: Any, shape: tuple[int, ...] | None) -> tuple[np.ndarray, np.ndarray]:
        xs, ys = [], []
        for i in range(len(src)):
            s = src[i]
            img = np.asarray(s.image)
            xs.append(img if shape is None else convert_image(img, shape))
            ys.append(int(np.argmax(s.label)) if np.ndim(s.label) else int(s.label))
        return np.stack(xs), np.asarray(ys, np.int64)

    x_test, y_test = arrays(test, None)
    x, y = arrays(train, tuple(x_test.shape[1:]))
    net = fit_classifier(x, y, num_classes=len(test.classes), seed=seed, config=FitConfig(epochs=epochs))
    acc = accuracy(net, x_test, y_test)
    return {"metric": "classifier", "value": acc, "n": len(y), "n_test": len(y_test), "epochs": epochs,
            "seed": seed, "classifier": "traingen-small-cnn-v1"}
