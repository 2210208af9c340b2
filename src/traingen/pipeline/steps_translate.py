"""The ``translate`` step: a trained image-to-image generator applied to the input, labels kept.

Sample ``i`` is input item ``i % len(input)`` through the generator of a ``traingen train translate``
run (pix2pix, or CycleGAN in either direction) at the run's latest checkpoint, resized to the model's
``image_size`` and back, with its label, boxes and masks unchanged: translation changes appearance,
not geometry (the same contract as ``traingen translate RUN SRC OUT``, :mod:`traingen.translate.export`).

Each sample is translated alone. With eval-mode inference (CycleGAN; pix2pix with ``eval_mode``) the
output is a pure function of the input; with the paper's train-mode inference (pix2pix's dropout and
batch statistics) the forward runs under ``torch.manual_seed(derive_seed(seed, i))`` inside
``torch.random.fork_rng``, so either way the bytes depend on the run seed and ``i`` alone, never on
the shard or the worker. The checkpoint's sha256 goes into ``RUN/recipe.yaml``.

Example (in a recipe; CycleGAN trained by ``recipes/translate-cyclegan-fonts2mnist.yaml``)::

    source: builtin:fonts2mnist@train
    steps:
      - step: translate
        run: runs/cyclegan-fonts2mnist
        direction: AtoB

References:
    Isola et al., "Image-to-Image Translation with Conditional Adversarial Networks", CVPR 2017;
    Zhu et al., "Unpaired Image-to-Image Translation using Cycle-Consistent Adversarial Networks",
    ICCV 2017.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..core.errors import ConfigError
from ..core.sample import Sample
from ..core.seeding import derive_seed
from .steps import STEPS, Step, input_index


@dataclass
class TranslateStepConfig:
    """``translate``: a trained translation run applied to each input item.

    Attributes:
        run: a ``traingen train translate`` run folder (its latest checkpoint is used).
        direction: ``AtoB`` or ``BtoA`` (``BtoA`` for CycleGAN only).
        eval_mode: None uses the model's setting (pix2pix ``eval_mode``; CycleGAN eval); true/false force it.
    """

    run: str = ""
    direction: Literal["AtoB", "BtoA"] = "AtoB"
    eval_mode: bool | None = None

    def __post_init__(self) -> None:
        if not self.run:
            raise ConfigError("give the translation run folder (traingen train translate --out RUN)", field="run")


@STEPS.register("translate")
class TranslateStep(Step):
    """Output ``i``: input item ``i % len(input)`` translated (module docstring)."""

    Config = TranslateStepConfig
    name = "translate"
    produces = frozenset()

    def __init__(self, config: TranslateStepConfig, *, input: Any = None, seed: int = 0):
        super().__init__(config, input=input, seed=seed)
        import torch

        from ..translate.trainer import load_run

        cfg, model, ckpt = load_run(config.run)
        if cfg.model not in ("pix2pix", "cyclegan"):
            raise ConfigError(f"the translate step runs pix2pix and CycleGAN generators; {config.run} holds "
                              f"a {cfg.model!r} run (use traingen translate for it)", field="run")
        if config.direction == "BtoA" and cfg.model == "pix2pix":
            raise ConfigError("pix2pix translates AtoB only", field="direction")
        mc = model.config
        self.model_name = cfg.model
        self.size = int(mc.image_size)
        self.c_in = (mc.in_channels if cfg.model == "pix2pix" else
                     mc.channels_a if config.direction == "AtoB" else mc.channels_b)
        self.eval = (mc.eval_mode if cfg.model == "pix2pix" else True) if config.eval_mode is None else config.eval_mode
        self.G = model.generator(config.direction)
        self.G.train(not self.eval)
        has_dropout = any(isinstance(m, torch.nn.Dropout) for m in self.G.modules())
        self.seeded = not self.eval and (has_dropout or getattr(mc, "norm", "") == "batch")
        self.sha256 = json.loads(Path(str(ckpt) + ".json").read_text())["sha256"]
        self.checkpoint = ckpt.name

    def checkpoints(self) -> dict[str, str]:
        return {f"translate:{self.config.run}/{self.checkpoint}": self.sha256}

    def translate(self, image: np.ndarray, index: int) -> np.ndarray:
        """The generator's output for ``image`` (uint8, the input's height and width)."""
        import torch

        from ..translate.data import to_tensor, to_uint8
        from ..translate.export import _resize_back, _train_mode_forward

        x = to_tensor([image], size=self.size, channels=self.c_in, where=f"translate input {index}")
        with torch.no_grad():
            if self.seeded:
                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(derive_seed(self.seed, index))
                    y = _train_mode_forward(self.G, x)
            else:
                y = self.G(x)
        out = _resize_back(to_uint8(y)[0], image.shape[:2])
        return out[..., 0] if out.ndim == 3 and out.shape[2] == 1 else out

    def make(self, start: int, stop: int) -> list[Sample]:
        out = []
        for i in range(start, stop):
            j = input_index(i, len(self.input))
            original = self.input[j]
            img = self.translate(np.asarray(original.image), i)
            meta = {**(original.meta or {}), "technique": "translate",
                    "params": {"model": self.model_name, "direction": self.config.direction, "input_index": j,
                               "eval_mode": bool(self.eval), "checkpoint": self.sha256}}
            if self.seeded:
                meta["seed"] = derive_seed(self.seed, i)
            out.append(original.replace(image=img, meta=meta))
        return out
