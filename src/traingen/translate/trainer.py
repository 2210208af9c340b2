"""The translation training loop: one small loop for pix2pix and CycleGAN runs.

The model owns its networks, optimizers and losses (``model.train_step``); this loop feeds batches,
sets the learning rate, guards against NaN, logs and checkpoints. It shares the GAN trainer's
machinery where it fits (checkpoint files through :mod:`traingen.core.checkpoint`, the
``RUN/checkpoints/step-NNNNNNNN`` naming, the NaN stop, TensorBoard) but not its noise-driven loop,
which has no place for paired or unpaired image batches.

* **Determinism.** Initial weights come from ``torch_generator(seed, "translate", "init")``; the A
  order of epoch ``e`` from ``(seed, "data", "A", e)``; unpaired B indices of step ``t`` from
  ``(seed, "data", "B", t)``; jitter crops from ``(seed, "jitter", t)``; flips from ``(seed, "flip", t)``;
  the pools from ``(seed, "pool", *, t)``;
  dropout runs under ``torch.random.fork_rng`` seeded with ``derive_seed(seed, "step", t)``. Every stream
  is a function of the step, so a resumed run sees what the uninterrupted one would have seen.
* **Exact resume.** Checkpoints hold every network, both optimizers and the image pools; a resumed run
  continues bit for bit on the CPU.
* **Logs.** ``RUN/config.yaml`` (resolved), ``RUN/metrics.jsonl`` (losses, learning rate, seconds per
  step and the load average, since timings on a shared machine mean nothing without it) and
  TensorBoard scalars when TensorBoard is installed.

Example:
    >>> cfg = load_translate_config("recipes/translate-pix2pix-edges2photos.yaml", steps=20)
    >>> res = train_translation(cfg, "runs/p2p")
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..core.atomic import atomic_write_text
from ..core.checkpoint import load_checkpoint, save_checkpoint
from ..core.config import to_dict
from ..core.errors import ConfigError, OutputError, TraingenError
from ..core.run_dir import (
    CKPT_DIR,
    check_new_run_dir,
    clear_run,
    latest_checkpoint,
    prune_checkpoints,
    truncate_metrics,
)
from ..core.seeding import derive_seed, torch_generator
from .config import (
    JITTER_RESIZES,
    TranslateTrainConfig,
    build_model,
    config_yaml,
    differing_fields,
    read_run_config,
)
from .data import TranslationData, load_translation_data

RESUMABLE_CHANGES = ("steps", "checkpoint_every", "keep_checkpoints", "log_every", "tensorboard", "device",
                     "threads")
CLASSIFIER_FILE = "semantic-classifier.safetensors"
_RUN_FILES = ("config.yaml", "metrics.jsonl", CKPT_DIR, "tensorboard", CLASSIFIER_FILE)


class DivergenceError(TraingenError):
    """A loss became NaN or infinite; training stopped and the last good checkpoint was kept."""


@dataclass
class TranslateResult:
    """What :func:`train_translation` did (``model`` holds the trained networks)."""

    run_dir: Path
    step: int
    steps_run: int
    checkpoint: Path | None
    seconds: float
    sec_per_step: float | None
    losses: dict[str, float]
    loadavg: tuple[float, float, float]
    notices: list[str] = field(default_factory=list)
    model: Any = None


def load_run(run_dir: str | os.PathLike, *, device: str = "cpu",
             checkpoint: Path | None = None) -> tuple[TranslateTrainConfig, Any, Path]:
    """The config, the model at its latest checkpoint (or at ``checkpoint``, a path from
    :func:`traingen.core.run_dir.checkpoint_paths`), and that checkpoint's path (for exports)."""
    cfg = read_run_config(run_dir)
    ckpt = latest_checkpoint(run_dir) if checkpoint is None else checkpoint
    if ckpt is None:
        raise OutputError("the run has no checkpoint yet", where=str(Path(run_dir) / CKPT_DIR))
    model = build_model(cfg, generator=torch_generator(cfg.seed, "translate", "init"))
    tree, _ = load_checkpoint(ckpt, device=device)
    for name, net in model.nets.items():
        net.load_state_dict(tree["nets"][name])
    return cfg, model.to(device), ckpt


def _prepare(cfg: TranslateTrainConfig, run_dir: Path, *, resume: bool, overwrite: bool) -> None:
    if resume:
        diff = differing_fields(read_run_config(run_dir), cfg, ignore=RESUMABLE_CHANGES)
        if diff:
            raise ConfigError(f"--resume with a config that differs from the run's in: {', '.join(diff)}",
                              where=str(run_dir / "config.yaml"), field=diff[0])
        return
    check_new_run_dir(run_dir, overwrite=overwrite)
    clear_run(run_dir, _RUN_FILES)


def scheduler_epoch(cfg: TranslateTrainConfig, n_a: int) -> int:
    """Steps per scheduler epoch (``TranslateTrainConfig.schedule_every``)."""
    if cfg.schedule_every > 0:
        return cfg.schedule_every
    per_epoch = max(1, -(-n_a // cfg.batch_size))
    if cfg.steps // per_epoch >= 10:
        return per_epoch
    return max(1, cfg.steps // 100)


def resize_like_pil(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bicubic resize of images in [-1, 1] as the reference's data pipeline does it: PIL's ``Image.BICUBIC``
    on 8-bit images (kernel a = -0.5, horizontal pass then vertical pass, each rounded to 8-bit levels), then
    ``ToTensor`` and ``Normalize(0.5, 0.5)``. Matches PIL within 2 of 255 levels (PIL's fixed-point weights)."""
    import torch.nn.functional as F

    u = ((x + 1.0) * 127.5).round_().clamp_(0.0, 255.0)
    u = F.interpolate(u, size=(u.shape[-2], size[1]), mode="bicubic", align_corners=False, antialias=True)
    u = F.interpolate(u.round_().clamp_(0.0, 255.0), size=size, mode="bicubic", align_corners=False, antialias=True)
    return u.round_().clamp_(0.0, 255.0) / 127.5 - 1.0


def random_jitter(a: torch.Tensor, b: torch.Tensor, *, scale: float, paired: bool,
                  generator: torch.Generator, resize: str = "pil") -> tuple[torch.Tensor, torch.Tensor]:
    """The pix2pix paper's random jitter: resize to ``scale`` times the side (the reference's
    ``resize_and_crop`` with 286 / 256) and crop the original size back at a uniform offset -- the same offset
    for A and B when ``paired``. ``scale <= 1`` or a side that does not grow returns the inputs.

    ``resize``: ``pil`` resizes as the reference does (:func:`resize_like_pil`); ``torch`` is one float pass
    of torch's bicubic (a = -0.75, clamped), what this project used before, kept to reproduce those numbers."""
    import torch.nn.functional as F

    if resize not in JITTER_RESIZES:
        raise ValueError(f"resize: expected one of {JITTER_RESIZES}, got {resize!r}")
    h, w = a.shape[-2:]
    big = (round(h * scale), round(w * scale))
    if scale <= 1.0 or big == (h, w):
        return a, b

    def crop(x: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        if resize == "pil":
            x = resize_like_pil(x, big)
        else:
            x = F.interpolate(x, size=big, mode="bicubic", align_corners=False).clamp_(-1.0, 1.0)
        return torch.stack([x[i, :, y:y + h, xo:xo + w] for i, (y, xo) in enumerate(offsets.tolist())])

    def draw(n: int) -> torch.Tensor:
        return torch.stack([torch.randint(0, big[0] - h + 1, (n,), generator=generator),
                            torch.randint(0, big[1] - w + 1, (n,), generator=generator)], 1)

    off_a = draw(len(a))
    off_b = off_a if paired else draw(len(b))
    return crop(a, off_a), crop(b, off_b)


def batch_indices(n: int, step: int, batch_size: int, *, seed: int) -> torch.Tensor:
    """The A indices of ``step``'s batch: a per-epoch permutation from ``torch_generator(seed, "data", "A", epoch)``;
    the last, short batch of an epoch is topped up from the epoch's start."""
    per_epoch = max(1, -(-n // batch_size))
    epoch, k = divmod(step, per_epoch)
    order = torch.randperm(n, generator=torch_generator(seed, "data", "A", epoch))
    idx = order[k * batch_size:(k + 1) * batch_size]
    if len(idx) < batch_size:
        idx = torch.cat([idx, order[: batch_size - len(idx)]])
    return idx


def make_batch(data: TranslationData, step: int, batch_size: int, *, seed: int, flip: bool,
               device: torch.device | str = "cpu", jitter: float = 1.0,
               jitter_resize: str = "pil") -> dict[str, torch.Tensor]:
    """The batch of ``step``: A in a per-epoch permutation, B paired with A or drawn independently; then
    :func:`random_jitter` when ``jitter > 1`` and random horizontal flips when ``flip`` (the reference's order)."""
    idx = batch_indices(len(data.A), step, batch_size, seed=seed)
    a = data.A[idx]
    if data.paired:
        b = data.B[idx]
    else:
        b = data.B[torch.randint(0, len(data.B), (batch_size,), generator=torch_generator(seed, "data", "B", step))]
    if jitter > 1.0:
        a, b = random_jitter(a, b, scale=jitter, paired=data.paired, generator=torch_generator(seed, "jitter", step),
                             resize=jitter_resize)
    if flip:
        g = torch_generator(seed, "flip", step)
        fa = torch.rand(batch_size, generator=g) < 0.5
        fb = fa if data.paired else torch.rand(batch_size, generator=g) < 0.5
        a = torch.where(fa[:, None, None, None], a.flip(-1), a)
        b = torch.where(fb[:, None, None, None], b.flip(-1), b)
    batch = {"A": a.to(device), "B": b.to(device)}
    if data.labels_A is not None:
        batch["label_A"] = data.labels_A[idx].to(device)
    return batch


def _semantic_classifier(cfg: TranslateTrainConfig, data: TranslationData, run_dir: Path, model: Any) -> None:
    from ..features.classifiers import FitConfig, fit_classifier, load_weights, save_weights

    if data.labels_A is None:
        raise ConfigError("semantic_weight > 0 needs labelled A data", field="model_config.semantic_weight")
    path = run_dir / CLASSIFIER_FILE
    if path.is_file():
        net = load_weights(path)
    else:
        imgs = ((data.A.permute(0, 2, 3, 1).numpy() + 1.0) * 127.5).round().clip(0, 255).astype(np.uint8)
        imgs = imgs[..., 0] if imgs.shape[-1] == 1 else imgs
        net = fit_classifier(imgs, data.labels_A.numpy(), num_classes=model.config.num_classes,
                             seed=derive_seed(cfg.seed, "semantic"),
                             config=FitConfig(epochs=model.config.semantic_epochs))
        save_weights(net, path, image_size=int(imgs.shape[1]), metadata={"trained_on": cfg.data_a})
    model.set_classifier(net)


def train_translation(cfg: TranslateTrainConfig, run_dir: str | os.PathLike, *, resume: bool = False,
                      overwrite: bool = False, data: TranslationData | None = None, until: int | None = None,
                      on_step: Callable[[int, int, dict[str, float]], None] | None = None) -> TranslateResult:
    """Train (or continue) a translation run.

    Args:
        cfg: the resolved config.
        run_dir: the run folder (created).
        resume: continue from the latest checkpoint (config may differ only in :data:`RESUMABLE_CHANGES`).
        overwrite: delete an earlier run in ``run_dir`` first.
        data: preloaded data (tests); else loaded from ``cfg``.
        until: stop after this step (checkpointed) as an interruption would; the schedule still spans
            ``cfg.steps``, so resuming gives the uninterrupted run's weights.
        on_step: progress callback ``(step, total, logs)``.

    Returns:
        A :class:`TranslateResult`.

    Raises:
        DivergenceError: a loss became NaN or infinite (the last good checkpoint stays).
    """
    run_dir = Path(run_dir)
    _prepare(cfg, run_dir, resume=resume, overwrite=overwrite)
    run_dir.mkdir(parents=True, exist_ok=True)
    device = torch.device("cuda" if cfg.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if cfg.device == "auto" else cfg.device))
    notices: list[str] = []
    data = data if data is not None else load_translation_data(cfg)
    model = build_model(cfg, generator=torch_generator(cfg.seed, "translate", "init"))
    if getattr(model.config, "semantic_weight", 0) > 0:
        _semantic_classifier(cfg, data, run_dir, model)
    model.to(device)
    start = 0
    ckpt = latest_checkpoint(run_dir) if resume else None
    if resume and ckpt is None:
        notices.append("nothing to resume: starting from step 0")
    if ckpt is not None:
        tree, state = load_checkpoint(ckpt, device=str(device))
        for name, net in model.nets.items():
            net.load_state_dict(tree["nets"][name])
        for name, opt in model.optimizers.items():
            opt.load_state_dict(tree["opts"][name])
        model.load_extra_state(tree["extra"], device=device)
        start = int(state["step"])
    atomic_write_text(run_dir / "config.yaml", config_yaml(cfg))
    metrics = run_dir / "metrics.jsonl"
    truncate_metrics(metrics, start)
    tb = None
    if cfg.tensorboard:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            notices.append("TensorBoard is not installed: no event files (pip install tensorboard)")
        else:
            tb = SummaryWriter(log_dir=str(run_dir / "tensorboard"))
    from .schedule import LinearDecay

    sched = LinearDecay.for_steps(max(cfg.steps, 1), scheduler_epoch(cfg, len(data.A)), cfg.decay_fraction)
    last_good = ckpt
    logs: dict[str, float] = {}
    t0 = time.perf_counter()
    t_log, n_log = t0, 0

    def check(loss: torch.Tensor, name: str, step: int) -> None:
        if not torch.isfinite(loss).all():
            raise DivergenceError(f"{name} became {loss.item()} at step {step}; last good checkpoint: "
                                  f"{last_good}", where=str(run_dir), field=name)

    try:
        stop = cfg.steps if until is None else min(until, cfg.steps)
        for step in range(start, stop):
            factor = sched.factor(step)
            for opt in model.optimizers.values():
                for g in opt.param_groups:
                    g["lr"] = model.config.lr * factor
            batch = make_batch(data, step, cfg.batch_size, seed=cfg.seed, flip=cfg.flip, device=device,
                               jitter=cfg.jitter, jitter_resize=cfg.jitter_resize)
            with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
                torch.manual_seed(derive_seed(cfg.seed, "step", step))
                logs = model.train_step(batch, step=step, seed=cfg.seed,
                                        check=lambda loss, name, s=step: check(loss, name, s))
            n_log += 1
            done = step + 1
            if done % cfg.log_every == 0 or done == stop:
                now = time.perf_counter()
                row = {"step": done, **logs, "lr_factor": factor, "sec_per_step": (now - t_log) / n_log,
                       "loadavg_1m": os.getloadavg()[0]}
                with open(metrics, "a") as f:
                    f.write(json.dumps(row, sort_keys=True) + "\n")
                if tb is not None:
                    for k, v in row.items():
                        if k != "step":
                            tb.add_scalar(f"train/{k}", v, done)
                t_log, n_log = now, 0
            if done % cfg.checkpoint_every == 0 or done == stop:
                last_good = _save(run_dir, done, model, cfg)
                if on_step is not None:
                    on_step(done, cfg.steps, logs)
            elif on_step is not None:
                on_step(done, cfg.steps, logs)
    finally:
        if tb is not None:
            tb.close()
    seconds = time.perf_counter() - t0
    ran = max(0, stop - start)
    return TranslateResult(run_dir, max(start, stop), ran, latest_checkpoint(run_dir), seconds,
                           seconds / ran if ran else None, logs, os.getloadavg(), notices, model)


def _save(run_dir: Path, step: int, model: Any, cfg: TranslateTrainConfig) -> Path:
    tree = {"nets": {k: v.state_dict() for k, v in model.nets.items()},
            "opts": {k: v.state_dict() for k, v in model.optimizers.items()},
            "extra": model.extra_state()}
    path = run_dir / CKPT_DIR / f"step-{step:08d}"
    save_checkpoint(path, tree, {"step": step, "config": to_dict(cfg)})
    prune_checkpoints(run_dir, cfg.keep_checkpoints)
    return path
