"""BatchAffine: the per-sample geometric transforms and Gaussian noise as one batched torch op.

For each image of the batch, the per-sample geometric transforms (flip, rotate, scale, translate,
crop, resize: anything with the ``make_params(rng, h, w)`` / ``matrix(params, h, w)`` contract of
:class:`traingen.augment.base.GeometricTransform`) are fused into one 3x3 matrix by
:func:`traingen.augment.geometry.fuse`, with image ``i`` drawing from ``Rng(seed, i)`` (or from a
seed the caller gives, e.g. the dataset's per-sample seed). The whole batch is then warped by ONE
``F.affine_grid`` and ONE ``F.grid_sample`` on the images' device, onto the final canvas, and
Gaussian noise drawn from a ``torch.Generator`` is added. Matrices follow traingen's convention
(pixel ``i`` covers ``[i, i + 1)``), which is ``align_corners=False`` in torch's normalised grid.

Masks are warped with nearest sampling, boxes and keypoints through the same matrices (boxes become
the box of their moved corners, clipped; keypoints that leave the canvas turn invisible), by the
per-sample engine's own functions so both paths agree.

References:
    Jaderberg, Simonyan, Zisserman, Kavukcuoglu. "Spatial Transformer Networks", NeurIPS 2015
    (the sampling grid of an affine map, ``affine_grid`` / ``grid_sample``).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...core.errors import ConfigError, DataError
from ...core.seeding import Rng
from ..compose import is_geometric
from ..gaussian_noise import GaussianNoise
from ..geometry import fuse, warp_boxes, warp_keypoints
from .base import MixResult, Targets, check_inputs, np_rng, params_dict
from .registry import MIXERS


@dataclass
class BatchAffineParams:
    """One draw for a batch.

    Attributes:
        matrices: N x 3 x 3 float64 traingen matrices (input -> output pixel coordinates).
        out_hw: the output canvas ``(height, width)`` shared by the batch.
        seeds: N per-image seeds the matrices were drawn from (``Rng(seed)``), or None if given.
        noise_applied: N flags: image ``i`` gets noise (the noise step's ``p`` draw, from the same
            per-image stream as in ``Compose``).
        noise_seed: seed of the noise generator (on the images' device).
    """

    matrices: np.ndarray
    out_hw: tuple[int, int]
    seeds: np.ndarray | None = None
    noise_applied: np.ndarray | None = None
    noise_seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return params_dict(self)


def normalized(h: int, w: int) -> np.ndarray:
    """Pixel coordinates (traingen convention) -> torch's normalised ``[-1, 1]`` (align_corners=False)."""
    return np.array([[2.0 / w, 0.0, -1.0], [0.0, 2.0 / h, -1.0], [0.0, 0.0, 1.0]])


def theta_from_matrices(matrices: np.ndarray, in_hw: tuple[int, int], out_hw: tuple[int, int]) -> np.ndarray:
    """N x 2 x 3 ``affine_grid`` thetas: output normalised coords -> input normalised coords.

    The grid asks, for each output pixel, where to sample the input: that is ``M^-1``, wrapped in
    the two normalisations: ``theta = N_in · M^-1 · N_out^-1``.
    """
    n_in = normalized(*in_hw)
    n_out_inv = np.linalg.inv(normalized(*out_hw))
    try:
        inv = np.linalg.inv(matrices)
    except np.linalg.LinAlgError:
        raise DataError("a geometric matrix is singular (a zero scale?)", where="BatchAffine",
                        field="matrices") from None
    return (n_in @ inv @ n_out_inv)[:, :2, :]


_WORKSPACE = threading.local()


def workspace(name: str, shape: tuple[int, ...], dtype: Any, device: Any) -> Any:
    """A scratch tensor of ``shape`` kept between calls (one per ``name`` and thread), on CPU only.

    A fresh tensor of tens of MB comes from ``mmap`` and is paid for in page faults on first touch:
    converting a 64 x 3 x 256 x 256 uint8 batch to float took 36 ms into a new tensor and 6 ms into
    a reused one (torch 2.14, one thread). Only internal buffers that never leave the call (the float
    copy of a uint8 input, the sampling grid, the noise) live here; results are always new tensors.
    On other devices (CUDA's caching allocator already reuses memory) this is ``torch.empty``.
    """
    import torch

    dev = torch.device(device)
    if dev.type != "cpu":
        return torch.empty(shape, dtype=dtype, device=dev)
    bufs = getattr(_WORKSPACE, "bufs", None)
    if bufs is None:
        bufs = _WORKSPACE.bufs = {}
    buf = bufs.get((name, dtype))
    if buf is None or tuple(buf.shape) != tuple(shape):
        buf = bufs[(name, dtype)] = torch.empty(shape, dtype=dtype, device=dev)
    return buf


def release_workspace() -> None:
    """Free this thread's scratch tensors (they are rebuilt on the next call)."""
    _WORKSPACE.bufs = {}


def affine_grid(theta: Any, out_hw: tuple[int, int], *, out: Any = None) -> Any:
    """``F.affine_grid(theta, (N, C, H, W), align_corners=False)``, built by broadcasting.

    An affine grid is separable: ``gx = a x + b y + c`` is a row vector plus a column vector, so two
    broadcast adds write it. torch's version multiplies an N x H*W x 3 base grid by theta (a batched
    matmul with an inner size of 3), about 5x slower on CPU for the same bytes.

    Args:
        theta: N x 2 x 3 thetas (output normalised coordinates -> input ones).
        out_hw: the output canvas ``(H, W)``.
        out: optional N x H x W x 2 tensor of theta's dtype and device to write the grid into.
    """
    import torch

    oh, ow = out_hw
    dt, dev = theta.dtype, theta.device
    # pixel centres in normalised coordinates, align_corners=False: (2 i + 1) / size - 1
    xs = (torch.arange(ow, dtype=dt, device=dev) * 2 + 1) / ow - 1
    ys = (torch.arange(oh, dtype=dt, device=dev) * 2 + 1) / oh - 1
    shape = (theta.shape[0], oh, ow, 2)
    if out is not None and (tuple(out.shape) != shape or out.dtype != dt or out.device != dev):
        raise ValueError(f"out must be {shape} {dt} on {dev}, got {tuple(out.shape)} {out.dtype} on {out.device}")
    grid = torch.empty(shape, dtype=dt, device=dev) if out is None else out
    for k in range(2):
        row = theta[:, k, 0, None, None] * xs[None, None, :]  # N x 1 x W
        col = theta[:, k, 1, None, None] * ys[None, :, None] + theta[:, k, 2, None, None]  # N x H x 1
        torch.add(row, col, out=grid[..., k])
    return grid


def warp_batch(x: Any, matrices: np.ndarray, out_hw: tuple[int, int], mode: str = "bilinear",
               fill: float = 0.0) -> Any:
    """Warp N x C x H x W ``x`` by N traingen matrices with one grid and one ``grid_sample``.

    A uint8 batch is sampled as float32 in 0..255 and scaled to [0, 1] on the (usually smaller)
    output: the conversion costs one pass over the input instead of two.
    """
    import torch
    import torch.nn.functional as F

    n, c, h, w = x.shape
    scale = None
    if x.dtype == torch.uint8:
        # An exact conversion into a reused buffer (no page faults); the result is a new tensor.
        x, scale = workspace("input", tuple(x.shape), torch.float32, x.device).copy_(x), 1.0 / 255.0
    theta = torch.as_tensor(theta_from_matrices(matrices, (h, w), out_hw), dtype=x.dtype, device=x.device)
    grid = affine_grid(theta, out_hw, out=workspace("grid", (n, *out_hw, 2), x.dtype, x.device))
    if fill == 0.0:
        out = F.grid_sample(x, grid, mode=mode, padding_mode="zeros", align_corners=False)
        return out.mul_(scale) if scale else out
    # A ones plane sampled alongside says how much of each output pixel came from inside the input;
    # the rest takes the fill value (what cv2's BORDER_CONSTANT does).
    ones = torch.full_like(x[:, :1], 255.0 if scale else 1.0)
    out = F.grid_sample(torch.cat([x, ones], 1), grid, mode=mode, padding_mode="zeros", align_corners=False)
    if scale:
        out.mul_(scale)
    return out[:, :c] + fill * (1.0 - out[:, c:])


def add_noise(images: Any, noise: GaussianNoise, applied: np.ndarray, seed: int) -> Any:
    """Add ``N(mean, std)`` to the images whose flag is set, from a generator on their device."""
    import torch

    n, c, h, w = images.shape
    g = torch.Generator(device=images.device)
    g.manual_seed(int(seed))
    shape = (n, c if noise.per_channel else 1, h, w)
    # normal_ on an empty buffer is ~40% faster than torch.randn on CPU (measured, torch 2.14); a
    # reused buffer saves the page faults of a new one (the values depend on the generator only).
    z = workspace("noise", shape, images.dtype, images.device).normal_(generator=g)
    scale = torch.as_tensor(applied, dtype=images.dtype, device=images.device).view(n, 1, 1, 1)
    if noise.mean:
        images = images.add_(scale * noise.mean)
    return images.addcmul_(z, scale * noise.std)  # one pass: images += z * std


def batch_affine(t: Targets, params: BatchAffineParams, *, noise: GaussianNoise | None = None,
                 interpolation: str = "bilinear", fill: float = 0.0, mask_fill: int = 0,
                 min_visibility: float = 0.0) -> MixResult:
    """Apply a draw to validated targets (the pure function behind :class:`BatchAffine`).

    The noisy images are clamped to [0, 1], as the per-sample ``GaussianNoise`` saturates float images.
    """
    import torch

    if params.matrices.shape != (t.n, 3, 3):
        raise ConfigError(f"params hold {params.matrices.shape[0]} matrices for a batch of {t.n}",
                          where="BatchAffine", field="params")
    out_hw = (int(params.out_hw[0]), int(params.out_hw[1]))
    images = warp_batch(t.images, params.matrices, out_hw, interpolation, fill)
    if noise is not None and (noise.std or noise.mean):
        applied = params.noise_applied if params.noise_applied is not None else np.ones(t.n, bool)
        if applied.any():
            images = add_noise(images, noise, applied, params.noise_seed).clamp_(0.0, 1.0)
    elif interpolation == "bicubic":
        images = images.clamp_(0.0, 1.0)  # the cubic kernel overshoots at edges
    masks = None
    if t.masks is not None:
        # float64 holds any int32 class exactly; nearest sampling never blends two classes.
        m = warp_batch(t.masks[:, None].to(torch.float64), params.matrices, out_hw, "nearest", float(mask_fill))
        masks = m[:, 0].round().to(t.masks.dtype)
    res = MixResult(images=images, labels=t.labels, masks=masks, params=params)
    dev = t.images.device
    if t.boxes is not None:
        # Boxes and keypoints are a handful of numbers: the per-sample engine's own numpy functions
        # move them, so both backends agree to the bit on targets.
        res.boxes, res.box_labels, res.box_weights = [], [], []
        for i in range(t.n):
            b, keep = warp_boxes(t.boxes[i].detach().cpu().double().numpy(), params.matrices[i], out_hw,
                                 min_visibility=min_visibility)
            res.boxes.append(torch.as_tensor(b, device=dev).to(t.boxes[i].dtype))
            res.box_labels.append(t.box_labels[i][torch.as_tensor(keep, device=dev)] if len(keep) else t.box_labels[i])
            res.box_weights.append(torch.ones(len(b), dtype=images.dtype, device=dev))
    if t.keypoints is not None:
        res.keypoints, res.keypoint_visible = [], []
        for i in range(t.n):
            k, v = warp_keypoints(t.keypoints[i].detach().cpu().double().numpy(),
                                  t.keypoint_visible[i].cpu().numpy(), params.matrices[i], out_hw)
            res.keypoints.append(torch.as_tensor(k, device=dev).to(t.keypoints[i].dtype))
            res.keypoint_visible.append(torch.as_tensor(v, device=dev))
    return res


_TARGET_ARGS = ("masks", "boxes", "box_labels", "keypoints", "keypoint_visible")


@MIXERS.register("batch-affine")
class BatchAffine:
    """Per-sample random geometry and noise for a whole batch: one fused warp, then noise.

    Image ``i`` draws its parameters from ``Rng(seeds[i])`` exactly as ``Compose(...)(sample,
    seed=seeds[i])`` does, so both backends produce the same matrices (and the same noise on/off
    decisions; the noise values come from torch's generator, not OpenCV's).

    Args:
        transforms: geometric transforms (``HorizontalFlip``, ``Rotate``, ``Scale``, ``Translate``,
            ``RandomCrop``, ``Resize``, a geometric ``OneOf``...), optionally ending with one
            ``GaussianNoise``; or a ``Compose`` of them.
        noise_std: shorthand for a final ``GaussianNoise(noise_std)`` (on [0, 1] images).
        interpolation: ``bilinear``, ``nearest`` or ``bicubic`` (torch's cubic kernel, not OpenCV's).
        fill: value of pixels that come from outside the input.
        mask_fill: class of mask pixels that come from outside the input.
        min_visibility: drop a box whose visible fraction falls below this (as ``Compose``).

    Targets:
        images (float in [0, 1], or uint8 0..255 which comes back float32 in [0, 1]: the conversion
        is fused into the warp; warped to the final canvas, noise, clamped to [0, 1]), masks (nearest), boxes and
        keypoints (same matrices); labels unchanged (one-hot soft, as for the mixers).

    Returns:
        :class:`MixResult` with :class:`BatchAffineParams` in ``params``.

    Example:
        >>> aug = BatchAffine([HorizontalFlip(), Rotate(30), RandomCrop(224, 224)], noise_std=0.05)
        >>> out = aug(images.cuda(), labels, num_classes=10, generator=torch.Generator().manual_seed(0))

    References:
        Jaderberg et al., "Spatial Transformer Networks", NeurIPS 2015.
    """

    def __init__(self, transforms: Any, noise_std: float | None = None, *, interpolation: str = "bilinear",
                 fill: float = 0.0, mask_fill: int = 0, min_visibility: float = 0.0):
        steps = list(getattr(transforms, "transforms", transforms))
        noise = None
        if steps and isinstance(steps[-1], GaussianNoise):
            noise = steps.pop()
        for i, step in enumerate(steps):
            if not is_geometric(step):
                raise ConfigError(
                    f"step {i} ({type(step).__name__}) is not geometric: BatchAffine fuses geometric transforms "
                    "into one warp and adds one GaussianNoise at the end",
                    where="BatchAffine",
                    field="transforms",
                )
        if noise_std is not None:
            if noise is not None:
                raise ConfigError("noise given twice (a GaussianNoise step and noise_std)", where="BatchAffine",
                                  field="noise_std")
            noise = GaussianNoise(std=noise_std)  # its own checks name the bad value
        if interpolation not in ("bilinear", "nearest", "bicubic"):
            raise ConfigError(f"expected bilinear, nearest or bicubic, got {interpolation!r}", where="BatchAffine",
                              field="interpolation")
        for name, v in (("fill", fill), ("min_visibility", min_visibility)):
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ConfigError(f"expected a number, got {v!r}", where="BatchAffine", field=name)
        self.transforms = steps
        self.noise = noise
        self.interpolation = interpolation
        self.fill = float(fill)
        self.mask_fill = int(mask_fill)
        self.min_visibility = float(min_visibility)

    @classmethod
    def from_pipeline(cls, pipeline: Any) -> BatchAffine:
        """The batched equivalent of a ``Compose`` of geometric steps and an optional final
        ``GaussianNoise`` (its interpolation, fill, mask fill and box visibility too).

        Any other step (colour, cutout...) cannot be fused into a warp and is an error naming it.
        """
        return cls(pipeline, interpolation=getattr(pipeline, "interpolation", "bilinear"),
                   fill=getattr(pipeline, "fill", 0.0), mask_fill=getattr(pipeline, "mask_fill", 0),
                   min_visibility=getattr(pipeline, "min_visibility", 0.0))

    @property
    def noise_std(self) -> float | None:
        return None if self.noise is None else self.noise.std

    def make_params(self, n: int, h: int, w: int, generator: Any = None,
                    seeds: Sequence[int] | None = None) -> BatchAffineParams:
        """Fuse image ``i``'s transforms from ``Rng(seeds[i])``; without seeds, ``Rng(base, i)`` with
        ``base`` drawn from ``generator``."""
        if seeds is None:
            if generator is None:
                raise ConfigError("give generator= (or per-image seeds=)", where="BatchAffine", field="generator")
            rng = np_rng(generator, "BatchAffine")
            base = int(rng.integers(0, 2**63))
            seeds_list = [Rng(base, i).seed for i in range(n)]
            noise_seed = int(rng.integers(0, 2**62))
        else:
            seeds_list = [int(s) for s in seeds]
            if len(seeds_list) != n:
                raise ConfigError(f"expected {n} seeds, got {len(seeds_list)}", where="BatchAffine", field="seeds")
            noise_seed = int(Rng(seeds_list[0], "batch-noise").u31()) if n else 0
        mats = np.empty((n, 3, 3))
        applied = np.zeros(n, bool)
        out_hw = None
        for i, s in enumerate(seeds_list):
            rng_i = Rng(s)
            mats[i], hw = fuse(self.transforms, rng_i, h, w)
            if self.noise is not None:
                applied[i] = self.noise.make_params(rng_i, *hw)["applied"]
            if out_hw is None:
                out_hw = hw
            elif hw != out_hw:
                raise DataError(f"image {i} ends on a {hw} canvas, image 0 on {out_hw}; a batch needs one size "
                                "(crop or resize with p=1)", where="BatchAffine", field="transforms")
        return BatchAffineParams(matrices=mats, out_hw=(int(out_hw[0]), int(out_hw[1])),
                                 seeds=np.array(seeds_list, dtype=np.uint64), noise_applied=applied,
                                 noise_seed=noise_seed)

    def _check(self, images: Any, labels: Any, num_classes: int | None, targets: dict[str, Any]) -> Targets:
        unknown = [k for k in targets if k not in _TARGET_ARGS]
        if unknown:
            raise ConfigError(f"unknown argument '{unknown[0]}'; targets: {', '.join(_TARGET_ARGS)}",
                              where="BatchAffine", field=unknown[0])
        return check_inputs(images, labels, num_classes=num_classes, where="BatchAffine", allow_uint8=True,
                            **targets)

    def _run(self, t: Targets, params: BatchAffineParams) -> MixResult:
        return batch_affine(t, params, noise=self.noise, interpolation=self.interpolation, fill=self.fill,
                            mask_fill=self.mask_fill, min_visibility=self.min_visibility)

    def apply(self, images: Any, labels: Any = None, *, params: BatchAffineParams, num_classes: int | None = None,
              **targets: Any) -> MixResult:
        """Apply a given draw (a replay, or matrices built elsewhere) to a batch."""
        return self._run(self._check(images, labels, num_classes, targets), params)

    def __call__(self, images: Any, labels: Any = None, *, num_classes: int | None = None, generator: Any = None,
                 seeds: Sequence[int] | None = None, **targets: Any) -> MixResult:
        t = self._check(images, labels, num_classes, targets)
        return self._run(t, self.make_params(t.n, *t.hw, generator=generator, seeds=seeds))

    def to_dict(self) -> dict[str, Any]:
        steps = self.transforms + ([self.noise] if self.noise is not None else [])
        return {"transforms": [s.to_dict() for s in steps], "interpolation": self.interpolation,
                "fill": self.fill, "mask_fill": self.mask_fill, "min_visibility": self.min_visibility}

    def __repr__(self) -> str:
        return f"BatchAffine({self.transforms!r}, noise={self.noise!r})"
