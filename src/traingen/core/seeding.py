"""Seeding: every random stream derives from ``(seed, *keys)`` through SplitMix64.

A sample's randomness depends on the run seed and its global index (and the step name in a pipeline),
never on the worker that happens to process it, so output bytes do not change with the worker count.
Creating ``np.random.default_rng([seed, index])`` per sample costs ~22 µs; a SplitMix64 derivation
costs well under 1 µs, and :class:`Rng` draws the handful of parameters a transform needs in pure
Python without allocating a numpy generator.

References:
    Steele, Lea, Flood. "Fast splittable pseudorandom number generators", OOPSLA 2014 (SplitMix64).
"""

from __future__ import annotations

import math
import zlib

import numpy as np

MASK64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15


def splitmix64(x: int) -> int:
    """One SplitMix64 output for the state ``x`` (the state is advanced by the caller)."""
    z = (x + _GOLDEN) & MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def _key_to_int(key: int | str | bytes) -> int:
    if isinstance(key, bool):
        return int(key)
    if isinstance(key, int):
        return key & MASK64
    if isinstance(key, str):
        key = key.encode()
    if isinstance(key, bytes):
        # crc32 is stable across Python runs (unlike hash()).
        return zlib.crc32(key) | (len(key) << 32)
    raise TypeError(f"seed keys must be int, str or bytes, got {type(key).__name__}")


def derive_seed(seed: int, *keys: int | str | bytes) -> int:
    """A 64-bit seed for the stream ``(seed, *keys)``; cheap, stable across runs and platforms."""
    state = splitmix64(_key_to_int(seed))
    for k in keys:
        state = splitmix64(state ^ _key_to_int(k))
    return state


def torch_generator(seed: int, *keys: int | str | bytes, device: str | None = None):
    """A ``torch.Generator`` seeded from ``(seed, *keys)`` (~4 µs)."""
    import torch

    g = torch.Generator(device=device or "cpu")
    g.manual_seed(derive_seed(seed, *keys) & ((1 << 63) - 1))
    return g


def numpy_rng(seed: int, *keys: int | str | bytes) -> np.random.Generator:
    """A numpy ``Generator`` (PCG64) seeded from ``(seed, *keys)``; for bulk draws, not hot loops."""
    return np.random.Generator(np.random.PCG64(derive_seed(seed, *keys)))


class Rng:
    """A tiny counter-based generator for per-sample parameters (pure Python, no allocation).

    Each draw is ``splitmix64(state + n * golden)``: the stream is a function of the seed only, so a
    replay with the same seed gives the same draws. Use :meth:`numpy` or :meth:`torch` for bulk noise.
    """

    __slots__ = ("_state", "seed")

    def __init__(self, seed: int, *keys: int | str | bytes):
        self.seed = derive_seed(seed, *keys) if keys else _key_to_int(seed)
        self._state = self.seed

    def next_u64(self) -> int:
        self._state = (self._state + _GOLDEN) & MASK64
        z = self._state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)

    def random(self) -> float:
        """Uniform in [0, 1) with 53 random bits."""
        return (self.next_u64() >> 11) * (1.0 / 9007199254740992.0)

    def uniform(self, low: float, high: float) -> float:
        return low + (high - low) * self.random()

    def integers(self, low: int, high: int) -> int:
        """Uniform integer in [low, high) (high exclusive, like numpy)."""
        n = high - low
        if n <= 0:
            raise ValueError(f"empty range [{low}, {high})")
        return low + (self.next_u64() * n >> 64)

    def bernoulli(self, p: float) -> bool:
        if p >= 1.0:
            return True
        if p <= 0.0:
            return False
        return self.random() < p

    def normal(self, mean: float = 0.0, std: float = 1.0) -> float:
        """Box-Muller; one value per call (the pair's second half is discarded for replayability)."""
        u1 = self.random() or 2.0**-53
        u2 = self.random()
        return mean + std * math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)

    def beta(self, a: float, b: float) -> float:
        return float(self.numpy().beta(a, b))

    def choice(self, n: int) -> int:
        return self.integers(0, n)

    def spawn(self, *keys: int | str | bytes) -> Rng:
        """An independent child stream keyed by ``keys``."""
        return Rng(self.next_u64(), *keys)

    def numpy(self) -> np.random.Generator:
        """A numpy Generator seeded from the next draw (for bulk arrays)."""
        return np.random.Generator(np.random.PCG64(self.next_u64()))

    def torch(self, device: str | None = None):
        import torch

        g = torch.Generator(device=device or "cpu")
        g.manual_seed(self.next_u64() & ((1 << 63) - 1))
        return g

    def u31(self) -> int:
        """A non-negative 31-bit integer (for APIs such as ``cv2.setRNGSeed``)."""
        return self.next_u64() >> 33
