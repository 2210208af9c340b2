"""Training tensors for translation runs: paired A|B sources or two unpaired sources, loaded once.

Images become float32 N×C×H×W in [-1, 1] at the model's ``image_size`` (area resize down, bicubic up)
with the model's channel counts (grey repeated to 3 channels, RGB averaged to grey). The datasets
here are small (a few thousand images), so they are held in memory.

Example:
    >>> data = load_translation_data(cfg)
    >>> data.A.shape, data.paired
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..core.errors import ConfigError, DataError
from .config import TranslateTrainConfig, resolve_model_config


@dataclass
class TranslationData:
    """``A`` and ``B`` image tensors in [-1, 1]; ``labels_A`` (int64) when the A source has labels."""

    A: torch.Tensor
    B: torch.Tensor
    paired: bool
    labels_A: torch.Tensor | None = None


def to_tensor(images: list[np.ndarray], *, size: int, channels: int, where: str) -> torch.Tensor:
    """uint8 (or [0, 1] float) H×W[×C] images -> N×C×size×size float32 in [-1, 1]."""
    import cv2

    out = np.empty((len(images), channels, size, size), np.float32)
    for i, img in enumerate(images):
        x = np.asarray(img)
        x = x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else x.astype(np.float32)
        if x.ndim == 2:
            x = x[..., None]
        if x.shape[2] == 4:
            x = x[..., :3]
        if x.shape[2] != channels:
            if channels == 1:
                x = x.mean(axis=2, keepdims=True)
            elif x.shape[2] == 1:
                x = np.repeat(x, channels, axis=2)
            else:
                raise DataError(f"image {i} has {x.shape[2]} channels, the model wants {channels}", where=where)
        if x.shape[:2] != (size, size):
            interp = cv2.INTER_AREA if min(x.shape[:2]) > size else cv2.INTER_CUBIC
            x = cv2.resize(x, (size, size), interpolation=interp)
            x = x[..., None] if x.ndim == 2 else x
        out[i] = np.clip(x, 0.0, 1.0).transpose(2, 0, 1)
    return torch.from_numpy(out).mul_(2.0).sub_(1.0)


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """N×C×H×W in [-1, 1] -> N×H×W×C uint8 (N×H×W for one channel)."""
    arr = ((x.detach().float().cpu() + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8).numpy()
    arr = arr.transpose(0, 2, 3, 1)
    return arr[..., 0] if arr.shape[-1] == 1 else arr


def _limit(n: int, limit: int) -> int:
    return n if limit <= 0 else min(n, limit)


def load_translation_data(cfg: TranslateTrainConfig) -> TranslationData:
    """The A and B tensors (and A's labels) a run trains on."""
    from ..data.paired import open_paired, split_pair
    from ..data.unpaired import open_unpaired

    if cfg.model == "texturegan":
        from .texturegan_data import load_texturegan_data

        return load_texturegan_data(cfg)
    if cfg.model == "sims":
        from .sims_data import load_sims_data

        return load_sims_data(cfg)
    mc = resolve_model_config(cfg)
    size = mc.image_size
    if cfg.model == "pix2pix":
        if cfg.data_b:
            raise ConfigError("pix2pix trains on pairs: give data_a only (A|B images or a folder with A/, B/)",
                              field="data_b")
        src = open_paired(cfg.data_a)
        n = _limit(len(src), cfg.limit_a)
        if n == 0:
            raise DataError("no training pairs", where=cfg.data_a)
        pairs = [split_pair(src[i].image, where=src.name) for i in range(n)]
        A = to_tensor([p[0] for p in pairs], size=size, channels=mc.in_channels, where=cfg.data_a)
        B = to_tensor([p[1] for p in pairs], size=size, channels=mc.out_channels, where=cfg.data_a)
        return TranslationData(A, B, True)
    src_a, src_b = open_unpaired(cfg.data_a, cfg.data_b or None)
    na, nb = _limit(len(src_a), cfg.limit_a), _limit(len(src_b), cfg.limit_b)
    if na == 0 or nb == 0:
        raise DataError("A and B each need at least one image", where=f"{cfg.data_a} | {cfg.data_b}")
    samples_a = [src_a[i] for i in range(na)]
    A = to_tensor([s.image for s in samples_a], size=size, channels=mc.channels_a, where=src_a.name)
    B = to_tensor([src_b[i].image for i in range(nb)], size=size, channels=mc.channels_b, where=src_b.name)
    labels = None
    if all(isinstance(s.label, (int, np.integer)) for s in samples_a):
        labels = torch.tensor([int(s.label) for s in samples_a], dtype=torch.int64)
    return TranslationData(A, B, False, labels)
