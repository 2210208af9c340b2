"""Speed of features + FID, KID, IS and precision/recall against torchmetrics and torch-fidelity.

All sides use the SAME feature extractor (by default a small seeded CNN on 28×28 grey digits: 64-d
``pool`` for FID/KID/PR, 10 ``logits`` for IS; ``--features NAME`` takes any registered extractor with
both outputs, e.g. ``mnist5k-classifier``) on the same N real and N generated images (``mnist5k``
digits, tiled with pixel shifts up to N; the "generated" set is the test split with Gaussian noise of
sigma 8 grey levels). The network is random, so its IS stays near 1: the numbers measure speed and
agreement, not quality.

- traingen: ``extractor.extract`` on both sets, then ``fid``, ``kid`` (100 subsets of 1000),
  ``inception_score`` (10 splits) and ``precision_recall`` (k=3) on the float64 arrays;
- torchmetrics: the same network run once per batch in a plain torch loop, its features fed to
  ``FrechetInceptionDistance``, ``KernelInceptionDistance`` and ``InceptionScore`` through identity
  ``feature=`` modules (so torchmetrics is not charged three forward passes); it has no precision/recall;
- torch-fidelity: ``calculate_metrics(isc, fid, kid, prc)`` with the extractor registered as a
  ``FeatureExtractorBase`` (``cache=False``, ``save_cpu_ram=True``: no worker processes), the same
  KID subsets/seed and IS splits/seed.

One thread (``OMP_NUM_THREADS=1``, ``OMP_WAIT_POLICY=PASSIVE``, ``torch.set_num_threads(1)``). Times are
CPU seconds (``time.process_time``: waiting for a shared core is not charged), median of repeats, the
sides taking turns; ``os.getloadavg()`` is recorded. Before timing, the metric values of the three
sides are printed side by side (the equivalence check).

Usage:
    OMP_NUM_THREADS=1 python bench/metrics.py [--n 10000] [--repeats 3] [--quick] [--out bench/RESULTS.md]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import datetime  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from traingen.data import open_source  # noqa: E402
from traingen.features.base import FeatureExtractor  # noqa: E402
from traingen.metrics import MetricWarning, fid, inception_score, kid, precision_recall  # noqa: E402

KID_SUBSETS, KID_SUBSET_SIZE, SPLITS, K, SEED, BATCH = 100, 1000, 10, 3, 2020, 128


class BenchCNN(FeatureExtractor):
    """conv 16-32-64 (3×3, ReLU, 2×2 max-pool after the first two), global mean -> 64-d pool, fc -> 10."""

    name = "bench-cnn"
    channels = 1
    default_resize = "torch-bilinear-antialias"
    outputs = ("pool", "logits")

    def weights_id(self) -> str:
        return "seeded:torch-manual-seed-0"

    def build(self):
        torch.manual_seed(0)
        nn = torch.nn
        body = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(32, 64, 3, padding=1), nn.ReLU())
        return nn.ModuleDict({"body": body, "fc": nn.Linear(64, 10)})

    def normalise(self, x):
        return x / 127.5 - 1.0

    def _run(self, x):
        pool = self.module["body"](x).mean(dim=(2, 3))
        return {"pool": pool, "logits": self.module["fc"](pool) * 4.0}


def make_sets(n: int) -> tuple[np.ndarray, np.ndarray]:
    """N real and N 'generated' 28×28 uint8 digits (module docstring)."""

    def tiled(images: np.ndarray) -> np.ndarray:
        reps = [np.roll(images, (r % 3 - 1, r // 3 % 3 - 1), axis=(1, 2)) for r in range(-(-n // len(images)))]
        return np.ascontiguousarray(np.concatenate(reps)[:n])

    train = open_source("builtin:mnist5k@train")
    test = open_source("builtin:mnist5k@test")
    real = tiled(np.stack([s.image for s in train]))
    fake = tiled(np.stack([s.image for s in test]))
    noise = np.random.default_rng(0).normal(0.0, 8.0, fake.shape)
    fake = np.clip(fake + noise, 0, 255).astype(np.uint8)
    return real, fake


# -- the three sides -------------------------------------------------------------------------------


def side_traingen(ext, real, fake, parts: dict) -> dict:
    t = time.process_time()
    fr = ext.extract(real, batch_size=BATCH)
    ff = ext.extract(fake, batch_size=BATCH)
    t = _lap(parts, "features", t)
    f = fid(fr.pool, ff.pool).value
    t = _lap(parts, "FID", t)
    k = kid(fr.pool, ff.pool, subsets=KID_SUBSETS, subset_size=KID_SUBSET_SIZE, seed=SEED)
    t = _lap(parts, "KID", t)
    i = inception_score(ff.logits, splits=SPLITS, seed=SEED)
    t = _lap(parts, "IS", t)
    p = precision_recall(fr.pool, ff.pool, k=K)
    _lap(parts, "P/R", t)
    return {"FID": f, "KID": k.mean, "IS": i.mean, "IS std": i.std, "precision": p.precision, "recall": p.recall}


class _Identity(torch.nn.Module):
    def __init__(self, dims: int):
        super().__init__()
        self.num_features = dims

    def forward(self, x):
        return x


def side_torchmetrics(ext, real_t, fake_t, parts: dict) -> dict:
    from torchmetrics.image.fid import FrechetInceptionDistance
    from torchmetrics.image.inception import InceptionScore
    from torchmetrics.image.kid import KernelInceptionDistance

    t = time.process_time()
    with torch.inference_mode():
        rf = [ext.forward(b) for b in real_t.split(BATCH)]
        ff = [ext.forward(b) for b in fake_t.split(BATCH)]
    t = _lap(parts, "features", t)
    dims = rf[0]["pool"].shape[1]
    m_fid = FrechetInceptionDistance(feature=_Identity(dims))
    for o in rf:
        m_fid.update(o["pool"], real=True)
    for o in ff:
        m_fid.update(o["pool"], real=False)
    f = float(m_fid.compute())
    t = _lap(parts, "FID", t)
    m_kid = KernelInceptionDistance(feature=_Identity(dims), subsets=KID_SUBSETS, subset_size=KID_SUBSET_SIZE)
    for o in rf:
        m_kid.update(o["pool"], real=True)
    for o in ff:
        m_kid.update(o["pool"], real=False)
    k = float(m_kid.compute()[0])
    t = _lap(parts, "KID", t)
    m_is = InceptionScore(feature=_Identity(10), splits=SPLITS)
    for o in ff:
        m_is.update(o["logits"])
    i_mean, i_std = m_is.compute()
    _lap(parts, "IS", t)
    return {"FID": f, "KID": k, "IS": float(i_mean), "IS std": float(i_std), "precision": None, "recall": None}


class _Images(torch.utils.data.Dataset):
    def __init__(self, x):
        self.x = x

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i]


def register_fidelity(ext) -> str:
    from torch_fidelity.feature_extractor_base import FeatureExtractorBase
    from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY, register_feature_extractor

    class Wrapped(FeatureExtractorBase):
        def __init__(self, name, features_list, **kwargs):
            super().__init__(name, features_list)

        @staticmethod
        def get_provided_features_list():
            return ("pool", "logits")

        @staticmethod
        def get_default_feature_layer_for_metric(metric):
            return "logits" if metric == "isc" else "pool"

        @staticmethod
        def can_be_compiled():
            return False

        @staticmethod
        def get_dummy_input_for_compile():
            return None

        def forward(self, x):
            out = ext.forward(x)
            return tuple(out[name] for name in self.features_list)

    name = f"traingen-bench-{ext.name}"
    if name not in FEATURE_EXTRACTORS_REGISTRY:
        register_feature_extractor(name, Wrapped)
    return name


def side_fidelity(name, real_t, fake_t, parts: dict) -> dict:
    import torch_fidelity

    t = time.process_time()
    out = torch_fidelity.calculate_metrics(
        input1=_Images(fake_t), input2=_Images(real_t), cuda=False, isc=True, fid=True, kid=True, prc=True,
        feature_extractor=name, cache=False, save_cpu_ram=True, verbose=False, batch_size=BATCH,
        isc_splits=SPLITS, kid_subsets=KID_SUBSETS, kid_subset_size=KID_SUBSET_SIZE, rng_seed=SEED,
        prc_neighborhood=K,
    )
    _lap(parts, "total", t)
    return {"FID": out["frechet_inception_distance"], "KID": out["kernel_inception_distance_mean"],
            "IS": out["inception_score_mean"], "IS std": out["inception_score_std"],
            "precision": out["precision"], "recall": out["recall"]}


def _lap(parts: dict, key: str, t0: float) -> float:
    t1 = time.process_time()
    parts.setdefault(key, []).append(t1 - t0)
    return t1


# -- driver ----------------------------------------------------------------------------------------


def run(args) -> tuple[list[str], dict]:
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", category=MetricWarning)
    warnings.filterwarnings("ignore", message="Metric `.*` will save all extracted features")
    if args.features == "bench-cnn":
        ext = BenchCNN()
    else:
        from traingen.features import get_extractor

        ext = get_extractor(args.features)
    real, fake = make_sets(args.n)
    real_t, fake_t = torch.from_numpy(real[:, None]), torch.from_numpy(fake[:, None])
    fname = register_fidelity(ext)
    timings: dict[str, dict] = {"traingen": {}, "torchmetrics": {}, "torch-fidelity": {}}
    values: dict[str, dict] = {}
    for _ in range(args.repeats):  # the sides take turns within each repeat
        values["traingen"] = side_traingen(ext, real, fake, timings["traingen"])
        values["torchmetrics"] = side_torchmetrics(ext, real_t, fake_t, timings["torchmetrics"])
        values["torch-fidelity"] = side_fidelity(fname, real_t, fake_t, timings["torch-fidelity"])
    for side in ("traingen", "torchmetrics"):
        timings[side]["total"] = [sum(v) for v in zip(*timings[side].values(), strict=True)]
    med = {side: {k: statistics.median(v) for k, v in t.items()} for side, t in timings.items()}
    return report_lines(args, ext, med, values), med


def report_lines(args, ext, med: dict, values: dict) -> list[str]:
    n = args.n
    lines = ["| side | features | FID | KID | IS | P/R | total CPU s | total without P/R | images/s | side / traingen |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    tg = med["traingen"]
    for side, m in med.items():
        cells = [f"{m[k]:.2f}" if k in m else "-" for k in ("features", "FID", "KID", "IS", "P/R")]
        without_pr = m["total"] - m.get("P/R", 0.0)
        # Same metrics on both sides: torchmetrics has no P/R, so it is compared with traingen without it.
        ours = tg["total"] - tg["P/R"] if side == "torchmetrics" else tg["total"]
        lines.append(f"| {side} | {' | '.join(cells)} | {m['total']:.2f} | {without_pr:.2f} | "
                     f"{2 * n / m['total']:.0f} | {m['total'] / ours:.2f} |")
    lines += ["", "Values (the equivalence check):", "",
              "| side | FID | KID | IS | IS std | precision | recall |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for side, v in values.items():
        cells = ["-" if v[k] is None else f"{v[k]:.6g}" for k in ("FID", "KID", "IS", "IS std", "precision", "recall")]
        lines.append(f"| {side} | {' | '.join(cells)} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=None, help="images per set (default 10000; --quick: 2000)")
    ap.add_argument("--repeats", type=int, default=None, help="repeats per side (default 3; --quick: 1)")
    ap.add_argument("--quick", action="store_true", help="a smoke run: N=2000, one repeat")
    ap.add_argument("--features", default="bench-cnn", help="bench-cnn or a registered extractor with logits")
    ap.add_argument("--out", type=Path, default=None, help="append the markdown table to this file")
    args = ap.parse_args(argv)
    args.n = args.n or (2000 if args.quick else 10_000)
    args.repeats = args.repeats or (1 if args.quick else 3)
    load0 = os.getloadavg()
    lines, med = run(args)
    load1 = os.getloadavg()
    print("\n".join(lines))
    import torch_fidelity
    import torchmetrics

    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    head = [
        f"\n## Metrics ({now})\n",
        f"Command: `OMP_NUM_THREADS=1 python {' '.join(sys.argv)}`  ",
        f"Machine: {platform.platform()}, {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}; one thread everywhere.  ",
        f"Load average before {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}, after "
        f"{load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f}.  ",
        f"Versions: torch {torch.__version__}, torchmetrics {torchmetrics.__version__}, torch-fidelity "
        f"{torch_fidelity.__version__}, numpy {np.__version__}.  ",
        f"Extractor `{args.features}` on {args.n} real + {args.n} generated 28×28 digits, batch {BATCH}; "
        f"KID {KID_SUBSETS}×{KID_SUBSET_SIZE}, IS {SPLITS} splits, P/R k={K}. CPU seconds, median of "
        f"{args.repeats} repeat(s), the sides taking turns. torchmetrics has no precision/recall: its "
        "ratio is taken against traingen's total without P/R. torch-fidelity is timed as one "
        "`calculate_metrics` call (total only). images/s counts both sets; 'side / traingen' is the side's "
        "time over traingen's for the same metrics (above 1: traingen is faster).\n",
    ]
    ratio_tf = med["torch-fidelity"]["total"] / med["traingen"]["total"]
    ratio_tm = med["torchmetrics"]["total"] / (med["traingen"]["total"] - med["traingen"]["P/R"])
    verdict = (f"\ntraingen is {ratio_tf:.2f}x as fast as torch-fidelity (features + IS, FID, KID, P/R) and "
               f"{ratio_tm:.2f}x as fast as torchmetrics (features + IS, FID, KID: it has no P/R). Target at least "
               f"as fast: {'met' if min(ratio_tf, ratio_tm) >= 1 else 'MISSED'}.\n")
    print(verdict)
    if args.out:
        with open(args.out, "a") as f:
            f.write("\n".join(head + lines) + "\n" + verdict)
        print(f"appended to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
