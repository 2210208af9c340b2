"""The FCN-score analogue for label-map -> image translation on renders (pix2pix, L1-only, SIMS).

Isola et al. (2017, §4.2) judge a labels -> photo generator by how well an off-the-shelf segmenter
(FCN-8s trained on real Cityscapes) recovers the input labels from the generated photo. The analogue
here, on ``builtin:render-mask2rgb`` (class mask + depth -> rendered RGB, 64 px, 3 object classes):

* **Data** (:func:`range_pairs`): the renderer's images beyond the dataset's 500 --
  :data:`SEG_TRAIN` (1,000 real renders the segmenter trains on, none of them seen by a generator),
  :data:`HELD_OUT` (300 label maps fed to the generators; their real renders are the ceiling) and
  :data:`NEW_LAYOUTS` (1,000 label maps nobody trained on, for the augmentation arm).
* **Segmenter** (:class:`SegUNet`, :func:`train_segmenter`): a small U-Net of our own trained with
  class-weighted cross-entropy (weight ``(median frequency / frequency) ** power`` per class; objects are
  ~11 % of the pixels, so plain CE learns "all background") and horizontal flips; ``--seg-blur`` also blurs
  half its training images, since the plain one calls a sigma = 1 blurred real render "all background".
* **Score** (:func:`fcn_score`): per-pixel accuracy, mean per-class accuracy and mIoU of the segmenter's
  prediction on each arm's images against the held-out label maps; :func:`domain_fid` beside it.
* **Equal training time** (:func:`steps_for_budget`): each generator gets the same CPU seconds on one
  thread -- a short probe measures CPU per step, the run gets ``budget / cpu_per_step`` steps (so its
  learning-rate decay spans the whole run), and the CPU seconds actually spent are recorded.
* **Variant** (``--variant class-textures`` on ``segmenter`` and ``train``): the same protocol on
  ``builtin:render-mask2rgb-classtex`` (one fixed texture per class, :data:`~traingen.data.render_mask2rgb.VARIANTS`),
  where a class's appearance follows from its label map; the segmenter records its variant and ``score``,
  ``curve`` and ``augment`` use it (a run of another variant in the same folder is an error).

Command (what docs/translate/pix2pix.md and sims.md report; one step per call, results in WORK)::

    python -m traingen.translate.fcn_experiment segmenter WORK          # train + score on real first
    python -m traingen.translate.fcn_experiment train WORK p2p --budget 300
    python -m traingen.translate.fcn_experiment train WORK l1 --budget 300
    python -m traingen.translate.fcn_experiment train WORK sims --budget 300
    python -m traingen.translate.fcn_experiment score WORK              # the table (JSON)
    python -m traingen.translate.fcn_experiment curve WORK p2p          # FCN score at each quarter of a run
    python -m traingen.translate.fcn_experiment augment WORK            # real vs real + G(new layouts)
    python -m traingen.translate.fcn_experiment segmenter WORK2 --variant class-textures   # then as above

References:
    Isola, Zhu, Zhou & Efros. "Image-to-Image Translation with Conditional Adversarial Networks", CVPR 2017
    (the FCN-score protocol). arXiv:1611.07004.
    Ronneberger, Fischer & Brox. "U-Net: Convolutional Networks for Biomedical Image Segmentation",
    MICCAI 2015 (the segmenter's shape).
    Qi, Chen, Jia & Koltun. "Semi-parametric Image Synthesis", CVPR 2018 (the SIMS arm).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..core.atomic import atomic_write_text
from ..core.errors import DataError
from ..core.seeding import derive_seed, torch_generator
from ..data.render_mask2rgb import DATASET_NAMES

NUM_CLASSES = 4
SEG_TRAIN, HELD_OUT, NEW_LAYOUTS = (500, 1000), (1500, 300), (1800, 1000)
_RECIPE_DIR = Path(__file__).resolve().parents[1] / "recipes"   # the shipped recipes (repo: recipes/)
RECIPES = {"p2p": _RECIPE_DIR / "translate-pix2pix-render.yaml", "l1": _RECIPE_DIR / "translate-pix2pix-render.yaml",
           "sims": _RECIPE_DIR / "translate-sims-render.yaml"}
ARM_NAMES = {"p2p": "pix2pix L1 + cGAN", "l1": "pix2pix L1 only", "sims": "SIMS"}
#: The dataset each render variant's generators train on (``data.render_mask2rgb.VARIANTS``).
VARIANT_DATA = {variant: f"builtin:{name}@train" for variant, name in DATASET_NAMES.items()}


def cpu_seconds() -> float:
    """User + system CPU seconds of this process (all its threads)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


# -- data ---------------------------------------------------------------------------------------------

def range_pairs(start: int, count: int, variant: str = "default") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(class maps N×64×64 int64, A label images N×64×64×3, real renders N×64×64×3)`` of a render range."""
    from ..data.render_mask2rgb import render_range
    from .sims_data import decode_labels

    pairs = render_range(start, count, variant=variant)
    w = pairs.shape[2] // 2
    a, b = pairs[:, :, :w], pairs[:, :, w:]
    return np.stack([decode_labels(x, NUM_CLASSES)[0] for x in a]), a, b


# -- segmenter ----------------------------------------------------------------------------------------

def _double_conv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True),
                         nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True))


class SegUNet(nn.Module):
    """A small U-Net: ``levels`` max-pool stages (width doubling), bilinear up, skip concatenations.

    Input N×3×H×W in [-1, 1] (H, W multiples of ``2 ** levels``); output N×classes×H×W logits.
    """

    def __init__(self, num_classes: int = NUM_CLASSES, width: int = 16, levels: int = 3):
        super().__init__()
        chans = [width * 2 ** i for i in range(levels + 1)]
        self.down = nn.ModuleList([_double_conv(3, chans[0])] +
                                  [_double_conv(chans[i], chans[i + 1]) for i in range(levels)])
        self.up = nn.ModuleList([_double_conv(chans[i + 1] + chans[i], chans[i]) for i in reversed(range(levels))])
        self.head = nn.Conv2d(chans[0], num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        x = skips.pop()
        for block in self.up:
            s = skips.pop()
            x = block(torch.cat([F.interpolate(x, size=s.shape[-2:], mode="bilinear", align_corners=False), s], 1))
        return self.head(x)


@dataclass
class SegConfig:
    """Segmenter training: ``steps`` Adam steps of ``batch`` images, class weights ``(median/freq)**power``,
    ``blur`` > 0: half the training images blurred with sigma ~ U(0, blur) (:func:`random_blur`)."""

    width: int = 8
    levels: int = 3
    steps: int = 1000
    batch: int = 16
    lr: float = 2e-3
    power: float = 0.5
    seed: int = 0
    blur: float = 0.0


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of N×C×H×W ``x``: kernel radius ``ceil(3 sigma)``, reflected borders
    (OpenCV's ``BORDER_REFLECT_101``, so it equals ``cv2.GaussianBlur`` with that kernel size)."""
    r = max(1, int(np.ceil(3.0 * sigma)))
    t = torch.arange(-r, r + 1, dtype=x.dtype)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    c = x.shape[1]
    y = F.pad(x, (r, r, r, r), mode="reflect")
    y = F.conv2d(y, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(y, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def random_blur(x: torch.Tensor, max_sigma: float, generator: torch.Generator, p: float = 0.5) -> torch.Tensor:
    """Each image blurred with probability ``p`` by a Gaussian of sigma ~ U(0, ``max_sigma``) (below 0.1:
    left sharp). Teaches the segmenter that an object is still an object when its edges are soft."""
    on = torch.rand(len(x), generator=generator) < p
    sig = torch.rand(len(x), generator=generator) * max_sigma
    out = x.clone()
    for i in torch.nonzero(on & (sig >= 0.1)).flatten().tolist():
        out[i] = gaussian_blur(x[i:i + 1], float(sig[i]))[0]
    return out


def class_weights(labels: np.ndarray, num_classes: int, power: float) -> torch.Tensor:
    """``(median frequency / frequency) ** power`` per class (absent classes get weight 0)."""
    freq = np.bincount(np.asarray(labels).ravel(), minlength=num_classes)[:num_classes].astype(np.float64)
    freq /= max(freq.sum(), 1.0)
    w = np.zeros(num_classes)
    present = freq > 0
    w[present] = (np.median(freq[present]) / freq[present]) ** power
    return torch.tensor(w, dtype=torch.float32)


def to_input(images: np.ndarray) -> torch.Tensor:
    """uint8 N×H×W×3 -> float N×3×H×W in [-1, 1]."""
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 127.5 - 1.0


def train_segmenter(images: np.ndarray, labels: np.ndarray, config: SegConfig | None = None,
                    num_classes: int = NUM_CLASSES, on_step: Callable[[int], Any] | None = None) -> SegUNet:
    """Train :class:`SegUNet` on uint8 images N×H×W×3 and class maps N×H×W (weighted CE, flips, and
    :func:`random_blur` when ``config.blur`` > 0).

    Initial weights come from ``derive_seed(seed, "segmenter-init")`` (inside ``fork_rng``: the global
    stream is left as it was); batches and flips from ``torch_generator(seed, "segmenter")``. ``on_step(1)``
    is called after each step (a progress bar's ``advance``).
    """
    c = config or SegConfig()
    if len(images) != len(labels) or len(images) == 0:
        raise DataError(f"need equal, non-zero numbers of images and label maps, got {len(images)} and "
                        f"{len(labels)}", where="train_segmenter")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(c.seed, "segmenter-init"))
        net = SegUNet(num_classes, c.width, c.levels)
    opt = torch.optim.Adam(net.parameters(), lr=c.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0 if s < c.steps // 2 else
                                              (c.steps - s) / (c.steps - c.steps // 2))
    x, y = to_input(images), torch.from_numpy(np.asarray(labels)).long()
    wts = class_weights(labels, num_classes, c.power)
    g = torch_generator(c.seed, "segmenter")
    net.train()
    perm, k = torch.randperm(len(x), generator=g), 0
    for _ in range(c.steps):
        if k + c.batch > len(x):
            perm, k = torch.randperm(len(x), generator=g), 0
        b = perm[k:k + c.batch]
        k += c.batch
        flip = torch.rand(len(b), generator=g) < 0.5
        xb = torch.where(flip[:, None, None, None], x[b].flip(-1), x[b])
        yb = torch.where(flip[:, None, None], y[b].flip(-1), y[b])
        if c.blur > 0:
            xb = random_blur(xb, c.blur, g)
        loss = F.cross_entropy(net(xb), yb, weight=wts)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if on_step is not None:
            on_step(1)
    return net.eval()


@torch.no_grad()
def predict(net: nn.Module, images: np.ndarray, *, batch: int = 50) -> np.ndarray:
    """Class maps N×H×W (int64) of ``net`` on uint8 images N×H×W×3."""
    net.eval()
    x = to_input(images)
    return torch.cat([net(x[k:k + batch]).argmax(1) for k in range(0, len(x), batch)]).numpy()


def fcn_score(net: nn.Module, images: np.ndarray, labels: np.ndarray, num_classes: int) -> dict[str, Any]:
    """Pixel accuracy, mean per-class accuracy, mIoU (classes present in ``labels``) and per-class IoU."""
    pred = predict(net, images)
    conf = np.bincount(np.asarray(labels).ravel() * num_classes + pred.ravel(), minlength=num_classes ** 2)
    conf = conf[:num_classes ** 2].reshape(num_classes, num_classes).astype(np.float64)
    present = conf.sum(1) > 0
    acc_c = np.diag(conf)[present] / conf.sum(1)[present]
    iou = np.diag(conf) / (conf.sum(0) + conf.sum(1) - np.diag(conf)).clip(1)
    return {"pixel_acc": float(np.trace(conf) / conf.sum()), "class_acc": float(acc_c.mean()),
            "miou": float(iou[present].mean()), "iou": [round(float(v), 4) for v in iou]}


def domain_fid(real: np.ndarray, fake: np.ndarray) -> float:
    """FID on the offline ``random-multiscale`` features (small sets: compare values with each other only)."""
    from ..features import get_extractor
    from ..metrics.fid import fid

    ext = get_extractor("random-multiscale")
    feats = [torch.cat([ext.vector(torch.from_numpy(a[k:k + 50]).permute(0, 3, 1, 2).contiguous())
                        for k in range(0, len(a), 50)]).numpy().astype(np.float64) for a in (real, fake)]
    return float(fid(*feats).fid)


def save_segmenter(net: SegUNet, path: Path, config: SegConfig, info: dict[str, Any]) -> Path:
    from dataclasses import asdict

    from ..core.checkpoint import save_checkpoint

    return save_checkpoint(path, {"net": net.state_dict()}, {"config": asdict(config), **info})


def load_segmenter(path: Path) -> tuple[SegUNet, dict[str, Any]]:
    from ..core.checkpoint import load_checkpoint

    tree, state = load_checkpoint(path)
    c = SegConfig(**state["config"])
    net = SegUNet(NUM_CLASSES, c.width, c.levels)
    net.load_state_dict(tree["net"])
    return net.eval(), state


# -- generators at equal CPU time ---------------------------------------------------------------------

def arm_config(arm: str, steps: int, *, seed: int = 0, variant: str = "default", jitter_resize: str = "pil",
               batch_size: int | None = None, lr: float | None = None):
    """The recipe of ``arm`` (``p2p``, ``l1`` = the same with ``use_gan: false``, ``sims``) on one thread,
    trained on ``variant``'s pairs (:data:`VARIANT_DATA`; SIMS takes its segment bank from them too).
    ``jitter_resize``: ``torch`` reproduces the runs before session 14 (``TranslateTrainConfig.jitter_resize``).
    ``batch_size`` / ``lr``: instead of the recipe's (e.g. the paper's batch 1 at 2e-4; None keeps the recipe's)."""
    from .config import load_translate_config

    if arm not in RECIPES:
        raise DataError(f"unknown arm {arm!r}; expected one of {sorted(RECIPES)}", where="fcn_experiment")
    if variant not in VARIANT_DATA:
        raise DataError(f"unknown variant {variant!r}; expected one of {sorted(VARIANT_DATA)}", where="fcn_experiment")
    data = {} if variant == "default" else {"data_a": VARIANT_DATA[variant]}
    # a checkpoint at every quarter of the run, all kept: the learning curve (``curve`` command)
    cfg = load_translate_config(RECIPES[arm], steps=steps, threads=1, checkpoint_every=max(steps // 4, 1),
                                keep_checkpoints=0, log_every=25, tensorboard=False, seed=seed,
                                jitter_resize=jitter_resize, **data)
    if arm == "sims" and data:
        cfg = replace(cfg, model_config={**cfg.model_config, "bank": VARIANT_DATA[variant]})
    if arm == "l1":
        cfg = replace(cfg, model_config={**cfg.model_config, "use_gan": False})
    if batch_size is not None:
        cfg = replace(cfg, batch_size=batch_size)
    if lr is not None:
        cfg = replace(cfg, model_config={**cfg.model_config, "lr": lr})
    return cfg


def steps_for_budget(arm: str, budget: float, *, probe: int = 12, warmup: int = 2, work: Path,
                     variant: str = "default", batch_size: int | None = None,
                     lr: float | None = None) -> tuple[int, float]:
    """``(steps, CPU s per step)``: the steps ``arm`` runs in ``budget`` CPU seconds, from a short probe."""
    from .data import load_translation_data
    from .trainer import train_translation

    cfg = arm_config(arm, probe, variant=variant, batch_size=batch_size, lr=lr)
    data = load_translation_data(cfg)
    marks: dict[int, float] = {}
    train_translation(cfg, work / f".probe-{arm}", overwrite=True, data=data,
                      on_step=lambda done, total, logs: marks.__setitem__(done, cpu_seconds()))
    per_step = (marks[probe] - marks[warmup]) / (probe - warmup)
    return max(1, int(budget / per_step)), per_step


def train_arm(arm: str, work: Path, budget: float, *, steps: int | None = None,
              variant: str = "default", seed: int = 0, jitter_resize: str = "pil",
              batch_size: int | None = None, lr: float | None = None,
              on_step: Callable[[int], Any] | None = None) -> dict[str, Any]:
    """Train ``arm`` for ``budget`` CPU seconds (one thread) into ``work/arm``; its record is returned.

    ``steps`` skips the probe (which overestimates CPU per step on a loaded machine: its first steps are
    the slowest) -- to match the CPU seconds another arm really used. ``variant``: the render variant's
    pairs; it must be the variant of ``work``'s segmenter when there is one. ``seed``: the training run's
    seed (initial weights, batches, jitter, flips, dropout), to measure how much the scores move between seeds.
    ``jitter_resize``, ``batch_size``, ``lr``: see :func:`arm_config`. ``on_step(1)`` after each training step
    (not the probe's).
    """
    from .data import load_translation_data
    from .trainer import train_translation

    if (work / "segmenter-real.json").is_file():
        seg_variant = work_variant(work)
        if seg_variant != variant:
            raise DataError(f"the segmenter in {work} is for variant {seg_variant!r}, not {variant!r}",
                            where=str(work), field="variant")
    torch.set_num_threads(1)
    per_step = None
    if steps is None:
        steps, per_step = steps_for_budget(arm, budget, work=work, variant=variant, batch_size=batch_size, lr=lr)
    cfg = arm_config(arm, steps, variant=variant, seed=seed, jitter_resize=jitter_resize, batch_size=batch_size, lr=lr)
    load0, t0 = os.getloadavg()[0], time.perf_counter()
    c0 = cpu_seconds()
    data = load_translation_data(cfg)
    res = train_translation(cfg, work / arm, overwrite=True, data=data,
                            on_step=None if on_step is None else lambda _s, _n, _losses: on_step(1))
    rec = {"arm": arm, "name": ARM_NAMES[arm], "variant": variant, "seed": seed,
           "jitter_resize": jitter_resize, "batch_size": cfg.batch_size, "lr": cfg.model_config.get("lr"),
           "budget_cpu_s": budget, "steps": steps,
           "probe_cpu_s_per_step": None if per_step is None else round(per_step, 4), "cpu_s": round(cpu_seconds() - c0, 1),
           "wall_s": round(time.perf_counter() - t0, 1), "loadavg_start_end": [round(load0, 2),
                                                                               round(os.getloadavg()[0], 2)],
           "final_losses": {k: round(v, 4) for k, v in res.losses.items()}}
    atomic_write_text(work / arm / "budget.json", json.dumps(rec, indent=1) + "\n")
    return rec


def arm_images(run_dir: Path, a_images: np.ndarray, labels: np.ndarray, *, seed: int = 0,
               checkpoint: Path | None = None, eval_mode: bool | None = None,
               sims_clip: bool | None = None, canvases: list[np.ndarray] | None = None) -> np.ndarray:
    """The images a trained run makes from A label images (pix2pix) or class maps (SIMS), uint8 N×H×W×3
    (at its latest checkpoint, or at ``checkpoint``).

    pix2pix translates in train mode (dropout, batch statistics: the paper's inference) in batches of its
    training batch size, dropout drawn from ``derive_seed(seed, "fcn-dropout")``; SIMS picks among its
    top-k retrievals with ``torch_generator(seed, "sims-export", i)``. ``eval_mode=True``: pix2pix without
    dropout and with its running BatchNorm statistics (``Pix2PixConfig.eval_mode``; None: the run's setting).
    ``sims_clip``: SIMS's ``clip_to_query`` at synthesis (None: the run's setting); SIMS's canvases (grey where
    empty) are appended to ``canvases`` when it is given.
    """
    from .paired_score import translate_pairs
    from .trainer import load_run

    with torch.random.fork_rng(devices=[]):  # module construction in load_run draws from the global stream
        cfg, model, _ = load_run(run_dir, checkpoint=checkpoint)
        if cfg.model == "sims":
            from .sims_experiment import sims_images

            if sims_clip is not None:
                model.config = replace(model.config, clip_to_query=sims_clip)
            images, canv = sims_images(model, labels, seed=seed)
            if canvases is not None:
                canvases.append(canv)
            return images
    return translate_pairs(cfg, model, a_images, seed=derive_seed(seed, "fcn-dropout"), where=str(run_dir),
                           eval_mode=eval_mode)


# -- commands -----------------------------------------------------------------------------------------

def work_variant(work: Path) -> str:
    """The render variant of ``work``'s segmenter (``default`` for folders made before variants existed)."""
    from ..core.checkpoint import load_checkpoint

    return load_checkpoint(work / "segmenter-real")[1].get("variant", "default")


def _arm_record(work: Path, arm: str, variant: str) -> dict[str, Any] | None:
    """``work/arm/budget.json``, or None when the arm was not trained; an arm of another variant is an error."""
    path = work / arm / "budget.json"
    if not path.is_file():
        return None
    rec = json.loads(path.read_text())
    if rec.get("variant", "default") != variant:
        raise DataError(f"arm {arm!r} was trained on variant {rec.get('variant', 'default')!r}, the segmenter on "
                        f"{variant!r}", where=str(path), field="variant")
    return rec


def run_segmenter(work: Path, config: SegConfig, variant: str = "default", *,
                  on_step: Callable[[int], Any] | None = None) -> dict[str, Any]:
    """Train the segmenter on the 1,000 real renders of ``variant``; score it on them (fit) and on the 300
    held out (``on_step``: as :func:`train_segmenter`)."""
    lab, _, img = range_pairs(*SEG_TRAIN, variant)
    te_lab, _, te_img = range_pairs(*HELD_OUT, variant)
    c0, t0 = cpu_seconds(), time.perf_counter()
    net = train_segmenter(img, lab, config, on_step=on_step)
    rec = {"cpu_s": round(cpu_seconds() - c0, 1), "wall_s": round(time.perf_counter() - t0, 1),
           "loadavg": round(os.getloadavg()[0], 2), "fit": fcn_score(net, img, lab, NUM_CLASSES),
           "held_out_real": fcn_score(net, te_img, te_lab, NUM_CLASSES),
           "all_background": fcn_score(_Constant(0), te_img, te_lab, NUM_CLASSES), "variant": variant}
    save_segmenter(net, work / "segmenter-real", config, rec)
    return rec


class _Constant(nn.Module):
    """Predicts one class everywhere (the "all background" row)."""

    def __init__(self, cls: int):
        super().__init__()
        self.cls = cls

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.one_hot(torch.full(x.shape[:1] + x.shape[2:], self.cls), NUM_CLASSES).permute(0, 3, 1, 2).float()


def canvas_fill(canvases: np.ndarray, labels: np.ndarray) -> list[float]:
    """Per object class (1, 2, ...): the share of its pixels that SIMS's canvas fills (any segment's pixels)."""
    filled = (canvases != 128).any(-1)
    return [round(float(filled[labels == c].mean()), 3) if (labels == c).any() else float("nan")
            for c in range(1, NUM_CLASSES)]


def run_score(work: Path, *, figure: str | None = None, n_fig: int = 8,
              eval_mode: bool | None = None, sims_clip: bool | None = None) -> dict[str, Any]:
    """The FCN table: real held-out renders and every trained arm in ``work``, with domain-FID
    (``eval_mode``: pix2pix's inference mode; ``sims_clip``: SIMS's ``clip_to_query``; :func:`arm_images`).
    SIMS's row also gives ``canvas_fill``: the share of each object class's pixels its canvases fill."""
    net, state = load_segmenter(work / "segmenter-real")
    variant = state.get("variant", "default")
    records = {arm: _arm_record(work, arm, variant) for arm in RECIPES}   # a mixed folder fails before any work
    te_lab, te_a, te_img = range_pairs(*HELD_OUT, variant)
    rows = {"real held-out renders": {**fcn_score(net, te_img, te_lab, NUM_CLASSES), "domain_fid": 0.0}}
    arms = {"real held-out renders": te_img}
    for arm, rec in records.items():
        if rec is None:
            continue
        canv: list[np.ndarray] = []
        imgs = arm_images(work / arm, te_a, te_lab, eval_mode=eval_mode, sims_clip=sims_clip, canvases=canv)
        arms[rec["name"]] = imgs
        rows[rec["name"]] = {**fcn_score(net, imgs, te_lab, NUM_CLASSES), "domain_fid": domain_fid(te_img, imgs),
                             "steps": rec["steps"], "train_cpu_s": rec["cpu_s"]}
        if canv:
            rows[rec["name"]]["canvas_fill"] = canvas_fill(canv[0], te_lab)
    if figure:
        from ..report.grid import make_grid, save_png
        from .sims_experiment import PALETTE

        idx = np.arange(n_fig) * (len(te_lab) // n_fig)
        grid = [list(PALETTE[te_lab[idx]])] + [list(a[idx]) for a in arms.values()]
        grid += [list(PALETTE[predict(net, a[idx])]) for a in arms.values()]
        save_png(figure, make_grid(grid, cell=64, pad=2))
    return {"variant": variant, "eval_mode": eval_mode, "sims_clip": sims_clip, "rows": rows}


def run_curve(work: Path, arm: str, *, eval_mode: bool | None = None) -> dict[str, Any]:
    """The FCN score of every checkpoint of ``work/arm`` (a quarter of the run apart): does the generator
    learn to draw objects, and is it still improving when the budget ends?"""
    from ..core.run_dir import checkpoint_paths

    net, state = load_segmenter(work / "segmenter-real")
    variant = state.get("variant", "default")
    te_lab, te_a, _ = range_pairs(*HELD_OUT, variant)
    rec = _arm_record(work, arm, variant)
    if rec is None:
        raise DataError(f"arm {arm!r} has not been trained here", where=str(work / arm), field="budget.json")
    rows = []
    for step, path in checkpoint_paths(work / arm):
        score = fcn_score(net, arm_images(work / arm, te_a, te_lab, checkpoint=path, eval_mode=eval_mode), te_lab,
                          NUM_CLASSES)
        rows.append({"step": step, "train_cpu_s": round(rec["cpu_s"] * step / rec["steps"], 1), **score})
    return {"arm": arm, "name": rec["name"], "eval_mode": eval_mode, "rows": rows}


def run_augment(work: Path, config: SegConfig, *, arm: str = "p2p", gen_only: bool = False,
                sims_clip: bool | None = None, on_step: Callable[[int], Any] | None = None) -> dict[str, Any]:
    """Segmenter on 1,000 real + 1,000 generated (G of new layouts) vs the real-only one, on real held out
    (``gen_only``: also one trained on the 1,000 generated pairs alone; ``sims_clip``: as :func:`run_score`;
    ``on_step``: as :func:`train_segmenter`, for each segmenter trained)."""
    real_net, state = load_segmenter(work / "segmenter-real")
    variant = state.get("variant", "default")
    if _arm_record(work, arm, variant) is None:
        raise DataError(f"arm {arm!r} has not been trained here", where=str(work / arm), field="budget.json")
    lab, _, img = range_pairs(*SEG_TRAIN, variant)
    new_lab, new_a, _ = range_pairs(*NEW_LAYOUTS, variant)
    te_lab, _, te_img = range_pairs(*HELD_OUT, variant)
    gen = arm_images(work / arm, new_a, new_lab, seed=1, sims_clip=sims_clip)
    c0 = cpu_seconds()
    mixed = train_segmenter(np.concatenate([img, gen]), np.concatenate([lab, new_lab]), config, on_step=on_step)
    res = {"real only (1,000)": fcn_score(real_net, te_img, te_lab, NUM_CLASSES),
           f"real + {ARM_NAMES[arm]} (1,000 + 1,000)": fcn_score(mixed, te_img, te_lab, NUM_CLASSES)}
    if gen_only:
        res[f"{ARM_NAMES[arm]} only (1,000)"] = fcn_score(train_segmenter(gen, new_lab, config, on_step=on_step),
                                                          te_img, te_lab, NUM_CLASSES)
    return {**res, "variant": variant, "sims_clip": sims_clip, "train_cpu_s": round(cpu_seconds() - c0, 1)}


def main(argv: list[str] | None = None) -> None:
    from ..cli.common import progress

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("command", choices=("segmenter", "train", "score", "curve", "augment"))
    ap.add_argument("work", type=Path, help="the experiment folder (segmenter, one run folder per arm)")
    ap.add_argument("arm", nargs="?", default="p2p", choices=sorted(RECIPES),
                    help="train / curve / augment: which arm")
    ap.add_argument("--budget", type=float, default=300.0, help="train: CPU seconds (one thread)")
    ap.add_argument("--steps", type=int, default=None, help="train: this many steps instead of a probe's count")
    ap.add_argument("--seed", type=int, default=0, help="train: the run's seed")
    ap.add_argument("--jitter-resize", choices=("pil", "torch"), default="pil",
                    help="train: the jitter's resize (torch: as the runs before session 14)")
    ap.add_argument("--batch-size", type=int, default=None, help="train: instead of the recipe's batch size")
    ap.add_argument("--lr", type=float, default=None, help="train: instead of the recipe's learning rate")
    ap.add_argument("--seg-steps", type=int, default=SegConfig.steps, help="segmenter Adam steps")
    ap.add_argument("--seg-width", type=int, default=SegConfig.width, help="segmenter base width")
    ap.add_argument("--seg-blur", type=float, default=SegConfig.blur,
                    help="segmenter: blur half its training images, sigma ~ U(0, this)")
    ap.add_argument("--variant", default="default", choices=sorted(VARIANT_DATA),
                    help="segmenter / train: the render variant (score, curve, augment use the segmenter's)")
    ap.add_argument("--figure", default=None, help="score: write the figure here")
    ap.add_argument("--gen-only", action="store_true", help="augment: also a segmenter on generated pairs only")
    ap.add_argument("--eval-mode", action="store_true",
                    help="score / curve: pix2pix without dropout, running BatchNorm statistics (default: the paper's "
                         "train-mode inference)")
    ap.add_argument("--sims-clip", choices=("on", "off"), default=None,
                    help="score / augment: SIMS's clip_to_query at synthesis (default: the run's setting)")
    args = ap.parse_args(argv)
    clip = None if args.sims_clip is None else args.sims_clip == "on"
    torch.set_num_threads(1)
    args.work.mkdir(parents=True, exist_ok=True)
    seg = SegConfig(steps=args.seg_steps, width=args.seg_width, blur=args.seg_blur)
    t0, c0, load0 = time.perf_counter(), cpu_seconds(), os.getloadavg()[0]
    if args.command == "segmenter":
        with progress(seg.steps, "segmenter") as advance:
            res = run_segmenter(args.work, seg, args.variant, on_step=advance)
    elif args.command == "train":
        with progress(args.steps, f"train {args.arm}") as advance:
            res = train_arm(args.arm, args.work, args.budget, steps=args.steps, variant=args.variant, seed=args.seed,
                            jitter_resize=args.jitter_resize, batch_size=args.batch_size, lr=args.lr, on_step=advance)
    elif args.command == "score":
        res = run_score(args.work, figure=args.figure, eval_mode=args.eval_mode or None, sims_clip=clip)
    elif args.command == "curve":
        res = run_curve(args.work, args.arm, eval_mode=args.eval_mode or None)
    else:
        with progress(seg.steps * (2 if args.gen_only else 1), "segmenters") as advance:
            res = run_augment(args.work, seg, arm=args.arm, gen_only=args.gen_only, sims_clip=clip, on_step=advance)
    res = {"command": args.command, "result": res, "wall_s": round(time.perf_counter() - t0, 1),
           "cpu_s": round(cpu_seconds() - c0, 1),
           "loadavg_start_end": [round(load0, 2), round(os.getloadavg()[0], 2)]}
    suffix = "-eval" if args.eval_mode and args.command in ("score", "curve") else ""
    if args.sims_clip and args.command in ("score", "augment"):
        suffix += f"-clip-{args.sims_clip}"
    out = args.work / f"{args.command}{'-' + args.arm if args.command in ('train', 'curve', 'augment') else ''}{suffix}.json"
    atomic_write_text(out, json.dumps(res, indent=1) + "\n")
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
