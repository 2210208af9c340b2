"""Is domain-randomized data useful? Train a small segmenter on rendered images, test on other textures.

Two arms, same model, same steps, same number of rendered training images (128×128, built-in classes
car / chair / mug):

- ``randomized``: ``recipes/render-small.yaml`` -- random procedural textures, backgrounds, 1-12 lights,
  0-10 flying distractors (Tremblay et al. 2018);
- ``fixed``: ``recipes/render-fixed.yaml`` -- one texture per class, one fixed light, fixed background,
  no distractors (the paper's "no randomization" direction of its ablation).

The test set is rendered with a *different texture and background source*: photographs and texture
images shipped by scikit-image / scikit-learn (traingen's ``photos`` and ``textures`` embedded data),
never seen in training. The model is a small encoder-decoder of our own (no pretrained weights here)
predicting a class map; instances are the connected components of each predicted class, scored by
their mean class probability, and evaluated with pycocotools ``COCOeval`` (segm and bbox AP) against
the test set's ``annotations.json``. Each arm runs for ``--minutes`` of training, for each seed.

Usage:
    OMP_NUM_THREADS=1 python bench/render_usefulness.py --work /work/runs/s4_render/useful \\
        --n-train 1500 --n-test 200 --size 64 --steps 2000 --width 16 --seeds 0
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("LP_NUM_THREADS", "1")

import numpy as np

RECIPES = Path(__file__).resolve().parent.parent / "src" / "traingen" / "recipes"


def photo_folders(work: Path) -> tuple[Path, Path]:
    """Texture and background folders from the embedded photos and textures (the held-out source)."""
    import cv2

    from traingen.data import open_source

    tex, bg = work / "photo_textures", work / "photo_backgrounds"
    if not tex.is_dir():
        tex.mkdir(parents=True)
        bg.mkdir(parents=True)
        photos = open_source("builtin:photos")
        for i in range(len(photos)):
            img = photos[i].image
            img = np.repeat(img[..., None], 3, 2) if img.ndim == 2 else img[..., :3]
            cv2.imwrite(str(bg / f"photo{i}.png"), img[..., ::-1])
            h, w = img.shape[:2]
            for j in range(4):  # four crops per photo as object textures
                y, x = (j // 2) * h // 2, (j % 2) * w // 2
                cv2.imwrite(str(tex / f"photo{i}_{j}.png"), img[y:y + h // 2, x:x + w // 2, ::-1])
        textures = open_source("builtin:textures")
        for i in range(len(textures)):
            img = textures[i].image
            img = np.repeat(img[..., None], 3, 2) if img.ndim == 2 else img[..., :3]
            cv2.imwrite(str(tex / f"texture{i}.png"), img[..., ::-1])
    return tex, bg


def render_sets(work: Path, n_train: int, n_test: int, workers: int, size: int = 128) -> dict[str, Path]:
    from traingen.core.config import load_yaml
    from traingen.render.job import run_render
    from traingen.render.scene import scene_from_dict

    tex, bg = photo_folders(work)
    small = {**load_yaml(RECIPES / "render-small.yaml"), "width": size, "height": size}
    fixed = {**load_yaml(RECIPES / "render-fixed.yaml"), "width": size, "height": size}
    test_scene = {**small, "textures": {"folder": str(tex), "pool": 48},
                  "background": {"folder": str(bg), "pool": 16}}
    sets = {"randomized": (scene_from_dict(small), n_train, 1),
            "fixed": (scene_from_dict(fixed), n_train, 1),
            "test": (scene_from_dict(test_scene), n_test, 99)}
    out = {}
    for name, (cfg, n, seed) in sets.items():
        t0 = time.perf_counter()
        run_render(work / name, n=n, scene=cfg, seed=seed, fmt="coco", workers=workers, shard_size=100)
        print(f"rendered {name}: {n} images in {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
        out[name] = work / name
    return out


def load_coco(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images N×H×W×3 uint8 and class maps N×H×W (0 background, label + 1) from a rendered COCO folder."""
    import cv2

    doc = json.loads((folder / "annotations.json").read_text())
    by_image: dict[int, list[int]] = {}
    for a in sorted(doc["annotations"], key=lambda a: a["id"]):
        by_image.setdefault(a["image_id"], []).append(a["category_id"])
    images, masks = [], []
    for info in doc["images"]:
        key = info["file_name"].split(".")[0]
        images.append(cv2.imread(str(folder / "images" / info["file_name"]))[..., ::-1])
        inst = cv2.imread(str(folder / "instances" / f"{key}.png"), cv2.IMREAD_UNCHANGED).astype(np.int64)
        lut = np.array([0] + by_image.get(info["id"], []), np.int64)
        masks.append(lut[inst])
    return np.stack(images), np.stack(masks)


def make_model(classes: int, width: int = 24):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    def block(i, o, s=1, d=1):
        return nn.Sequential(nn.Conv2d(i, o, 3, s, padding=d, dilation=d, bias=False), nn.BatchNorm2d(o),
                             nn.ReLU(inplace=True))

    class Segmenter(nn.Module):
        """A small encoder-decoder: 3 stride-2 stages, dilated context, skip connections, bilinear upsampling."""

        def __init__(self):
            super().__init__()
            w = width
            self.e1, self.e2, self.e3 = block(3, w, 2), block(w, 2 * w, 2), block(2 * w, 4 * w, 2)
            self.ctx = nn.Sequential(block(4 * w, 4 * w, d=2), block(4 * w, 4 * w, d=4))
            self.d2, self.d1 = block(6 * w, 2 * w), block(3 * w, w)
            self.head = nn.Conv2d(w, classes, 1)

        def forward(self, x):
            f1 = self.e1(x)
            f2 = self.e2(f1)
            f3 = self.ctx(self.e3(f2))
            up = F.interpolate(f3, size=f2.shape[-2:], mode="bilinear", align_corners=False)
            y = self.d2(torch.cat([up, f2], 1))
            y = F.interpolate(y, size=f1.shape[-2:], mode="bilinear", align_corners=False)
            y = self.d1(torch.cat([y, f1], 1))
            return F.interpolate(self.head(y), size=x.shape[-2:], mode="bilinear", align_corners=False)

    return Segmenter()


def train(images: np.ndarray, masks: np.ndarray, *, classes: int, seed: int, minutes: float, batch: int = 16,
          steps: int = 0, width: int = 24):
    """Train for ``steps`` optimizer steps (when > 0; load-independent) or else for ``minutes`` of wall time."""
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # the layers' initialisation
    model = make_model(classes, width)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    x_all = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
    y_all = torch.from_numpy(masks)
    t0, step = time.perf_counter(), 0
    model.train()
    while (step < steps) if steps > 0 else (time.perf_counter() - t0 < minutes * 60):
        idx = torch.randint(0, len(x_all), (batch,), generator=g)
        x = x_all[idx].float() / 255.0
        y = y_all[idx]
        if torch.rand((), generator=g) < 0.5:
            x, y = x.flip(-1), y.flip(-1)
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        if step % 200 == 0:
            print(f"  step {step} loss {loss.item():.3f} ({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
    return model.eval(), step


def evaluate(model, test_dir: Path, images: np.ndarray, *, min_area: int = 12) -> dict[str, float]:
    """COCO segm and bbox AP of connected-component instances of the predicted class map."""
    import contextlib
    import io

    import cv2
    import torch
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    from traingen.data.coco import encode_rle

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(test_dir / "annotations.json"))
    ids = sorted(gt.getImgIds())
    results = []
    with torch.no_grad():
        for s in range(0, len(images), 32):
            x = torch.from_numpy(images[s:s + 32]).permute(0, 3, 1, 2).float() / 255.0
            prob = model(x).softmax(1).numpy()
            for j, p in enumerate(prob):
                pred = p.argmax(0)
                for c in range(1, p.shape[0]):
                    n, lab = cv2.connectedComponents((pred == c).astype(np.uint8), connectivity=8)
                    for k in range(1, n):
                        m = lab == k
                        if m.sum() < min_area:
                            continue
                        ys, xs = np.nonzero(m)
                        results.append({"image_id": ids[s + j], "category_id": c, "score": float(p[c][m].mean()),
                                        "segmentation": encode_rle(m),
                                        "bbox": [float(xs.min()), float(ys.min()), float(xs.max() + 1 - xs.min()),
                                                 float(ys.max() + 1 - ys.min())]})
    out = {}
    if not results:
        return {"segm_AP": 0.0, "segm_AP50": 0.0, "bbox_AP": 0.0, "bbox_AP50": 0.0}
    for kind in ("segm", "bbox"):
        with contextlib.redirect_stdout(io.StringIO()):
            dt = gt.loadRes([dict(r) for r in results])
            ev = COCOeval(gt, dt, kind)
            ev.evaluate()
            ev.accumulate()
            ev.summarize()
        out[f"{kind}_AP"], out[f"{kind}_AP50"] = float(ev.stats[0]) * 100, float(ev.stats[1]) * 100
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", default="/tmp/render-usefulness")
    ap.add_argument("--n-train", type=int, default=2000)
    ap.add_argument("--n-test", type=int, default=300)
    ap.add_argument("--minutes", type=float, default=6.0, help="training minutes per arm and seed (max 20)")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    ap.add_argument("--steps", type=int, default=0, help="fixed optimizer steps per arm (0: use --minutes)")
    ap.add_argument("--size", type=int, default=128, help="rendered image side (pixels)")
    ap.add_argument("--width", type=int, default=24, help="segmenter base width")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--out", help="append a markdown section to this file")
    args = ap.parse_args()
    if args.minutes > 20:
        raise SystemExit("--minutes is capped at 20 per arm (DESIGN §9)")
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    load0 = os.getloadavg()
    sets = render_sets(work, args.n_train, args.n_test, args.workers, args.size)
    test_images, _ = load_coco(sets["test"])
    rows = []
    for arm in ("randomized", "fixed"):
        images, masks = load_coco(sets[arm])
        for seed in args.seeds:
            c0 = time.process_time()
            model, steps = train(images, masks, classes=4, seed=seed, minutes=args.minutes, steps=args.steps,
                                 width=args.width)
            print(f"  {arm} seed {seed}: {steps} steps, {time.process_time() - c0:.0f} s CPU", file=sys.stderr,
                  flush=True)
            res = evaluate(model, sets["test"], test_images)
            rows.append((arm, seed, steps, res))
            print(arm, seed, steps, res, file=sys.stderr, flush=True)
    load1 = os.getloadavg()
    budget = f"{args.steps} steps (batch 16, width {args.width})" if args.steps else f"{args.minutes} min"
    lines = [f"## Domain randomization usefulness ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})", "",
             f"Command: `OMP_NUM_THREADS=1 python bench/render_usefulness.py {' '.join(sys.argv[1:])}`  ",
             f"Load average before {' '.join(f'{x:.2f}' for x in load0)}, after "
             f"{' '.join(f'{x:.2f}' for x in load1)}; total {time.perf_counter() - t_start:.0f} s.  ",
             f"Train: {args.n_train} rendered {args.size}² images per arm (procedural textures); test: "
             f"{args.n_test} images rendered with photo textures and backgrounds (embedded photos/textures). "
             f"Small segmenter of our own, {budget} of one-thread CPU training per arm and seed; main-process CPU "
             f"{time.process_time():.0f} s; instances = connected components; "
             "AP from pycocotools COCOeval (x100).", "",
             "| arm | seed | steps | segm AP | segm AP50 | bbox AP | bbox AP50 |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for arm, seed, steps, r in rows:
        lines.append(f"| {arm} | {seed} | {steps} | {r['segm_AP']:.1f} | {r['segm_AP50']:.1f} | {r['bbox_AP']:.1f} | "
                     f"{r['bbox_AP50']:.1f} |")
    for arm in ("randomized", "fixed"):
        vals = [r["segm_AP"] for a, _, _, r in rows if a == arm]
        lines.append(f"- {arm}: mean segm AP {np.mean(vals):.1f} over seeds {args.seeds}")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        with open(args.out, "a") as f:
            f.write("\n" + text)


if __name__ == "__main__":
    main()
