"""The main job (``traingen quickstart``, what ``make demo`` runs): does generated data help a few-label model?

On embedded ``mnist5k`` in a few-label regime -- 50 labelled images per class, the first of each class
in the 4,000-image training split (:mod:`traingen.pipeline.fewlabel`); the 1,000 test images held out
and never trained on -- the same small CNN (:func:`traingen.features.classifiers.fit_classifier`,
fixed architecture, AdamW, one-cycle) is trained on three sets, over three seeds:

(a) ``real``: the 500 labelled images;
(b) ``real + augmented``: plus 3,000 augmentations of them (the digit chain of
    ``recipes/augment-digits.yaml``: rotation ±15°, scale 0.85-1.15, translation ±10 %, one affine
    warp; no noise or Cutout, which cost accuracy on digits);
(c) ``real + augmented + GAN``: plus images of the shipped class-conditional DCGAN that was trained on
    the same 500 labelled images only (``recipes/gan-cdcgan-mnist5k-fewlabel.yaml``), kept when the
    arm-(b) classifier of the same seed gives the GAN's class a probability of at least 0.9 (a filter
    that, like the GAN, saw no label beyond the 500).

Each seed trains (b) and (c) on its own draw of augmentations (the run holds ``augmented`` per seed,
seed ``k`` uses the ``k``-th block), so the spread over seeds includes which augmentations were drawn,
not only the network's initialisation and batch order. The data of (b) and (c) is made by the
pipeline itself (``traingen run`` on ``recipes/quickstart.yaml`` into ``OUT/run``), so the report of
that run is the quickstart's report. Every arm gets the same
training budget, measured in image passes (``budget``, 21,000; epochs = budget / set size, rounded:
42 for (a), 6 for (b)), so larger sets are not favoured by more optimisation steps. Arm (a) is trained
out: from 7,500 to 30,000 passes it moved by less than 0.15 points. For (b) the number of distinct
augmentations and the budget go together: 3,000 at 21,000 passes beat 2,000 at 15,000, while 4,000 at
15,000 (fewer epochs) or 2,000 at 30,000 (more epochs over the same images, with elastic) did not
(``docs/pipeline.md``). Mixing the augmentations with CutMix or RICAP (``mixer``; soft labels through
``fit_classifier``) is available and measured there: on clean digits at this budget it cost accuracy.
The result is a table of mean and std of the test accuracy per arm, the images each used and the time
per stage, printed and added to the report with two plots (accuracy against the number of synthetic
images; the GAN's training curves).

Example:
    >>> res = run_quickstart("quickstart-out")
    >>> print(res.table)

References:
    Yun et al., "CutMix", ICCV 2019; Takahashi et al., "RICAP", IEEE TCSVT 2020 (the optional ``mixer``).
    Oliver et al., "Realistic Evaluation of Deep Semi-Supervised Learning Algorithms", NeurIPS 2018;
    Simard et al., "Best Practices for Convolutional Neural Networks Applied to Visual Document
    Analysis", ICDAR 2003 (elastic/affine augmentation of digits); Ravuri & Vinyals, "Classification
    Accuracy Score for Conditional Generative Models", NeurIPS 2019 (training on GAN samples).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..core.config import require_at_least_one
from ..core.errors import ConfigError

TEST_SOURCE = "builtin:mnist5k@test"
#: The batch mixers the quickstart can apply to its augmentations, with the options for one draw per image.
MIX_OPTIONS = {"cutmix": {"per_sample": True}, "ricap": {"per_sample_boundary": True}, "mixup": {"per_sample": True}}


@dataclass
class QuickstartConfig:
    """Sizes of the main job (the defaults are the documented run).

    Attributes:
        per_class: labelled images per class (50 -> 500 images).
        augmented: augmentations of the labelled images in arm (b) and (c), per seed (the run makes
            ``augmented * len(seeds)``; each seed trains on its own block).
        gan_candidates: GAN images drawn (evenly over the classes) before the confidence filter.
        min_confidence: probability of its class that a GAN image needs under the arm-(b) classifier.
        seeds: training seeds (each arm is trained once per seed).
        budget: image passes per training run (epochs = round(budget / set size), at least 1).
        gan: the shipped generator (or a GAN run folder).
        test_limit: use only this many test images (tests; None: all 1,000).
        workers: processes for the data generation and for the training runs (each fit on one thread;
            the accuracies do not depend on it).
        mixer: None (the default), or ``"cutmix"`` / ``"ricap"`` / ``"mixup"``: mix a fraction of each
            seed's augmentations in pairs (CutMix, MixUp) or fours (RICAP) with the project's batch
            mixers, one draw per image; the mixed images carry soft labels (their area or blend weights)
            and every arm trains through ``fit_classifier``'s soft-label path (:func:`mix_augmented`).
        mix_fraction: the fraction of each seed's augmentations that is mixed.
    """

    per_class: int = 50
    augmented: int = 3000
    gan_candidates: int = 1000
    min_confidence: float = 0.9
    seeds: tuple[int, ...] = (0, 1, 2)
    budget: int = 21000
    gan: str = "cdcgan-mnist5k-fewlabel"
    test_limit: int | None = None
    workers: int = 2
    mixer: str | None = None
    mix_fraction: float = 0.2

    def __post_init__(self) -> None:
        require_at_least_one(self, ("per_class", "augmented", "gan_candidates", "budget", "workers"))
        if not self.seeds:
            raise ConfigError("needs at least one seed", field="seeds")
        if self.mixer is not None and self.mixer not in MIX_OPTIONS:
            raise ConfigError(f"unknown mixer {self.mixer!r}; expected one of {sorted(MIX_OPTIONS)} or None",
                              field="mixer")
        if not 0.0 <= self.mix_fraction <= 1.0:
            raise ConfigError(f"expected a fraction in [0, 1], got {self.mix_fraction!r}", field="mix_fraction")


@dataclass
class ArmResult:
    """Test accuracy of one arm over the seeds, with what it trained on."""

    name: str
    per_seed: list[float]
    real: int
    augmented: int
    gan: list[int]  # kept GAN images per seed
    epochs: list[int]
    seconds: float

    @property
    def mean(self) -> float:
        return float(np.mean(self.per_seed))

    @property
    def std(self) -> float:
        return float(np.std(self.per_seed))


@dataclass
class QuickstartResult:
    """Where everything went and the numbers."""

    out: Path
    run_dir: Path
    report: Path
    arms: list[ArmResult]
    table: str
    seconds: dict[str, float]
    config: QuickstartConfig = field(default_factory=QuickstartConfig)


def quickstart_recipe(cfg: QuickstartConfig) -> dict[str, Any]:
    """``recipes/quickstart.yaml`` with the sizes of ``cfg``."""
    from ..recipes import recipe_path
    from .recipe import load_recipe

    doc = load_recipe(recipe_path("quickstart.yaml")).to_dict()
    for s in doc["steps"]:
        if s["step"] == "fewlabel":
            s["per_class"] = cfg.per_class
        if s["step"] == "gan-sample":
            s["checkpoint"] = cfg.gan
    # Each training seed gets its own draw of augmentations: seed k trains on slice k.
    doc["mix"] = {"augment": cfg.augmented * len(cfg.seeds), "gan-sample": cfg.gan_candidates}
    doc["workers"] = cfg.workers
    doc["report"] = False
    return doc


def _arrays(src: Any, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
    xs = [np.asarray(src[i].image) for i in range(start, stop)]
    ys = [int(src[i].label) for i in range(start, stop)]
    return np.stack(xs), np.asarray(ys, np.int64)


def mix_augmented(images: np.ndarray, labels: np.ndarray, *, mixer: str, fraction: float, seed: int,
                  num_classes: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Mix the first ``round(fraction * N)`` images with a batch mixer; soft labels for all N.

    The mixed images are drawn from the project's mixers (``augment.batch``: CutMix, RICAP, MixUp) with one
    draw per image and partners among the mixed part, from ``torch_generator(seed, "quickstart-mix")``; their
    labels are the mixer's weights (CutMix and RICAP: the area each source image covers). The other images keep
    one-hot labels.

    Args:
        images: uint8 N×H×W digits.
        labels: N int labels.
        mixer: ``"cutmix"``, ``"ricap"`` or ``"mixup"``.
        fraction: the part of the images that is mixed (0..1).
        seed: the draw.
        num_classes: width of the soft labels.

    Returns:
        ``(images, soft_labels)``: uint8 N×H×W (the mixed ones rounded back to 0..255) and float32 N×K rows
        summing to 1.

    Example:
        >>> x2, p = mix_augmented(x, y, mixer="cutmix", fraction=0.2, seed=0)
    """
    import torch

    from ..augment.batch import MIXERS
    from ..core.seeding import torch_generator

    soft = np.eye(num_classes, dtype=np.float32)[np.asarray(labels, np.int64)]
    n = int(round(fraction * len(images)))
    if n < 2:
        return images, soft
    x = torch.from_numpy(np.ascontiguousarray(images[:n, None], dtype=np.float32) / 255.0)
    res = MIXERS.get(mixer)(**MIX_OPTIONS[mixer])(x, torch.from_numpy(np.asarray(labels[:n], np.int64)),
                                                 num_classes=num_classes,
                                                 generator=torch_generator(seed, "quickstart-mix"))
    mixed = np.clip(np.rint(res.images[:, 0].numpy() * 255.0), 0, 255).astype(np.uint8)
    weights = res.labels.double().numpy()
    soft[:n] = weights / weights.sum(1, keepdims=True)
    return np.concatenate([mixed, images[n:]]), soft


def format_table(arms: list[ArmResult], n_test: int) -> str:
    """The printed table: accuracy mean ± std per arm, images used, time."""
    head = f"{'arm':<28} {'accuracy (mean ± std)':>22} {'per seed':>24} {'real':>5} {'aug':>5} {'GAN kept':>9} {'s':>6}"
    lines = [head, "-" * len(head)]
    for a in arms:
        seeds = ", ".join(f"{v:.3f}" for v in a.per_seed)
        gan = "-" if not any(a.gan) else "/".join(str(g) for g in a.gan)
        lines.append(f"{a.name:<28} {100 * a.mean:>13.2f} ± {100 * a.std:<5.2f}% {seeds:>24} {a.real:>5} "
                     f"{a.augmented:>5} {gan:>9} {a.seconds:>6.0f}")
    lines.append(f"test: {n_test} held-out mnist5k images; same image-pass budget per training run")
    return "\n".join(lines)


ARMS = ("(a) real", "(b) real + augmented", "(c) real + augmented + GAN")


class _SeedFits:
    """One training task of the quickstart (picklable, for :func:`traingen.core.parallel.run_local`).

    Task ``k < S`` (S seeds) trains arm (a) for seed ``k``; task ``S + k`` trains (b) and then (c) for
    seed ``k`` ((c)'s GAN filter uses that seed's (b) model). Every fit runs on one thread, in a worker
    or in this process, so the accuracies are the same bytes whatever the worker count.
    """

    def __init__(self, cfg: QuickstartConfig, x_real, y_real, x_aug, y_aug, x_gan, y_gan, x_test, y_test,
                 per_seed_aug: int) -> None:
        self.cfg, self.per_seed_aug = cfg, per_seed_aug
        self.x_real, self.y_real, self.x_aug, self.y_aug = x_real, y_real, x_aug, y_aug
        self.x_gan, self.y_gan, self.x_test, self.y_test = x_gan, y_gan, x_test, y_test

    def _fit(self, x: np.ndarray, y: np.ndarray, seed: int) -> tuple[Any, int]:
        from ..features.classifiers import FitConfig, fit_classifier

        epochs = max(1, round(self.cfg.budget / len(x)))
        return fit_classifier(x, y, num_classes=10, seed=seed, config=FitConfig(epochs=epochs)), epochs

    def __call__(self, task_id: int) -> dict[str, Any]:
        import torch

        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return self._run(task_id)
        finally:
            torch.set_num_threads(threads)

    def _run(self, task_id: int) -> dict[str, Any]:
        from ..features.classifiers import accuracy, predict_logits

        cfg, n_seeds = self.cfg, len(self.cfg.seeds)
        k = task_id % n_seeds
        seed = cfg.seeds[k]
        out: dict[str, dict[str, Any]] = {}
        t = time.perf_counter()
        if task_id < n_seeds:
            net, ep = self._fit(self.x_real, self.y_real, seed)
            out[ARMS[0]] = {"accuracy": accuracy(net, self.x_test, self.y_test), "epochs": ep, "gan": 0,
                            "seconds": time.perf_counter() - t}
            return {"arms": out}
        part = slice(k * self.per_seed_aug, (k + 1) * self.per_seed_aug)
        x_real, y_real = self.x_real, self.y_real
        xb, yb = np.concatenate([x_real, self.x_aug[part]]), np.concatenate([y_real, self.y_aug[part]])
        if cfg.mixer is not None:  # soft labels from here on: real and GAN images one-hot, mixed ones weighted
            xm, ym = mix_augmented(self.x_aug[part], self.y_aug[part], mixer=cfg.mixer, fraction=cfg.mix_fraction,
                                   seed=seed)
            xb, yb = np.concatenate([x_real, xm]), np.concatenate([np.eye(10, dtype=np.float32)[y_real], ym])
        net_b, ep = self._fit(xb, yb, seed)
        out[ARMS[1]] = {"accuracy": accuracy(net_b, self.x_test, self.y_test), "epochs": ep, "gan": 0,
                        "seconds": time.perf_counter() - t}
        t = time.perf_counter()
        logits = predict_logits(net_b, self.x_gan)
        probs = np.exp(logits - logits.max(1, keepdims=True))
        probs /= probs.sum(1, keepdims=True)
        keep = probs[np.arange(len(self.y_gan)), self.y_gan] >= cfg.min_confidence
        y_kept = self.y_gan[keep] if yb.ndim == 1 else np.eye(10, dtype=np.float32)[self.y_gan[keep]]
        net_c, ep = self._fit(np.concatenate([xb, self.x_gan[keep]]), np.concatenate([yb, y_kept]), seed)
        out[ARMS[2]] = {"accuracy": accuracy(net_c, self.x_test, self.y_test), "epochs": ep,
                        "gan": int(keep.sum()), "seconds": time.perf_counter() - t}
        return {"arms": out}


def run_quickstart(out: str | Path, config: QuickstartConfig | None = None, *, overwrite: bool = False,
                   progress=None) -> QuickstartResult:
    """Run the main job into ``out`` (``out/run`` holds the dataset and the report).

    Args:
        out: output folder.
        config: sizes (:class:`QuickstartConfig`; the defaults are the documented run).
        overwrite: start over when ``out/run`` holds a run of other sizes.
        progress: called with the number of training runs finished (1 or 2) after each training task.

    Returns:
        :class:`QuickstartResult`.
    """
    from ..core.parallel import run_local
    from ..data import open_source
    from ..data.cache import atomic_write_json
    from ..data.wds import WebDatasetSource
    from ..report.run_report import write_report
    from .run import run

    cfg = config or QuickstartConfig()
    out = Path(out)
    times: dict[str, float] = {}
    t = time.perf_counter()
    res = run(quickstart_recipe(cfg), out / "run", overwrite=overwrite, report=False)
    times["generate data (pipeline)"] = time.perf_counter() - t

    t = time.perf_counter()
    data = WebDatasetSource(str(out / "run" / "data"))
    n_real, n_aug = res.counts["fewlabel"], res.counts["augment"]
    x_real, y_real = _arrays(data, 0, n_real)
    x_aug, y_aug = _arrays(data, n_real, n_real + n_aug)
    x_gan, y_gan = _arrays(data, n_real + n_aug, len(data))
    test = open_source(TEST_SOURCE)
    n_test = len(test) if cfg.test_limit is None else min(cfg.test_limit, len(test))
    x_test, y_test = _arrays(test, 0, n_test) if cfg.test_limit is None else \
        _arrays(test.subset([i * len(test) // n_test for i in range(n_test)]), 0, n_test)
    times["load"] = time.perf_counter() - t

    arms = {k: ArmResult(k, [], n_real, 0, [], [], 0.0) for k in ARMS}
    per_seed_aug = n_aug // len(cfg.seeds)
    for k in ARMS[1:]:
        arms[k].augmented = per_seed_aug
    task = _SeedFits(cfg, x_real, y_real, x_aug, y_aug, x_gan, y_gan, x_test, y_test, per_seed_aug)
    n_seeds = len(cfg.seeds)
    # (b)+(c) of a seed cost two fits, (a) one: the long tasks go first so two workers finish together.
    order = list(range(n_seeds, 2 * n_seeds)) + list(range(n_seeds))
    t = time.perf_counter()
    done = run_local(task, order, workers=cfg.workers,
                     on_shard=(lambda sid, rec: progress(len(rec["arms"]))) if progress is not None else None)
    times["train (wall)"] = time.perf_counter() - t
    for sid in sorted(done.records, key=lambda i: (i % n_seeds, i)):  # seed order, (a) before (b), (c)
        for name, rec in done.records[sid]["arms"].items():
            a = arms[name]
            a.per_seed.append(rec["accuracy"])
            a.epochs.append(rec["epochs"])
            a.gan.append(rec["gan"])
            a.seconds += rec["seconds"]
    for k, a in arms.items():
        times[f"train {k.split()[0]} x{len(cfg.seeds)} (summed over workers)"] = a.seconds
    arm_list = list(arms.values())
    table = format_table(arm_list, n_test)

    t = time.perf_counter()
    run_dir = out / "run"
    _write_report_inputs(run_dir, arm_list, cfg, n_test, len(x_gan), times)
    report = write_report(run_dir, title="traingen quickstart: does generated data help a few-label classifier?")
    times["report"] = time.perf_counter() - t
    summary = {"config": asdict(cfg), "n_test": n_test, "gan_candidates": len(x_gan),
               "arms": [{"name": a.name, "mean": a.mean, "std": a.std, "per_seed": a.per_seed, "real": a.real,
                         "augmented": a.augmented, "gan_kept": a.gan, "epochs": a.epochs, "seconds": a.seconds}
                        for a in arm_list],
               "seconds": times}
    atomic_write_json(out / "quickstart.json", summary)
    return QuickstartResult(out, run_dir, report, arm_list, table, times, cfg)


def _write_report_inputs(run_dir: Path, arms: list[ArmResult], cfg: QuickstartConfig, n_test: int, n_gan: int,
                         times: dict[str, float]) -> None:
    """tables.json, plots/ and the stage times for the run's report."""
    from ..data.cache import atomic_write_json
    from .plots import accuracy_plot, gan_curve_plot

    mixed = f" ({cfg.mix_fraction:.0%} of them mixed by {cfg.mixer}, soft labels)" if cfg.mixer else ""
    rows = [[a.name, f"{100 * a.mean:.2f}", f"{100 * a.std:.2f}", ", ".join(f"{100 * v:.1f}" for v in a.per_seed),
             a.real, a.augmented, "/".join(map(str, a.gan)) if any(a.gan) else 0, "/".join(map(str, a.epochs)),
             f"{a.seconds:.0f}"] for a in arms]
    tables = [{"title": "Few-label accuracy (held-out test set)", "id": "accuracy",
               "text": (f"Small CNN trained on each set with seeds {', '.join(map(str, cfg.seeds))}, tested on "
                        f"{n_test} held-out mnist5k images. {cfg.per_class} labelled images per class; same "
                        f"budget of {cfg.budget} image passes per run; each seed has its own {cfg.augmented} "
                        f"augmentations{mixed}. GAN: {n_gan} candidates from "
                        f"{cfg.gan}, kept when the arm-(b) classifier gives their class p >= {cfg.min_confidence}."),
               "header": ["arm", "accuracy %", "std", "per seed %", "real", "augmented", "GAN kept (per seed)",
                          "epochs", "train s"], "rows": rows},
              {"title": "Quickstart time per stage", "id": "quickstart-times", "header": ["stage", "seconds"],
               "rows": [[k, f"{v:.1f}"] for k, v in times.items()]}]
    atomic_write_json(run_dir / "tables.json", tables)
    plots = run_dir / "plots"
    plots.mkdir(exist_ok=True)
    entries = [{"file": "accuracy-vs-synthetic.png", "caption": "Test accuracy (mean ± std over seeds) against "
                "the number of synthetic training images per arm"}]
    accuracy_plot(plots / "accuracy-vs-synthetic.png",
                  [(a.name, a.augmented + float(np.mean(a.gan)), a.mean, a.std) for a in arms])
    if gan_curve_plot(plots / "gan-training.png", cfg.gan):
        entries.append({"file": "gan-training.png", "caption": f"Training curves of the generator {cfg.gan} "
                        "(discriminator and generator losses, from its card)"})
    atomic_write_json(plots / "index.json", entries)
