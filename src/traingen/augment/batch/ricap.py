"""RICAP: random image cropping and patching.

Four images of the batch are cropped and patched into one: a boundary point ``(w, h)`` splits the
output canvas into four quadrants; quadrant ``k`` takes a random crop of its own size from image
``perm[k][i]``. The label is the four source labels weighted by their patches' areas.

Following the authors' code, one boundary per batch is drawn from ``Beta(beta, beta)`` scaled to the
image size and rounded, each quadrant draws one permutation of the batch and one crop offset shared
by the batch; ``per_sample_boundary=True`` draws a boundary and crop offsets per image instead.

References:
    Takahashi, Matsubara, Uehara. "Data Augmentation using Random Image Cropping and Patching for
    Deep CNNs", IEEE TCSVT 2020, arXiv:1811.09030.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ...core.errors import ConfigError
from .base import (
    BatchMixer,
    MixResult,
    Targets,
    check_positive,
    clip_boxes_to_rect,
    inside_rect,
    np_rng,
    params_dict,
)
from .registry import MIXERS


@dataclass
class RICAPParams:
    """One RICAP draw for a batch of N images of size H x W.

    Attributes:
        w, h: N boundary points (ints, ``0 <= w <= W``): quadrant 0 is ``[0, w) x [0, h)``,
            1 is ``[w, W) x [0, h)``, 2 is ``[0, w) x [h, H)``, 3 is ``[w, W) x [h, H)``.
        perm: 4 x N source image of each quadrant of each output image.
        offset: 4 x N x 2 top-left corner ``(x, y)`` of each crop in its source image.
        shared: True when every image shares one boundary and one offset per quadrant (the batch
            is patched with four slice copies).
    """

    w: np.ndarray
    h: np.ndarray
    perm: np.ndarray
    offset: np.ndarray
    shared: bool

    def to_dict(self) -> dict[str, Any]:
        return params_dict(self)


def quadrants(w: int, h: int, width: int, height: int) -> list[tuple[int, int, int, int]]:
    """The four destination rectangles ``(x0, y0, x1, y1)`` for boundary ``(w, h)``."""
    return [(0, 0, w, h), (w, 0, width, h), (0, h, w, height), (w, h, width, height)]


def make_ricap_params(
    rng: np.random.Generator, n: int, h: int, w: int, beta: float, per_sample: bool = False
) -> RICAPParams:
    """Draw boundaries, permutations and crop offsets (the paper's sampling)."""
    m = n if per_sample else 1
    bw = np.rint(w * rng.beta(beta, beta, size=m)).astype(np.int64)
    bh = np.rint(h * rng.beta(beta, beta, size=m)).astype(np.int64)
    perm = np.stack([rng.permutation(n) for _ in range(4)]).astype(np.int64)
    offset = np.zeros((4, m, 2), np.int64)
    for k in range(4):
        pw = bw if k in (0, 2) else w - bw
        ph = bh if k in (0, 1) else h - bh
        offset[k, :, 0] = rng.integers(0, w - pw + 1)
        offset[k, :, 1] = rng.integers(0, h - ph + 1)
    if not per_sample:
        bw, bh = np.repeat(bw, n), np.repeat(bh, n)
        offset = np.repeat(offset, n, axis=1)
    return RICAPParams(w=bw, h=bh, perm=perm, offset=offset, shared=not per_sample)


def patch_plan(params: RICAPParams, i: int, height: int, width: int) -> list[tuple[int, tuple, tuple]]:
    """For output image ``i``: (source index, source rect, destination rect) of each quadrant."""
    plan = []
    for k, dst in enumerate(quadrants(int(params.w[i]), int(params.h[i]), width, height)):
        pw, ph = dst[2] - dst[0], dst[3] - dst[1]
        sx, sy = int(params.offset[k, i, 0]), int(params.offset[k, i, 1])
        plan.append((int(params.perm[k, i]), (sx, sy, sx + pw, sy + ph), dst))
    return plan


def _patch(x: Any, params: RICAPParams) -> Any:
    """Patch a batch (N x ... x H x W) by the plan: images and class maps alike."""
    import torch

    n, height, width = x.shape[0], x.shape[-2], x.shape[-1]
    out = torch.empty_like(x)
    if params.shared:
        for k, (_, src, dst) in enumerate(patch_plan(params, 0, height, width)):
            if dst[2] > dst[0] and dst[3] > dst[1]:
                idx = torch.as_tensor(params.perm[k], device=x.device)
                out[..., dst[1]:dst[3], dst[0]:dst[2]] = x[idx][..., src[1]:src[3], src[0]:src[2]]
        return out
    for i in range(n):
        for j, src, dst in patch_plan(params, i, height, width):
            if dst[2] > dst[0] and dst[3] > dst[1]:
                out[i, ..., dst[1]:dst[3], dst[0]:dst[2]] = x[j, ..., src[1]:src[3], src[0]:src[2]]
    return out


def area_weights(params: RICAPParams, height: int, width: int) -> np.ndarray:
    """4 x N label weights: each quadrant's area over the image's (exact, they sum to 1)."""
    w, h = params.w.astype(np.float64), params.h.astype(np.float64)
    areas = np.stack([w * h, (width - w) * h, w * (height - h), (width - w) * (height - h)])
    return areas / float(height * width)


def ricap(t: Targets, params: RICAPParams) -> MixResult:
    """Apply a RICAP draw to validated targets (the pure function behind :class:`RICAP`)."""
    import torch

    height, width = t.hw
    if params.perm.shape != (4, t.n) or params.w.shape != (t.n,):
        raise ConfigError(f"params are for a batch of {params.w.shape[0]}, not {t.n}", where="RICAP", field="params")
    images = _patch(t.images, params)
    labels = None
    if t.labels is not None:
        wts = torch.as_tensor(area_weights(params, height, width), dtype=t.labels.dtype, device=t.labels.device)
        perm = torch.as_tensor(params.perm, device=t.labels.device)
        labels = sum(wts[k][:, None] * t.labels[perm[k]] for k in range(4))
    masks = _patch(t.masks, params) if t.masks is not None else None
    res = MixResult(images=images, labels=labels, masks=masks, params=params)
    if t.boxes is not None:
        res.boxes, res.box_labels, res.box_weights = [], [], []
        for i in range(t.n):
            bs, ls = [], []
            for j, src, dst in patch_plan(params, i, height, width):
                b, keep = clip_boxes_to_rect(t.boxes[j], src)
                shift = torch.tensor([dst[0] - src[0], dst[1] - src[1]] * 2, dtype=b.dtype, device=b.device)
                bs.append(b[keep] + shift)
                ls.append(t.box_labels[j][keep])
            res.boxes.append(torch.cat(bs))
            res.box_labels.append(torch.cat(ls))
            res.box_weights.append(torch.ones(res.boxes[-1].shape[0], dtype=t.images.dtype, device=t.images.device))
    if t.keypoints is not None:
        res.keypoints, res.keypoint_visible = [], []
        for i in range(t.n):
            ks, vs = [], []
            for j, src, dst in patch_plan(params, i, height, width):
                k = t.keypoints[j]
                shift = torch.tensor([dst[0] - src[0], dst[1] - src[1]], dtype=k.dtype, device=k.device)
                ks.append(k + shift)
                vs.append(t.keypoint_visible[j] & inside_rect(k, src))
            res.keypoints.append(torch.cat(ks))
            res.keypoint_visible.append(torch.cat(vs))
    return res


@MIXERS.register("ricap")
@dataclass
class RICAP(BatchMixer):
    """Random image cropping and patching of a batch (Takahashi et al.).

    Args:
        beta: Beta(beta, beta) parameter of the boundary; the paper's best is 0.3.
        per_sample_boundary: draw a boundary and crop offsets per output image instead of per batch.

    Targets:
        images (N x C x H x W float), labels (N ints with ``num_classes``, or N x K soft) -> N x K soft
        labels weighted by patch areas; masks (N x H x W class maps) patched like the images and kept
        hard; boxes clipped to their patch and shifted (empty ones dropped with their labels);
        keypoints shifted, in quadrant order (the sources of quadrants 0..3 concatenated): a point
        outside its crop keeps its slot and turns invisible (``keypoint_visible``).

    Returns:
        :class:`MixResult` with :class:`RICAPParams` in ``params``.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> out = RICAP(beta=0.3)(images, labels, num_classes=10, generator=g)
        >>> out.labels.sum(1)  # all ones

    References:
        Takahashi, Matsubara, Uehara, arXiv:1811.09030.
    """

    beta: float = 0.3
    per_sample_boundary: bool = False

    def __post_init__(self) -> None:
        check_positive(self.beta, "beta", "RICAP")

    def make_params(self, n: int, h: int, w: int, generator: Any) -> RICAPParams:
        return make_ricap_params(np_rng(generator, "RICAP"), n, h, w, self.beta, self.per_sample_boundary)

    def _apply(self, t: Targets, params: RICAPParams) -> MixResult:
        return ricap(t, params)
