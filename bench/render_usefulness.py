"""Is domain-randomized data useful? Train a small segmenter on rendered images, test on other textures.

Two arms, same model, same steps, same number of rendered training images (128×128; by default the
built-in class ``car`` only, as the paper's car detector; ``--classes car chair mug`` for three):

- ``randomized``: ``recipes/render-small.yaml`` -- random procedural textures, backgrounds, 1-12 lights,
  0-10 flying distractors (Tremblay et al. 2018);
- ``fixed``: ``recipes/render-fixed.yaml`` -- one texture per class, one fixed light, fixed background,
  no distractors (the paper's "no randomization" direction of its ablation).

Both arms and the test set take the camera 3.5-8 m from the scene (``--distance``; the paper's 6-14 m
leaves a median object of ~16×16 px at 128²). The test set is rendered with a *different texture and
background source*: photographs and texture images shipped by scikit-image / scikit-learn (traingen's
``photos`` and ``textures`` embedded data), never seen in training. The model is a small U-Net of our
own (no pretrained weights here) trained on random 64² crops with class-weighted cross-entropy, for a
fixed number of steps (load-independent); instances are the connected components of each predicted
class, scored by their mean class probability, and evaluated with pycocotools ``COCOeval`` (segm and
bbox AP) against the test set's ``annotations.json``. The same AP on the arm's own training renders
(``--fit-check``) tells an underfit model from a gap between domains.

By default the segmenter also predicts an instance-boundary class (:func:`with_boundaries`) and
:func:`instances` splits each class's interiors along it (``--no-boundary``: plain components); an
"oracle" row decodes the true class maps the same way (the decoding's ceiling), and every AP is also
given with small (< 30 px) and mostly occluded (> 50 %) objects as COCO ignore regions (``*_easy``).

Usage:
    OMP_NUM_THREADS=1 python bench/render_usefulness.py --work /work/runs/s7_render/useful \
        --models /work/runs/s7_render/final --n-train 2000 --n-test 300 --val 200 --steps 1600 --width 24 \
        --crop 64 --seeds 0 1 --tex-pool 256 --bg-pool 64 --dead-leaves --figure docs/render/usefulness.png

Settings are picked on ``--val`` renders (the randomized arm's distribution, another seed) with
``--skip-test``; the photo-textured test set never picks them.

References:
    Tremblay et al., "Training Deep Networks with Synthetic Data: Bridging the Reality Gap by Domain
    Randomization", CVPRW 2018 (arXiv 1804.06516). Ronneberger, Fischer & Brox, "U-Net", MICCAI 2015.
    Chen et al., "DCAN: Deep Contour-Aware Networks for Accurate Gland Segmentation", CVPR 2016.
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


def render_sets(work: Path, n_train: int, n_test: int, workers: int, size: int = 128,
                distance: tuple[float, float] = (3.5, 8.0), arms: tuple[str, ...] = ("randomized", "fixed"),
                classes: tuple[str, ...] = ("car",), tex_pool: int = 48, bg_pool: int = 16,
                dead_leaves: bool = False, n_val: int = 0) -> dict[str, Path]:
    """Render the arms' training sets and the photo-textured test set (each skipped when already there).

    All sets share the recipes' ranges except ``camera.distance``: the paper's 6-14 m leaves a median object
    of ~16×16 px at 128², too small for a CPU-sized segmenter; ``distance`` moves the camera closer.
    ``n_val`` > 0 also renders ``val``: the randomized arm's distribution from another seed (the set that
    picks training settings; the photo-textured test set never does)."""
    from traingen.core.config import load_yaml
    from traingen.render.job import run_render
    from traingen.render.scene import scene_from_dict

    tex, bg = photo_folders(work)
    common = {"width": size, "height": size, "camera": {"distance": list(distance)},
              "objects": {"count": [1, 6], "builtin": list(classes)}}
    small = {**load_yaml(RECIPES / "render-small.yaml"), **common}
    fixed = {**load_yaml(RECIPES / "render-fixed.yaml"), **common}
    test_scene = {**small, "textures": {"folder": str(tex), "pool": 48},
                  "background": {"folder": str(bg), "pool": 16}}
    # The randomized arm's pools: larger than the renderer's defaults (the paper drew from thousands of
    # photographs), optionally with dead-leaves textures; still procedural only (DESIGN §9).
    extra = ["dead-leaves"] if dead_leaves else []
    small["textures"] = {"pool": tex_pool, "size": 128,
                         "procedural": ["checker", "stripes", "noise", "gradient", "flat", *extra]}
    small["background"] = {"pool": bg_pool, "size": size, "procedural": ["noise", "gradient", "checker", "stripes", *extra]}
    sets = {"randomized": (scene_from_dict(small), n_train, 1),
            "fixed": (scene_from_dict(fixed), n_train, 1),
            "test": (scene_from_dict(test_scene), n_test, 99),
            "val": (scene_from_dict(small), n_val, 7)}
    out = {}
    for name, (cfg, n, seed) in sets.items():
        if name not in (*arms, "test") and not (name == "val" and n_val > 0):
            continue
        t0 = time.perf_counter()
        run_render(work / name, n=n, scene=cfg, seed=seed, fmt="coco", workers=workers, shard_size=100)
        print(f"rendered {name}: {n} images in {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
        out[name] = work / name
    return out


def load_coco(folder: Path, *, with_instances: bool = False):
    """Images N×H×W×3 uint8 and class maps N×H×W (0 background, label + 1) from a rendered COCO folder,
    and the instance maps N×H×W (0 background, annotation order + 1) when ``with_instances``."""
    import cv2

    doc = json.loads((folder / "annotations.json").read_text())
    by_image: dict[int, list[int]] = {}
    for a in sorted(doc["annotations"], key=lambda a: a["id"]):
        by_image.setdefault(a["image_id"], []).append(a["category_id"])
    images, masks, insts = [], [], []
    for info in doc["images"]:
        key = info["file_name"].split(".")[0]
        images.append(cv2.imread(str(folder / "images" / info["file_name"]))[..., ::-1])
        inst = cv2.imread(str(folder / "instances" / f"{key}.png"), cv2.IMREAD_UNCHANGED).astype(np.int64)
        lut = np.array([0] + by_image.get(info["id"], []), np.int64)
        masks.append(lut[inst])
        insts.append(inst.astype(np.int32))
    if with_instances:
        return np.stack(images), np.stack(masks), np.stack(insts)
    return np.stack(images), np.stack(masks)


def with_boundaries(masks: np.ndarray, insts: np.ndarray, boundary: int) -> np.ndarray:
    """Class maps whose object pixels next to a different instance or the background (4-neighbours) become
    class ``boundary``: touching objects of one class are then separated by a 2-pixel line, the target of
    the instance decoding in :func:`instances` (as DCAN's contour branch, Chen et al. 2016)."""
    out = masks.copy()
    pad = np.pad(insts, ((0, 0), (1, 1), (1, 1)), mode="edge")
    c = pad[:, 1:-1, 1:-1]
    edge = ((pad[:, :-2, 1:-1] != c) | (pad[:, 2:, 1:-1] != c) | (pad[:, 1:-1, :-2] != c) | (pad[:, 1:-1, 2:] != c))
    out[edge & (insts > 0)] = boundary
    return out


def make_model(classes: int, width: int = 16):
    """A small U-Net (Ronneberger et al. 2015) of our own: stride-2 stem, three encoder stages down to 1/16,
    dilated context at the bottom, skip connections at 1/8, 1/4 and 1/2, bilinear upsampling to full size."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    def block(i, o, s=1, d=1):
        return nn.Sequential(nn.Conv2d(i, o, 3, s, padding=d, dilation=d, bias=False), nn.BatchNorm2d(o),
                             nn.ReLU(inplace=True))

    def up(a, b):
        return F.interpolate(a, size=b.shape[-2:], mode="bilinear", align_corners=False)

    class UNet(nn.Module):
        def __init__(self):
            super().__init__()
            w = width
            self.stem = block(3, w, 2)
            self.e2 = nn.Sequential(block(w, 2 * w, 2), block(2 * w, 2 * w))
            self.e3 = nn.Sequential(block(2 * w, 4 * w, 2), block(4 * w, 4 * w))
            self.e4 = nn.Sequential(block(4 * w, 4 * w, 2), block(4 * w, 4 * w, d=2), block(4 * w, 4 * w, d=4))
            self.d3, self.d2, self.d1 = block(8 * w, 4 * w), block(6 * w, 2 * w), block(3 * w, w)
            self.head = nn.Conv2d(w, classes, 1)

        def forward(self, x):
            f1 = self.stem(x)
            f2 = self.e2(f1)
            f3 = self.e3(f2)
            y = self.d3(torch.cat([up(self.e4(f3), f3), f3], 1))
            y = self.d2(torch.cat([up(y, f2), f2], 1))
            y = self.d1(torch.cat([up(y, f1), f1], 1))
            return up(self.head(y), x)

    return UNet()


def train(images: np.ndarray, masks: np.ndarray, *, classes: int, seed: int, steps: int, batch: int = 16,
          width: int = 16, lr: float = 2e-3, bg_weight: float = 0.3, crop: int = 0):
    """``steps`` AdamW steps (one-cycle: 5 % warm-up, cosine decay) of class-weighted cross-entropy.

    The background covers ~94 % of the pixels of a rendered image; ``bg_weight`` < 1 keeps the model from
    settling on "all background". ``crop`` > 0 trains on random ``crop``² windows of the renders (the network
    is fully convolutional and objects keep their size, so a 64² window costs a quarter of a 128² image per
    step); it is tested on whole images. Random horizontal flips are the only other augmentation (the arms
    differ only in their renders)."""
    import math

    import torch
    import torch.nn.functional as F

    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # the layers' initialisation
    model = make_model(classes, width)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    warm = max(1, steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))
    weight = torch.tensor([bg_weight] + [1.0] * (classes - 1))
    x_all = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
    y_all = torch.from_numpy(masks)
    t0 = time.perf_counter()
    model.train()
    for step in range(1, steps + 1):
        idx = torch.randint(0, len(x_all), (batch,), generator=g)
        x, y = x_all[idx], y_all[idx]
        if crop:
            o = torch.randint(0, x.shape[-1] - crop + 1, (batch, 2), generator=g).tolist()
            x = torch.stack([xi[:, a:a + crop, b:b + crop] for xi, (a, b) in zip(x, o, strict=True)])
            y = torch.stack([yi[a:a + crop, b:b + crop] for yi, (a, b) in zip(y, o, strict=True)])
        x = x.float() / 255.0
        y = y.clone()
        flip = torch.rand(batch, generator=g) < 0.5
        x[flip], y[flip] = x[flip].flip(-1), y[flip].flip(-1)
        loss = F.cross_entropy(model(x), y, weight=weight)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 200 == 0:
            print(f"  step {step} loss {loss.item():.3f} ({time.perf_counter() - t0:.0f} s)", file=sys.stderr,
                  flush=True)
    return model.eval()


def instances(prob: np.ndarray, *, min_area: int = 12, boundary: bool = False,
              grow: int = 2) -> list[tuple[int, np.ndarray, float]]:
    """Instances of one predicted probability map (K×H×W, class 0 background): ``(class, mask, score)``.

    Without ``boundary``: every 8-connected component of each class of the arg-max map, scored by the
    mean probability of that class over the component (touching objects of one class merge: decoding
    the true class maps this way gives segm AP 38 on the test renders, 33 on training renders).
    With ``boundary`` the last channel is the instance-boundary class (:func:`with_boundaries`): the
    4-connected interiors of each class are the seeds, then they grow by up to ``grow`` pixels into the
    pixels of that class or of the boundary class whose best object class it is."""
    import cv2

    pred = prob.argmax(0)
    out = []
    k_obj = prob.shape[0] - 1 if boundary else prob.shape[0]
    if boundary:
        best = prob[1:k_obj].argmax(0) + 1
    for c in range(1, k_obj):
        interior = (pred == c).astype(np.uint8)
        n, lab = cv2.connectedComponents(interior, connectivity=4 if boundary else 8)
        if boundary and n > 1:
            region = (pred == c) | ((pred == k_obj) & (best == c))
            lab = lab.astype(np.uint16)
            for _ in range(grow):  # grow the seeds into their class and boundary pixels (max id wins ties)
                grown = cv2.dilate(lab, np.ones((3, 3), np.uint8))
                fill = (lab == 0) & region
                lab[fill] = grown[fill]
        for k in range(1, n):
            m = lab == k
            if m.sum() >= min_area:
                seed = m & (interior > 0)
                out.append((c, m, float(prob[c][seed].mean()) if seed.any() else float(prob[c][m].mean())))
    return out


def easy_ignore(doc: dict, *, min_area: float = 30.0, max_occlusion: float = 0.5) -> dict:
    """The ground truth with objects smaller than ``min_area`` pixels or occluded more than ``max_occlusion``
    marked ``iscrowd`` -- COCOeval's ignore regions: detecting them is neither a hit nor a false positive,
    missing them costs nothing (the role of KITTI's "easy" subset and DontCare boxes)."""
    anns = [{**a, "iscrowd": int(a["area"] < min_area or a.get("occlusion", 0.0) > max_occlusion)}
            for a in doc["annotations"]]
    return {**doc, "annotations": anns}


def evaluate(model, folder: Path, images: np.ndarray, masks: np.ndarray | None = None, *,
             limit: int = 0, boundary: bool = False, probs: np.ndarray | None = None) -> dict[str, float]:
    """COCO segm and bbox AP (x100, pycocotools ``COCOeval``) of :func:`instances` against ``folder``'s
    ``annotations.json`` (its first ``limit`` images when > 0: the fit check on training renders), also
    with :func:`easy_ignore` (``*_easy``), and with ``masks`` (the class maps) the pixel IoU of the arg-max
    map, averaged over the object classes (boundary pixels count as their best object class), and its
    object-vs-background pixel precision, recall and share of background pixels called an object. ``probs``
    (N×K×H×W) replaces the model's output: the oracle of the true class maps."""
    import contextlib
    import io

    import torch
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    from traingen.data.coco import encode_rle

    doc = json.loads((folder / "annotations.json").read_text())
    ids = [im["id"] for im in doc["images"]]
    if limit:
        ids, images = ids[:limit], images[:limit]
        masks = None if masks is None else masks[:limit]
        keep = set(ids)
        doc = {**doc, "images": doc["images"][:limit],
               "annotations": [a for a in doc["annotations"] if a["image_id"] in keep]}
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = doc
        gt.createIndex()
    results = []
    inter = union = None
    px = np.zeros(4, np.int64)  # object pixels: true positive, false positive, false negative; background pixels
    with torch.no_grad():
        for s in range(0, len(images), 32):
            if probs is not None:
                prob = probs[s:s + 32]
            else:
                x = torch.from_numpy(images[s:s + 32]).permute(0, 3, 1, 2).float() / 255.0
                prob = model(x).softmax(1).numpy()
            if masks is not None:
                pred, true = prob.argmax(1), masks[s:s + 32]
                n_obj = prob.shape[1] - 1 if boundary else prob.shape[1]
                if boundary:  # a boundary pixel is an object pixel of its best object class
                    pred = np.where(pred == n_obj, prob[:, 1:n_obj].argmax(1) + 1, pred)
                k = np.arange(1, n_obj)[:, None, None, None]
                i, u = ((pred == k) & (true == k)).sum((1, 2, 3)), ((pred == k) | (true == k)).sum((1, 2, 3))
                inter, union = (i, u) if inter is None else (inter + i, union + u)
                obj, true_obj = pred > 0, true > 0  # object vs background, whatever the class
                px += np.array([(obj & true_obj).sum(), (obj & ~true_obj).sum(), (~obj & true_obj).sum(), (~true_obj).sum()])
            for j, p in enumerate(prob):
                for c, m, score in instances(p, boundary=boundary):
                    ys, xs = np.nonzero(m)
                    x0, y0 = float(xs.min()), float(ys.min())
                    results.append({"image_id": ids[s + j], "category_id": c, "score": score,
                                    "segmentation": encode_rle(m),
                                    "bbox": [x0, y0, float(xs.max() + 1) - x0, float(ys.max() + 1) - y0]})
    out = {} if inter is None else {
        "IoU": float(np.mean(inter / np.maximum(union, 1))) * 100,
        "px_precision": float(100 * px[0] / max(px[0] + px[1], 1)),
        "px_recall": float(100 * px[0] / max(px[0] + px[2], 1)), "bg_as_object": float(100 * px[1] / max(px[3], 1))}
    if not results:
        return {**out, **{f"{k}_AP{a}{e}": 0.0 for k in ("segm", "bbox") for a in ("", "50") for e in ("", "_easy")}}
    with contextlib.redirect_stdout(io.StringIO()):
        easy = COCO()
        easy.dataset = easy_ignore(doc)
        easy.createIndex()
    for suffix, truth in (("", gt), ("_easy", easy)):
        for kind in ("segm", "bbox"):
            with contextlib.redirect_stdout(io.StringIO()):
                ev = COCOeval(truth, truth.loadRes([dict(r) for r in results]), kind)
                ev.evaluate()
                ev.accumulate()
                ev.summarize()
            out[f"{kind}_AP{suffix}"], out[f"{kind}_AP50{suffix}"] = float(ev.stats[0]) * 100, float(ev.stats[1]) * 100
    return out


def figure(work: Path, path: Path, arms: list[str], seed: int, count: int = 6, boundary: bool = False,
           models: Path | None = None) -> Path:
    """Test renders (photo textures), their class map and each arm's predicted class map, one row per image
    (colours: car red, chair green, mug blue), from the models the run saved in ``work``."""
    import torch
    from safetensors.torch import load_file

    from traingen.report.grid import make_grid, save_png

    palette = np.array([[0, 0, 0], [230, 25, 75], [60, 180, 75], [0, 130, 200]], np.uint8)
    images, masks = load_coco(work / "test")
    pick = [i for i in range(len(images)) if masks[i].any()][:count]
    preds = {}
    for arm in arms:
        state = load_file(str((models or work) / f"model-{arm}-{seed}.safetensors"))
        model = make_model(int(state["head.weight"].shape[0]), int(state["stem.0.weight"].shape[0]))
        model.load_state_dict(state)
        with torch.no_grad():
            x = torch.from_numpy(images[pick]).permute(0, 3, 1, 2).float() / 255.0
            prob = model.eval()(x).softmax(1).numpy()
        pred = prob.argmax(1)
        if boundary:  # boundary pixels shown as their best object class
            pred = np.where(pred == prob.shape[1] - 1, prob[:, 1:-1].argmax(1) + 1, pred)
        preds[arm] = pred
    rows = [[images[i], palette[masks[i]], *(palette[preds[a][j]] for a in arms)] for j, i in enumerate(pick)]
    return save_png(path, make_grid(rows, pad=2))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", default="/tmp/render-usefulness")
    ap.add_argument("--models", help="folder for the models and per-run results (default: --work, beside the renders)")
    ap.add_argument("--n-train", type=int, default=2000)
    ap.add_argument("--n-test", type=int, default=300)
    ap.add_argument("--steps", type=int, default=2000, help="optimizer steps per arm and seed (load-independent)")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    ap.add_argument("--arms", nargs="+", default=["randomized", "fixed"], choices=["randomized", "fixed"])
    ap.add_argument("--size", type=int, default=128, help="rendered image side (pixels)")
    ap.add_argument("--width", type=int, default=16, help="segmenter base width")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--crop", type=int, default=64, help="train on random crops of this side (0: whole images)")
    ap.add_argument("--bg-weight", type=float, default=0.3, help="cross-entropy weight of the background class")
    ap.add_argument("--fit-check", type=int, default=200, help="also report AP on this many training renders")
    ap.add_argument("--distance", nargs=2, type=float, default=[3.5, 8.0], help="camera distance range (m)")
    ap.add_argument("--classes", nargs="+", default=["car"], help="built-in object classes (the paper: car)")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--out", help="append a markdown section to this file")
    ap.add_argument("--eval-only", action="store_true", help="evaluate the models a previous run saved in --work")
    ap.add_argument("--figure", help="write a PNG of test images, their class maps and each arm's prediction")
    ap.add_argument("--no-boundary", dest="boundary", action="store_false",
                    help="plain class maps and components (session 5) instead of the instance-boundary class")
    ap.add_argument("--tex-pool", type=int, default=48, help="randomized arm: object texture pool size")
    ap.add_argument("--bg-pool", type=int, default=16, help="randomized arm: background pool size")
    ap.add_argument("--dead-leaves", action="store_true", help="randomized arm: add dead-leaves textures")
    ap.add_argument("--val", type=int, default=0,
                    help="also render and score this many validation renders of the randomized arm's distribution")
    ap.add_argument("--skip-test", action="store_true",
                    help="no test-set scores (probes that pick settings look at training-distribution renders only)")
    ap.add_argument("--resume", action="store_true",
                    help="reuse a model saved in --work by a run with the same settings instead of training it")
    args = ap.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    models = Path(args.models) if args.models else work
    models.mkdir(parents=True, exist_ok=True)
    t_start, c_start = time.perf_counter(), time.process_time()
    load0 = os.getloadavg()
    sets = render_sets(work, args.n_train, args.n_test, args.workers, args.size, tuple(args.distance), tuple(args.arms),
                       tuple(args.classes), args.tex_pool, args.bg_pool, args.dead_leaves, args.val)
    test_images, test_masks, test_inst = load_coco(sets["test"], with_instances=True)
    n_cls = len(args.classes) + 1 + args.boundary  # background, the classes, the boundary class
    # The oracle: the true class maps (with their boundaries) decoded the same way -- the ceiling of the decoding.
    truth = with_boundaries(test_masks, test_inst, n_cls - 1) if args.boundary else test_masks
    oracle = {} if args.skip_test else evaluate(
        None, sets["test"], test_images, probs=np.eye(n_cls, dtype=np.float32)[truth].transpose(0, 3, 1, 2),
        boundary=args.boundary)
    print("oracle (true class maps decoded)", oracle, file=sys.stderr, flush=True)
    from safetensors.torch import load_file, save_file

    rows = []
    data = {}
    for arm in args.arms:
        images, masks, inst = load_coco(sets[arm], with_instances=True)
        data[arm] = images, masks, (with_boundaries(masks, inst, n_cls - 1) if args.boundary else masks)
        del inst
    val = load_coco(sets["val"]) if "val" in sets else None
    setting = {"steps": args.steps, "width": args.width, "batch": args.batch, "lr": args.lr, "crop": args.crop,
               "bg_weight": args.bg_weight, "boundary": args.boundary, "n_train": args.n_train}
    for seed in args.seeds:  # seed-major: a run cut short still has both arms of its first seeds
        for arm in args.arms:
            images, masks, targets = data[arm]
            stem = models / f"model-{arm}-{seed}"
            meta = json.loads(Path(f"{stem}.json").read_text()) if Path(f"{stem}.json").is_file() else {}
            if args.eval_only or (args.resume and meta.get("setting") == setting):  # a saved model
                state = load_file(f"{stem}.safetensors")
                model = make_model(int(state["head.weight"].shape[0]), int(state["stem.0.weight"].shape[0]))
                model.load_state_dict(state)
                model.eval()
                cpu = meta.get("cpu_s", 0.0)
            else:
                c0 = time.process_time()
                model = train(images, targets, classes=n_cls, seed=seed, steps=args.steps,
                              batch=args.batch, width=args.width, lr=args.lr, bg_weight=args.bg_weight,
                              crop=args.crop)
                cpu = time.process_time() - c0
                save_file(model.state_dict(), f"{stem}.safetensors.tmp")
                os.replace(f"{stem}.safetensors.tmp", f"{stem}.safetensors")
                Path(f"{stem}.json").write_text(json.dumps({"cpu_s": cpu, "steps": args.steps, "setting": setting}))
            res = {} if args.skip_test else evaluate(model, sets["test"], test_images, test_masks,
                                                      boundary=args.boundary)
            fit = (evaluate(model, sets[arm], images, masks, limit=args.fit_check, boundary=args.boundary)
                   if args.fit_check else {})
            vres = evaluate(model, sets["val"], *val, boundary=args.boundary) if val is not None else {}
            rows.append((arm, seed, cpu, res, fit, vres))
            print(arm, seed, f"{cpu:.0f} s CPU", "test", res, "train", fit, "val", vres, file=sys.stderr, flush=True)
            Path(models / f"result-{arm}-{seed}.json").write_text(json.dumps(
                {"arm": arm, "seed": seed, "cpu_s": cpu, "setting": setting, "test": res, "train": fit, "val": vres,
                 "load": os.getloadavg()}, indent=1))
    if args.figure:
        figure(work, Path(args.figure), args.arms, args.seeds[0], boundary=args.boundary, models=models)
    load1 = os.getloadavg()
    lines = [f"## Domain randomization usefulness ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})", "",
             f"Command: `OMP_NUM_THREADS=1 python bench/render_usefulness.py {' '.join(sys.argv[1:])}`  ",
             f"Load average before {' '.join(f'{x:.2f}' for x in load0)}, after "
             f"{' '.join(f'{x:.2f}' for x in load1)}; total {time.perf_counter() - t_start:.0f} s wall, "
             f"{time.process_time() - c_start:.0f} s CPU in the main process.  ",
             f"Train: {args.n_train} rendered {args.size}² images per arm (procedural textures; randomized arm "
             f"pools {args.tex_pool} textures / {args.bg_pool} backgrounds"
             f"{', with dead leaves' if args.dead_leaves else ''}); test: "
             f"{args.n_test} images rendered with photo textures and backgrounds (embedded photos/textures). "
             f"U-Net of our own (width {args.width}), {args.steps} steps of batch {args.batch} "
             f"({args.crop or args.size}² crops), one thread; "
             + ("instances = interiors of each predicted class split by the predicted instance-boundary class, "
                "grown back by 2 px; " if args.boundary else
                "instances = connected components of each predicted class; ")
             + "AP from pycocotools COCOeval (x100); 'easy' = objects under 30 px or more than half occluded "
             "are ignore regions (iscrowd); "
             "IoU = pixel IoU of the arg-max class map, mean over object classes (x100); "
             f"'train' = the same on the arm's first {args.fit_check} training renders; 'val' = on {args.val} other "
             "renders of the randomized arm's distribution.", "",
             "| arm | seed | training CPU s | test segm AP | test segm AP50 | test bbox AP | test bbox AP50 | "
             "test segm AP easy | test bbox AP easy | test IoU | train segm AP | train IoU | val segm AP | val IoU |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    nan = float("nan")
    keys = ("segm_AP", "segm_AP50", "bbox_AP", "bbox_AP50", "segm_AP_easy", "bbox_AP_easy")
    if oracle:
        lines.append("| oracle (true class maps) | - | - | " + " | ".join(f"{oracle[k]:.1f}" for k in keys)
                     + " | - | | | | |")
    for arm, seed, cpu, r, fit, v in rows:
        lines.append(f"| {arm} | {seed} | {cpu:.0f} | " + " | ".join(f"{r.get(k, nan):.1f}" for k in keys)
                     + f" | {r.get('IoU', nan):.1f} | {fit.get('segm_AP', nan):.1f} | {fit.get('IoU', nan):.1f} | "
                     f"{v.get('segm_AP', nan):.1f} | {v.get('IoU', nan):.1f} |")
    for arm in args.arms:
        for key in ("segm_AP", "segm_AP50", "bbox_AP", "IoU"):
            vals = [r[key] for a, _, _, r, _, _ in rows if a == arm and key in r]
            if vals:
                sd = float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0
                lines.append(f"- {arm}: test {key} {np.mean(vals):.2f} ± {sd:.2f} (sample std) "
                             f"over seeds {args.seeds}")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        with open(args.out, "a") as f:
            f.write("\n" + text)


if __name__ == "__main__":
    main()
