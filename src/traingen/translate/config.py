"""The translation training config: one YAML recipe (``recipes/translate-<model>-<task>.yaml``) per run.

A recipe names the model (``pix2pix`` or ``cyclegan``), the model's own config (its dataclass, every
field typed and checked), the data and the trainer's settings. Unknown keys and wrong types are errors
naming the file and the key; the resolved config is saved as ``RUN/config.yaml``.

Example recipe::

    version: 1
    model: cyclegan
    model_config: {channels_a: 1, channels_b: 1, image_size: 28, ngf: 16, n_blocks: 6}
    data_a: builtin:fonts2mnist@train
    data_b: builtin:mnist5k@train
    steps: 2500
    batch_size: 8
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.config import dump_yaml, from_dict, load_yaml, require_at_least_one, to_dict
from ..core.errors import ConfigError

MODELS = ("pix2pix", "cyclegan", "texturegan", "sims")


JITTER_RESIZES = ("pil", "torch")   # TranslateTrainConfig.jitter_resize


@dataclass
class TranslateTrainConfig:
    """Everything a translation run needs besides its output folder.

    Attributes:
        model: ``pix2pix`` or ``cyclegan``.
        model_config: overrides of the model's config dataclass.
        data_a: paired runs: a source of A|B side-by-side images (``builtin:edges2photos@train``, a folder
            of such images) or a folder with ``A/`` and ``B/``; unpaired runs: the A source (labels kept
            for the semantic loss), or a folder with ``trainA/`` and ``trainB/`` when ``data_b`` is empty.
        data_b: unpaired runs: the B source.
        limit_a, limit_b: use only the first N images of A / B (0: all).
        flip: random horizontal flips (off for digits and text).
        jitter: the pix2pix paper's random jitter: resize to ``jitter`` × the side (bicubic) and crop back at a
            random offset, the same for A and B when paired; the paper and the reference use 286 / 256 = 1.117.
            1 (the default here) turns it off.
        jitter_resize: how the jitter resizes: ``pil`` (the reference's pipeline: PIL bicubic on 8-bit
            levels, within 2 of 255 levels of it) or ``torch`` (one float pass of torch's bicubic, a = -0.75:
            the pix2pix numbers in the docs up to session 13 were measured with it; it differs from PIL by up to
            38 levels at class edges).
        schedule_every: steps per scheduler epoch of the linear decay (:mod:`.schedule`); 0 picks one pass
            over A, or ``steps // 100`` when that gives fewer than 10 scheduler epochs (the reference's
            rule trains its last epoch at rate 0, which would waste most of a short run).
        decay_fraction: share of the scheduler epochs in the linear decay to 0 (0.5: the papers' equal
            halves; 1: decay from the first step; the reference's ``n_epochs`` / ``n_epochs_decay``).
        steps: optimizer steps in total (``--steps`` overrides).
        batch_size: images per step.
        seed: run seed (weights, data order, flips, pools, dropout).
        checkpoint_every: steps between checkpoints (one is always written at the end).
        keep_checkpoints: latest checkpoints kept on disk (0 keeps all).
        log_every: steps between rows of ``metrics.jsonl``.
        tensorboard: write TensorBoard scalars under ``RUN/tensorboard``.
        device: ``cpu``, ``cuda``, ``cuda:N`` or ``auto``.
        threads: CPU threads for torch (0: leave the default); the CLI applies it before torch loads.
    """

    model: str = "pix2pix"
    model_config: dict[str, Any] = field(default_factory=dict)
    data_a: str = "builtin:edges2photos@train"
    data_b: str = ""
    limit_a: int = 0
    limit_b: int = 0
    flip: bool = False
    jitter: float = 1.0
    jitter_resize: str = "pil"
    schedule_every: int = 0
    decay_fraction: float = 0.5
    steps: int = 1000
    batch_size: int = 1
    seed: int = 0
    checkpoint_every: int = 500
    keep_checkpoints: int = 2
    log_every: int = 50
    tensorboard: bool = True
    device: str = "cpu"
    threads: int = 0

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise ConfigError(f"expected one of {list(MODELS)}, got {self.model!r}", field="model")
        for name in ("steps", "keep_checkpoints", "limit_a", "limit_b", "threads", "schedule_every"):
            if getattr(self, name) < 0:
                raise ConfigError(f"must be >= 0, got {getattr(self, name)}", field=name)
        require_at_least_one(self, ("batch_size", "checkpoint_every", "log_every"))
        if not 1.0 <= self.jitter <= 2.0:
            raise ConfigError(f"must be in [1, 2] (1: off; the paper's 286/256 = 1.117), got {self.jitter}",
                              field="jitter")
        if self.jitter_resize not in JITTER_RESIZES:
            raise ConfigError(f"expected one of {list(JITTER_RESIZES)}, got {self.jitter_resize!r}",
                              field="jitter_resize")
        if not 0.0 <= self.decay_fraction <= 1.0:
            raise ConfigError(f"must be in [0, 1], got {self.decay_fraction}", field="decay_fraction")
        if self.device not in ("cpu", "cuda", "auto") and not self.device.startswith("cuda:"):
            raise ConfigError(f"expected cpu, cuda, cuda:N or auto, got {self.device!r}", field="device")


def model_class(name: str) -> type:
    if name == "pix2pix":
        from .pix2pix import Pix2Pix

        return Pix2Pix
    if name == "cyclegan":
        from .cyclegan import CycleGAN

        return CycleGAN
    if name == "texturegan":
        from .texturegan import TextureGAN

        return TextureGAN
    if name == "sims":
        from .sims import SIMS

        return SIMS
    raise ConfigError(f"expected one of {list(MODELS)}, got {name!r}", field="model")


def resolve_model_config(cfg: TranslateTrainConfig, *, where: str | None = None) -> Any:
    return from_dict(model_class(cfg.model).config_class, cfg.model_config, where=where, prefix="model_config.")


def build_model(cfg: TranslateTrainConfig, *, generator: Any, where: str | None = None) -> Any:
    """The model of ``cfg`` with its initial weights drawn from ``generator``."""
    return model_class(cfg.model)(resolve_model_config(cfg, where=where), generator=generator)


def config_from_dict(data: dict[str, Any], *, where: str | None = None) -> TranslateTrainConfig:
    data = {k: v for k, v in data.items() if k != "version"}
    return from_dict(TranslateTrainConfig, data, where=where)


def resolved(cfg: TranslateTrainConfig, *, where: str | None = None) -> TranslateTrainConfig:
    """``cfg`` with every field of the model config filled in (checked against its dataclass)."""
    return dataclasses.replace(cfg, model_config=to_dict(resolve_model_config(cfg, where=where)))


def load_translate_config(path: str | os.PathLike, **overrides: Any) -> TranslateTrainConfig:
    """Read a recipe, apply ``overrides`` (None values ignored) and resolve it."""
    where = str(path)
    data = load_yaml(path)
    data.update({k: v for k, v in overrides.items() if v is not None})
    return resolved(config_from_dict(data, where=where), where=where)


def config_yaml(cfg: TranslateTrainConfig) -> str:
    return dump_yaml({"version": 1, **to_dict(cfg)})


def read_run_config(run_dir: str | os.PathLike) -> TranslateTrainConfig:
    """The resolved config a run saved (``RUN/config.yaml``)."""
    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        raise ConfigError("not a translation run folder: config.yaml is missing", where=str(path))
    return config_from_dict(load_yaml(path), where=str(path))


def differing_fields(a: TranslateTrainConfig, b: TranslateTrainConfig, *, ignore: tuple[str, ...] = ()) -> list[str]:
    da, db = to_dict(a), to_dict(b)
    return [k for k in da if k not in ignore and da[k] != db[k]]
