"""One small GAN training loop for every model: the model owns its losses, the trainer feeds and steps.

Per generator step the trainer runs ``d_steps`` discriminator updates (``model.d_loss``), one
generator update (``model.g_loss``), ``model.after_step()`` and the EMA update of G. Everything else
is bookkeeping a run needs to be trusted:

* **Determinism.** Initial weights come from ``torch_generator(seed, "gan", "init")``; the data
  order of epoch ``e`` from ``(seed, "gan", "data", e)``; the noise and fake labels of draw ``t``
  from ``(seed, "gan", "noise", t)``. Each stream is a function of the step, not of a running
  state, so a resumed run sees exactly the batches and noise the uninterrupted one would have seen.
* **Exact resume.** Checkpoints (``RUN/checkpoints/step-NNNNNNNN``, through :mod:`traingen.core.checkpoint`)
  hold G, D, the EMA of G, both optimizers, the model's extra state (historical averages), the torch
  RNG state and the step; ``resume=True`` continues from the latest one bit for bit on CPU.
* **Divergence guard.** A NaN or infinite loss stops training before the optimizer step with a
  :class:`DivergenceError` naming the loss, the step and the last good checkpoint, which is kept.
* **Logs.** ``RUN/config.yaml`` (the resolved config), ``RUN/metrics.jsonl`` (losses, seconds per
  step, load average), TensorBoard scalars and EMA sample grids (``RUN/tensorboard``) when
  TensorBoard is installed, and ``RUN/samples.png`` (a grid of the final EMA generator).
* **Options for the semi-supervised experiment** (off by default): ``lr_decay_start`` lowers both
  learning rates linearly towards 0 over the last part of the run (:mod:`traingen.gan.lr_schedule`),
  ``ema_d`` keeps a bias-corrected average of D's weights (``D_ema`` in checkpoints) and
  ``unlabelled_pool: all`` draws the unlabelled batches from every training image.
* **DDP.** Under ``torchrun`` (``WORLD_SIZE > 1``) G and D get separate ``DistributedDataParallel``
  wrappers (gloo on CPU, NCCL on GPUs; BatchNorm becomes SyncBatchNorm on GPUs), the global batch is
  split over the ranks, and EMA, checkpoints and logs live on rank 0 only.

Example:
    >>> cfg = load_train_config("recipes/gan-cdcgan-mnist5k.yaml", steps=200)
    >>> result = train(cfg, "runs/cdcgan")
    >>> result = train(load_train_config(..., steps=400), "runs/cdcgan", resume=True)   # continues

References:
    Goodfellow et al. "Generative Adversarial Nets", NeurIPS 2014 (alternating D and G updates).
    Li et al. "PyTorch Distributed: Experiences on Accelerating Data Parallel Training", VLDB 2020.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..core.atomic import atomic_write_text
from ..core.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from ..core.errors import ConfigError, DataError, TraingenError
from ..core.run_dir import (
    CKPT_DIR,
    check_new_run_dir,
    clear_run,
    latest_checkpoint,
    prune_checkpoints,
    truncate_metrics,
)
from ..core.seeding import derive_seed, numpy_rng, torch_generator
from .ema import EMA
from .lr_schedule import linear_decay_factor, set_learning_rate
from .train_config import TrainConfig, build_model, config_yaml, differing_fields, read_run_config, resolved

#: Fields that may change between a run and its resumption (they do not change the weights).
RESUMABLE_CHANGES = ("steps", "checkpoint_every", "keep_checkpoints", "log_every", "image_every",
                     "tensorboard", "device")
_RUN_FILES = ("config.yaml", "metrics.jsonl", "samples.png", CKPT_DIR, "tensorboard")


class DivergenceError(TraingenError):
    """A loss became NaN or infinite; training stopped and the last good checkpoint was kept."""


@dataclass
class TrainResult:
    """What :func:`train` did.

    Attributes:
        run_dir: the run folder.
        step: the step the weights are at.
        steps_run: steps trained by this call (0 when a resumed run was already complete).
        checkpoint: the latest checkpoint (without suffix), or None.
        seconds: wall time of the training loop.
        sec_per_step: mean wall seconds per step of this call (None when no step ran).
        losses: the last step's logged values.
        rank, world_size: this process in a DDP job (0 and 1 alone).
        notices: one-line notes (TensorBoard missing, nothing to resume, ...).
        model: the trained model (plain G and D, no DDP wrappers); ``ema`` the EMA (rank 0) or None.
        ema_d: the average of D's weights (``ema_d: true``, rank 0) or None.
    """

    run_dir: Path
    step: int
    steps_run: int
    checkpoint: Path | None
    seconds: float
    sec_per_step: float | None
    losses: dict[str, float]
    rank: int = 0
    world_size: int = 1
    notices: list[str] = field(default_factory=list)
    model: Any = field(default=None, repr=False)
    ema: Any = field(default=None, repr=False)
    ema_d: Any = field(default=None, repr=False)


# ---------------------------------------------------------------------------------------- real data


@dataclass
class RealData:
    """A whole training set in memory: ``images`` N x C x H x W float32 in [-1, 1], ``labels`` N long."""

    images: torch.Tensor
    labels: torch.Tensor
    classes: list[str]
    source: str


def load_real_data(source: str, *, image_size: int, channels: int, num_classes: int,
                   device: Any = "cpu") -> RealData:
    """Read every image of ``source``, adapt channels, resize to ``image_size`` and scale to [-1, 1].

    Args:
        source: an address for :func:`traingen.data.open_source` (``builtin:mnist5k@train``).
        image_size: the model's side; other sizes are resized (bilinear with antialiasing).
        channels: 1 (RGB becomes luma) or 3 (grey is repeated).
        num_classes: the model's classes; labels must lie below it (any labels when 0).
        device: where the tensors live.

    Raises:
        DataError: an empty source, images of different sizes, missing or out-of-range labels.
    """
    import numpy as np

    from ..data import open_source

    src = open_source(source)
    if len(src) == 0:
        raise DataError("holds no images", where=source)
    arrays, labels = [], []
    for i in range(len(src)):
        s = src[i]
        img = np.asarray(s.image.numpy() if isinstance(s.image, torch.Tensor) else s.image)
        if img.dtype != np.uint8:
            img = np.clip(np.rint(img.astype(np.float64) * 255.0), 0, 255).astype(np.uint8)
        arrays.append(img[:, :, None] if img.ndim == 2 else img[:, :, :3])
        labels.append(-1 if s.label is None or not np.isscalar(s.label) else int(s.label))
    if len({a.shape for a in arrays}) != 1:
        raise DataError(f"images differ in size ({sorted({a.shape for a in arrays})[:3]} ...); GAN training "
                        "needs one size", where=source)
    y = torch.tensor(labels, dtype=torch.long)
    if num_classes > 0:
        bad = (y < 0) | (y >= num_classes)
        if bool(bad.any()):
            i = int(bad.nonzero()[0])
            raise DataError(f"sample {i} has label {labels[i]}, outside the model's num_classes "
                            f"{num_classes} (a conditional model needs every label)", where=source,
                            field="model_config.num_classes")
    x = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float()
    if x.shape[1] != channels:
        if channels == 3:
            x = x.expand(-1, 3, -1, -1)
        elif x.shape[1] == 3:
            x = (x * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
        else:
            raise DataError(f"cannot turn {x.shape[1]}-channel images into {channels}", where=source,
                            field="model_config.channels")
    if tuple(x.shape[-2:]) != (image_size, image_size):
        x = torch.nn.functional.interpolate(x, size=(image_size, image_size), mode="bilinear",
                                            align_corners=False, antialias=True)
    x = (x / 127.5 - 1.0).clamp(-1.0, 1.0).contiguous()
    return RealData(x.to(device), y.to(device), list(src.classes), source)


def split_labelled(data: RealData, n_labelled: int, *, seed: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``(labelled indices, unlabelled indices)``: ``n_labelled`` images stratified by class, or all.

    With ``n_labelled == 0`` every image is labelled and the second item is None. The choice depends
    on the seed only (``(seed, "gan", "labelled")``).
    """
    n = len(data.labels)
    if n_labelled <= 0:
        return torch.arange(n), None
    if n_labelled >= n:
        raise DataError(f"labelled must be below the {n} images of the source", where=data.source,
                        field="labelled")
    labels = data.labels.cpu().numpy()
    classes = sorted(set(labels.tolist()))
    rng = numpy_rng(seed, "gan", "labelled")
    chosen = []
    for j, c in enumerate(classes):
        members = (labels == c).nonzero()[0]
        k = n_labelled // len(classes) + (1 if j < n_labelled % len(classes) else 0)
        chosen.extend(rng.permutation(members)[:k].tolist())
    mask = torch.zeros(n, dtype=torch.bool)
    mask[torch.tensor(sorted(chosen), dtype=torch.long)] = True
    return mask.nonzero().squeeze(1), (~mask).nonzero().squeeze(1)


def data_init(model: Any, data: RealData, labelled: torch.Tensor, *, seed: int, limit: int = 500) -> None:
    """Call ``model.data_init`` on the labelled images (at most ``limit``, a seeded choice), its noise
    drawn from ``(seed, "gan", "data-init")``: a function of the seed, the same for every arm of an
    experiment and every DDP rank."""
    g = torch_generator(seed, "gan", "data-init")
    idx = labelled if len(labelled) <= limit else labelled[torch.randperm(len(labelled), generator=g)[:limit]]
    model.data_init(data.images[idx.to(data.images.device)], generator=g)


def batch_indices(pool: torch.Tensor, batch: int, *, seed: int, draw: int, key: str = "data") -> torch.Tensor:
    """Indices of batch number ``draw`` from ``pool``: epochs of seeded permutations, the last partial
    batch of each epoch dropped. A function of ``(seed, key, draw)`` alone, so resume is exact."""
    n = len(pool)
    if n < batch:
        raise DataError(f"batch_size {batch} is larger than the {n} images to draw from", field="batch_size")
    epoch, b = divmod(draw, n // batch)
    perm = torch.randperm(n, generator=torch_generator(seed, "gan", key, epoch))
    return pool[perm[b * batch:(b + 1) * batch]]


# ---------------------------------------------------------------------------------------- distributed


@dataclass
class _Dist:
    rank: int
    world: int
    device: torch.device
    created: bool


def _setup_distributed(device: str) -> _Dist:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    import torch.distributed as dist

    if world <= 1 and not (dist.is_available() and dist.is_initialized()):
        return _Dist(0, 1, _device(device, local_rank=None), False)
    local = int(os.environ.get("LOCAL_RANK", os.environ.get("RANK", "0")))
    dev = _device(device, local_rank=local)
    created = False
    if not dist.is_initialized():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
        created = True
    return _Dist(dist.get_rank(), dist.get_world_size(), dev, created)


def _device(name: str, *, local_rank: int | None) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"device {name!r} asked for but CUDA is not available", field="device")
        if name == "cuda" and local_rank is not None:
            name = f"cuda:{local_rank}"
        dev = torch.device(name)
        torch.cuda.set_device(dev)
        return dev
    return torch.device("cpu")


class _DDP(torch.nn.parallel.DistributedDataParallel):
    """DDP that forwards unknown attributes to the wrapped network (models reach into G and D)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self.module, name)


def _wrap_ddp(net: torch.nn.Module, dev: torch.device) -> torch.nn.Module:
    has_bn = any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in net.modules())
    sync_bn = has_bn and dev.type == "cuda"  # SyncBatchNorm runs on GPUs only
    if sync_bn:
        net = torch.nn.SyncBatchNorm.convert_sync_batchnorm(net)
    # Without SyncBatchNorm (CPU), rank 0's running statistics are broadcast before each forward.
    sync_buffers = has_bn and not sync_bn
    # torch >= 2.14 names the option forward_sync_buffers (broadcast_buffers warns there).
    key = ("forward_sync_buffers" if "forward_sync_buffers" in inspect.signature(_DDP.__init__).parameters
           else "broadcast_buffers")
    return _DDP(net, device_ids=[dev.index] if dev.type == "cuda" else None, **{key: sync_buffers})


def _no_sync(net: torch.nn.Module):
    return net.no_sync() if isinstance(net, torch.nn.parallel.DistributedDataParallel) else contextlib.nullcontext()


def _unwrap(net: torch.nn.Module) -> torch.nn.Module:
    return net.module if isinstance(net, torch.nn.parallel.DistributedDataParallel) else net


# ---------------------------------------------------------------------------------------- the run folder


def prepare_run_dir(cfg: TrainConfig, run_dir: Path, *, resume: bool, overwrite: bool) -> None:
    """Check RUN against the request (every rank; read-only). Raises before any training starts."""
    if resume:
        saved = read_run_config(run_dir)
        diff = differing_fields(saved, cfg, ignore=RESUMABLE_CHANGES)
        if saved.lr_decay_start < 1.0 and saved.steps != cfg.steps:
            diff.append("steps")  # the learning-rate schedule depends on the total
        if diff:
            raise ConfigError(f"--resume with a config that differs from the run's in: {', '.join(diff)} "
                              "(only steps, intervals, tensorboard and device may change)",
                              where=str(run_dir / "config.yaml"), field=diff[0])
        return
    check_new_run_dir(run_dir, overwrite=overwrite, kind="GAN run")


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (v if not isinstance(v, float) or math.isfinite(v) else str(v)) for k, v in row.items()}


class _Logger:
    """``metrics.jsonl`` and TensorBoard on rank 0; a no-op elsewhere."""

    def __init__(self, run_dir: Path, *, active: bool, tensorboard: bool, notices: list[str]):
        self.active = active
        self.path = run_dir / "metrics.jsonl"
        self.tb = None
        if active and tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                notices.append("TensorBoard is not installed: no event files (pip install tensorboard)")
            else:
                self.tb = SummaryWriter(log_dir=str(run_dir / "tensorboard"))

    def row(self, row: dict[str, Any]) -> None:
        if not self.active:
            return
        with open(self.path, "a") as f:
            f.write(json.dumps(_jsonable(row), sort_keys=True) + "\n")
        if self.tb is not None and "step" in row:
            for k, v in row.items():
                if k != "step" and isinstance(v, (int, float)) and math.isfinite(v):
                    self.tb.add_scalar(k if "/" in k else f"train/{k}", v, row["step"])

    def image(self, tag: str, grid: Any, step: int) -> None:
        if self.active and self.tb is not None:
            self.tb.add_image(tag, grid, step, dataformats="HWC")

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()
            self.tb = None


# ---------------------------------------------------------------------------------------- sample grids


@torch.no_grad()
def sample_grid(G: torch.nn.Module, model: Any, *, seed: int, cols: int = 8, device: Any = "cpu",
                cell: int | None = None) -> Any:
    """A grid of ``G``'s samples (one row per class, up to 10; 8 rows unconditional) as HxWx3 uint8.

    The noise is fixed by ``seed``, so grids of successive steps show the same latent points;
    ``cell`` (default: the image size) scales each sample to that side (nearest neighbour).
    """
    from ..report.grid import make_grid

    net = _unwrap(G)
    was_training = net.training
    net.eval()
    k = model.config.num_classes
    rows = min(k, 10) if k > 0 else 8
    z = model.sample_z(rows * cols, generator=torch_generator(seed, "gan", "grid"), device=device)
    y = torch.arange(rows, device=device).repeat_interleave(cols) if k > 0 else None
    images = to_uint8(net(z, y)).cpu().numpy()
    net.train(was_training)
    hwc = images.transpose(0, 2, 3, 1)
    return make_grid([list(hwc[r * cols:(r + 1) * cols]) for r in range(rows)], pad=1, cell=cell)


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] -> uint8 0..255 (rounded, clamped)."""
    return ((x.float() + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8)


# ---------------------------------------------------------------------------------------- training


def train(cfg: TrainConfig, run_dir: str | os.PathLike, *, resume: bool = False, overwrite: bool = False,
          on_step: Callable[[int, int, dict[str, float]], Any] | None = None) -> TrainResult:
    """Train ``cfg.model`` on ``cfg.data`` for ``cfg.steps`` generator steps into ``run_dir``.

    Args:
        cfg: the run's config (see :mod:`traingen.gan.train_config`); resolved here.
        run_dir: the run folder (created; must be new or empty unless ``resume``/``overwrite``).
        resume: continue from the latest checkpoint of ``run_dir`` (exactly; ``cfg.steps`` may grow).
        overwrite: delete an earlier run in ``run_dir`` first.
        on_step: called on rank 0 after each step with ``(step, total, logs)`` (progress bars).

    Returns:
        :class:`TrainResult`.

    Raises:
        DivergenceError: a loss became NaN or inf (the last good checkpoint is kept).
        ConfigError, OutputError, DataError, CheckpointError: bad config, folder, data or checkpoint.
    """
    run_dir = Path(run_dir)
    cfg = resolved(cfg)
    dist = _setup_distributed(cfg.device)
    try:
        with torch.random.fork_rng(devices=[dist.device] if dist.device.type == "cuda" else []):
            return _train(cfg, run_dir, dist, resume=resume, overwrite=overwrite, on_step=on_step)
    finally:
        if dist.created:
            torch.distributed.destroy_process_group()


def _train(cfg: TrainConfig, run_dir: Path, dist: _Dist, *, resume: bool, overwrite: bool,
           on_step: Callable | None) -> TrainResult:
    rank0 = dist.rank == 0
    notices: list[str] = []
    prepare_run_dir(cfg, run_dir, resume=resume, overwrite=overwrite)
    if cfg.batch_size % dist.world:
        raise ConfigError(f"batch_size {cfg.batch_size} does not divide over {dist.world} processes",
                          field="batch_size")
    torch.manual_seed(derive_seed(cfg.seed, "gan", "torch") & ((1 << 63) - 1))
    model = build_model(cfg, generator=torch_generator(cfg.seed, "gan", "init")).to(dist.device)
    mc = model.config
    data = load_real_data(cfg.data, image_size=mc.image_size, channels=mc.channels,
                          num_classes=mc.num_classes, device=dist.device)
    labelled, unlabelled = split_labelled(data, cfg.labelled if mc.semi_supervised else 0, seed=cfg.seed)
    if unlabelled is not None and cfg.unlabelled_pool == "all":
        unlabelled = torch.arange(len(data.labels))
    opt_g, opt_d = model.optimizers()
    ema = EMA(model.G, cfg.ema_decay, cfg.ema_start) if cfg.ema and rank0 else None

    start, ckpt = 0, latest_checkpoint(run_dir) if resume else None
    if ckpt is not None:
        tree, state = load_checkpoint(ckpt, device=str(dist.device))
        model.load_state_dict(tree["model"])
        opt_g.load_state_dict(tree["opt_g"])
        opt_d.load_state_dict(tree["opt_d"])
        if ema is not None:
            ema.load_state_dict(tree["G_ema"]) if "G_ema" in tree else ema.update(model.G, 0)
        set_rng_state(tree["rng"])
        start = int(state["step"])
    elif resume:
        notices.append(f"{run_dir}: no checkpoint to resume from; starting at step 0")
    if ckpt is None:
        data_init(model, data, labelled, seed=cfg.seed)
    ema_d = EMA(model.D, cfg.ema_d_decay, cfg.ema_start, debias=True) if cfg.ema_d and rank0 else None
    if ema_d is not None and ckpt is not None:
        if "D_ema" not in tree:
            raise ConfigError("the checkpoint holds no average of D (D_ema)", where=str(ckpt), field="ema_d")
        ema_d.load_state_dict(tree["D_ema"])

    if rank0:
        run_dir.mkdir(parents=True, exist_ok=True)
        if not resume and overwrite:
            clear_run(run_dir, _RUN_FILES)
        atomic_write_text(run_dir / "config.yaml", config_yaml(cfg))
        (run_dir / CKPT_DIR).mkdir(exist_ok=True)
        if resume:
            truncate_metrics(run_dir / "metrics.jsonl", start)
    if dist.world > 1:
        model.G, model.D = _wrap_ddp(model.G, dist.device), _wrap_ddp(model.D, dist.device)
    log = _Logger(run_dir, active=rank0, tensorboard=cfg.tensorboard, notices=notices)

    per_rank = cfg.batch_size // dist.world
    part = slice(dist.rank * per_rank, (dist.rank + 1) * per_rank)
    dev = dist.device

    def reals(t: int) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        idx = batch_indices(labelled, cfg.batch_size, seed=cfg.seed, draw=t, key="data")[part]
        x, y = data.images[idx], (data.labels[idx] if mc.num_classes > 0 else None)
        u = None
        if unlabelled is not None:
            u = data.images[batch_indices(unlabelled, cfg.batch_size, seed=cfg.seed, draw=t, key="unlabelled")[part]]
        return x, y, u

    def noise(*keys: int | str) -> tuple[torch.Tensor, torch.Tensor | None]:
        g = torch_generator(cfg.seed, "gan", *keys)
        z = model.sample_z(cfg.batch_size, generator=g)[part].to(dev)
        y = model.sample_labels(cfg.batch_size, generator=g)
        return z, (y[part].to(dev) if y is not None else None)

    def finite(loss: torch.Tensor, name: str, step: int) -> None:
        value = loss.detach().clone()
        if dist.world > 1:  # every rank stops together
            torch.distributed.all_reduce(value)
        if not torch.isfinite(value).all():
            good = latest_checkpoint(run_dir)
            log.row({"step": step, "event": "diverged", "loss": name, "value": float(value)})
            log.close()
            where_ckpt = f"the last good checkpoint is {good}" if good else "no checkpoint was written yet"
            raise DivergenceError(f"{name} is {float(value)} at step {step}; training stopped ({where_ckpt})",
                                  where=str(run_dir), field=name)

    model.train()
    total, logs, t0 = cfg.steps, {}, time.perf_counter()
    window_t, window_n = t0, 0
    step = start
    try:
        for step in range(start + 1, total + 1):
            if cfg.lr_decay_start < 1.0:
                factor = linear_decay_factor(step, total=total, start=cfg.lr_decay_start)
                set_learning_rate(opt_g, base=mc.lr_g, factor=factor)
                set_learning_rate(opt_d, base=mc.lr_d, factor=factor)
            for k in range(cfg.d_steps):
                t = (step - 1) * cfg.d_steps + k
                x, y, u = reals(t)
                z, yf = noise("noise", t)
                opt_d.zero_grad(set_to_none=True)
                with _no_sync(model.G):
                    loss_d, logs_d = model.d_loss(x, y, z, yf, unlabeled=u)
                finite(loss_d, "d_loss", step)
                loss_d.backward()
                opt_d.step()
            z, yf = noise("noise-g", step)
            opt_g.zero_grad(set_to_none=True)
            with _no_sync(model.D):
                fm_real = u if u is not None else x
                loss_g, logs_g = model.g_loss(z, yf, real=fm_real, y_real=None if u is not None else y)
            finite(loss_g, "g_loss", step)
            loss_g.backward()
            opt_g.step()
            opt_d.zero_grad(set_to_none=True)  # D's gradients from the G step are not used
            model.after_step()
            if ema is not None:
                ema.update(model.G, step)
            if ema_d is not None:
                ema_d.update(model.D, step)
            logs = {**logs_d, **logs_g}
            window_n += 1
            if rank0 and cfg.log_every and (step % cfg.log_every == 0 or step == total):
                now = time.perf_counter()
                log.row({"step": step, **logs, "sec_per_step": (now - window_t) / window_n,
                         "loadavg": os.getloadavg()[0]})
                window_t, window_n = now, 0
            if rank0 and cfg.image_every and (step % cfg.image_every == 0):
                log.image("samples/ema" if ema else "samples/G",
                          sample_grid(ema.module if ema else model.G, model, seed=cfg.seed, device=dev), step)
            if rank0 and (step % cfg.checkpoint_every == 0 or step == total):
                ckpt = _save(run_dir, step, model, opt_g, opt_d, ema, cfg, dist, logs, data.classes, ema_d)
                prune_checkpoints(run_dir, cfg.keep_checkpoints)
            if rank0 and on_step is not None:
                on_step(step, total, logs)
        seconds = time.perf_counter() - t0
        steps_run = max(0, total - start)
        if rank0 and steps_run:
            from ..report.grid import save_png

            save_png(run_dir / "samples.png",
                     sample_grid(ema.module if ema else model.G, model, seed=cfg.seed, device=dev))
    finally:
        log.close()
        if dist.world > 1:
            _broadcast_buffers(model, dist)
            model.G, model.D = _unwrap(model.G), _unwrap(model.D)
    return TrainResult(run_dir=run_dir, step=max(step, start), steps_run=steps_run,
                       checkpoint=latest_checkpoint(run_dir) if rank0 else ckpt, seconds=seconds,
                       sec_per_step=seconds / steps_run if steps_run else None, losses=logs, rank=dist.rank,
                       world_size=dist.world, notices=notices, model=model, ema=ema, ema_d=ema_d)


def _save(run_dir: Path, step: int, model: Any, opt_g: Any, opt_d: Any, ema: EMA | None, cfg: TrainConfig,
          dist: _Dist, logs: dict[str, float], classes: list[str], ema_d: EMA | None = None) -> Path:
    tree: dict[str, Any] = {"model": model.state_dict(), "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(),
                            "rng": rng_state()}
    if ema is not None:
        tree["G_ema"] = ema.state_dict()
    if ema_d is not None:
        tree["D_ema"] = ema_d.state_dict()
    state = {"step": step, "model": cfg.model, "seed": cfg.seed, "world_size": dist.world,
             "ema": ema is not None, "losses": _jsonable(logs), "classes": list(classes)}
    path = run_dir / CKPT_DIR / f"step-{step:08d}"
    save_checkpoint(path, tree, state)
    return path


def _broadcast_buffers(model: Any, dist: _Dist) -> None:
    """Give every rank rank 0's buffers (BatchNorm statistics differ per rank without SyncBatchNorm)."""
    for net in (model.G, model.D):
        for b in _unwrap(net).buffers():
            torch.distributed.broadcast(b.data, src=0)
