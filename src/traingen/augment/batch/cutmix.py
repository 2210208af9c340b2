"""CutMix: paste a rectangle of a partner image; labels weighted by the visible areas.

``lam ~ Beta(alpha, alpha)``; the rectangle has sides ``W * sqrt(1 - lam)`` and ``H * sqrt(1 - lam)``
(truncated to integers, as in the authors' code) around a uniform centre, clipped to the image, and
``lam`` is corrected to the area actually kept: ``1 - pasted_area / (H * W)``. One draw per batch, as
in the paper's code and torchvision, or one per image.

Masks are pasted like the images (hard class maps stay hard). Boxes of the image are cut to what
remains visible (the bounding box of the box minus the rectangle), the partner's boxes are clipped
to the rectangle; empty ones are dropped with their labels. Keypoints: the image's own points inside
the rectangle and the partner's points outside it turn invisible (own first, then the partner's).

References:
    Yun, Han, Oh, Chun, Choe, Yoo. "CutMix: Regularization Strategy to Train Strong Classifiers with
    Localizable Features", ICCV 2019, arXiv:1905.04899.
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
    subtract_rect_bbox,
)
from .registry import MIXERS


@dataclass
class CutMixParams:
    """One CutMix draw for N images.

    Attributes:
        box: N x 4 pasted rectangle ``(x0, y0, x1, y1)`` (ints, clipped to the image; may be empty).
        perm: N partner images.
        lam: N corrected weights of the image's own label, ``1 - box area / (H * W)``.
        lam_drawn: N weights drawn from Beta (before the clipping correction).
    """

    box: np.ndarray
    perm: np.ndarray
    lam: np.ndarray
    lam_drawn: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        return params_dict(self)


def cutmix_box(lam: np.ndarray, cx: np.ndarray, cy: np.ndarray, h: int, w: int) -> np.ndarray:
    """The clipped rectangle of area about ``(1 - lam) * H * W`` centred on ``(cx, cy)``."""
    cut = np.sqrt(1.0 - lam)
    cw, ch = (w * cut).astype(np.int64), (h * cut).astype(np.int64)
    x0 = np.clip(cx - cw // 2, 0, w)
    x1 = np.clip(cx + cw // 2, 0, w)
    y0 = np.clip(cy - ch // 2, 0, h)
    y1 = np.clip(cy + ch // 2, 0, h)
    return np.stack([x0, y0, x1, y1], axis=1).astype(np.int64)


def params_from_box(box: Any, perm: Any, h: int, w: int, lam_drawn: Any = None) -> CutMixParams:
    """CutMix params for a given rectangle (replay, or a draw made elsewhere); ``lam`` from its area."""
    box = np.asarray(box, np.int64).reshape(-1, 4)
    area = (box[:, 2] - box[:, 0]).clip(0) * (box[:, 3] - box[:, 1]).clip(0)
    lam = 1.0 - area / float(h * w)
    lam_drawn = lam if lam_drawn is None else np.asarray(lam_drawn, np.float64)
    return CutMixParams(box=box, perm=np.asarray(perm, np.int64), lam=lam, lam_drawn=lam_drawn)


def make_cutmix_params(
    rng: np.random.Generator, n: int, h: int, w: int, alpha: float, per_sample: bool = False
) -> CutMixParams:
    m = n if per_sample else 1
    lam = rng.beta(alpha, alpha, size=m)
    cx, cy = rng.integers(0, w, size=m), rng.integers(0, h, size=m)
    box = cutmix_box(lam, cx, cy, h, w)
    if not per_sample:
        lam, box = np.repeat(lam, n), np.repeat(box, n, axis=0)
    return params_from_box(box, rng.permutation(n), h, w, lam_drawn=lam)


def cutmix(t: Targets, params: CutMixParams) -> MixResult:
    """Apply a CutMix draw to validated targets (the pure function behind :class:`CutMix`)."""
    import torch

    if params.box.shape != (t.n, 4) or params.perm.shape != (t.n,):
        raise ConfigError(f"params are for a batch of {params.perm.shape[0]}, not {t.n}", where="CutMix",
                          field="params")
    dev = t.images.device
    perm = torch.as_tensor(params.perm, device=dev)
    height, width = t.hw
    # One boolean plane per image: vectorised, so a per-image box costs no Python loop over pixels.
    box = torch.as_tensor(params.box, device=dev)
    ys = torch.arange(height, device=dev)[None, :, None]
    xs = torch.arange(width, device=dev)[None, None, :]
    inside = ((ys >= box[:, 1, None, None]) & (ys < box[:, 3, None, None])
              & (xs >= box[:, 0, None, None]) & (xs < box[:, 2, None, None]))
    images = torch.where(inside[:, None], t.images[perm], t.images)
    labels = None
    if t.labels is not None:
        lam = torch.as_tensor(params.lam, dtype=t.labels.dtype, device=dev)[:, None]
        labels = lam * t.labels + (1 - lam) * t.labels[perm]
    masks = torch.where(inside, t.masks[perm], t.masks) if t.masks is not None else None
    res = MixResult(images=images, labels=labels, masks=masks, params=params)
    rects = [tuple(float(v) for v in params.box[i]) for i in range(t.n)]
    if t.boxes is not None:
        res.boxes, res.box_labels, res.box_weights = [], [], []
        for i in range(t.n):
            j = int(params.perm[i])
            own, keep_own = subtract_rect_bbox(t.boxes[i], rects[i])
            other, keep_other = clip_boxes_to_rect(t.boxes[j], rects[i])
            res.boxes.append(torch.cat([own[keep_own], other[keep_other]]))
            res.box_labels.append(torch.cat([t.box_labels[i][keep_own], t.box_labels[j][keep_other]]))
            res.box_weights.append(torch.ones(res.boxes[-1].shape[0], dtype=t.images.dtype, device=dev))
    if t.keypoints is not None:
        res.keypoints, res.keypoint_visible = [], []
        for i in range(t.n):
            j = int(params.perm[i])
            res.keypoints.append(torch.cat([t.keypoints[i], t.keypoints[j]]))
            res.keypoint_visible.append(torch.cat([
                t.keypoint_visible[i] & ~inside_rect(t.keypoints[i], rects[i]),
                t.keypoint_visible[j] & inside_rect(t.keypoints[j], rects[i]),
            ]))
    return res


@MIXERS.register("cutmix")
@dataclass
class CutMix(BatchMixer):
    """CutMix of a batch (Yun et al. 2019).

    Args:
        alpha: Beta(alpha, alpha) parameter of ``lam``; the paper uses 1.0.
        per_sample: one rectangle and ``lam`` per image instead of one per batch.

    Targets:
        images, labels (-> N x K soft, weights = visible areas), masks (pasted, hard), boxes (cut to the
        visible part; empty ones dropped), keypoints (hidden parts turn invisible).

    Returns:
        :class:`MixResult` with :class:`CutMixParams` in ``params``.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> out = CutMix(alpha=1.0)(images, labels, num_classes=10, generator=g)

    References:
        Yun et al., arXiv:1905.04899.
    """

    alpha: float = 1.0
    per_sample: bool = False

    def __post_init__(self) -> None:
        check_positive(self.alpha, "alpha", "CutMix")

    def make_params(self, n: int, h: int, w: int, generator: Any) -> CutMixParams:
        return make_cutmix_params(np_rng(generator, "CutMix"), n, h, w, self.alpha, self.per_sample)

    def _apply(self, t: Targets, params: CutMixParams) -> MixResult:
        return cutmix(t, params)
