"""The ``texture`` step: synthesised textures as labelled images, or as backgrounds behind the input.

Two modes, one technique (:mod:`traingen.texture`, any registered method; quilting by default, since
it runs in milliseconds on a small exemplar):

``images`` (no input)
    Sample ``i`` is a new ``size`` × ``size`` texture grown from exemplar ``derive_seed(seed, i) % K``
    of ``exemplars``, labelled with that exemplar's class -- a texture-classification set, or a bank
    of backgrounds for other tools.
``background`` (reads the source or an earlier step)
    Sample ``i`` is input item ``i % len(input)`` composited over a texture of its own size:
    ``out = a · input + (1 - a) · texture``, with the foreground weight ``a`` from the input's mask
    (``mask`` or ``instance_mask`` > 0) or, for images without one, from its intensity (``a =
    value / 255``: white digits on black keep their strokes). Label, boxes and masks are unchanged,
    since only the background changes -- the "random textures behind the object" of domain
    randomization (Tobin et al. 2017).

A grey input gets a grey texture (ITU-R BT.601 luma of a colour one) and a colour input a colour one.
Every draw of sample ``i`` comes from ``derive_seed(seed, i)``, so the bytes depend on the seed alone.

Example (in a recipe)::

    steps:
      - step: texture
        mode: background
        exemplars: builtin:textures
        options: {block: 8, exemplar_size: 64}

References:
    Efros & Freeman, "Image Quilting for Texture Synthesis and Transfer", SIGGRAPH 2001;
    Gatys et al., "Texture Synthesis Using Convolutional Neural Networks", NeurIPS 2015;
    Tobin et al., "Domain Randomization for Transferring Deep Neural Networks from Simulation to the
    Real World", IROS 2017.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from ..core.errors import ConfigError, DataError
from ..core.sample import Sample
from .steps import STEPS, Step, input_index

MODES = ("images", "background")


@dataclass
class TextureStepConfig:
    """``texture``: textures synthesised from exemplars (:mod:`traingen.texture`).

    Attributes:
        mode: ``images`` (textures as labelled samples) or ``background`` (behind the input).
        exemplars: the example textures (a source address; each item's label is its class).
        method: a registered texture method (``quilting``, ``gatys``, ``multiscale``, ``expansion``).
        options: the method's config fields except ``size`` (e.g. ``{block: 8, exemplar_size: 64}``).
        size: side of the textures in ``images`` mode (``background`` uses the input's size).
        foreground: ``background`` mode: where the input is kept -- ``auto`` (the mask when the
            sample has one, else the intensity), ``mask`` or ``intensity``.
    """

    mode: Literal["images", "background"] = "images"
    exemplars: str = "builtin:textures"
    method: str = "quilting"
    options: dict[str, Any] | None = None
    size: int = 64
    foreground: Literal["auto", "mask", "intensity"] = "auto"

    def __post_init__(self) -> None:
        if self.size < 16:
            raise ConfigError(f"must be >= 16 (the texture methods' minimum), got {self.size}", field="size")
        if "size" in (self.options or {}):
            raise ConfigError("set the size with the step's 'size' (or the input's size in background mode), "
                              "not in options", field="options.size")


def to_channels(img: np.ndarray, like: np.ndarray) -> np.ndarray:
    """``img`` (uint8 H×W or H×W×3) with the channel layout of ``like`` (grey <-> colour, BT.601 luma)."""
    grey_like = like.ndim == 2 or like.shape[2] == 1
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if grey_like and img.ndim == 3:
        luma = img[:, :, :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114])
        img = np.clip(np.round(luma), 0, 255).astype(np.uint8)
    elif not grey_like and img.ndim == 2:
        img = np.repeat(img[:, :, None], like.shape[2], axis=2)
    if like.ndim == 3 and like.shape[2] == 1:
        img = img[:, :, None]
    return img


def foreground_weight(sample: Sample, mode: str = "auto") -> np.ndarray:
    """The H×W float64 weight in [0, 1] of the input in the composite (module docstring)."""
    img = np.asarray(sample.image)
    m = sample.instance_mask if sample.instance_mask is not None else sample.mask
    if mode == "mask" or (mode == "auto" and m is not None):
        if m is None:
            raise DataError("foreground: mask, but the sample has no mask", where=str(sample.meta.get("key", "")),
                            field="foreground")
        m = np.asarray(m)
        return (m.reshape(m.shape[0], m.shape[1], -1).max(axis=2) > 0).astype(np.float64)
    v = img.astype(np.float64)
    if v.ndim == 3:
        v = v.max(axis=2)
    return v / 255.0


def composite(fg: np.ndarray, bg: np.ndarray, a: np.ndarray) -> np.ndarray:
    """``round(a · fg + (1 - a) · bg)`` as uint8; ``bg`` has ``fg``'s shape, ``a`` is H×W."""
    w = a.reshape(a.shape + (1,) * (fg.ndim - 2))
    out = w * fg.astype(np.float64) + (1.0 - w) * bg.astype(np.float64)
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


@STEPS.register("texture")
class TextureStep(Step):
    """Sample ``i``: a texture from exemplar ``derive_seed(seed, i) % K`` with seed ``derive_seed(seed, i)``,
    alone (``images``) or behind input item ``i % len(input)`` (``background``)."""

    Config = TextureStepConfig
    name = "texture"
    needs_input = False  # the mode decides: see reads_input
    produces = frozenset({"label"})

    @classmethod
    def reads_input(cls, config: TextureStepConfig) -> bool:
        return config.mode == "background"

    def __init__(self, config: TextureStepConfig, *, input: Any = None, seed: int = 0):
        super().__init__(config, input=input if config.mode == "background" else None, seed=seed)
        from ..data import open_source
        from ..texture.base import build_config

        build_config(config.method, {**(config.options or {}), "size": config.size})  # ConfigError names the key
        self.exemplars = open_source(config.exemplars)
        if len(self.exemplars) == 0:
            raise DataError("holds no exemplar images", where=config.exemplars, field="exemplars")
        self._exemplar_cache: dict[int, np.ndarray] = {}

    @property
    def classes(self) -> list[str]:
        if self.config.mode == "background":
            return super().classes
        return list(self.exemplars.classes)

    def default_count(self) -> int:
        if self.config.mode == "images":
            raise ConfigError("texture mode 'images' makes as many textures as you ask: give its count in 'mix'",
                              field="mix.texture")
        return super().default_count()

    def _exemplar(self, k: int) -> np.ndarray:
        if k not in self._exemplar_cache:
            self._exemplar_cache[k] = np.asarray(self.exemplars[k].image)
        return self._exemplar_cache[k]

    def texture(self, index: int, size: int) -> tuple[np.ndarray, int]:
        """The texture of sample ``index`` (``size`` × ``size``) and the exemplar it grew from."""
        from ..texture.base import synthesize

        s = self.sample_seed(index)
        k = s % len(self.exemplars)
        res = synthesize(self.config.method, self._exemplar(k), seed=s, **{**(self.config.options or {}),
                                                                           "size": max(16, size)})
        return np.asarray(res.image), k

    def make(self, start: int, stop: int) -> list[Sample]:
        return [self._one(i) for i in range(start, stop)]

    def _one(self, i: int) -> Sample:
        cfg = self.config
        params: dict[str, Any] = {"method": cfg.method, "exemplars": cfg.exemplars, "mode": cfg.mode}
        if cfg.mode == "images":
            tex, k = self.texture(i, cfg.size)
            ex = self.exemplars[k]
            params["exemplar_index"] = k
            return Sample(image=tex[:cfg.size, :cfg.size], label=ex.label,
                          meta={"source": f"texture:{cfg.exemplars}", "key": f"{i:08d}", "seed": self.sample_seed(i),
                                "technique": "texture", "params": params})
        j = input_index(i, len(self.input))
        original = self.input[j]
        img = np.asarray(original.image)
        h, w = img.shape[:2]
        tex, k = self.texture(i, max(h, w))
        bg = to_channels(tex[:h, :w], img)
        out = composite(img, bg, foreground_weight(original, cfg.foreground))
        params.update(exemplar_index=k, input_index=j, foreground=cfg.foreground)
        meta = {**(original.meta or {}), "seed": self.sample_seed(i), "technique": "texture", "params": params}
        return original.replace(image=out, meta=meta)
