"""SIMS docs figure and usefulness numbers (``python -m traingen.translate.sims_experiment``).

* :func:`sims_figure`: rows of held-out label maps, the SIMS canvases (retrieved, aligned, ordered and
  elided segments; grey where empty), the final images and the real renders.
* :func:`fcn_score`: the FCN-score analogue -- a small segmenter of our own trained on the real
  training renders of ``builtin:render-mask2rgb`` (400 images: the dataset has no separate pool of
  1,000), applied to images synthesised from the 100 held-out label maps: per-pixel accuracy, mean
  per-class accuracy and mIoU against those label maps. The real held-out renders are the ceiling.
* domain-FID: FID on the offline ``random-multiscale`` features between the synthesised and the real
  held-out renders (small sets: compare values only with each other).

Command (what the docs report)::

    python -m traingen.translate.sims_experiment RUN_SIMS [RUN_SIMS2 ...] [--pix2pix RUN_P2P] --out docs/translate/sims.png

References:
    Qi, Chen, Jia & Koltun. "Semi-parametric Image Synthesis", CVPR 2018. arXiv:1804.10992.
    Isola, Zhu, Zhou & Efros. "Image-to-Image Translation with Conditional Adversarial Networks", CVPR 2017
    (the FCN-score protocol).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..core.seeding import torch_generator

SRC_TRAIN, SRC_TEST = "builtin:render-mask2rgb@train", "builtin:render-mask2rgb@test"
PALETTE = np.array([[40, 40, 40], [230, 80, 60], [70, 180, 90], [70, 110, 230], [220, 200, 60]], np.uint8)


def _pairs(spec: str, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """``(label maps N×H×W, real images N×H×W×3 uint8)``."""
    from ..data import open_source
    from ..data.paired import split_pair
    from .sims_data import decode_labels

    src = open_source(spec)
    halves = [split_pair(src[i].image) for i in range(len(src))]
    return (np.stack([decode_labels(a, num_classes)[0] for a, _ in halves]),
            np.stack([np.asarray(b)[..., :3] for _, b in halves]))


def _u8(x: torch.Tensor) -> np.ndarray:
    return ((x.permute(0, 2, 3, 1).cpu().numpy() + 1.0) * 127.5).round().clip(0, 255).astype(np.uint8)


def sims_images(model, labels: np.ndarray, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """SIMS images and canvases (uint8, grey where the canvas is empty) for ``labels`` (one per call)."""
    imgs, canv = [], []
    for i, lm in enumerate(labels):
        res = model.synthesize(torch.from_numpy(lm)[None], generator=torch_generator(seed, "sims-export", i))
        imgs.append(_u8(res.images)[0])
        c = _u8(res.canvases)[0]
        c[res.canvas_masks[0, 0].cpu().numpy() < 0.5] = 128
        canv.append(c)
    return np.stack(imgs), np.stack(canv)


def pix2pix_images(run: str, spec: str) -> tuple[np.ndarray, str]:
    from ..data import open_source
    from ..data.paired import split_pair
    from .data import to_tensor, to_uint8
    from .trainer import load_run

    _, model, ckpt = load_run(run)
    src = open_source(spec)
    c = model.config
    x = to_tensor([split_pair(src[i].image)[0] for i in range(len(src))], size=c.image_size,
                  channels=c.in_channels, where=spec)
    torch.manual_seed(0)
    return np.concatenate([to_uint8(model.translate(x[k:k + 32])) for k in range(0, len(x), 32)]), ckpt.name


def sims_figure(out: str | os.PathLike, run: str, *, n: int = 8, seed: int = 0) -> Path:
    """Label maps, canvases, SIMS images and real renders of ``n`` held-out pairs (module docstring)."""
    from ..report.grid import make_grid, save_png
    from .trainer import load_run

    _, model, _ = load_run(run)
    labels, real = _pairs(SRC_TEST, model.config.num_classes)
    idx = np.arange(n) * (len(labels) // n)
    imgs, canv = sims_images(model, labels[idx], seed=seed)
    rows = [list(PALETTE[labels[idx] % len(PALETTE)]), list(canv), list(imgs), list(real[idx])]
    return save_png(out, make_grid(rows, cell=96, pad=2))


def segmenter(num_classes: int, width: int = 16) -> nn.Module:
    """A small fully convolutional segmenter (two stride-2 stages, bilinear up, 1×1 head)."""
    def block(cin, cout, stride=1):
        return [nn.Conv2d(cin, cout, 3, stride, 1), nn.BatchNorm2d(cout), nn.ReLU(True)]

    return nn.Sequential(*block(3, width), *block(width, 2 * width, 2), *block(2 * width, 2 * width),
                         *block(2 * width, 4 * width, 2), *block(4 * width, 4 * width),
                         nn.Upsample(scale_factor=4, mode="bilinear", align_corners=False),
                         *block(4 * width, width), nn.Conv2d(width, num_classes, 1))


def train_segmenter(images: np.ndarray, labels: np.ndarray, num_classes: int, *, epochs: int = 40,
                    seed: int = 0) -> nn.Module:
    """Train :func:`segmenter` on real renders (flips as augmentation), Adam 2e-3, batch 16."""
    torch.manual_seed(seed)
    net = segmenter(num_classes)
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    y = torch.from_numpy(labels).long()
    g = torch_generator(seed, "segmenter")
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=g)
        for k in range(0, len(x), 16):
            b = perm[k:k + 16]
            xb, yb = x[b], y[b]
            flip = torch.rand(len(b), generator=g) < 0.5
            xb = torch.where(flip[:, None, None, None], xb.flip(-1), xb)
            yb = torch.where(flip[:, None, None], yb.flip(-1), yb)
            loss = F.cross_entropy(net(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
    return net.eval()


@torch.no_grad()
def fcn_score(net: nn.Module, images: np.ndarray, labels: np.ndarray, num_classes: int) -> dict[str, float]:
    """Pixel accuracy, mean per-class accuracy and mIoU of ``net`` on ``images`` against ``labels``."""
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    pred = torch.cat([net(x[k:k + 32]).argmax(1) for k in range(0, len(x), 32)]).numpy()
    conf = np.bincount(labels.ravel() * num_classes + pred.ravel(), minlength=num_classes ** 2)
    conf = conf.reshape(num_classes, num_classes).astype(np.float64)
    present = conf.sum(1) > 0
    acc_c = np.diag(conf)[present] / conf.sum(1)[present]
    iou = np.diag(conf) / (conf.sum(0) + conf.sum(1) - np.diag(conf)).clip(1)
    return {"pixel_acc": float(np.trace(conf) / conf.sum()), "class_acc": float(acc_c.mean()),
            "miou": float(iou[present].mean())}


def domain_fid(real: np.ndarray, fake: np.ndarray) -> float:
    from ..features import get_extractor
    from ..metrics.fid import fid

    ext = get_extractor("random-multiscale")
    feats = [torch.cat([ext.vector(torch.from_numpy(a[k:k + 50]).permute(0, 3, 1, 2).contiguous())
                        for k in range(0, len(a), 50)]).numpy().astype(np.float64) for a in (real, fake)]
    return float(fid(*feats).fid)


def timings(run: str, *, repeats: int = 20) -> dict[str, float]:
    """Median CPU milliseconds: IoU retrieval of 32 queries in a 1,000-segment bank; one synthesis."""
    from .sims_bank import SegmentBank, retrieve
    from .trainer import load_run

    _, model, _ = load_run(run)
    bank = model.bank()
    small = SegmentBank(bank.classes[:1000], bank.masks[:1000], bank.image_index[:1000], bank.images,
                        bank.label_maps)
    q = bank.masks[-32:]
    qc = bank.classes[-32:]

    def cpu_ms(fn) -> float:
        out = []
        for _ in range(repeats):
            c0 = time.process_time()
            fn()
            out.append(1000 * (time.process_time() - c0))
        return float(np.median(out))

    retrieve(small, q, qc, k=5)
    labels, _ = _pairs(SRC_TEST, model.config.num_classes)
    lm = torch.from_numpy(labels[:1])
    return {"retrieve_32_in_1000_ms": cpu_ms(lambda: retrieve(small, q, qc, k=5)),
            "synthesize_one_64px_ms": cpu_ms(lambda: model.synthesize(lm))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", help="SIMS run folders (the figure and timings use the last)")
    ap.add_argument("--pix2pix", default=None, help="a pix2pix run on render-mask2rgb to compare with")
    ap.add_argument("--out", default="docs/translate/sims.png", help="figure path")
    ap.add_argument("--epochs", type=int, default=40, help="segmenter epochs")
    args = ap.parse_args()
    t0, c0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF).ru_utime
    load0 = os.getloadavg()[0]
    from .trainer import load_run

    print("timings (median CPU ms):", timings(args.runs[-1]))
    print("figure:", sims_figure(args.out, args.runs[-1]))
    models = {f"SIMS {Path(r).name}": load_run(r) for r in args.runs}
    k = next(iter(models.values()))[1].config.num_classes
    tr_lab, tr_img = _pairs(SRC_TRAIN, k)
    te_lab, te_img = _pairs(SRC_TEST, k)
    net = train_segmenter(tr_img, tr_lab, k, epochs=args.epochs)
    arms = {"real held-out renders": te_img}
    for name, (_, model, ckpt) in models.items():
        arms[f"{name} ({ckpt.name})"] = sims_images(model, te_lab)[0]
    if args.pix2pix:
        imgs, name = pix2pix_images(args.pix2pix, SRC_TEST)
        arms[f"pix2pix ({name})"] = imgs
    rows = {name: {**fcn_score(net, imgs, te_lab, k),
                   "domain_fid": domain_fid(te_img, imgs) if name != "real held-out renders" else 0.0}
            for name, imgs in arms.items()}
    res = {"rows": rows, "seconds": round(time.perf_counter() - t0, 1),
           "cpu_seconds": round(resource.getrusage(resource.RUSAGE_SELF).ru_utime - c0, 1),
           "loadavg_start_end": [round(load0, 2), round(os.getloadavg()[0], 2)]}
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
