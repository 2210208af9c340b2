"""One small training loop for the encoder-decoder style methods (AdaIN, SANet, Ghiasi's arbitrary).

A network exposes ``trainable()`` (its parameters to optimise), ``losses(content, style)`` (a dict
with the total under ``"loss"``) and ``stylize(content, style)``. The loop draws random crops of
content images and style images (embedded photos and textures, any source address, and procedural
styles: random coloured gratings and blobs drawn from the run's generator), takes Adam steps, and
writes checkpoints through :mod:`traingen.core.checkpoint` (safetensors + JSON, no pickle). The
checkpoint holds the method, its network config and the training config, so
:func:`load_model` rebuilds the network from the file alone. A rerun with the same ``out`` resumes
from the last checkpoint: the data generator's state is saved with it, so the result equals an
uninterrupted run.

Example:
    >>> cfg = TrainConfig(method="adain", steps=200, size=64, model={"width": 0.125})
    >>> res = train_style(cfg, "runs/adain")
    >>> net = load_model(res.checkpoint)

References:
    Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015.
    Ghiasi et al. 2017 (training on many styles, including procedural textures, generalises to unseen ones).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.checkpoint import load_checkpoint, save_checkpoint
from ..core.config import from_dict, to_dict
from ..core.errors import CheckpointError, ConfigError, DataError
from ..core.seeding import torch_generator
from .base import StyleResult, resize_long, to_tensor, to_uint8

CKPT = "model"


@dataclass
class TrainConfig:
    """Training settings (YAML: ``version: 1`` plus these keys; strict).

    Args:
        method: ``adain``, ``sanet`` or ``arbitrary``.
        steps: Adam steps.
        batch: images per step.
        size: crop size in pixels.
        lr: Adam learning rate.
        contents: content source addresses (each item's image is used).
        styles: style source addresses.
        procedural: fraction of style crops replaced by procedural styles.
        max_items: at most this many images per source (evenly spread).
        seed: run seed (data order, crops, procedural styles).
        save_every: checkpoint period in steps (the last step is always saved).
        min_std: redraw a content or style crop whose grey standard deviation is below this (0 = off, the
            original sampling). A flat crop (the black sky of ``photos/hubble_deep_field``) makes the input of
            every instance norm of Ghiasi's transformer constant: the backward pass divides by ``sqrt(eps)``
            (~316) at each of its 12 norms and overflowed to inf, then NaN (docs/style.md, session 7).
        clip_grad: clip the global gradient norm of each step to this (0 = off).
        model: the method's network config (``AdaINConfig``, ``SANetConfig``, ``ArbitraryConfig``).
    """

    method: str = "adain"
    steps: int = 200
    batch: int = 4
    size: int = 64
    lr: float = 1e-3
    contents: tuple[str, ...] = ("builtin:photos",)
    styles: tuple[str, ...] = ("builtin:textures", "builtin:photos")
    procedural: float = 0.5
    max_items: int = 64
    seed: int = 0
    save_every: int = 100
    min_std: float = 0.0
    clip_grad: float = 0.0
    model: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if self.method not in ("adain", "sanet", "arbitrary"):
            raise ConfigError(f"method must be adain, sanet or arbitrary, got {self.method!r}", field="method")
        for k in ("steps", "batch", "size", "max_items", "save_every"):
            if getattr(self, k) < 1:
                raise ConfigError(f"{k} must be >= 1", field=k)
        if not 0 <= self.procedural <= 1:
            raise ConfigError("procedural must be in [0, 1]", field="procedural")
        for k in ("min_std", "clip_grad"):
            if getattr(self, k) < 0:
                raise ConfigError(f"{k} must be >= 0 (0 = off)", field=k)


def build_model(method: str, model_cfg: dict[str, Any] | None = None, *, where: str | None = None):
    """The network of ``method`` built from its config dict (strict keys)."""
    from .base import get_method

    m = get_method(method)
    if not getattr(m, "trained", False):
        raise ConfigError(f"method {method!r} is not trainable (trainable: adain, sanet, arbitrary)", field="method")
    return m.build(from_dict(m.Config, model_cfg or {}, where=where, prefix="model."))


def load_images(addresses: tuple[str, ...], max_items: int, size: int) -> list[Any]:
    """Every image of each source (at most ``max_items``, evenly spread), as 1×3×H×W tensors, short side >= size."""
    import torch.nn.functional as F

    from ..data import open_source

    out = []
    for addr in addresses:
        src = open_source(addr)
        n = min(len(src), max_items)
        for i in range(n):
            t = to_tensor(src[i * len(src) // n].image, where=addr)
            h, w = t.shape[-2:]
            if min(h, w) < size:
                s = size / min(h, w)
                t = F.interpolate(t, size=(max(size, math.ceil(h * s)), max(size, math.ceil(w * s))),
                                  mode="bilinear", align_corners=False).clamp(0, 1)
            out.append(t)
    return out


#: Draws :func:`random_crop` makes before it gives up finding a crop of ``min_std``.
MAX_DRAWS = 100


def random_crop(images: list[Any], size: int, generator, min_std: float = 0.0) -> Any:
    """One ``size``² crop of a randomly chosen image (1×3×size×size).

    With ``min_std > 0`` crops whose grey (channel-mean) standard deviation is below it are drawn again (at
    most :data:`MAX_DRAWS` times; then a :class:`DataError`); ``min_std = 0`` draws once, as before.
    """
    import torch

    for _ in range(MAX_DRAWS):
        t = images[int(torch.randint(len(images), (1,), generator=generator))]
        h, w = t.shape[-2:]
        y = int(torch.randint(h - size + 1, (1,), generator=generator))
        x = int(torch.randint(w - size + 1, (1,), generator=generator))
        crop = t[..., y:y + size, x:x + size]
        if min_std <= 0 or float(crop.mean(1).std()) >= min_std:
            return crop
    raise DataError(f"no {size}-px crop with grey std >= {min_std} in {MAX_DRAWS} draws: the images are "
                    "(nearly) flat; lower min_std", field="min_std")


def procedural_style(size: int, generator) -> Any:
    """A random style image: a sum of 2–4 coloured oriented gratings with random frequencies and phases.

    Returns:
        1×3×size×size float in [0, 1].
    """
    import torch

    def u(lo, hi, n=1):
        return lo + (hi - lo) * torch.rand(n, generator=generator)

    yy, xx = torch.meshgrid(torch.arange(size) / size, torch.arange(size) / size, indexing="ij")
    img = torch.zeros(3, size, size)
    k = int(torch.randint(2, 5, (1,), generator=generator))
    for _ in range(k):
        theta, freq, phase = u(0, math.pi), u(2, 16), u(0, 2 * math.pi)
        wave = torch.sin(2 * math.pi * freq * (xx * torch.cos(theta) + yy * torch.sin(theta)) + phase)
        if bool(torch.rand(1, generator=generator) < 0.5):
            wave = torch.sign(wave)  # hard-edged stripes as well as smooth ones
        img += u(0, 1, 3).reshape(3, 1, 1) * wave
    img = (img - img.amin()) / (img.amax() - img.amin() + 1e-6)
    return img[None]


def _resumable(train: dict[str, Any] | None) -> dict[str, Any] | None:
    """The part of a training config that must match to resume (``steps`` may grow, ``save_every`` change).

    Keys a checkpoint lacks (written before they existed) take their defaults, which mean the old behaviour.
    """
    if train is None:
        return None
    full = {**to_dict(TrainConfig()), **train}
    return {k: v for k, v in full.items() if k not in ("steps", "save_every")}


@dataclass
class TrainResult:
    checkpoint: Path
    steps: int
    losses: list[float]
    seconds: float
    resumed_from: int


def train_style(cfg: TrainConfig, out: str | Path, *, progress=None) -> TrainResult:
    """Train ``cfg.method``'s network; checkpoints go to ``out/model.{safetensors,json}``.

    Args:
        cfg: a :class:`TrainConfig`.
        out: run folder (created); a checkpoint already there with the same config is resumed (a larger
            ``steps`` continues the run; a finished run returns at once).
        progress: called with the number of steps done after each step.
    """
    import torch

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)  # decoder/transformer init (nn defaults draw from the global generator)
    net = build_model(cfg.method, cfg.model)
    opt = torch.optim.Adam(net.trainable(), lr=cfg.lr)
    gen = torch_generator(cfg.seed, "style-train")
    step, losses = 0, []
    ck = out / CKPT
    if ck.with_suffix(".json").exists():
        tree, state = load_checkpoint(ck)
        if _resumable(state.get("train")) != _resumable(to_dict(cfg)):
            raise CheckpointError("the run folder holds a checkpoint of a different config (only steps and "
                                  "save_every may change on resume); use another --out", where=str(ck))
        net.load_state_dict(tree["net"])
        opt.load_state_dict(tree["opt"])
        gen.set_state(tree["gen"])
        step, losses = int(state["step"]), list(state["losses"])
    start = step
    contents = load_images(cfg.contents, cfg.max_items, cfg.size)
    styles = load_images(cfg.styles, cfg.max_items, cfg.size) if cfg.styles else []
    t0 = time.perf_counter()
    net.train()
    net.encoder.eval()
    while step < cfg.steps:
        c = torch.cat([random_crop(contents, cfg.size, gen, cfg.min_std) for _ in range(cfg.batch)])
        s_list = []
        for _ in range(cfg.batch):
            if not styles or bool(torch.rand(1, generator=gen) < cfg.procedural):
                s_list.append(procedural_style(cfg.size, gen))
            else:
                s_list.append(random_crop(styles, cfg.size, gen, cfg.min_std))
        parts = net.losses(c, torch.cat(s_list))
        opt.zero_grad()
        parts["loss"].backward()
        if cfg.clip_grad > 0:
            torch.nn.utils.clip_grad_norm_(net.trainable(), cfg.clip_grad)
        opt.step()
        step += 1
        losses.append(float(parts["loss"].detach()))
        if not math.isfinite(losses[-1]):
            raise CheckpointError(f"loss became {losses[-1]} at step {step}; lower lr", where=str(out), field="lr")
        if step % cfg.save_every == 0 or step == cfg.steps:
            save_checkpoint(ck, {"net": net.state_dict(), "opt": opt.state_dict(), "gen": gen.get_state()},
                            {"step": step, "method": cfg.method, "train": to_dict(cfg), "losses": losses})
        if progress is not None:
            progress(1)
    return TrainResult(ck, step, losses, time.perf_counter() - t0, start)


def load_model(path: str | Path):
    """Rebuild a trained network from a checkpoint written by :func:`train_style` (eval mode)."""
    p = Path(path)
    if p.is_dir():
        p = p / CKPT
    tree, state = load_checkpoint(p)
    if "method" not in state or "train" not in state:
        raise CheckpointError("not a style checkpoint (no 'method'/'train' in its JSON)", where=str(p))
    net = build_model(state["method"], state["train"].get("model", {}), where=str(p))
    try:
        net.load_state_dict(tree["net"])
    except (RuntimeError, KeyError) as e:
        raise CheckpointError(f"weights do not fit the network: {str(e)[:200]}", where=str(p)) from None
    return net.eval()


class FeedForward:
    """Run a trained encoder-decoder network on one content/style pair (the ``__call__`` of the methods).

    Args:
        checkpoint: the run folder or checkpoint path of ``traingen train style``.
        size: longer side of content and style before transfer (None keeps the content's size).
        device: torch device.
    """

    def __init__(self, checkpoint: str | Path, *, size: int | None = 256, device: str = "cpu", method: str = ""):
        self.net = load_model(checkpoint).to(device)
        if method and self.net.method != method:
            raise CheckpointError(f"checkpoint holds a {self.net.method!r} network, not {method!r}",
                                  where=str(checkpoint))
        self.size, self.device, self.checkpoint = size, device, str(checkpoint)

    def __call__(self, content: Any, style: Any, *, seed: int = 0, **_: Any) -> StyleResult:
        import torch

        t0 = time.perf_counter()
        c = resize_long(to_tensor(content, field="content", device=self.device), self.size)
        s = resize_long(to_tensor(style, field="style", device=self.device), self.size)
        h, w = c.shape[-2:]
        pad_h, pad_w = (-h) % 16, (-w) % 16  # 4 poolings: sizes must divide by 16
        if pad_h or pad_w:
            c = torch.nn.functional.pad(c, (0, pad_w, 0, pad_h), mode="reflect")
        with torch.no_grad():
            y = self.net.stylize(c, s)[..., :h, :w]
        enc = self.net.encoder.source
        return StyleResult(to_uint8(y), [], time.perf_counter() - t0, self.net.method,
                           {"encoder": enc, "checkpoint": self.checkpoint})


def method_runner(name: str, *, checkpoint: str | None = None, config: dict[str, Any] | None = None,
                  device: str = "cpu", size: int | None = None):
    """A callable ``(content, style, seed=...) -> StyleResult`` for method ``name``.

    Feed-forward methods need ``checkpoint``; optimisation methods take ``config`` (their Config keys).
    """
    from .base import get_method

    m = get_method(name)
    if getattr(m, "trained", False):
        if checkpoint is None:
            raise ConfigError(f"method {name!r} needs a trained network: train one with "
                              f"`traingen train style --config recipes/style-{name}.yaml --out RUN` and pass "
                              f"--checkpoint RUN", field="checkpoint")
        return FeedForward(checkpoint, size=size or 256, device=device, method=name)
    cfg_dict = dict(config or {})
    if size is not None:
        cfg_dict["size"] = size
    return m(from_dict(m.Config, cfg_dict, prefix="config."), device=device)
