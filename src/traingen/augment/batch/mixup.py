"""MixUp: convex combinations of pairs of images and of their labels.

``x = lam * x_i + (1 - lam) * x_perm(i)`` with ``lam ~ Beta(alpha, alpha)``, one ``lam`` per batch
(as in the authors' code) or one per image, and the labels mixed with the same weights.

Targets no other library mixes: masks become soft per-class masks N x K x H x W (``lam`` times the
one-hot of the image's map plus ``1 - lam`` times its partner's; each pixel sums to 1); boxes are the
union of both images' boxes, each box weighted by its image's share (``box_weights``: ``lam`` for the
image's own boxes, ``1 - lam`` for its partner's), the convention of Zhang et al. 2019 ("Bag of
Freebies for Training Object Detection Neural Networks") who weight the detection loss per box;
keypoints are the union as well (own first, then the partner's), visibility unchanged.

References:
    Zhang, Cisse, Dauphin, Lopez-Paz. "mixup: Beyond Empirical Risk Minimization", ICLR 2018,
    arXiv:1710.09412.
    Zhang, He, Zhang, Zhang, Xie, Li. "Bag of Freebies for Training Object Detection Neural
    Networks", arXiv:1902.04103 (mixup for detection, per-box weights).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ...core.errors import ConfigError
from .base import BatchMixer, MixResult, Targets, check_positive, np_rng, one_hot_masks, params_dict
from .registry import MIXERS


@dataclass
class MixUpParams:
    """One MixUp draw: ``lam`` (N floats, all equal when drawn per batch) and the partner ``perm`` (N)."""

    lam: np.ndarray
    perm: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        return params_dict(self)


def make_mixup_params(rng: np.random.Generator, n: int, alpha: float, per_sample: bool = False) -> MixUpParams:
    lam = rng.beta(alpha, alpha, size=n if per_sample else 1)
    if not per_sample:
        lam = np.repeat(lam, n)
    return MixUpParams(lam=lam.astype(np.float64), perm=rng.permutation(n).astype(np.int64))


def mixup(t: Targets, params: MixUpParams, mask_classes: int | None = None) -> MixResult:
    """Apply a MixUp draw to validated targets (the pure function behind :class:`MixUp`)."""
    import torch

    if params.lam.shape != (t.n,) or params.perm.shape != (t.n,):
        raise ConfigError(f"params are for a batch of {params.lam.shape[0]}, not {t.n}", where="MixUp",
                          field="params")
    dev, dt = t.images.device, t.images.dtype
    perm = torch.as_tensor(params.perm, device=dev)
    lam = torch.as_tensor(params.lam, dtype=dt, device=dev)
    lam4 = lam.view(-1, 1, 1, 1)
    images = lam4 * t.images + (1 - lam4) * t.images[perm]
    labels = None
    if t.labels is not None:
        labels = lam[:, None] * t.labels + (1 - lam[:, None]) * t.labels[perm]
    masks = None
    if t.masks is not None:
        k = mask_classes if mask_classes is not None else (t.labels.shape[1] if t.labels is not None else None)
        if k is None:
            raise ConfigError("soft masks need mask_classes (or labels with num_classes)", where="MixUp",
                              field="mask_classes")
        oh = one_hot_masks(t.masks, k, dt, "MixUp")
        masks = lam4 * oh + (1 - lam4) * oh[perm]
    res = MixResult(images=images, labels=labels, masks=masks, params=params)
    if t.boxes is not None:
        res.boxes, res.box_labels, res.box_weights = [], [], []
        for i in range(t.n):
            j = int(params.perm[i])
            a, b = t.boxes[i], t.boxes[j]
            res.boxes.append(torch.cat([a, b]))
            res.box_labels.append(torch.cat([t.box_labels[i], t.box_labels[j]]))
            li = float(params.lam[i])
            res.box_weights.append(torch.cat([torch.full((a.shape[0],), li, dtype=dt, device=dev),
                                              torch.full((b.shape[0],), 1 - li, dtype=dt, device=dev)]))
    if t.keypoints is not None:
        res.keypoints = [torch.cat([t.keypoints[i], t.keypoints[int(params.perm[i])]]) for i in range(t.n)]
        res.keypoint_visible = [torch.cat([t.keypoint_visible[i], t.keypoint_visible[int(params.perm[i])]])
                                for i in range(t.n)]
    return res


@MIXERS.register("mixup")
@dataclass
class MixUp(BatchMixer):
    """MixUp of a batch (Zhang et al. 2018).

    Args:
        alpha: Beta(alpha, alpha) parameter of ``lam``; 1.0 draws it uniformly.
        per_sample: one ``lam`` per image instead of one per batch.

    Targets:
        images, labels (-> N x K soft), masks (-> N x K x H x W soft per-class masks, K from the
        ``mask_classes=`` call option or else the labels' classes), boxes (union with per-box weights
        in ``box_weights``), keypoints (union, visibility unchanged).

    Returns:
        :class:`MixResult` with :class:`MixUpParams` in ``params``.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> out = MixUp(alpha=0.2)(images, labels, num_classes=10, generator=g)

    References:
        Zhang, Cisse, Dauphin, Lopez-Paz, arXiv:1710.09412.
    """

    alpha: float = 1.0
    per_sample: bool = False

    apply_options = ("mask_classes",)

    def __post_init__(self) -> None:
        check_positive(self.alpha, "alpha", "MixUp")

    def make_params(self, n: int, h: int, w: int, generator: Any) -> MixUpParams:
        return make_mixup_params(np_rng(generator, "MixUp"), n, self.alpha, self.per_sample)

    def _apply(self, t: Targets, params: MixUpParams, mask_classes: int | None = None) -> MixResult:
        return mixup(t, params, mask_classes)
