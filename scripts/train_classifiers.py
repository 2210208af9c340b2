"""Train the shipped digit classifiers on the embedded data and write their weights and model cards.

For each classifier (``mnist5k-classifier``, ``digits-classifier``) this script trains
:func:`traingen.features.classifiers.fit_classifier` on the FIXED train split of the embedded dataset
(``builtin:mnist5k@train``: 4,000 images; ``builtin:digits@train``: 1,438), with a light geometric
augmentation from :mod:`traingen.augment` (no flips: a mirrored digit is another digit), evaluates the
held-out ``@test`` split (1,000 / 359 images, never seen in training), and writes, atomically:

- ``<out>/<key>.safetensors``: float32 weights (+ BatchNorm statistics), architecture in the metadata;
- ``<out>/<key>.json``: the model card (data, split sizes, epochs, seed, settings, test accuracy, sha256,
  size, the command line, versions, time and load);
- ``<out>/README.md``: the table of shipped files and their sha256.

Training is deterministic: one CPU thread, ``torch.use_deterministic_algorithms(True)``, every random
choice derived from ``--seed``; a rerun writes byte-identical files on the same torch version and CPU.
On one core it takes about 3.5 minutes of CPU for mnist5k and under a minute for digits.

Usage:
    OMP_NUM_THREADS=1 python scripts/train_classifiers.py                 # both, into the package
    python scripts/train_classifiers.py --only digits --out /tmp/w        # one, elsewhere
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "src" / "traingen" / "features" / "weights"

#: Per classifier: training settings and the augmentation (a traingen pipeline document).
RECIPES = {
    "mnist5k-classifier": {
        "epochs": 20,
        "augment": [{"name": "rotate", "degrees": 10}, {"name": "scale", "low": 0.9, "high": 1.1},
                    {"name": "translate", "fraction": 0.1}],
    },
    "digits-classifier": {
        "epochs": 40,
        "augment": [{"name": "rotate", "degrees": 8}, {"name": "translate", "fraction": 0.125}],
    },
}


def load_split(address: str) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images and int64 labels of a data source, in order."""
    from traingen.data import open_source

    src = open_source(address)
    images = np.stack([src[i].image for i in range(len(src))])
    labels = np.array([src[i].label for i in range(len(src))], dtype=np.int64)
    return images, labels


def train_one(key: str, *, out: Path, seed: int, epochs: int | None, command: str) -> dict:
    import torch

    from traingen import __version__
    from traingen.augment import from_dict
    from traingen.data.cache import atomic_write_json
    from traingen.features.classifiers import (
        ARCHITECTURE,
        SHIPPED,
        WIDTHS,
        FitConfig,
        accuracy,
        fit_classifier,
        pool_after,
        save_weights,
    )

    spec = SHIPPED[key]
    recipe = RECIPES[key]
    pipe = from_dict({"version": 1, "pipeline": {"seed": seed, "interpolation": "bilinear", "fill": 0,
                                                 "transforms": recipe["augment"]}})
    train_addr, test_addr = f"builtin:{spec.dataset}@train", f"builtin:{spec.dataset}@test"
    x_train, y_train = load_split(train_addr)
    x_test, y_test = load_split(test_addr)
    cfg = FitConfig(epochs=epochs or recipe["epochs"])
    load_before = os.getloadavg()[0]
    t0 = time.process_time()
    w0 = time.perf_counter()
    net = fit_classifier(x_train, y_train, seed=seed, config=cfg, augment=pipe,
                         progress=lambda n: print(".", end="", flush=True, file=sys.stderr))
    cpu_s, wall_s = time.process_time() - t0, time.perf_counter() - w0
    print(file=sys.stderr)
    acc = accuracy(net, x_test, y_test)
    correct = int(round(acc * len(y_test)))
    weights_path = out / spec.weights_file
    sha = save_weights(net, weights_path, image_size=spec.image_size,
                       metadata={"key": key, "train": train_addr, "seed": seed})
    card = {
        "key": key,
        "architecture": f"{ARCHITECTURE}: conv3x3-BN-ReLU stages {'/'.join(map(str, WIDTHS))}, 2x2 max-pool "
                        f"after stages {[i for i, p in enumerate(pool_after(spec.image_size)) if p]}, "
                        "global average pool (128-d), fc 10",
        "input": f"{spec.image_size}x{spec.image_size} grey, (x / 255 - 0.5) / 0.5",
        "parameters": int(sum(p.numel() for p in net.parameters())),
        "data": {"train": train_addr, "test": test_addr, "train_size": len(y_train), "test_size": len(y_test)},
        "training": {"epochs": cfg.epochs, "batch_size": cfg.batch_size, "optimizer": "AdamW",
                     "schedule": "one-cycle", "lr": cfg.lr, "weight_decay": cfg.weight_decay,
                     "augment": pipe.to_dict()["pipeline"], "seed": seed},
        "test_accuracy": acc,
        "test_correct": correct,
        "weights_file": spec.weights_file,
        "sha256": sha,
        "size_bytes": weights_path.stat().st_size,
        "command": command,
        "versions": {"traingen": __version__, "torch": torch.__version__, "numpy": np.__version__},
        "run": {"cpu_seconds": round(cpu_s, 1), "wall_seconds": round(wall_s, 1), "threads": torch.get_num_threads(),
                "loadavg_1min_before": round(load_before, 2)},
    }
    atomic_write_json(out / spec.card_file, card)
    for path in (weights_path, out / spec.card_file):
        path.chmod(0o644)  # the temporary files are private (mkstemp); shipped files are readable
    print(f"{key}: test accuracy {acc:.4f} ({correct}/{len(y_test)}), {cfg.epochs} epochs, "
          f"{wall_s:.0f} s wall, sha256 {sha[:16]}", file=sys.stderr)
    return card


def write_readme(out: Path) -> None:
    """The table of shipped files, from the cards present in ``out``."""
    import json

    from traingen.data.cache import atomic_write_bytes
    from traingen.features.classifiers import SHIPPED

    rows = []
    for spec in SHIPPED.values():
        card_path = out / spec.card_file
        if card_path.is_file():
            c = json.loads(card_path.read_text())
            rows.append(f"| `{c['weights_file']}` | {c['data']['train']} ({c['data']['train_size']}) | "
                        f"{c['test_accuracy'] * 100:.2f}% on {c['data']['test']} ({c['data']['test_size']}) | "
                        f"{c['size_bytes']:,} | `{c['sha256']}` |")
    text = ("# Shipped classifier weights\n\n"
            "Written by `scripts/train_classifiers.py` (model cards: the `.json` beside each file and\n"
            "`docs/models.md`). The sha256 is each extractor's `weights_id`; the tests check it.\n\n"
            "| file | trained on | test accuracy | bytes | sha256 |\n| --- | --- | --- | --- | --- |\n"
            + "\n".join(rows) + "\n")
    atomic_write_bytes(out / "README.md", text.encode())
    (out / "README.md").chmod(0o644)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["mnist5k", "digits"], help="train one classifier only")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default: the package)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=None, help="override the recipe's epochs")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    keys = [f"{args.only}-classifier"] if args.only else list(RECIPES)
    command = "python scripts/train_classifiers.py" + (" " + " ".join(argv if argv is not None else sys.argv[1:])
                                                       if (argv if argv is not None else sys.argv[1:]) else "")
    for key in keys:
        train_one(key, out=args.out, seed=args.seed, epochs=args.epochs, command=command)
    write_readme(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
