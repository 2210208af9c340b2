"""SIMS memory bank: segments of the training label maps, and their retrieval by mask IoU.

A *segment* is one connected component (8-connectivity) of one class of a training label map. The bank
keeps, for every segment, its class, its mask in the full image frame, the image's pixels (RGB in
[-1, 1]) and, for the optional context score, the label map around it. Retrieval compares masks in the
image frame, as SIMS does: the query and a candidate overlap where the layouts agree, so IoU picks a
segment of the right shape at the right place.

* ``score = IoU(query mask, candidate mask)`` over candidates of the query's class;
* with ``context_weight > 0``: ``score += context_weight * context_iou``, where ``context_iou`` is the
  fraction of the union of the two segments' surrounding rings (the mask dilated by ``ring`` pixels
  minus the mask) on which both label maps hold the same class -- the paper's context term, which
  prefers segments whose neighbours are the query's neighbours.

Everything is vectorised: a query against ``M`` candidates is one ``(Q, HW) @ (HW, M)`` product.

Example:
    >>> bank = SegmentBank.from_label_maps(labels, images)      # N×H×W int, N×3×H×W float
    >>> hits = retrieve(bank, query_masks, query_classes, k=5)  # RetrievalResult: indices, scores

References:
    Qi, Chen, Jia & Koltun. "Semi-parametric Image Synthesis", CVPR 2018. arXiv:1804.10992 (Sec. 3.1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from ..core.errors import ConfigError


def connected_segments(label_map: np.ndarray, *, min_pixels: int = 1,
                       ignore: tuple[int, ...] = ()) -> list[tuple[int, np.ndarray]]:
    """``(class, mask H×W bool)`` of every 8-connected component of every class of ``label_map``.

    Args:
        label_map: H×W int class map.
        min_pixels: drop components smaller than this.
        ignore: classes that give no segments.

    Returns:
        Segments ordered by class, then by the component's first pixel in raster order.
    """
    import cv2

    lm = np.asarray(label_map)
    out = []
    for c in np.unique(lm):
        if int(c) in ignore:
            continue
        n, comp = cv2.connectedComponents((lm == c).astype(np.uint8), connectivity=8)
        for j in range(1, n):
            m = comp == j
            if int(m.sum()) >= min_pixels:
                out.append((int(c), m))
    return out


def ring_masks(masks: torch.Tensor, ring: int) -> torch.Tensor:
    """The band of width ``ring`` around each mask (N×H×W bool): square dilation minus the mask."""
    m = masks.float()[:, None]
    dil = F.max_pool2d(m, 2 * ring + 1, stride=1, padding=ring)[:, 0] > 0.5
    return dil & ~masks.bool()


@dataclass
class SegmentBank:
    """Segments of the training set (module docstring).

    Attributes:
        classes: M int64 class of each segment.
        masks: M×H×W bool masks in the image frame.
        image_index: M int64 index of the training image each segment comes from.
        images: N×3×H×W float training images in [-1, 1].
        label_maps: N×H×W int64 training label maps (for the context score and simulation).
    """

    classes: torch.Tensor
    masks: torch.Tensor
    image_index: torch.Tensor
    images: torch.Tensor
    label_maps: torch.Tensor

    def __len__(self) -> int:
        return int(self.classes.numel())

    @classmethod
    def from_label_maps(cls, label_maps: torch.Tensor | np.ndarray, images: torch.Tensor, *,
                        min_pixels: int = 4, ignore: tuple[int, ...] = ()) -> SegmentBank:
        """Cut every label map into its connected segments.

        Args:
            label_maps: N×H×W int class maps.
            images: N×3×H×W float images in [-1, 1] (the segments' pixels).
            min_pixels: smallest segment kept.
            ignore: classes not stored.
        """
        lms = torch.as_tensor(np.asarray(label_maps), dtype=torch.int64)
        if lms.dim() != 3 or images.dim() != 4 or images.shape[0] != lms.shape[0] or images.shape[-2:] != lms.shape[-2:]:
            raise ConfigError(f"need N×H×W label maps and N×C×H×W images of the same N, H, W; got "
                              f"{tuple(lms.shape)} and {tuple(images.shape)}", field="bank")
        classes, masks, index = [], [], []
        for i, lm in enumerate(lms.numpy()):
            for c, m in connected_segments(lm, min_pixels=min_pixels, ignore=ignore):
                classes.append(c)
                masks.append(torch.from_numpy(m))
                index.append(i)
        if not masks:
            raise ConfigError("the label maps hold no segment", field="bank")
        return cls(torch.tensor(classes, dtype=torch.int64), torch.stack(masks),
                   torch.tensor(index, dtype=torch.int64), images.float(), lms)

    def flat(self) -> torch.Tensor:
        """M×(H·W) float masks, computed once (retrieval's hot path)."""
        if getattr(self, "_flat", None) is None:
            self._flat = self.masks.reshape(len(self.masks), -1).float()
        return self._flat

    def pixels(self, idx: torch.Tensor) -> torch.Tensor:
        """K×3×H×W images of segments ``idx`` (the whole source image; mask with :attr:`masks`)."""
        return self.images[self.image_index[idx]]

    def to(self, device: torch.device | str) -> SegmentBank:
        return SegmentBank(*(t.to(device) for t in (self.classes, self.masks, self.image_index, self.images,
                                                     self.label_maps)))


@dataclass
class RetrievalResult:
    """Top-k retrieval: ``indices`` Q×k into the bank (-1 where the class has fewer than k segments),
    ``scores`` Q×k (IoU, plus the weighted context IoU when asked), best first."""

    indices: torch.Tensor
    scores: torch.Tensor


def iou_matrix(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """IoU of every mask of ``a`` (Q×H×W) with every mask of ``b`` (M×H×W, or M×HW float): Q×M float32."""
    fa = a.reshape(len(a), -1).float()
    fb = b if b.dim() == 2 else b.reshape(len(b), -1).float()
    inter = fa @ fb.T
    union = fa.sum(1, keepdim=True) + fb.sum(1)[None] - inter
    return inter / union.clamp_min(1.0)


def context_iou(query_masks: torch.Tensor, query_labels: torch.Tensor, bank: SegmentBank, cand: torch.Tensor,
                ring: int) -> torch.Tensor:
    """Q×M agreement of the surrounding labels: on the union of the two rings, the fraction of pixels
    where both are in their ring and both label maps hold the same class.

    Args:
        query_masks: Q×H×W bool; query_labels: Q×H×W int64 (the query's whole label map, per query).
        bank: the bank; cand: M candidate indices.
        ring: ring width in pixels.
    """
    rq, rc = ring_masks(query_masks, ring), ring_masks(bank.masks[cand], ring)
    lc = bank.label_maps[bank.image_index[cand]]
    out = torch.zeros(len(query_masks), len(cand))
    for q in range(len(query_masks)):  # Q is small (the segments of one label map)
        both = rq[q][None] & rc
        same = both & (query_labels[q][None] == lc)
        union = (rq[q][None] | rc).reshape(len(cand), -1).sum(1)
        out[q] = same.reshape(len(cand), -1).sum(1).float() / union.clamp_min(1).float()
    return out


def retrieve(bank: SegmentBank, query_masks: torch.Tensor, query_classes: torch.Tensor, *, k: int = 1,
             query_labels: torch.Tensor | None = None, context_weight: float = 0.0, ring: int = 3,
             exclude_image: torch.Tensor | None = None) -> RetrievalResult:
    """The top-``k`` bank segments of each query's class by mask IoU (module docstring).

    Args:
        bank: the segment bank.
        query_masks: Q×H×W bool masks in the bank's frame.
        query_classes: Q int classes.
        k: segments per query.
        query_labels: Q×H×W label maps around each query (needed when ``context_weight > 0``).
        context_weight: weight of the context IoU (0: mask IoU alone, the default).
        ring: context ring width.
        exclude_image: Q bank image indices a query may not draw from (-1: none); training uses it so
            that an image never retrieves its own segments.

    Returns:
        A :class:`RetrievalResult`; ties keep the lower bank index first.
    """
    if query_masks.shape[-2:] != bank.masks.shape[-2:]:
        raise ConfigError(f"query masks are {tuple(query_masks.shape[-2:])}, the bank's "
                          f"{tuple(bank.masks.shape[-2:])}", field="query_masks")
    if context_weight > 0 and query_labels is None:
        raise ConfigError("context_weight > 0 needs query_labels", field="context_weight")
    q = len(query_masks)
    idx = torch.full((q, k), -1, dtype=torch.int64)
    sc = torch.full((q, k), float("-inf"))
    for c in torch.unique(query_classes).tolist():
        rows = (query_classes == c).nonzero().flatten()
        cand = (bank.classes == c).nonzero().flatten()
        if len(cand) == 0:
            continue
        s = iou_matrix(query_masks[rows], bank.flat()[cand])
        if context_weight > 0:
            s = s + context_weight * context_iou(query_masks[rows], query_labels[rows], bank, cand, ring)
        if exclude_image is not None:
            bad = exclude_image[rows][:, None] == bank.image_index[cand][None]
            s = s.masked_fill(bad, float("-inf"))
        kk = min(k, len(cand))
        # stable sort: equal scores keep bank order (a documented, testable tie rule)
        order = torch.sort(-s, dim=1, stable=True).indices[:, :kk]
        top = torch.gather(s, 1, order)
        idx[rows, :kk] = torch.where(torch.isfinite(top), cand[order], torch.full_like(order, -1))
        sc[rows, :kk] = top
    return RetrievalResult(idx, sc)
