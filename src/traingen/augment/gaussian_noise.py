"""Additive Gaussian noise, its standard deviation a fraction of the image's value range.

Targets: image. ``std=0.05`` on a uint8 image is 0.05 · 255 = 12.75 grey levels, on a float image
(values in [0, 1]) 0.05. Each channel of each pixel gets its own draw unless ``per_channel=False``
(one draw per pixel, shared by its channels). The sum saturates to the dtype's range: [0, 255] for
uint8 (rounded to the nearest level), [0, 65535] for uint16, [0, 1] for floats.

The noise comes from ``cv2.randn`` after ``cv2.setRNGSeed(seed)``: OpenCV's generator is
thread-local, so a seed reproduces the same bytes in any worker, and it is about three times
faster than numpy's ``Generator.standard_normal`` for a 224x224x3 image (0.5 ms vs 1.6 ms here).

References:
    Bishop. "Training with Noise is Equivalent to Tikhonov Regularization", Neural Computation 7(1),
    1995.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from ..core.seeding import Rng
from .base import TRANSFORMS, PixelTransform, check_number, value_range

_CV_DEPTH = {np.dtype(np.uint8): cv2.CV_8U, np.dtype(np.uint16): cv2.CV_16U}


def add_gaussian_noise(image: np.ndarray, std: float, seed: int, *, mean: float = 0.0,
                       per_channel: bool = True) -> np.ndarray:
    """Return ``image + N(mean, std)`` (both fractions of the value range), saturated to the dtype.

    Args:
        image: HxW or HxWxC, uint8, uint16, float32 or float64.
        std: standard deviation as a fraction of the value range (255 for uint8, 1 for floats).
        seed: 31-bit seed of OpenCV's generator.
        mean: mean of the noise, same units as ``std``.
        per_channel: independent noise per channel (else one draw per pixel for all channels).

    Returns:
        A new image of the same shape and dtype.
    """
    lo, hi = value_range(image.dtype)
    sigma, mu = std * (hi - lo), mean * (hi - lo)
    h, w = image.shape[:2]
    c = image.shape[2] if image.ndim == 3 else 1
    ftype = np.float64 if image.dtype == np.float64 else np.float32
    cv2.setRNGSeed(int(seed))
    # One single-channel 2-D plane: cv2.randn takes one mean/std per channel, at most 4 channels.
    if per_channel or c == 1:
        noise = np.empty((h, w * c), ftype)
        cv2.randn(noise, mu, sigma)
    else:
        plane = np.empty((h, w), ftype)
        cv2.randn(plane, mu, sigma)
        noise = np.repeat(plane, c, axis=1)
    flat = np.ascontiguousarray(image).reshape(h, w * c)
    depth = _CV_DEPTH.get(image.dtype)
    if depth is not None:
        # Saturating add with rounding to nearest: the exact uint result of clip(round(x + n)).
        out = cv2.add(flat, noise, dtype=depth)
    else:
        out = flat + noise
        np.clip(out, lo, hi, out=out)
    return out.reshape(image.shape)


@TRANSFORMS.register("gaussian-noise")
@dataclass
class GaussianNoise(PixelTransform):
    """Add Gaussian noise of standard deviation ``std`` (a fraction of the value range).

    Args:
        std: standard deviation, fraction of the value range (0.05 on uint8 = 12.75 grey levels).
        mean: mean, same units.
        per_channel: independent draws per channel.
        p: probability of adding noise.

    Targets:
        image.

    Returns:
        The noisy image (same dtype, saturated); other targets unchanged.

    Example:
        >>> Compose([GaussianNoise(0.05)])(image=img, seed=0)["image"].dtype
        dtype('uint8')

    References:
        Bishop, Neural Computation 1995.
    """

    std: float = 0.05
    mean: float = 0.0
    per_channel: bool = True
    p: float = 1.0

    targets = ("image",)

    def __post_init__(self) -> None:
        check_number(self, "std", low=0.0)
        check_number(self, "mean", low=-1.0, high=1.0)
        self._check_p()

    def make_params(self, rng: Rng, h: int, w: int) -> dict[str, Any]:
        if not rng.bernoulli(self.p):
            return {"applied": False}
        return {"applied": True, "seed": rng.u31()}

    def apply(self, targets: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        if not params["applied"] or self.std == 0.0 and self.mean == 0.0:
            return targets
        out = dict(targets)
        out["image"] = add_gaussian_noise(targets["image"], self.std, params["seed"], mean=self.mean,
                                          per_channel=self.per_channel)
        return out
