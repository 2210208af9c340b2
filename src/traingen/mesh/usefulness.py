"""Does stylised 3D data help? Train a small CNN on three kinds of domain-randomised renders, test on photo textures.

The first of issue 9's "data helps" demonstrations. One small classifier (the project's fixed small
CNN, :func:`traingen.features.classifiers.fit_classifier`) is trained, at equal image counts and with
the same budget, on renders of the built-in procedural families whose objects carry

- (a) ``flat``: one random flat colour per part,
- (b) ``procedural``: procedural textures (checker, stripes, value noise, gradients),
- (c) ``stylised``: textures made by Kato's 2D→3D style transfer from embedded photos and textures,

and tested on renders of *held-out* members textured by Wang et al.'s texture transfer from *held-out*
photos, over crops of those photos (:mod:`traingen.mesh.usefulness_data` builds the four sets: same
members, views, lights and backgrounds in every arm; only the textures differ). Issue 9's target:
(c) beats (a) by at least 5 points and is no worse than (b), on the mean over classifier seeds.

Command (the documented run; ``--help`` lists the sizes)::

    python -m traingen.mesh.usefulness --out runs/usefulness --seeds 0,1,2

It writes ``OUT/table.json`` (config, accuracy per arm and seed, per-class accuracy, the verdict, CPU
seconds per stage), ``OUT/figure.png`` (training images of each arm in the same views, then test images)
and caches the rendered sets in ``OUT/data.npz`` (reused when the data settings are unchanged), each
stylised copy in ``OUT/style/`` and the test set in ``OUT/test.npz`` (reused when only other settings
change, e.g. more copies per member).

Example:
    >>> cfg = ExperimentConfig(data=DataConfig(classes=("cup", "vase"), per_class=8), epochs=1)
    >>> table = run_experiment(cfg, "out")                               # doctest: +SKIP
    >>> sorted(table["arms"])                                            # doctest: +SKIP
    ['flat', 'procedural', 'stylised']

References:
    Tobin et al., "Domain Randomization for Transferring Deep Neural Networks from Simulation to the
    Real World", IROS 2017. Kato, Ushiku & Harada, "Neural 3D Mesh Renderer", CVPR 2018. Wang et al.,
    "Unsupervised Texture Transfer from Images to Model Collections", SIGGRAPH Asia 2016.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core.errors import ConfigError, TraingenError
from .usefulness_data import ARMS, DataConfig, ImageSet, UsefulnessData, build_data

#: Issue 9's margin of (c) over (a), in accuracy points.
TARGET_MARGIN = 5.0


@dataclass
class ExperimentConfig:
    """The data, the classifier input size and its training budget, and the classifier seeds."""

    data: DataConfig = field(default_factory=DataConfig)
    input_size: int = 32
    epochs: int = 15
    batch_size: int = 64
    lr: float = 3e-3
    seeds: tuple[int, ...] = (0, 1, 2)

    def __post_init__(self) -> None:
        self.seeds = tuple(int(s) for s in self.seeds)
        if not self.seeds:
            raise ConfigError("give at least one seed", where="mesh usefulness", field="seeds")
        if self.input_size < 8 or self.input_size > self.data.size:
            raise ConfigError(f"must lie in [8, {self.data.size}], got {self.input_size}", where="mesh usefulness",
                              field="input_size")


def data_key(cfg: DataConfig) -> str:
    """A JSON string of everything that decides the rendered sets (the cache key of ``data.npz``)."""
    from ..core.config import to_dict

    return json.dumps(to_dict(cfg), sort_keys=True)


def save_data(data: UsefulnessData, cfg: DataConfig, path: Path) -> None:
    """Write the four sets to ``path`` (npz, atomically) with their config and provenance."""
    import io

    from ..data.cache import atomic_write_bytes

    arrays = {"key": np.array(data_key(cfg)), "classes": np.array(list(data.classes)),
              "cpu_s": np.array(json.dumps(data.cpu_s))}
    for name, s in [*data.train.items(), ("test", data.test)]:
        arrays.update({f"{name}_images": s.images, f"{name}_labels": s.labels, f"{name}_masks": s.masks,
                       f"{name}_meta": np.array(json.dumps(s.meta))})
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def load_data(cfg: DataConfig, path: Path) -> UsefulnessData | None:
    """The sets cached at ``path`` if they were made with the same data settings, else ``None``."""
    if not path.is_file():
        return None
    with np.load(path, allow_pickle=False) as z:
        if str(z["key"]) != data_key(cfg):
            return None

        def one(name: str) -> ImageSet:
            return ImageSet(z[f"{name}_images"], z[f"{name}_labels"], z[f"{name}_masks"],
                            json.loads(str(z[f"{name}_meta"])))

        return UsefulnessData({a: one(a) for a in ARMS}, one("test"), tuple(str(c) for c in z["classes"]),
                              json.loads(str(z["cpu_s"])))


def resized(images: np.ndarray, size: int) -> np.ndarray:
    """uint8 N×H×W×3 images resized to ``size`` (area averaging), or unchanged at their size."""
    import cv2

    if images.shape[1] == size:
        return images
    return np.stack([cv2.resize(im, (size, size), interpolation=cv2.INTER_AREA) for im in images])


def per_class_accuracy(pred: np.ndarray, labels: np.ndarray, n_classes: int) -> list[float]:
    return [float(np.mean(pred[labels == c] == c)) if np.any(labels == c) else float("nan")
            for c in range(n_classes)]


def train_and_test(data: UsefulnessData, cfg: ExperimentConfig, *, on_fit=None) -> dict:
    """Fit one classifier per arm and seed; accuracy (%) on the test set, per class too."""
    import torch

    from ..features.classifiers import FitConfig, fit_classifier, predict_logits

    C = len(data.classes)
    x_test = resized(data.test.images, cfg.input_size)
    fit = FitConfig(epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr)
    arms = {}
    for arm in ARMS:
        s = data.train[arm]
        x = resized(s.images, cfg.input_size)
        accs, per_class, cpu = [], [], 0.0
        for seed in cfg.seeds:
            t = time.process_time()
            torch.manual_seed(0)  # nothing should draw from it; fixed so that a stray draw is still repeatable
            net = fit_classifier(x, s.labels, num_classes=C, seed=seed, config=fit)
            pred = predict_logits(net, x_test).argmax(1)
            cpu += time.process_time() - t
            accs.append(100.0 * float(np.mean(pred == data.test.labels)))
            per_class.append([100.0 * a for a in per_class_accuracy(pred, data.test.labels, C)])
            if on_fit is not None:
                on_fit(arm, seed, accs[-1])
        arms[arm] = {"accuracy": [round(a, 2) for a in accs], "mean": round(float(np.mean(accs)), 2),
                     "std": round(float(np.std(accs)), 2), "train_images": len(s.labels),
                     "per_class_mean": {c: round(float(np.mean([p[i] for p in per_class])), 1)
                                        for i, c in enumerate(data.classes)},
                     "train_cpu_s": round(cpu, 1)}
    return arms


def verdict(arms: dict) -> dict:
    """Issue 9's target on the means: (c) − (a) >= 5 points and (c) >= (b)."""
    a, b, c = (arms[k]["mean"] for k in ARMS)
    return {"c_minus_a": round(c - a, 2), "c_minus_b": round(c - b, 2), "beats_a_by_5": c - a >= TARGET_MARGIN,
            "no_worse_than_b": c >= b, "met": c - a >= TARGET_MARGIN and c >= b}


def figure(data: UsefulnessData, path: Path, *, columns: int = 8) -> Path:
    """Rows: the same training views in arms (a), (b), (c), then test images; ``columns`` spread over classes."""
    from ..report.grid import make_grid, save_png

    C = len(data.classes)

    def pick(s: ImageSet) -> list[int]:
        by_class = [np.flatnonzero(s.labels == c) for c in range(C)]
        return [int(by_class[k % C][(k // C) % len(by_class[k % C])]) for k in range(columns)]

    idx = pick(data.train[ARMS[0]])
    rows = [[data.train[a].images[i] for i in idx] for a in ARMS]
    rows.append([data.test.images[i] for i in pick(data.test)])
    return save_png(path, make_grid(rows, pad=2))


def copies_figure(cache_dir: str | os.PathLike, path: Path, *, views: int = 2, size: int = 64) -> Path | None:
    """Every cached stylised copy (``cache_dir/style/*.npz``) in ``views`` turntable views; one row per class.

    Returns:
        ``path``, or ``None`` when there is no cached copy.
    """
    from ..report.grid import make_grid, save_png
    from .style import turntable
    from .usefulness_data import _mesh_from_arrays

    files = sorted(Path(cache_dir).glob("style/*.npz"))
    if not files:
        return None
    rows: dict[str, list] = {}
    for f in files:
        with np.load(f, allow_pickle=False) as z:
            rows.setdefault(f.name.split("-")[0], []).extend(turntable(_mesh_from_arrays(z), views, size))
    width = max(len(r) for r in rows.values())
    blank = np.ones((size, size, 3), np.float32)
    return save_png(path, make_grid([r + [blank] * (width - len(r)) for r in rows.values()], pad=2))


def run_experiment(cfg: ExperimentConfig, out: str | os.PathLike, *, log=None) -> dict:
    """Build (or reuse) the data, train and test every arm, write ``table.json`` and ``figure.png``."""
    from ..core.config import to_dict
    from ..data.cache import atomic_write_bytes

    say = log or (lambda _m: None)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0, load0 = time.process_time(), os.getloadavg()
    data = load_data(cfg.data, out / "data.npz")
    reused = data is not None
    if data is None:
        data = build_data(cfg.data, on_stage=lambda s: say(f"data: {s}"), cache_dir=out)
        save_data(data, cfg.data, out / "data.npz")
    say(f"data: {'reused' if reused else 'built'} ({data.cpu_s})")
    arms = train_and_test(data, cfg, on_fit=lambda a, s, acc: say(f"fit {a} seed {s}: {acc:.2f} %"))
    figure(data, out / "figure.png")
    copies_figure(out, out / "styles.png")
    test_sources = sorted({m["texture"] for m in data.test.meta} | {m["background"] for m in data.test.meta})
    table = {"config": to_dict(cfg), "classes": list(data.classes), "arms": arms, "verdict": verdict(arms),
             "test_images": len(data.test.labels), "test_sources": test_sources,
             "style_sources": sorted({m["texture"] for m in data.train["stylised"].meta}),
             "data_cpu_s": data.cpu_s, "data_reused": reused,
             "run_cpu_s": round(time.process_time() - t0, 1),
             "loadavg_start": [round(x, 2) for x in load0], "loadavg_end": [round(x, 2) for x in os.getloadavg()]}
    atomic_write_bytes(out / "table.json", (json.dumps(table, indent=2) + "\n").encode("utf-8"))
    return table


def format_table(table: dict) -> str:
    """A Markdown table of the arms and the verdict line."""
    names = {"flat": "(a) flat random colours", "procedural": "(b) procedural textures",
             "stylised": "(c) stylised (mesh style)"}
    lines = ["| arm | test accuracy, mean ± std (%) | per seed | train images |", "| --- | --- | --- | --- |"]
    for arm, r in table["arms"].items():
        lines.append(f"| {names[arm]} | {r['mean']:.2f} ± {r['std']:.2f} | {', '.join(f'{a:.2f}' for a in r['accuracy'])}"
                     f" | {r['train_images']} |")
    v = table["verdict"]
    lines.append(f"\n(c) − (a) = {v['c_minus_a']:+.2f} points (target >= {TARGET_MARGIN:g}: "
                 f"{'met' if v['beats_a_by_5'] else 'NOT met'}); (c) − (b) = {v['c_minus_b']:+.2f} "
                 f"(no worse than (b): {'met' if v['no_worse_than_b'] else 'NOT met'}).")
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    d, e = DataConfig(), ExperimentConfig.__dataclass_fields__
    p = argparse.ArgumentParser(prog="python -m traingen.mesh.usefulness", description=__doc__.split("\n")[0])
    p.add_argument("--out", required=True, help="output folder (table.json, figure.png, data.npz)")
    p.add_argument("--classes", default=",".join(d.classes), help="procedural families, comma-separated")
    p.add_argument("--per-class", type=int, default=d.per_class, help="training images per class and arm")
    p.add_argument("--test-per-class", type=int, default=d.test_per_class)
    p.add_argument("--train-members", type=int, default=d.train_members)
    p.add_argument("--test-members", type=int, default=d.test_members)
    p.add_argument("--variants", type=int, default=d.variants, help="stylised copies per training member")
    p.add_argument("--style-steps", type=int, default=d.style["steps"])
    p.add_argument("--style-crop", default=",".join(f"{f:g}" for f in d.style_crop),
                   help="side of each copy's style crop, as a fraction range of the source's shorter side")
    p.add_argument("--test-photos", default=",".join(d.test_photos))
    p.add_argument("--style-sources", default=",".join(d.style_sources))
    p.add_argument("--transfer-size", type=int, default=d.transfer_size)
    p.add_argument("--transfer-steps", type=int, default=d.transfer["steps"])
    p.add_argument("--size", type=int, default=d.size, help="render side in pixels")
    p.add_argument("--input-size", type=int, default=e["input_size"].default, help="classifier input side")
    p.add_argument("--epochs", type=int, default=e["epochs"].default)
    p.add_argument("--seeds", default="0,1,2", help="classifier seeds, comma-separated")
    p.add_argument("--data-seed", type=int, default=0)
    p.add_argument("--figure", default=None, help="also copy the figure to this path")
    p.add_argument("--quiet", action="store_true")
    return p


def config_from_args(a: argparse.Namespace) -> ExperimentConfig:
    d = DataConfig()
    data = DataConfig(classes=tuple(s for s in a.classes.split(",") if s), per_class=a.per_class,
                      test_per_class=a.test_per_class, train_members=a.train_members, test_members=a.test_members,
                      variants=a.variants, style={**d.style, "steps": a.style_steps},
                      style_crop=tuple(float(f) for f in a.style_crop.split(",")),
                      test_photos=tuple(s for s in a.test_photos.split(",") if s),
                      style_sources=tuple(s for s in a.style_sources.split(",") if s),
                      transfer_size=a.transfer_size, transfer={**d.transfer, "steps": a.transfer_steps},
                      size=a.size, seed=a.data_seed)
    return ExperimentConfig(data=data, input_size=a.input_size, epochs=a.epochs,
                            seeds=tuple(int(s) for s in a.seeds.split(",") if s))


def run_demo_cli(a: argparse.Namespace, config_from_args, run_experiment, format_table, summary) -> int:
    """The shared body of the three demonstrations' ``main``: run, copy the figure, print the table.

    Args:
        a: parsed arguments with ``out``, ``figure`` and ``quiet``.
        config_from_args: ``a -> config``; run_experiment: ``(config, out, log=) -> table``.
        format_table: ``table -> str``; summary: ``table -> str``, the closing line (CPU s, load).

    Returns:
        The exit status: 0, or 2 after printing a :class:`TraingenError`.
    """
    try:
        cfg = config_from_args(a)
        table = run_experiment(cfg, a.out, log=None if a.quiet else lambda m: print(m, file=sys.stderr, flush=True))
        if a.figure:
            from ..data.cache import atomic_write_bytes

            Path(a.figure).parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(a.figure, (Path(a.out) / "figure.png").read_bytes())
    except TraingenError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(format_table(table))
    print(summary(table))
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m traingen.mesh.usefulness``: run the experiment, print the table, write the files."""
    return run_demo_cli(_parser().parse_args(argv), config_from_args, run_experiment, format_table,
                        lambda t: f"data CPU s {t['data_cpu_s']}, run CPU s {t['run_cpu_s']}, load average "
                                  f"{t['loadavg_start'][0]} -> {t['loadavg_end'][0]}")


if __name__ == "__main__":  # pragma: no cover - exercised through main()
    raise SystemExit(main())
