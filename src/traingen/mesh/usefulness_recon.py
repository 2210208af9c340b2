"""Does single-view reconstruction help? Novel views of reconstructed meshes vs 2D augmentations of one view.

The second of issue 9's "data helps" demonstrations. Each object (a member of a procedural family,
one class per family) is seen through **one** view: a shaded render at a known camera (azimuth a
multiple of 15°, elevation 30°, the views Kato's network trains on). From that one image, training
data for a small classifier is made in two ways, at equal image counts:

- (i) ``aug2d``: 2D augmentations of the view through the project's augment chain
  (:class:`traingen.augment.Compose`: horizontal flip, rotation ±15°, scale 0.85–1.15, translation
  ±10 %, fused into one warp);
- (ii) ``recon``: the view's silhouette goes through Kato's single-image reconstruction network
  (:mod:`traingen.mesh.recon_net`, trained here on silhouettes of a *separate* procedural collection
  of the same families: a category prior, never these objects), and the predicted mesh is rendered
  from random azimuths (all around) and elevations;
- (iii) ``true-views``, a reference: the same random views of the true meshes (what a perfect
  reconstruction would give; not part of the target).

The test set renders the **true** meshes of the same objects from azimuths at least ``min_gap``
(90°) away from the input view. Every image uses the same grey material, a light that follows the
camera (so that only the viewpoint differs between the input view and a test view), and a black
background. Issue 9's target: (ii) beats (i) on the test views, on the mean over classifier seeds.

Command (the documented run)::

    python -m traingen.mesh.usefulness_recon --out runs/usefulness-recon --seeds 0,1,2

It writes ``OUT/table.json`` (config, accuracy per arm and seed, per-class accuracy, the verdict,
the smallest test-view gap, CPU seconds per stage), ``OUT/figure.png`` and caches the reconstruction
network in ``OUT/recon-net/`` and the rendered sets in ``OUT/data.npz``.

Example:
    >>> cfg = ReconDemoConfig(classes=("cup", "chair"), objects=2, per_object=4, test_per_object=2)
    >>> table = run_experiment(cfg, "out")                               # doctest: +SKIP
    >>> sorted(table["arms"])                                            # doctest: +SKIP
    ['aug2d', 'recon', 'true-views']

References:
    Kato, Ushiku & Harada, "Neural 3D Mesh Renderer", CVPR 2018, arXiv 1711.07566 (§4.1 single-image
    reconstruction). Simard, Steinkraus & Platt, "Best Practices for Convolutional Neural Networks
    Applied to Visual Document Analysis", ICDAR 2003 (affine 2D augmentation).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core.errors import ConfigError
from ..core.seeding import derive_seed, numpy_rng

ARMS = ("aug2d", "recon", "true-views")
#: The 2D chain of arm (i): the digits chain of ``recipes/augment-digits.yaml`` plus a horizontal flip.
AUGMENT_2D = ({"name": "horizontal-flip"}, {"name": "rotate", "degrees": 15},
              {"name": "scale", "low": 0.85, "high": 1.15}, {"name": "translate", "fraction": 0.1})


@dataclass
class ReconDemoConfig:
    """Objects, views, the reconstruction network, the classifier (defaults: the documented run).

    Attributes:
        classes: procedural families (one class each).
        objects: objects per class: members ``0 .. n−1`` (``builtin:mesh/FAM/K``).
        per_object: training images per object and arm.
        test_per_object: test views per object.
        min_gap: smallest azimuth difference (degrees) between the input view and a test view.
        elevation: elevation range (degrees) of the rendered training views and of the test views.
        recon: :class:`traingen.mesh.recon_net.ReconConfig` fields (``families`` = ``classes``).
        input_size: classifier input side (renders are area-downsampled to it).
        epochs: classifier epochs (same for every arm).
        seeds: classifier seeds.
        seed: every draw of the data (input azimuths, augmentations, views).
    """

    classes: tuple[str, ...] = ("cup", "bottle", "vase", "rocket", "chair", "table")
    objects: int = 6
    per_object: int = 30
    test_per_object: int = 20
    min_gap: float = 90.0
    elevation: tuple[float, float] = (10.0, 50.0)
    recon: dict = field(default_factory=lambda: {"steps": 400, "objects": 36, "widths": [16, 32, 64],
                                                 "hidden": 256, "batch": 8, "lr": 1e-3})
    input_size: int = 32
    epochs: int = 10
    seeds: tuple[int, ...] = (0, 1, 2)
    seed: int = 0

    def __post_init__(self) -> None:
        from .procedural import FAMILIES

        self.classes = tuple(self.classes)
        self.seeds = tuple(int(s) for s in self.seeds)
        self.elevation = tuple(float(e) for e in self.elevation)
        bad = [c for c in self.classes if c not in FAMILIES]
        if bad or len(self.classes) < 2 or len(set(self.classes)) != len(self.classes):
            raise ConfigError(f"need >= 2 distinct families of {sorted(FAMILIES)}, got {list(self.classes)}",
                              where="mesh usefulness-recon", field="classes")
        for name in ("objects", "per_object", "test_per_object", "epochs"):
            if getattr(self, name) < 1:
                raise ConfigError(f"must be >= 1, got {getattr(self, name)}", where="mesh usefulness-recon",
                                  field=name)
        if not 0.0 <= self.min_gap <= 180.0:
            raise ConfigError(f"must lie in [0, 180], got {self.min_gap}", where="mesh usefulness-recon",
                              field="min_gap")
        if not self.seeds:
            raise ConfigError("give at least one seed", where="mesh usefulness-recon", field="seeds")

    def recon_config(self):
        """The reconstruction network's :class:`~traingen.mesh.recon_net.ReconConfig` (64 px, 24 views)."""
        from ..core.config import from_dict
        from .recon_net import ReconConfig

        return from_dict(ReconConfig, {**self.recon, "families": list(self.classes), "seed": self.seed},
                         where="mesh usefulness-recon.recon")


def azimuth_gap(a: float, b: float) -> float:
    """The angle (degrees, 0–180) between two azimuths."""
    d = abs(a - b) % 360.0
    return min(d, 360.0 - d)


# -- rendering ---------------------------------------------------------------------------------------


def shaded(vertices: np.ndarray, faces: np.ndarray, azimuth: float, elevation: float, rcfg) -> tuple[np.ndarray,
                                                                                                      np.ndarray]:
    """Grey-material render at the reconstruction network's camera, lit from behind the camera and above.

    Returns:
        (uint8 S×S×3 image on black, float S×S alpha).
    """
    import torch

    from ..render.camera import Camera
    from .raster import Attributes, Lighting, RasterSettings, rasterize

    cam = Camera.orbit(rcfg.distance, azimuth, elevation, width=rcfg.size, height=rcfg.size,
                       fov_y_deg=rcfg.fov_y_deg)
    e = cam.eye / np.linalg.norm(cam.eye)
    d = -e + np.array([0.0, 0.0, -0.7])  # travels from the camera's side, downward: the same in every view
    light = Lighting(ambient=0.3, directional=0.7, direction=tuple(float(x) for x in d / np.linalg.norm(d)))
    with torch.no_grad():
        out = rasterize(torch.tensor(vertices, dtype=torch.float32), torch.tensor(faces), [cam], mode="hard",
                        attributes=Attributes(color=(0.8, 0.8, 0.8)), lighting=light,
                        settings=RasterSettings(background=(0.0, 0.0, 0.0)))
    rgb = out.rgb[0].permute(1, 2, 0).clamp(0, 1).numpy()
    return (rgb * 255.0 + 0.5).astype(np.uint8), out.alpha[0, 0].numpy()


def augment_pipeline(seed: int):
    """The 2D chain of arm (i) (:data:`AUGMENT_2D`), black fill."""
    from ..augment import from_dict

    return from_dict({"version": 1, "pipeline": {"seed": seed, "fill": 0, "transforms": [dict(t) for t in AUGMENT_2D]}},
                     where="mesh usefulness-recon.augment")


@dataclass
class ReconData:
    """Images (N×S×S×3 uint8), labels and per-image records of each training arm and of the test set."""

    train: dict[str, tuple[np.ndarray, np.ndarray, list[dict]]]
    test: tuple[np.ndarray, np.ndarray, list[dict]]
    inputs: list[dict]  # one per object: class, member, input azimuth, reconstruction IoU
    cpu_s: dict[str, float]


def reconstruction_iou(pred, true, azimuths, elevation, rcfg) -> float:
    """Mean hard-silhouette IoU of the predicted and the true mesh over ``azimuths`` at ``elevation``."""
    ious = []
    for az in azimuths:
        a = shaded(pred.vertices, pred.faces, az, elevation, rcfg)[1] > 0.5
        b = shaded(true.vertices, true.faces, az, elevation, rcfg)[1] > 0.5
        ious.append((a & b).sum() / max((a | b).sum(), 1))
    return float(np.mean(ious))


def build_data(cfg: ReconDemoConfig, net, *, on_stage=None) -> ReconData:
    """Input views, the three training arms and the test set (module doc)."""
    from .builtin import load_mesh
    from .recon_net import predict

    note = on_stage or (lambda _s: None)
    rcfg = cfg.recon_config()
    train = {a: ([], [], []) for a in ARMS}
    test: tuple[list, list, list] = ([], [], [])
    inputs, cpu = [], {"reconstruct": 0.0, "render": 0.0, "augment": 0.0}
    pipe = augment_pipeline(cfg.seed)
    for ci, fam in enumerate(cfg.classes):
        note(f"objects {fam}")
        for k in range(cfg.objects):
            true = load_mesh(f"builtin:mesh/{fam}/{k}").normalized(1.0)
            rng = numpy_rng(cfg.seed, "recon-demo", fam, k)
            az_in = 15.0 * int(rng.integers(24))
            t = time.process_time()
            view, alpha = shaded(true.vertices, true.faces, az_in, rcfg.elevation, rcfg)
            pred = predict(net, (alpha > 0.5).astype(np.float32))
            cpu["reconstruct"] += time.process_time() - t
            t = time.process_time()
            for i in range(cfg.per_object):  # image 0 is the view itself
                img = view if i == 0 else pipe(image=view, seed=derive_seed(cfg.seed, "aug2d", fam, k, i))["image"]
                for lst, v in zip(train["aug2d"], (img, ci, {"member": k, "input_azimuth": az_in}), strict=True):
                    lst.append(v)
            cpu["augment"] += time.process_time() - t
            t = time.process_time()
            for i in range(cfg.per_object):
                vr = numpy_rng(cfg.seed, "recon-view", fam, k, i)
                az, el = float(vr.uniform(0, 360)), float(vr.uniform(*cfg.elevation))
                for arm, m in (("recon", pred), ("true-views", true)):
                    img = shaded(m.vertices, m.faces, az, el, rcfg)[0]
                    for lst, v in zip(train[arm], (img, ci, {"member": k, "azimuth": round(az, 4),
                                                             "elevation": round(el, 4)}), strict=True):
                        lst.append(v)
            for i in range(cfg.test_per_object):
                vr = numpy_rng(cfg.seed, "test-view", fam, k, i)
                az = (az_in + float(vr.uniform(cfg.min_gap, 360.0 - cfg.min_gap))) % 360.0
                el = float(vr.uniform(*cfg.elevation))
                img = shaded(true.vertices, true.faces, az, el, rcfg)[0]
                for lst, v in zip(test, (img, ci, {"member": k, "input_azimuth": az_in, "azimuth": round(az, 4),
                                                   "elevation": round(el, 4)}), strict=True):
                    lst.append(v)
            iou = reconstruction_iou(pred, true, [az_in + 90.0 * j for j in range(4)], rcfg.elevation, rcfg)
            cpu["render"] += time.process_time() - t
            inputs.append({"class": fam, "member": k, "input_azimuth": az_in, "iou_4_views": round(iou, 4)})

    def pack(parts):
        imgs, labels, meta = parts
        return np.stack(imgs), np.asarray(labels, np.int64), list(meta)

    return ReconData({a: pack(train[a]) for a in ARMS}, pack(test), inputs, {k: round(v, 2) for k, v in cpu.items()})


# -- experiment ---------------------------------------------------------------------------------------


def data_key(cfg: ReconDemoConfig) -> str:
    """Everything that decides the rendered sets (the cache key of ``data.npz``)."""
    from ..core.config import to_dict

    d = to_dict(cfg)
    return json.dumps({k: v for k, v in d.items() if k not in ("input_size", "epochs", "seeds")}, sort_keys=True)


def save_sets(path: Path, key: str, sets: dict[str, tuple], extra: dict) -> None:
    """Write named ``(images, labels, meta)`` sets and JSON ``extra`` values to ``path`` (npz, atomically)."""
    import io

    from ..data.cache import atomic_write_bytes

    arrays = {"key": np.array(key), "names": np.array(list(sets)),
              **{f"extra_{k}": np.array(json.dumps(v)) for k, v in extra.items()}}
    for name, (x, y, meta) in sets.items():
        arrays.update({f"{name}_images": x, f"{name}_labels": y, f"{name}_meta": np.array(json.dumps(meta))})
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def load_sets(path: Path, key: str) -> tuple[dict[str, tuple], dict] | None:
    """The sets and extras saved by :func:`save_sets` if ``path`` holds them under ``key``, else ``None``."""
    if not path.is_file():
        return None
    with np.load(path, allow_pickle=False) as z:
        if "names" not in z.files or str(z["key"]) != key:  # another layout or other settings
            return None
        sets = {str(n): (z[f"{n}_images"], z[f"{n}_labels"], json.loads(str(z[f"{n}_meta"]))) for n in z["names"]}
        extra = {k[len("extra_"):]: json.loads(str(z[k])) for k in z.files if k.startswith("extra_")}
    return sets, extra


def save_data(data: ReconData, cfg: ReconDemoConfig, path: Path) -> None:
    save_sets(path, data_key(cfg), {**data.train, "test": data.test}, {"inputs": data.inputs, "cpu_s": data.cpu_s})


def load_data(cfg: ReconDemoConfig, path: Path) -> ReconData | None:
    got = load_sets(path, data_key(cfg))
    if got is None:
        return None
    sets, extra = got
    return ReconData({a: sets[a] for a in ARMS}, sets["test"], extra["inputs"], extra["cpu_s"])


def train_and_test(train: dict, test: tuple, classes, input_size: int, epochs: int, seeds, *, on_fit=None) -> dict:
    """One classifier per arm and seed (same network, epochs and schedule); test accuracy (%), per class too."""
    from ..features.classifiers import FitConfig, fit_classifier, predict_logits
    from .usefulness import per_class_accuracy, resized

    C = len(classes)
    x_test, y_test = resized(test[0], input_size), test[1]
    arms = {}
    for arm, (x, y, _meta) in train.items():
        x = resized(x, input_size)
        accs, per_class, cpu = [], [], 0.0
        for seed in seeds:
            t = time.process_time()
            net = fit_classifier(x, y, num_classes=C, seed=seed, config=FitConfig(epochs=epochs))
            pred = predict_logits(net, x_test).argmax(1)
            cpu += time.process_time() - t
            accs.append(100.0 * float(np.mean(pred == y_test)))
            per_class.append([100.0 * a for a in per_class_accuracy(pred, y_test, C)])
            if on_fit is not None:
                on_fit(arm, seed, accs[-1])
        arms[arm] = {"accuracy": [round(a, 2) for a in accs], "mean": round(float(np.mean(accs)), 2),
                     "std": round(float(np.std(accs)), 2), "train_images": len(y),
                     "per_class_mean": {c: round(float(np.mean([p[i] for p in per_class])), 1)
                                        for i, c in enumerate(classes)},
                     "train_cpu_s": round(cpu, 1)}
    return arms


def figure(data: ReconData, path: Path, *, columns: int = 8) -> Path:
    """Rows: the input view, an augmentation of it, the reconstruction and the true mesh in one random view,
    then a test view (≥ ``min_gap`` away), for ``columns`` objects spread over the classes."""
    from ..report.grid import make_grid, save_png

    n_obj = len(data.inputs)
    per = len(data.train["aug2d"][1]) // n_obj
    per_test = len(data.test[1]) // n_obj
    C = len({d["class"] for d in data.inputs})
    objs = [(k % C) * (n_obj // C) + (k // C) % (n_obj // C) for k in range(columns)]
    rows = [[], [], [], [], []]
    for o in objs:
        first = data.train["aug2d"][0][o * per]
        rows[0].append(first)  # image 0 of arm (i) is the input view itself
        rows[1].append(data.train["aug2d"][0][o * per + 1])
        rows[2].append(data.train["recon"][0][o * per])
        rows[3].append(data.train["true-views"][0][o * per])
        rows[4].append(data.test[0][o * per_test])
    return save_png(path, make_grid(rows, pad=2))


def run_experiment(cfg: ReconDemoConfig, out: str | os.PathLike, *, log=None) -> dict:
    """Train (or reuse) the reconstruction network, build (or reuse) the data, fit, write ``table.json``."""
    from ..core.config import to_dict
    from ..data.cache import atomic_write_bytes
    from .recon_net import load_model, train

    say = log or (lambda _m: None)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0, load0 = time.process_time(), os.getloadavg()
    rcfg = cfg.recon_config()
    t = time.process_time()
    run = train(rcfg, out / "recon-net", on_step=lambda s, loss: s % 50 == 0 and say(f"recon step {s}: {loss:.3f}"))
    net_cpu = time.process_time() - t
    net, _ = load_model(out / "recon-net")
    data = load_data(cfg, out / "data.npz")
    reused = data is not None
    if data is None:
        data = build_data(cfg, net, on_stage=lambda s: say(f"data: {s}"))
        save_data(data, cfg, out / "data.npz")
    say(f"data: {'reused' if reused else 'built'} ({data.cpu_s})")
    arms = train_and_test(data.train, data.test, cfg.classes, cfg.input_size, cfg.epochs, cfg.seeds,
                          on_fit=lambda a, s, acc: say(f"fit {a} seed {s}: {acc:.2f} %"))
    figure(data, out / "figure.png")
    gaps = [azimuth_gap(m["azimuth"], m["input_azimuth"]) for m in data.test[2]]
    a, b = arms["aug2d"]["mean"], arms["recon"]["mean"]
    table = {"config": to_dict(cfg), "classes": list(cfg.classes), "arms": arms,
             "verdict": {"recon_minus_aug2d": round(b - a, 2), "met": b > a},
             "test_images": len(data.test[1]), "min_test_gap_deg": round(min(gaps), 3),
             "recon_loss_first_last": [round(float(np.mean(run.losses[:5])), 4), round(float(np.mean(run.losses[-5:])), 4)],
             "recon_iou_mean": round(float(np.mean([d["iou_4_views"] for d in data.inputs])), 4),
             "inputs": data.inputs, "data_cpu_s": data.cpu_s, "data_reused": reused,
             "recon_train_cpu_s": round(net_cpu, 1), "run_cpu_s": round(time.process_time() - t0, 1),
             "loadavg_start": [round(x, 2) for x in load0], "loadavg_end": [round(x, 2) for x in os.getloadavg()]}
    atomic_write_bytes(out / "table.json", (json.dumps(table, indent=2) + "\n").encode("utf-8"))
    return table


def arm_rows(arms: dict, names: dict) -> list[str]:
    """Markdown header and one row per arm (mean ± std, per seed, train images); shared with usefulness_detail."""
    lines = ["| arm | test accuracy, mean ± std (%) | per seed | train images |", "| --- | --- | --- | --- |"]
    for arm, r in arms.items():
        lines.append(f"| {names[arm]} | {r['mean']:.2f} ± {r['std']:.2f} | "
                     f"{', '.join(f'{a:.2f}' for a in r['accuracy'])} | {r['train_images']} |")
    return lines


def format_table(table: dict) -> str:
    """A Markdown table of the arms and the verdict line."""
    names = {"aug2d": "(i) 2D augmentations of the view", "recon": "(ii) novel views of the reconstruction",
             "true-views": "(iii) reference: the same views of the true mesh"}
    lines = arm_rows(table["arms"], names)
    v = table["verdict"]
    lines.append(f"\n(ii) − (i) = {v['recon_minus_aug2d']:+.2f} points (target > 0: {'met' if v['met'] else 'NOT met'}); "
                 f"test views >= {table['min_test_gap_deg']:.1f}° from the input view.")
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    d = ReconDemoConfig()
    p = argparse.ArgumentParser(prog="python -m traingen.mesh.usefulness_recon", description=__doc__.split("\n")[0])
    p.add_argument("--out", required=True, help="output folder (table.json, figure.png, data.npz, recon-net/)")
    p.add_argument("--classes", default=",".join(d.classes))
    p.add_argument("--objects", type=int, default=d.objects, help="objects per class (one input view each)")
    p.add_argument("--per-object", type=int, default=d.per_object, help="training images per object and arm")
    p.add_argument("--test-per-object", type=int, default=d.test_per_object)
    p.add_argument("--min-gap", type=float, default=d.min_gap)
    p.add_argument("--recon-steps", type=int, default=d.recon["steps"])
    p.add_argument("--recon-objects", type=int, default=d.recon["objects"])
    p.add_argument("--input-size", type=int, default=d.input_size)
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--data-seed", type=int, default=0)
    p.add_argument("--figure", default=None, help="also copy the figure to this path")
    p.add_argument("--quiet", action="store_true")
    return p


def config_from_args(a: argparse.Namespace) -> ReconDemoConfig:
    d = ReconDemoConfig()
    return ReconDemoConfig(classes=tuple(s for s in a.classes.split(",") if s), objects=a.objects,
                           per_object=a.per_object, test_per_object=a.test_per_object, min_gap=a.min_gap,
                           recon={**d.recon, "steps": a.recon_steps, "objects": a.recon_objects},
                           input_size=a.input_size, epochs=a.epochs,
                           seeds=tuple(int(s) for s in a.seeds.split(",") if s), seed=a.data_seed)


def main(argv: list[str] | None = None) -> int:
    """``python -m traingen.mesh.usefulness_recon``: run the experiment, print the table, write the files."""
    from .usefulness import run_demo_cli

    return run_demo_cli(_parser().parse_args(argv), config_from_args, run_experiment, format_table,
                        lambda t: f"reconstruction IoU (4 views) {t['recon_iou_mean']:.3f}; data CPU s {t['data_cpu_s']}, "
                                  f"recon training CPU s {t['recon_train_cpu_s']}, run CPU s {t['run_cpu_s']}, "
                                  f"load average {t['loadavg_start'][0]} -> {t['loadavg_end'][0]}")


if __name__ == "__main__":  # pragma: no cover - exercised through main()
    raise SystemExit(main())
