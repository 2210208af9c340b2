"""The fonts -> MNIST usefulness experiment: do CycleGAN translations make font digits useful training data?

For a trained CycleGAN run (``recipes/translate-cyclegan-fonts2mnist.yaml``, with or without the
semantic-consistency loss), this measures, on the 1,000 held-out ``builtin:mnist5k@test`` digits:

* **translated**: a fresh small CNN (:func:`traingen.features.classifiers.fit_classifier`, fixed epochs)
  trained only on ``G_A(x)`` for the 2,000 ``builtin:fonts2mnist@train`` digits, with their source labels;
* **translated + label filter** (``label_filter``): the same, on the translations that a frozen
  classifier still assigns to their source label (``semantic``: the run's own source classifier, the one
  the semantic-consistency loss used, so no MNIST label is involved; or a shipped classifier / weight
  file); the number rejected is reported;
* **source-only**: the same CNN trained on the untranslated font digits;
* **real**: the same CNN trained on the 4,000 ``builtin:mnist5k@train`` digits;
* **label kept**: the accuracy of the shipped real-trained ``mnist5k-classifier`` on the translated digits
  against their source labels (how often translation keeps the digit);
* **domain FID** between translated digits and ``mnist5k@train`` (and untranslated fonts for
  comparison), on the ``mnist5k-classifier`` pool features.

Every classifier arm is trained with the same epochs, the same seeds (``seeds`` of them: mean and
standard deviation are reported) and, with ``augment``, the same light digit augmentation
(``recipes/augment-digits.yaml``: rotation ±15°, scale 0.85–1.15, translation ±10 %).

Example:
    >>> res = run_fonts2mnist_eval("runs/cg-fonts", EvalConfig(label_filter="semantic"))  # 10 epochs, 3 seeds
    >>> res["arms"]["translated"]["mean"], res["arms"]["source_only"]["mean"], res["label_kept"]

    python -m traingen.translate.fonts2mnist_experiment RUN [RUN ...] --label-filter semantic
    python -m traingen.translate.fonts2mnist_experiment RUN --epochs 5 --seeds 1 --no-augment   # first protocol

References:
    Zhu, Park, Isola & Efros. "Unpaired Image-to-Image Translation using Cycle-Consistent Adversarial
    Networks", ICCV 2017. Hoffman et al. "CyCADA: Cycle-Consistent Adversarial Domain Adaptation",
    ICML 2018 (semantic consistency; source-only and target-trained baselines).
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..core.errors import ConfigError
from ..core.seeding import derive_seed
from .data import to_tensor, to_uint8
from .fcn_experiment import cpu_seconds


@dataclass
class EvalConfig:
    """Settings of the evaluation classifiers (the same for every arm).

    Attributes:
        epochs: training epochs of each classifier (the first measurements used 5).
        seeds: classifier seeds 0..seeds-1 (mean ± std over them); seed 0 is the one-seed protocol.
        augment: train every arm with the digit augmentation chain (``recipes/augment-digits.yaml``); the
            first measurements used none.
        label_filter: "" (none), ``semantic`` (the run's frozen source classifier), a shipped classifier
            name (``mnist5k-classifier``) or a weight file saved by ``features.classifiers.save_weights``.
        baselines: also train the source-only and real arms (they do not depend on the run).
        fid: compute the domain FIDs.
    """

    epochs: int = 10
    seeds: int = 3
    augment: bool = True
    label_filter: str = ""
    baselines: bool = True
    fid: bool = True

    def __post_init__(self) -> None:
        for name in ("epochs", "seeds"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"expected an integer >= 1, got {v!r}", where="fonts2mnist eval", field=name)


def translate_array(model: Any, images: np.ndarray, *, batch: int = 256) -> np.ndarray:
    """``G_A`` (eval mode) over N×28×28 uint8 grey images -> N×28×28 uint8."""
    G = model.generator("AtoB")
    G.eval()
    out = []
    with torch.no_grad():
        for s in range(0, len(images), batch):
            x = to_tensor(list(images[s:s + batch]), size=model.config.image_size, channels=1, where="fonts")
            out.append(to_uint8(G(x)))
    return np.concatenate(out)


def label_filter_keep(classifier: Any, images: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Boolean mask of the images whose top-1 class under ``classifier`` is their source label."""
    from ..features.classifiers import predict_logits

    return predict_logits(classifier, images).argmax(1) == np.asarray(labels)


def resolve_filter_classifier(name: str, run: str | os.PathLike | None = None) -> tuple[Any, str]:
    """The classifier ``name`` names and its id: ``semantic`` is ``RUN/semantic-classifier.safetensors``
    (the frozen source classifier of the semantic-consistency loss); anything else is looked up as the
    export's ``--filter-classifier`` is (a shipped classifier or a weight file)."""
    from .export import _classifier
    from .trainer import CLASSIFIER_FILE

    if name == "semantic":
        path = Path(run) / CLASSIFIER_FILE if run is not None else None
        if path is None or not path.is_file():
            raise ConfigError("the run has no semantic classifier (it was trained with semantic_weight: 0); "
                              "give a shipped classifier or a weight file", where=str(path), field="label_filter")
        return _classifier(str(path))[0], "semantic"
    return _classifier(name)


def digit_augment() -> Any:
    """The light digit chain of ``recipes/augment-digits.yaml`` as a :class:`traingen.augment.Compose`."""
    from ..augment.compose import load
    from ..recipes import recipe_path

    return load(recipe_path("augment-digits.yaml"))


def fit_and_score(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray, *,
                  config: EvalConfig, augment: Any = None) -> dict[str, Any]:
    """Train ``config.seeds`` classifiers (seed ``k`` -> ``derive_seed(k, "fonts2mnist-eval")``) and test
    each; returns ``{"mean", "std", "per_seed", "n_train"}`` (std with ddof=0, 0 for one seed)."""
    from ..features.classifiers import FitConfig, accuracy, fit_classifier

    accs = []
    for k in range(config.seeds):
        net = fit_classifier(train_x, train_y, seed=derive_seed(k, "fonts2mnist-eval"),
                             config=FitConfig(epochs=config.epochs), augment=augment)
        accs.append(accuracy(net, test_x, test_y))
    return {"mean": float(np.mean(accs)), "std": float(np.std(accs)), "per_seed": accs, "n_train": int(len(train_x))}


def _fid(a: np.ndarray, b: np.ndarray, net: Any) -> float:
    from ..features.classifiers import to_input
    from ..metrics.fid import feature_stats, fid_from_stats

    def feats(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return np.concatenate([net.features(to_input(x[s:s + 500])).double().numpy()
                                   for s in range(0, len(x), 500)])

    return float(fid_from_stats(feature_stats(feats(a)), feature_stats(feats(b))).fid)


def run_fonts2mnist_eval(run: str | os.PathLike, config: EvalConfig | None = None, *,
                         limit: int = 0) -> dict[str, Any]:
    """Evaluate one run (module docstring).

    Args:
        run: a CycleGAN fonts2mnist run folder (its latest checkpoint is used).
        config: :class:`EvalConfig`.
        limit: use only the first N images of each set (tests; 0: all).

    Returns:
        ``arms`` (per arm: mean, std, per-seed accuracies, training-set size), ``label_kept``,
        ``label_filter`` (classifier, kept, rejected) when set, the FIDs, wall and CPU seconds, the load
        average, and ``_translated`` (the translated uint8 digits).
    """
    from ..data.builtin import load_builtin
    from ..features.classifiers import SHIPPED, accuracy, load_weights, shipped_file
    from .trainer import load_run

    cfg = config or EvalConfig()
    t0, c0 = time.perf_counter(), cpu_seconds()
    _, model, ckpt = load_run(run)
    fonts, mnist = load_builtin("fonts2mnist"), load_builtin("mnist5k")
    f_idx, tr_idx, te_idx = fonts.splits["train"], mnist.splits["train"], mnist.splits["test"]
    if limit > 0:
        f_idx, tr_idx, te_idx = f_idx[:limit], tr_idx[:limit], te_idx[:limit]
    xf, yf = fonts.images[f_idx], fonts.labels[f_idx]
    xt, yt = mnist.images[te_idx], mnist.labels[te_idx]
    translated = translate_array(model, xf)
    aug = digit_augment() if cfg.augment else None
    res: dict[str, Any] = {"run": str(run), "checkpoint": ckpt.name, "config": asdict(cfg), "arms": {}}
    arms = res["arms"]
    arms["translated"] = fit_and_score(translated, yf, xt, yt, config=cfg, augment=aug)
    if cfg.label_filter:
        clf, clf_id = resolve_filter_classifier(cfg.label_filter, run)
        keep = label_filter_keep(clf, translated, yf)
        res["label_filter"] = {"classifier": clf_id, "kept": int(keep.sum()), "rejected": int((~keep).sum())}
        arms["translated_filtered"] = (fit_and_score(translated[keep], yf[keep], xt, yt, config=cfg, augment=aug)
                                       if keep.sum() >= 2 else  # too few left to train on
                                       {"mean": None, "std": None, "per_seed": [], "n_train": int(keep.sum())})
    if cfg.baselines:
        arms["source_only"] = fit_and_score(xf, yf, xt, yt, config=cfg, augment=aug)
        arms["real"] = fit_and_score(mnist.images[tr_idx], mnist.labels[tr_idx], xt, yt, config=cfg, augment=aug)
    real_net = load_weights(shipped_file(SHIPPED["mnist5k-classifier"].weights_file))
    res["label_kept"] = accuracy(real_net, translated, yf)
    res["label_kept_untranslated"] = accuracy(real_net, xf, yf)
    if cfg.fid:
        res["fid_translated_vs_mnist"] = _fid(translated, mnist.images[tr_idx], real_net)
        res["fid_fonts_vs_mnist"] = _fid(xf, mnist.images[tr_idx], real_net)
    res["seconds"] = round(time.perf_counter() - t0, 1)
    res["cpu_seconds"] = round(cpu_seconds() - c0, 1)
    res["loadavg"] = [round(x, 2) for x in os.getloadavg()]
    res["_translated"] = translated
    return res


def main(argv: list[str] | None = None) -> None:
    """``python -m traingen.translate.fonts2mnist_experiment RUN [RUN ...]``: one JSON line per run (the
    baselines only for the first run)."""
    import argparse
    import json

    ap = argparse.ArgumentParser(description="fonts -> MNIST usefulness of CycleGAN runs")
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--epochs", type=int, default=EvalConfig.epochs)
    ap.add_argument("--seeds", type=int, default=EvalConfig.seeds)
    ap.add_argument("--augment", action=argparse.BooleanOptionalAction, default=EvalConfig.augment,
                    help="augment every arm with recipes/augment-digits.yaml")
    ap.add_argument("--label-filter", default="", help="semantic, a shipped classifier or a weight file")
    ap.add_argument("--no-baselines", action="store_true")
    ap.add_argument("--no-fid", action="store_true")
    args = ap.parse_args(argv)
    for k, r in enumerate(args.runs):
        cfg = EvalConfig(epochs=args.epochs, seeds=args.seeds, augment=args.augment, label_filter=args.label_filter,
                         baselines=k == 0 and not args.no_baselines, fid=not args.no_fid)
        out = run_fonts2mnist_eval(r, cfg)
        out.pop("_translated")
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
