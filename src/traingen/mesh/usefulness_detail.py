"""Does detail transfer help? A classifier under grazing light trained on base, transferred or true detailed meshes.

The third of issue 9's "data helps" demonstrations. The task needs the surface detail: the class of
an object is the **kind of its displacement detail** (``plain``; ``rings-N``: ``amplitude ·
sin(2π · N · height)`` along the normals, height normalised per mesh to [0, 1]), on noisy genus-0
blobs (:func:`traingen.mesh.procedural.blob`) whose overall shape says nothing about the class. The
images are lit by **grazing light**: a directional light 70–85° above the horizon (little ambient),
which rakes the blobs' side walls, where most of the visible surface is, at 5–20° across the rings;
a probe at one view measured a mean |true − base| image difference of 14.1 grey levels with the light
at 80°, 10.0 at 35° and 7.5 at 10° (the ripples tilt the normals up and down, so a low light barely
changes their shading). One small classifier is trained, at
equal image counts, on renders of

- (a) ``base``: the training blobs without detail (what a plain asset library gives),
- (b) ``transferred``: the same blobs with detail synthesised by Berkiten et al.'s detail transfer
  (:func:`traingen.mesh.detail_transfer.transfer_detail`) from **one detailed source blob per class**
  (another shape),
- (c) ``true``: the same blobs with their true detail of the class,

in the same views and lights (image *i* of every arm: same blob, camera and light), and tested on
renders of **held-out blobs** with their true detail. Issue 9's target: the gap closed,
``((b) − (a)) / ((c) − (a))``, is at least 0.5 (means over classifier seeds).

The class lives only in the detail, so (a) is at chance by construction: it measures the floor a
detail-free library gives on this task.

Command (the documented run)::

    python -m traingen.mesh.usefulness_detail --out runs/usefulness-detail --seeds 0,1,2

It writes ``OUT/table.json`` (config, accuracy per arm and seed, per-class accuracy, the gap closed,
the correlation of each transferred displacement with the truth, CPU seconds per stage),
``OUT/figure.png`` and caches the rendered sets in ``OUT/data.npz``.

Example:
    >>> cfg = DetailDemoConfig(kinds=("plain", "rings-6"), train_shapes=2, per_class=4)
    >>> table = run_experiment(cfg, "out")                               # doctest: +SKIP
    >>> sorted(table["arms"])                                            # doctest: +SKIP
    ['base', 'transferred', 'true']

References:
    Berkiten, Halber, Solomon, Ma, Li & Rusinkiewicz, "Learning Detail Transfer based on Geometric
    Features", Eurographics 2017. Kato, Ushiku & Harada, "Neural 3D Mesh Renderer", CVPR 2018 (the
    ambient + directional lighting of the rasterizer).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core.errors import ConfigError
from ..core.seeding import numpy_rng
from .mesh import Mesh

ARMS = ("base", "transferred", "true")
DISTANCE = 3.0
FOV_Y_DEG = 40.0


@dataclass
class DetailDemoConfig:
    """Detail kinds, shapes, views, light, detail transfer, classifier (defaults: the documented run).

    Attributes:
        kinds: the classes: ``plain`` or ``rings-N`` (N periods over the height).
        amplitude: ripple amplitude (mesh normalised to radius 1 by the renderer; blobs have radius ~1).
        subdivisions: icosphere subdivisions of the blobs (4: 5,120 faces).
        train_shapes: training blobs per class (the same blobs in every arm).
        test_shapes: held-out blobs per class.
        per_class: training images per class and arm; ``test_per_class``: test images per class.
        size: render side in pixels.
        camera_elevation: camera elevation range (degrees).
        light_elevation: light elevation above the horizon (degrees); 70–85° rakes the side walls at 5–20°.
        light_spread: light azimuth within ± this of the camera's (degrees), so the visible side is lit.
        transfer: :class:`traingen.mesh.detail_transfer.DetailConfig` fields.
        input_size, epochs, seeds: the classifier (as in :mod:`traingen.mesh.usefulness`).
        seed: every draw of the data.
    """

    kinds: tuple[str, ...] = ("plain", "rings-5", "rings-8")
    amplitude: float = 0.015
    subdivisions: int = 4
    train_shapes: int = 6
    test_shapes: int = 6
    per_class: int = 150
    test_per_class: int = 60
    size: int = 64
    camera_elevation: tuple[float, float] = (0.0, 30.0)
    light_elevation: tuple[float, float] = (70.0, 85.0)
    light_spread: float = 80.0
    transfer: dict = field(default_factory=lambda: {"size": 128, "levels": 3, "subdivisions": 0})
    input_size: int = 32
    epochs: int = 10
    seeds: tuple[int, ...] = (0, 1, 2)
    seed: int = 0

    def __post_init__(self) -> None:
        self.kinds = tuple(self.kinds)
        self.seeds = tuple(int(s) for s in self.seeds)
        for name in ("camera_elevation", "light_elevation"):
            setattr(self, name, tuple(float(x) for x in getattr(self, name)))
        for k in self.kinds:
            periods(k)
        if len(self.kinds) < 2 or len(set(self.kinds)) != len(self.kinds):
            raise ConfigError(f"need >= 2 distinct kinds, got {list(self.kinds)}", where="mesh usefulness-detail",
                              field="kinds")
        for name in ("train_shapes", "test_shapes", "per_class", "test_per_class", "epochs"):
            if getattr(self, name) < 1:
                raise ConfigError(f"must be >= 1, got {getattr(self, name)}", where="mesh usefulness-detail",
                                  field=name)
        lo, hi = self.light_elevation
        if not 0.0 <= lo <= hi <= 90.0:
            raise ConfigError(f"need 0 <= low <= high <= 90, got {self.light_elevation}",
                              where="mesh usefulness-detail", field="light_elevation")
        if not self.seeds:
            raise ConfigError("give at least one seed", where="mesh usefulness-detail", field="seeds")


def periods(kind: str) -> int:
    """Ripple periods of a detail kind (``plain`` → 0, ``rings-N`` → N)."""
    if kind == "plain":
        return 0
    name, _, n = str(kind).partition("-")
    if name != "rings" or not n.isdigit() or int(n) < 1:
        raise ConfigError(f"unknown detail kind {kind!r}: use 'plain' or 'rings-N' (N >= 1)",
                          where="mesh usefulness-detail", field="kinds")
    return int(n)


def true_displacement(mesh: Mesh, kind: str, amplitude: float) -> np.ndarray:
    """Per-vertex displacement of ``kind``: ``amplitude · sin(2π · N · height)``, height in [0, 1] per mesh."""
    n = periods(kind)
    h = mesh.vertices[:, 2]
    return amplitude * np.sin(2 * np.pi * n * (h - h.min()) / max(float(np.ptp(h)), 1e-12))


def with_detail(mesh: Mesh, kind: str, amplitude: float) -> Mesh:
    """``mesh`` displaced along its vertex normals by :func:`true_displacement`."""
    from .geometric_features import vertex_normals

    d = true_displacement(mesh, kind, amplitude)
    return Mesh(mesh.vertices + d[:, None] * vertex_normals(mesh.vertices, mesh.faces), mesh.faces,
                name=f"{mesh.name}-{kind}")


def shape(cfg: DetailDemoConfig, role: str, kind: str, k: int) -> Mesh:
    """Plain welded blob ``k`` of ``role`` (``train``, ``test`` or ``source``) for class ``kind``."""
    from .geometric_features import weld
    from .procedural import blob

    m = weld(blob(numpy_rng(cfg.seed, "detail-demo", role, kind, k), subdivisions=cfg.subdivisions))
    m.name = f"blob-{role}-{kind}-{k}"
    return m


# -- rendering ---------------------------------------------------------------------------------------


def draw_view(rng: np.random.Generator, cfg: DetailDemoConfig) -> dict:
    """Camera azimuth/elevation and a raking light from above, on the camera's side (degrees)."""
    az, el = float(rng.uniform(0, 360)), float(rng.uniform(*cfg.camera_elevation))
    la = az + float(rng.uniform(-cfg.light_spread, cfg.light_spread))
    return {"azimuth": az, "elevation": el, "light_azimuth": la % 360.0,
            "light_elevation": float(rng.uniform(*cfg.light_elevation))}


def render(mesh: Mesh, view: dict, size: int) -> np.ndarray:
    """Grey render (uint8 size×size×3, black background) of ``mesh`` normalised to radius 1 under ``view``'s light."""
    import torch

    from ..render.camera import Camera
    from .raster import Attributes, Lighting, RasterSettings, rasterize

    m = mesh.normalized(1.0)
    cam = Camera.orbit(DISTANCE, view["azimuth"], view["elevation"], width=size, height=size, fov_y_deg=FOV_Y_DEG)
    la, le = math.radians(view["light_azimuth"]), math.radians(view["light_elevation"])
    # the light sits at (la, le) on the horizon sphere and travels toward the object
    d = (-math.cos(le) * math.cos(la), -math.cos(le) * math.sin(la), -math.sin(le))
    with torch.no_grad():
        out = rasterize(torch.tensor(m.vertices, dtype=torch.float32), torch.tensor(m.faces), [cam], mode="hard",
                        attributes=Attributes(color=(0.85, 0.85, 0.85)),
                        lighting=Lighting(ambient=0.08, directional=0.92, direction=d),
                        settings=RasterSettings(background=(0.0, 0.0, 0.0)))
    return (out.rgb[0].permute(1, 2, 0).clamp(0, 1).numpy() * 255.0 + 0.5).astype(np.uint8)


# -- data ---------------------------------------------------------------------------------------------


@dataclass
class DetailData:
    """Training sets per arm, the test set (each ``(images, labels, meta)``), transfer records, CPU seconds."""

    train: dict[str, tuple[np.ndarray, np.ndarray, list[dict]]]
    test: tuple[np.ndarray, np.ndarray, list[dict]]
    transfers: list[dict]
    cpu_s: dict[str, float]


def build_data(cfg: DetailDemoConfig, *, on_stage=None) -> DetailData:
    """Sources, transfers, the three training arms and the test set (module doc)."""
    from ..core.config import from_dict
    from .detail_transfer import DetailConfig, transfer_detail

    note = on_stage or (lambda _s: None)
    dcfg = from_dict(DetailConfig, dict(cfg.transfer), where="mesh usefulness-detail.transfer")
    cpu = {"transfer": 0.0, "render": 0.0}
    train = {a: ([], [], []) for a in ARMS}
    test: tuple[list, list, list] = ([], [], [])
    transfers = []
    for ci, kind in enumerate(cfg.kinds):
        note(f"transfer {kind}")
        source = with_detail(shape(cfg, "source", kind, 0), kind, cfg.amplitude)
        meshes = {a: [] for a in ARMS}
        for k in range(cfg.train_shapes):
            base = shape(cfg, "train", kind, k)
            t = time.process_time()
            res = transfer_detail(source, base, dcfg, seed=k)
            cpu["transfer"] += time.process_time() - t
            truth = true_displacement(base, kind, cfg.amplitude)
            corr = float(np.corrcoef(res.vertex_displacement, truth)[0, 1]) if periods(kind) else float("nan")
            transfers.append({"kind": kind, "shape": k, "corr_with_truth": _num(corr),
                              "rms": round(float(np.sqrt(np.mean(res.vertex_displacement ** 2))), 5),
                              "weights": {n: round(w, 3) for n, w in res.weights.items() if w > 0}})
            meshes["base"].append(base)
            meshes["transferred"].append(res.mesh)
            meshes["true"].append(with_detail(base, kind, cfg.amplitude))
        note(f"render {kind}")
        t = time.process_time()
        for n in range(cfg.per_class):
            k = n % cfg.train_shapes
            view = draw_view(numpy_rng(cfg.seed, "detail-train-view", kind, n), cfg)
            for arm in ARMS:
                for lst, v in zip(train[arm], (render(meshes[arm][k], view, cfg.size), ci,
                                               {"shape": k, **{a: round(b, 4) for a, b in view.items()}}), strict=True):
                    lst.append(v)
        held = [with_detail(shape(cfg, "test", kind, k), kind, cfg.amplitude) for k in range(cfg.test_shapes)]
        for n in range(cfg.test_per_class):
            k = n % cfg.test_shapes
            view = draw_view(numpy_rng(cfg.seed, "detail-test-view", kind, n), cfg)
            for lst, v in zip(test, (render(held[k], view, cfg.size), ci,
                                     {"shape": k, **{a: round(b, 4) for a, b in view.items()}}), strict=True):
                lst.append(v)
        cpu["render"] += time.process_time() - t

    def pack(parts):
        imgs, labels, meta = parts
        return np.stack(imgs), np.asarray(labels, np.int64), list(meta)

    return DetailData({a: pack(train[a]) for a in ARMS}, pack(test), transfers,
                      {k: round(v, 2) for k, v in cpu.items()})


# -- experiment ---------------------------------------------------------------------------------------


def data_key(cfg: DetailDemoConfig) -> str:
    from ..core.config import to_dict

    d = to_dict(cfg)
    return json.dumps({k: v for k, v in d.items() if k not in ("input_size", "epochs", "seeds")}, sort_keys=True)


def gap_closed(base: float, transferred: float, true: float) -> float:
    """``(transferred − base) / (true − base)``; NaN when the true arm does not beat the base."""
    return (transferred - base) / (true - base) if true > base else float("nan")


def figure(data: DetailData, kinds, path: Path, *, columns: int = 6) -> Path:
    """Rows: the same training views in arms (a), (b), (c), then test images; columns cycle over the classes."""
    from ..report.grid import make_grid, save_png

    def pick(labels):
        by = [np.flatnonzero(labels == c) for c in range(len(kinds))]
        return [int(by[j % len(kinds)][j // len(kinds)]) for j in range(columns)]

    idx = pick(data.train["base"][1])
    rows = [[data.train[a][0][i] for i in idx] for a in ARMS] + [[data.test[0][i] for i in pick(data.test[1])]]
    return save_png(path, make_grid(rows, pad=2))


def run_experiment(cfg: DetailDemoConfig, out: str | os.PathLike, *, log=None) -> dict:
    """Build (or reuse) the data, train and test every arm, write ``table.json`` and ``figure.png``."""
    from ..core.config import to_dict
    from ..data.cache import atomic_write_bytes
    from .usefulness_recon import load_sets, save_sets, train_and_test

    say = log or (lambda _m: None)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0, load0 = time.process_time(), os.getloadavg()
    got = load_sets(out / "data.npz", data_key(cfg))
    if got is None:
        data = build_data(cfg, on_stage=lambda s: say(f"data: {s}"))
        save_sets(out / "data.npz", data_key(cfg), {**data.train, "test": data.test},
                  {"transfers": data.transfers, "cpu_s": data.cpu_s})
    else:
        sets, extra = got
        data = DetailData({a: sets[a] for a in ARMS}, sets["test"], extra["transfers"], extra["cpu_s"])
    say(f"data: {'reused' if got else 'built'} ({data.cpu_s})")
    arms = train_and_test(data.train, data.test, cfg.kinds, cfg.input_size, cfg.epochs, cfg.seeds,
                          on_fit=lambda a, s, acc: say(f"fit {a} seed {s}: {acc:.2f} %"))
    figure(data, cfg.kinds, out / "figure.png")
    b, t, r = (arms[a]["mean"] for a in ARMS)
    per_seed = [gap_closed(*(arms[a]["accuracy"][i] for a in ARMS)) for i in range(len(cfg.seeds))]
    g = gap_closed(b, t, r)
    corr = [x["corr_with_truth"] for x in data.transfers if x["corr_with_truth"] is not None]
    table = {"config": to_dict(cfg), "classes": list(cfg.kinds), "arms": arms,
             "verdict": {"gap_closed": _num(g), "gap_closed_per_seed": [_num(x) for x in per_seed],
                         "met": bool(g >= 0.5)},
             "test_images": len(data.test[1]), "transfer_corr_mean": round(float(np.mean(corr)), 4) if corr else None,
             "transfers": data.transfers, "data_cpu_s": data.cpu_s, "data_reused": got is not None,
             "run_cpu_s": round(time.process_time() - t0, 1),
             "loadavg_start": [round(x, 2) for x in load0], "loadavg_end": [round(x, 2) for x in os.getloadavg()]}
    atomic_write_bytes(out / "table.json", (json.dumps(table, indent=2) + "\n").encode("utf-8"))
    return table


def _num(x: float) -> float | None:
    """Rounded, or ``None`` for NaN (valid JSON)."""
    return None if math.isnan(x) else round(float(x), 4)


def format_table(table: dict) -> str:
    names = {"base": "(a) base meshes (no detail)", "transferred": "(b) detail-transferred meshes",
             "true": "(c) true detailed meshes"}
    from .usefulness_recon import arm_rows

    lines = arm_rows(table["arms"], names)
    v = table["verdict"]
    lines.append(f"\ngap closed ((b) − (a)) / ((c) − (a)) = {v['gap_closed']} (target >= 0.5: "
                 f"{'met' if v['met'] else 'NOT met'}); per seed {v['gap_closed_per_seed']}.")
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    d = DetailDemoConfig()
    p = argparse.ArgumentParser(prog="python -m traingen.mesh.usefulness_detail", description=__doc__.split("\n")[0])
    p.add_argument("--out", required=True, help="output folder (table.json, figure.png, data.npz)")
    p.add_argument("--kinds", default=",".join(d.kinds), help="classes: plain, rings-N")
    p.add_argument("--train-shapes", type=int, default=d.train_shapes)
    p.add_argument("--test-shapes", type=int, default=d.test_shapes)
    p.add_argument("--per-class", type=int, default=d.per_class)
    p.add_argument("--test-per-class", type=int, default=d.test_per_class)
    p.add_argument("--subdivisions", type=int, default=d.subdivisions)
    p.add_argument("--transfer-size", type=int, default=d.transfer["size"], help="finest texel map side")
    p.add_argument("--input-size", type=int, default=d.input_size)
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--data-seed", type=int, default=0)
    p.add_argument("--figure", default=None, help="also copy the figure to this path")
    p.add_argument("--quiet", action="store_true")
    return p


def config_from_args(a: argparse.Namespace) -> DetailDemoConfig:
    d = DetailDemoConfig()
    return DetailDemoConfig(kinds=tuple(s for s in a.kinds.split(",") if s), train_shapes=a.train_shapes,
                            test_shapes=a.test_shapes, per_class=a.per_class, test_per_class=a.test_per_class,
                            subdivisions=a.subdivisions, transfer={**d.transfer, "size": a.transfer_size},
                            input_size=a.input_size, epochs=a.epochs,
                            seeds=tuple(int(s) for s in a.seeds.split(",") if s), seed=a.data_seed)


def main(argv: list[str] | None = None) -> int:
    """``python -m traingen.mesh.usefulness_detail``: run the experiment, print the table, write the files."""
    from .usefulness import run_demo_cli

    return run_demo_cli(_parser().parse_args(argv), config_from_args, run_experiment, format_table,
                        lambda t: f"transfer correlation with the truth (mean over rings shapes) {t['transfer_corr_mean']}; "
                                  f"data CPU s {t['data_cpu_s']}, run CPU s {t['run_cpu_s']}, load average "
                                  f"{t['loadavg_start'][0]} -> {t['loadavg_end'][0]}")


if __name__ == "__main__":  # pragma: no cover - exercised through main()
    raise SystemExit(main())
