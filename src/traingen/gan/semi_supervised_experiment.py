"""The semi-supervised GAN experiment: a (K+1)-class discriminator against a supervised-only one.

Salimans et al. (section 5) train D with K+1 outputs on a few labelled images, many unlabelled ones
and G's samples, then use D as a K-class classifier. This module measures whether that beats the
same network trained on the labelled images alone:

* **GAN arm**: :func:`traingen.gan.trainer.train` with ``semi_supervised: true`` (and, as in the
  paper, ``feature_matching: true``) and ``labelled: N``. The trainer keeps the labels of ``N``
  images (stratified by class, a function of the run seed: :func:`~traingen.gan.trainer.split_labelled`)
  and feeds the rest as the unlabelled batch of every D step. The test accuracy of the trained D is
  read through :func:`traingen.gan.techniques.semi_supervised.classify`.
* **Supervised arm**: the same model built with the same initial weights (``(seed, "gan", "init")``),
  only its D trained, with D's optimizer of :meth:`GANModel.optimizers`, on the same labelled images
  in the same batch order (:func:`~traingen.gan.trainer.batch_indices`, key ``data``), for the same
  number of D updates (``steps * d_steps``), minimising the supervised part of the (K+1)-class loss
  alone (the cross-entropy over the K class logits), with the same learning-rate schedule
  (``lr_decay_start``).
* **Read-out.** With ``ema_d: true`` both arms are classified with the average of D's weights (the
  same bias-corrected EMA, updated after every step; the reference code tests its Polyak-averaged
  D), otherwise with the last weights; the last weights' accuracies are reported beside it either way.

Both arms are classified on the test source (``builtin:mnist5k@test``, 1,000 digits) for every seed
(default 0, 1, 2); the result gives per-seed accuracies (percent), the mean and sample standard
deviation (ddof 1) of each arm, the difference of the means in points and whether it meets DESIGN
section 9's "clearly better" (at least 10 points). ``OUT/results.json`` and ``OUT/results.md`` are
written; each GAN run is kept in ``OUT/seed-S/gan`` (a normal run folder: ``traingen sample`` works).

The experiment reads one recipe: a GAN training recipe (:class:`~traingen.gan.train_config.TrainConfig`
keys) plus an optional ``experiment:`` mapping with ``test_data`` and ``seeds`` (strict keys).

Example:
    >>> result = run_semi_supervised("recipes/gan-semisup-mnist5k.yaml", "runs/semisup", seeds=(0,))
    >>> result.gan_mean, result.supervised_mean, result.difference

References:
    Salimans, Goodfellow, Zaremba, Cheung, Radford, Chen. "Improved Techniques for Training GANs",
    NeurIPS 2016, arXiv:1606.03498, section 5 (semi-supervised learning, table 1: MNIST, 100 labels).
    Odena. "Semi-Supervised Learning with Generative Adversarial Networks", arXiv:1606.01583, 2016.
"""

from __future__ import annotations

import dataclasses
import json
import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ..core.atomic import atomic_write_text
from ..core.config import from_dict, load_yaml, to_dict
from ..core.errors import ConfigError
from ..core.seeding import derive_seed, torch_generator
from .ema import EMA
from .lr_schedule import linear_decay_factor, set_learning_rate
from .techniques.semi_supervised import classify
from .train_config import TrainConfig, build_model, resolved, train_config_from_dict
from .trainer import batch_indices, data_init, load_real_data, split_labelled, train

#: DESIGN section 9: "clearly better" means at least this many points above supervised-only.
CLEARLY_BETTER_POINTS = 10.0

#: ``progress(arm, seed, step, total)``: ``arm`` is ``"gan"`` or ``"supervised"``.
Progress = Callable[[str, int, int, int], Any]


@dataclass
class ExperimentConfig:
    """The ``experiment:`` mapping of a semi-supervised recipe.

    Attributes:
        test_data: the source D is classified on (held out from training).
        seeds: run seeds; each gives its own labelled subset, weights, data order and noise.
    """

    test_data: str = "builtin:mnist5k@test"
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])

    def __post_init__(self) -> None:
        if not self.seeds:
            raise ConfigError("needs at least one seed", field="experiment.seeds")


@dataclass
class SeedResult:
    """One seed of both arms; accuracies in percent on the test source."""

    seed: int
    gan_accuracy: float
    supervised_accuracy: float
    gan_seconds: float
    supervised_seconds: float
    gan_accuracy_last: float | None = None
    supervised_accuracy_last: float | None = None


@dataclass
class SemiSupervisedResult:
    """What :func:`run_semi_supervised` measured (accuracies in percent, ``difference`` in points).

    Attributes:
        seeds: per-seed results.
        gan_mean, gan_std, supervised_mean, supervised_std: over the seeds (std: ddof 1, 0 for one seed).
        difference: ``gan_mean - supervised_mean``.
        clearly_better: ``difference >= 10`` (DESIGN section 9).
        labelled, unlabelled, test_images: images in each role (per seed).
        steps, d_updates: generator steps of the GAN and D updates of each arm.
        sec_per_step: mean wall seconds per GAN step over the seeds.
        config: the resolved training config (seed of the first run).
        test_data: the test source.
    """

    seeds: list[SeedResult]
    gan_mean: float
    gan_std: float
    supervised_mean: float
    supervised_std: float
    difference: float
    clearly_better: bool
    labelled: int
    unlabelled: int
    test_images: int
    steps: int
    d_updates: int
    sec_per_step: float | None
    test_data: str
    config: dict[str, Any] = field(repr=False, default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def load_experiment(config: str | os.PathLike | dict[str, Any]) -> tuple[TrainConfig, ExperimentConfig]:
    """Split a semi-supervised recipe (path or mapping) into its training and experiment configs.

    Raises:
        ConfigError: naming the file and key for unknown keys or wrong types, or when the model is not
            ``semi_supervised`` or no images are left unlabelled (``labelled: 0``).
    """
    if isinstance(config, dict):
        data, where = dict(config), "semi-supervised experiment config"
    else:
        data, where = load_yaml(config), str(config)
    exp_raw = data.pop("experiment", None) or {}
    if not isinstance(exp_raw, dict):
        raise ConfigError(f"must be a mapping, got {type(exp_raw).__name__}", where=where, field="experiment")
    exp = from_dict(ExperimentConfig, exp_raw, where=where, prefix="experiment.")
    cfg = resolved(train_config_from_dict(data, where=where), where=where)
    if not cfg.model_config.get("semi_supervised"):
        raise ConfigError("the experiment needs a (K+1)-class discriminator: set semi_supervised: true",
                          where=where, field="model_config.semi_supervised")
    if cfg.labelled <= 0:
        raise ConfigError("the experiment needs unlabelled images: set labelled to the number of labels kept "
                          "(e.g. 100)", where=where, field="labelled")
    return cfg, exp


def train_supervised_only(cfg: TrainConfig, *, progress: Callable[[int, int], Any] | None = None) -> Any:
    """Train the D of ``cfg``'s model on the labelled images only; return the model (G untouched).

    Same initial weights, optimizer, learning-rate schedule, labelled subset, batch order and number
    of D updates as the GAN run of ``cfg``; the loss is the cross-entropy over the K class logits (the
    supervised term of the (K+1)-class loss). :func:`train_supervised_arm` also returns D's average.

    Args:
        cfg: a semi-supervised training config (``labelled > 0``).
        progress: called with ``(update, total)`` after each D update.
    """
    return train_supervised_arm(cfg, progress=progress)[0]


def train_supervised_arm(cfg: TrainConfig, *,
                         progress: Callable[[int, int], Any] | None = None) -> tuple[Any, EMA | None]:
    """:func:`train_supervised_only` and the average of D's weights: ``(model, ema_d)``.

    ``ema_d`` is None unless ``cfg.ema_d``; otherwise it is the GAN trainer's average (same decay, start
    and bias correction), updated after the last D update of every step.
    """
    cfg = resolved(cfg)
    model = build_model(cfg, generator=torch_generator(cfg.seed, "gan", "init"))
    mc = model.config
    data = load_real_data(cfg.data, image_size=mc.image_size, channels=mc.channels,
                          num_classes=mc.num_classes)
    labelled, _ = split_labelled(data, cfg.labelled, seed=cfg.seed)
    data_init(model, data, labelled, seed=cfg.seed)  # as the GAN arm: same images, same noise
    _, opt_d = model.optimizers()
    ema_d = EMA(model.D, cfg.ema_d_decay, cfg.ema_start, debias=True) if cfg.ema_d else None
    model.train()
    total = cfg.steps * cfg.d_steps
    with torch.random.fork_rng(devices=[]):
        # the noise layers draw from torch's global generator: seed it, so the arm is a function of cfg
        torch.manual_seed(derive_seed(cfg.seed, "gan", "supervised-noise") % 2**63)
        for t in range(total):
            step = t // cfg.d_steps + 1
            if cfg.lr_decay_start < 1.0:
                factor = linear_decay_factor(step, total=cfg.steps, start=cfg.lr_decay_start)
                set_learning_rate(opt_d, base=model.config.lr_d, factor=factor)
            idx = batch_indices(labelled, cfg.batch_size, seed=cfg.seed, draw=t, key="data")
            logits = model.D(data.images[idx], None)["logits"]
            loss = F.cross_entropy(logits[:, :-1], data.labels[idx])
            opt_d.zero_grad(set_to_none=True)
            loss.backward()
            opt_d.step()
            if ema_d is not None and (t + 1) % cfg.d_steps == 0:
                ema_d.update(model.D, step)
            if progress is not None:
                progress(t + 1, total)
    return model, ema_d


def accuracy(D: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Percent of ``images`` whose :func:`classify` prediction equals ``labels``."""
    pred = classify(D, images).argmax(1)
    return 100.0 * float((pred == labels).float().mean())


def run_semi_supervised(config: str | os.PathLike | dict[str, Any], out: str | os.PathLike, *,
                        seeds: Sequence[int] | None = None, steps: int | None = None,
                        progress: Progress | None = None, overwrite: bool = False) -> SemiSupervisedResult:
    """Run both arms for every seed, write ``OUT/results.json`` and ``OUT/results.md``.

    Args:
        config: a recipe path (``recipes/gan-semisup-mnist5k.yaml``) or the same mapping.
        out: output folder (``OUT/seed-S/gan`` holds each GAN run).
        seeds: overrides ``experiment.seeds`` (default 0, 1, 2).
        steps: overrides the recipe's ``steps`` (both arms).
        progress: called as ``(arm, seed, step, total)``.
        overwrite: replace earlier GAN runs in ``OUT`` (otherwise an existing run is an error).

    Returns:
        :class:`SemiSupervisedResult`.
    """
    base, exp = load_experiment(config)
    if steps is not None:
        base = dataclasses.replace(base, steps=steps)
    seed_list = [int(s) for s in (exp.seeds if seeds is None else seeds)]
    if not seed_list:
        raise ConfigError("needs at least one seed", field="seeds")
    out = Path(out)
    mc = base.model_config
    test = load_real_data(exp.test_data, image_size=mc["image_size"], channels=mc["channels"],
                          num_classes=mc["num_classes"])
    rows: list[SeedResult] = []
    spp: list[float] = []
    n_unl = 0
    for seed in seed_list:
        cfg = dataclasses.replace(base, seed=seed)
        on_step = (lambda s, n, _logs, _seed=seed: progress("gan", _seed, s, n)) if progress else None
        t0 = time.perf_counter()
        res = train(cfg, out / f"seed-{seed}" / "gan", overwrite=overwrite, on_step=on_step)
        gan_s = time.perf_counter() - t0
        if res.sec_per_step is not None:
            spp.append(res.sec_per_step)
        gan_last = accuracy(res.model.D, test.images, test.labels)
        gan_acc = accuracy(res.ema_d.module, test.images, test.labels) if res.ema_d is not None else gan_last
        on_sup = (lambda s, n, _seed=seed: progress("supervised", _seed, s, n)) if progress else None
        t0 = time.perf_counter()
        sup, sup_ema = train_supervised_arm(cfg, progress=on_sup)
        sup_s = time.perf_counter() - t0
        sup_last = accuracy(sup.D, test.images, test.labels)
        sup_acc = accuracy(sup_ema.module, test.images, test.labels) if sup_ema is not None else sup_last
        rows.append(SeedResult(seed, gan_acc, sup_acc, gan_s, sup_s, gan_last, sup_last))
        if not n_unl:
            data = load_real_data(cfg.data, image_size=mc["image_size"], channels=mc["channels"],
                                  num_classes=mc["num_classes"])
            n_unl = len(data.labels) - (cfg.labelled if cfg.unlabelled_pool == "rest" else 0)
    gan = [r.gan_accuracy for r in rows]
    sup_accs = [r.supervised_accuracy for r in rows]
    diff = statistics.fmean(gan) - statistics.fmean(sup_accs)
    result = SemiSupervisedResult(
        seeds=rows, gan_mean=statistics.fmean(gan), gan_std=_std(gan),
        supervised_mean=statistics.fmean(sup_accs), supervised_std=_std(sup_accs), difference=diff,
        clearly_better=diff >= CLEARLY_BETTER_POINTS,
        labelled=base.labelled, unlabelled=n_unl, test_images=len(test.labels), steps=base.steps,
        d_updates=base.steps * base.d_steps, sec_per_step=statistics.fmean(spp) if spp else None,
        test_data=exp.test_data, config=to_dict(dataclasses.replace(base, seed=seed_list[0])))
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "results.json", json.dumps(result.to_dict(), indent=2, sort_keys=True) + "\n")
    atomic_write_text(out / "results.md", markdown_table(result))
    return result


def _std(values: Sequence[float]) -> float:
    return statistics.stdev(values) if len(values) > 1 else 0.0


def markdown_table(result: SemiSupervisedResult) -> str:
    """The result as a markdown table: one row per seed, then mean ± std and the difference."""
    c = result.config
    mc = c.get("model_config", {})
    lines = [
        f"Semi-supervised (K+1)-class GAN vs supervised-only D: {c.get('model')} "
        f"(ch {mc.get('ch', '-')}, {mc.get('image_size')} px, feature matching "
        f"{'on' if mc.get('feature_matching') else 'off'}), {result.labelled} labelled + {result.unlabelled} "
        f"unlabelled images of {c.get('data')}, {result.steps} steps (batch {c.get('batch_size')}, "
        f"{result.d_updates} D updates per arm); accuracy (%) on the {result.test_images} images of "
        f"{result.test_data}.",
        "",
        "| seed | (K+1)-class GAN | supervised only | difference |",
        "|---:|---:|---:|---:|",
    ]
    for r in result.seeds:
        lines.append(f"| {r.seed} | {r.gan_accuracy:.1f} | {r.supervised_accuracy:.1f} | "
                     f"{r.gan_accuracy - r.supervised_accuracy:+.1f} |")
    lines.append(f"| mean ± std | {result.gan_mean:.1f} ± {result.gan_std:.1f} | "
                 f"{result.supervised_mean:.1f} ± {result.supervised_std:.1f} | {result.difference:+.1f} |")
    verdict = "clearly better" if result.clearly_better else "not clearly better"
    lines += ["", f"Difference of the means: {result.difference:+.1f} points: {verdict} (threshold "
              f"{CLEARLY_BETTER_POINTS:.0f} points, DESIGN section 9)."]
    if c.get("ema_d") and all(r.gan_accuracy_last is not None for r in result.seeds):
        gan_last = statistics.fmean(r.gan_accuracy_last for r in result.seeds)
        sup_last = statistics.fmean(r.supervised_accuracy_last for r in result.seeds)
        lines.append(f"Read-out: the average of D's weights (decay {c.get('ema_d_decay')}) in both arms; with "
                     f"the last weights: GAN {gan_last:.1f}, supervised {sup_last:.1f}, difference "
                     f"{gan_last - sup_last:+.1f} (per seed: " + ", ".join(
                         f"{r.gan_accuracy_last:.1f} / {r.supervised_accuracy_last:.1f}" for r in result.seeds)
                     + ").")
    if result.sec_per_step is not None:
        lines.append(f"GAN: {result.sec_per_step * 1000:.0f} ms per step (mean over seeds).")
    return "\n".join(lines) + "\n"
