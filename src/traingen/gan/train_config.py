"""The GAN training configuration: one YAML recipe (``recipes/gan-<model>-<data>.yaml``) per run.

A recipe names the model (a key of ``GAN_MODELS``), the model's own config (the model's dataclass,
every field typed and checked), the data source and the trainer's settings. Unknown keys and wrong
types are errors naming the file and the key; the resolved config (every default filled in) is
saved as ``RUN/config.yaml`` and is what ``--resume`` and ``traingen sample`` read back.

Example recipe::

    version: 1
    model: cdcgan
    model_config: {image_size: 28, channels: 1, num_classes: 10, z_dim: 64}
    data: builtin:mnist5k@train
    steps: 4000
    batch_size: 64

Example:
    >>> cfg = load_train_config("recipes/gan-cdcgan-mnist5k.yaml", steps=2)
    >>> model = build_model(cfg)
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.config import dump_yaml, from_dict, load_yaml, require_at_least_one, to_dict
from ..core.errors import ConfigError
from .lr_schedule import check_decay_start


@dataclass
class TrainConfig:
    """Everything a GAN run needs besides its output folder.

    Attributes:
        model: key of ``traingen.gan.GAN_MODELS`` (``cdcgan``, ``sagan``, ``biggan``).
        model_config: overrides of the model's own config dataclass (checked against it).
        data: a source address; ``builtin:mnist5k@train`` (labels 0-9) or ``builtin:lfw25``
            (labels non-face 0 / face 1), a folder, shards. Images are resized to the model's
            ``image_size`` when they differ and scaled to [-1, 1].
        labelled: semi-supervised runs: keep the labels of this many images (stratified, the same for
            a seed), feed the rest to the model as unlabelled; 0 keeps every label.
        unlabelled_pool: semi-supervised runs: ``rest`` draws the unlabelled batches from the images
            whose labels were dropped; ``all`` from every training image, the labelled ones included
            (the reference code of Salimans et al. does this).
        steps: generator steps in total (``--steps`` overrides).
        batch_size: global batch (split over DDP ranks; must divide by the world size).
        d_steps: discriminator steps per generator step.
        seed: run seed: weights, data order and noise derive from it.
        ema: keep an exponential moving average of G and sample from it.
        ema_decay: EMA decay per step.
        ema_start: steps during which the EMA is a plain copy of G.
        ema_d: also keep an exponential moving average (Polyak average) of D's weights, saved in the
            checkpoints as ``D_ema``; the semi-supervised experiment classifies with it (both arms), as
            the reference code tests its averaged D.
        ema_d_decay: decay per step of D's average (a plain copy during the first ``ema_start`` steps).
        lr_decay_start: fraction of ``steps`` trained at the models' full learning rates; both rates
            then fall linearly towards 0 at the last step (:mod:`traingen.gan.lr_schedule`); 1 keeps
            them constant.
        checkpoint_every: steps between checkpoints (one is always written at the end).
        keep_checkpoints: how many of the latest checkpoints stay on disk (0 keeps all).
        log_every: steps between rows of ``metrics.jsonl`` and TensorBoard scalars.
        image_every: steps between TensorBoard image grids of the EMA generator (0: none).
        tensorboard: write TensorBoard event files under ``RUN/tensorboard`` when it is installed.
        device: ``cpu``, ``cuda``, ``cuda:N`` or ``auto`` (under torchrun each rank takes its local GPU).
    """

    model: str = "cdcgan"
    model_config: dict[str, Any] = field(default_factory=dict)
    data: str = "builtin:mnist5k@train"
    labelled: int = 0
    unlabelled_pool: str = "rest"
    steps: int = 4000
    batch_size: int = 64
    d_steps: int = 1
    seed: int = 0
    ema: bool = True
    ema_decay: float = 0.999
    ema_start: int = 0
    ema_d: bool = False
    ema_d_decay: float = 0.999
    lr_decay_start: float = 1.0
    checkpoint_every: int = 500
    keep_checkpoints: int = 2
    log_every: int = 50
    image_every: int = 500
    tensorboard: bool = True
    device: str = "cpu"

    def __post_init__(self) -> None:
        for name in ("steps", "labelled", "ema_start", "keep_checkpoints", "log_every", "image_every"):
            if getattr(self, name) < 0:
                raise ConfigError(f"must be >= 0, got {getattr(self, name)}", field=name)
        require_at_least_one(self, ("batch_size", "d_steps", "checkpoint_every"))
        for name in ("ema_decay", "ema_d_decay"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"must lie in [0, 1], got {getattr(self, name)}", field=name)
        check_decay_start(self.lr_decay_start)
        if self.unlabelled_pool not in ("rest", "all"):
            raise ConfigError(f"expected 'rest' or 'all', got {self.unlabelled_pool!r}", field="unlabelled_pool")
        if self.device not in ("cpu", "cuda", "auto") and not self.device.startswith("cuda:"):
            raise ConfigError(f"expected cpu, cuda, cuda:N or auto, got {self.device!r}", field="device")


def resolve_model_config(cfg: TrainConfig, *, where: str | None = None) -> Any:
    """The model's config dataclass built from ``cfg.model_config`` (strict keys and types)."""
    return from_dict(_model_class(cfg, where).config_class, cfg.model_config, where=where, prefix="model_config.")


def build_model(cfg: TrainConfig, *, generator: Any = None, where: str | None = None) -> Any:
    """Instantiate ``cfg.model`` with its resolved config; ``generator`` draws the initial weights."""
    return _model_class(cfg, where)(resolve_model_config(cfg, where=where), generator=generator)


def _model_class(cfg: TrainConfig, where: str | None) -> Any:
    from ..core.errors import RegistryError
    from .base import model_class

    try:
        return model_class(cfg.model)
    except RegistryError as e:
        raise ConfigError(e.message, where=where, field="model") from None


def train_config_from_dict(data: dict[str, Any], *, where: str | None = None) -> TrainConfig:
    """A :class:`TrainConfig` from a recipe mapping (``version`` allowed and dropped)."""
    data = {k: v for k, v in data.items() if k != "version"}
    return from_dict(TrainConfig, data, where=where)


def load_train_config(path: str | os.PathLike, **overrides: Any) -> TrainConfig:
    """Read a recipe, apply ``overrides`` (``steps=2``, ``seed=1``; None values are ignored), resolve.

    The model config is resolved against the model's dataclass, so a typo in ``model_config`` fails
    here (naming the file and the key), before any training starts.
    """
    where = str(path)
    data = load_yaml(path)
    data.update({k: v for k, v in overrides.items() if v is not None})
    cfg = train_config_from_dict(data, where=where)
    return resolved(cfg, where=where)


def resolved(cfg: TrainConfig, *, where: str | None = None) -> TrainConfig:
    """``cfg`` with ``model_config`` holding every field of the model's config (defaults filled in)."""
    model_cfg = resolve_model_config(cfg, where=where)
    return dataclasses.replace(cfg, model_config=to_dict(model_cfg))


def config_yaml(cfg: TrainConfig) -> str:
    """The text of ``RUN/config.yaml`` (``version: 1`` first)."""
    return dump_yaml({"version": 1, **to_dict(cfg)})


def read_run_config(run_dir: str | os.PathLike) -> TrainConfig:
    """The resolved config a run saved (``RUN/config.yaml``)."""
    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        raise ConfigError("not a GAN run folder: config.yaml is missing", where=str(path))
    return train_config_from_dict(load_yaml(path), where=str(path))


def differing_fields(a: TrainConfig, b: TrainConfig, *, ignore: tuple[str, ...] = ()) -> list[str]:
    """Names of the fields where two configs differ (``ignore`` left out)."""
    da, db = to_dict(a), to_dict(b)
    return [k for k in da if k not in ignore and da[k] != db[k]]
