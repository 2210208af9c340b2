"""A weights-free feature network: one layer of seeded random filters at several scales.

Ustyuzhaninov, Brendel, Gatys and Bethge showed that a single convolutional layer of random filters,
at several kernel sizes, is enough to synthesise natural textures: the multi-scale structure matters
more than training. traingen uses such a filter bank wherever a pretrained network is unavailable:

- 8 kernel sizes (3, 5, 7, 11, 15, 23, 37, 55) with 32 maps each (256 maps), stride 1, zero "same"
  padding, no bias, ReLU, no pooling;
- weights Xavier-uniform (bound ``sqrt(6 / (fan_in + fan_out))``), drawn from numpy's PCG64 raw 64-bit
  outputs (``bit_generator.random_raw``; top 53 bits -> [0, 1)) seeded by ``seed``, scale after scale,
  in C-order. PCG64's raw stream is fixed by its specification, so the weights do not change with the
  numpy or torch version (a test pins their checksum);
- input: grey repeated to RGB, ImageNet normalisation; by default the image keeps its size, except
  that an image whose shorter side is below ``min_size`` (64) is upscaled (bilinear, aspect kept) so
  that the larger kernels see more than padding. ``input_size`` fixes the size instead.

Outputs: :meth:`~traingen.features.base.FeatureExtractor.maps` gives one tap per scale (``k3``,
``k5``, ..., ``k55``: N×32×H×W after ReLU), for texture and style losses. ``pool`` (also
:meth:`~traingen.features.base.FeatureExtractor.vector`) is the per-map spatial mean followed by the
per-map spatial standard deviation (population, ddof 0): 512 numbers per image, the input of FID/KID
on this network. Such scores are comparable only with scores from the same seed and options (they
are in the provenance), never with Inception-based numbers.

Example:
    >>> ext = get_extractor("random-multiscale", seed=0)
    >>> ext.extract(images).pool.shape          # (N, 512)
    >>> ext.maps(x, ["k3", "k55"])["k3"].shape    # N×32×H×W

References:
    Ustyuzhaninov, Brendel, Gatys, Bethge, "What does it take to generate natural textures?",
    ICLR 2017. Glorot & Bengio, "Understanding the difficulty of training deep feedforward neural
    networks", AISTATS 2010 (Xavier initialisation). O'Neill, "PCG: A Family of Simple Fast
    Space-Efficient Statistically Good Algorithms for Random Number Generation", 2014.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

import numpy as np

from ..core.errors import ConfigError
from .base import FEATURES, FeatureExtractor, imagenet_normalise

KERNEL_SIZES = (3, 5, 7, 11, 15, 23, 37, 55)
MAPS_PER_SCALE = 32
DEFAULT_SEED = 0


def uniform_from_raw(raw: np.ndarray) -> np.ndarray:
    """uint64 raw draws -> float64 uniforms in [0, 1) from their top 53 bits (exact, platform-free)."""
    return (raw >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)


def filter_bank(
    seed: int = DEFAULT_SEED,
    kernel_sizes: tuple[int, ...] = KERNEL_SIZES,
    maps: int = MAPS_PER_SCALE,
    in_channels: int = 3,
) -> list[np.ndarray]:
    """The random filters, one float32 array ``maps × in_channels × k × k`` per kernel size.

    Args:
        seed: PCG64 seed (a non-negative int).
        kernel_sizes: odd kernel sizes, drawn in this order from one stream.
        maps: output maps per scale.
        in_channels: input channels.

    Returns:
        list of float32 arrays, Xavier-uniform in ``[-b, b]``, ``b = sqrt(6 / ((in + maps) · k²))``.

    Example:
        >>> [w.shape for w in filter_bank(0, (3, 5), 4)]
        [(4, 3, 3, 3), (4, 3, 5, 5)]
    """
    if seed < 0:
        raise ConfigError(f"seed must be >= 0, got {seed}", where="random-multiscale", field="seed")
    bits = np.random.Generator(np.random.PCG64(seed)).bit_generator
    out = []
    for k in kernel_sizes:
        if k < 1 or k % 2 == 0:
            raise ConfigError(f"kernel sizes must be odd and positive, got {k}", where="random-multiscale",
                              field="kernel_sizes")
        n = maps * in_channels * k * k
        u = uniform_from_raw(bits.random_raw(n))
        bound = math.sqrt(6.0 / ((in_channels + maps) * k * k))
        out.append(((2.0 * u - 1.0) * bound).astype(np.float32).reshape(maps, in_channels, k, k))
    return out


def bank_sha256(bank: list[np.ndarray]) -> str:
    """sha256 of the filter bank's float32 little-endian bytes, scale after scale."""
    h = hashlib.sha256()
    for w in bank:
        h.update(np.ascontiguousarray(w, dtype="<f4").tobytes())
    return h.hexdigest()


#: kernels at least this large are applied through the FFT (7.5× faster at k=55 on a CPU core, 64² input;
#: k=23 at 512²: PyTorch's CPU direct convolution took 124 CPU s, the FFT path about 1 s; equal to 1e-6 rel.).
FFT_MIN_KERNEL = 23


def conv2d_same(x: Any, w: Any) -> Any:
    """Cross-correlation with zero "same" padding (``F.conv2d(x, w, padding=k // 2)``), FFT for large k.

    Args:
        x: float N×C×H×W tensor.
        w: float O×C×k×k tensor, k odd.

    Returns:
        N×O×H×W tensor; differentiable. The FFT path agrees with ``F.conv2d`` to ~1e-6 relative.
    """
    import torch
    import torch.nn.functional as F

    k = int(w.shape[-1])
    p = k // 2
    if k < FFT_MIN_KERNEL:
        return F.conv2d(x, w, padding=p)
    h, wd = int(x.shape[-2]), int(x.shape[-1])
    # Circular correlation of the padded input wraps only into the first k-1 outputs, which are dropped.
    s = (h + 2 * p + (h % 2), wd + 2 * p + (wd % 2))
    xf = torch.fft.rfft2(F.pad(x, (p, p, p, p)), s=s)
    wf = torch.fft.rfft2(w.flip(-1, -2), s=s)
    y = torch.fft.irfft2(torch.einsum("ncij,ocij->noij", xf, wf), s=s)
    return y[..., k - 1:k - 1 + h, k - 1:k - 1 + wd]


def pooled_stats(maps: list[Any]) -> Any:
    """Per-map spatial mean then per-map spatial std (ddof 0) of N×C×H×W tensors -> N×(2·ΣC)."""
    import torch

    means = [m.mean(dim=(2, 3)) for m in maps]
    stds = [m.std(dim=(2, 3), correction=0) for m in maps]
    return torch.cat(means + stds, dim=1)


@FEATURES.register("random-multiscale")
class RandomMultiscale(FeatureExtractor):
    """Seeded random filters at 8 scales (Ustyuzhaninov et al. 2017); works offline on any images.

    Args:
        weights: must be None (the weights come from ``seed``).
        resize: method for the size change (default ``torch-bilinear-antialias``).
        seed: PCG64 seed of the filters.
        input_size: a fixed (H, W) (or one int) to resize every image to; None keeps the size.
        min_size: with ``input_size=None``, the shorter side below which images are upscaled.
        kernel_sizes: the odd kernel sizes (default 3, 5, 7, 11, 15, 23, 37, 55).
        maps: maps per scale (default 32).
    """

    name = "random-multiscale"
    channels = 3
    default_resize = "torch-bilinear-antialias"
    outputs = ("pool",)

    def __init__(
        self,
        *,
        weights: str | None = None,
        resize: str | None = None,
        seed: int = DEFAULT_SEED,
        input_size: int | tuple[int, int] | None = None,
        min_size: int = 64,
        kernel_sizes: tuple[int, ...] = KERNEL_SIZES,
        maps: int = MAPS_PER_SCALE,
    ):
        super().__init__(weights=None, resize=resize)
        if weights is not None:
            raise ConfigError("random-multiscale has no weight file (its weights come from 'seed')",
                              where=self.name, field="weights")
        if isinstance(input_size, int):
            input_size = (input_size, input_size)
        self.input_size = tuple(input_size) if input_size is not None else None
        if min_size < 1:
            raise ConfigError(f"min_size must be >= 1, got {min_size}", where=self.name, field="min_size")
        self.seed = int(seed)
        self.min_size = int(min_size)
        self.kernel_sizes = tuple(int(k) for k in kernel_sizes)
        self.n_maps = int(maps)
        self.bank = filter_bank(self.seed, self.kernel_sizes, self.n_maps, self.channels)
        self.taps = tuple(f"k{k}" for k in self.kernel_sizes)
        self._sha = bank_sha256(self.bank)

    def weights_id(self) -> str:
        return f"seeded:{self.seed}:{self._sha[:16]}"

    def provenance(self) -> dict[str, Any]:
        prov = super().provenance()
        prov.update(seed=self.seed, kernel_sizes=list(self.kernel_sizes), maps=self.n_maps,
                    min_size=None if self.input_size else self.min_size)
        return prov

    def target_size(self, h: int, w: int) -> tuple[int, int] | None:
        if self.input_size is not None:
            return self.input_size
        short = min(h, w)
        if short >= self.min_size:
            return None
        scale = self.min_size / short
        return (max(self.min_size, round(h * scale)), max(self.min_size, round(w * scale)))

    def build(self):
        import torch
        from torch import nn

        net = nn.ModuleDict()
        for k, w in zip(self.kernel_sizes, self.bank, strict=True):
            conv = nn.Conv2d(self.channels, self.n_maps, k, padding=k // 2, bias=False)
            with torch.no_grad():
                conv.weight.copy_(torch.from_numpy(w))
            net[f"k{k}"] = conv
        return net

    def normalise(self, x):
        return imagenet_normalise(x)

    def _maps(self, x, taps: list[str]) -> dict[str, Any]:
        import torch.nn.functional as F

        return {t: F.relu(conv2d_same(x, self.module[t].weight)) for t in taps}

    def _run(self, x) -> dict[str, Any]:
        return {"pool": pooled_stats(list(self._maps(x, list(self.taps)).values()))}
