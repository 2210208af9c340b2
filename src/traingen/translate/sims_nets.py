"""SIMS networks: the affine spatial transformer, the ordering network and the cascaded refinement network.

* :class:`SpatialTransformer` (Jaderberg et al. 2015) predicts a 2×3 affine matrix from the query mask and
  the retrieved segment's mask; its last layer starts at zero weights and the identity bias, so an
  untrained transformer returns its input unchanged. It is trained to maximise the soft IoU of the
  warped segment mask with the query mask (:func:`soft_iou_loss`).
* :class:`OrderingNet` scores whether segment ``i`` lies in front of segment ``j`` from their masks and
  the one-hot label map. It is antisymmetric by construction (``logit(i, j) = f(i, j) − f(j, i)``), so
  the two orders of a pair always get complementary probabilities.
* :class:`CascadedRefinementNet` (Chen & Koltun 2017) synthesises the image coarse to fine: module ``s``
  works at ``H / 2^(S−1−s)`` and sees the previous module's upsampled features **and** the label map,
  the canvas and the canvas mask resized to its scale (re-injected at every scale). Each module is
  conv3×3 – LayerNorm – LeakyReLU(0.2), twice. Two 1×1 heads: RGB and per-class semantic logits.

Example:
    >>> stn = SpatialTransformer()
    >>> warped = warp(segment, stn(query_mask, segment_mask))         # identity at initialisation
    >>> crn = CascadedRefinementNet(num_classes=4, ngf=8, n_scales=3)
    >>> rgb, logits = crn(onehot, canvas, canvas_mask)

References:
    Qi, Chen, Jia & Koltun. "Semi-parametric Image Synthesis", CVPR 2018. arXiv:1804.10992.
    Chen & Koltun. "Photographic Image Synthesis with Cascaded Refinement Networks", ICCV 2017.
    Jaderberg, Simonyan, Zisserman & Kavukcuoglu. "Spatial Transformer Networks", NeurIPS 2015.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

IDENTITY = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


def warp(x: torch.Tensor, theta: torch.Tensor, *, mode: str = "bilinear") -> torch.Tensor:
    """Resample ``x`` (N×C×H×W) with the affine ``theta`` (N×2×3, normalised coordinates, pixel centres
    at ``(2i + 1) / W − 1`` as everywhere in this project); zeros outside. Identity gives ``x`` back."""
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode=mode, padding_mode="zeros", align_corners=False)


def soft_iou(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Soft IoU per item of masks in [0, 1] (N×1×H×W): ``Σab / (Σa + Σb − Σab)``."""
    inter = (a * b).flatten(1).sum(1)
    return inter / (a.flatten(1).sum(1) + b.flatten(1).sum(1) - inter + eps)


def soft_iou_loss(warped_mask: torch.Tensor, query_mask: torch.Tensor) -> torch.Tensor:
    """``1 − mean soft IoU``: what the transformer minimises."""
    return 1.0 - soft_iou(warped_mask, query_mask).mean()


def _encoder(cin: int, width: int, depth: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    c = cin
    for d in range(depth):
        w = width * 2 ** min(d, 2)
        layers += [nn.Conv2d(c, w, 3, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
        c = w
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    return nn.Sequential(*layers)


class SpatialTransformer(nn.Module):
    """Affine localisation network: (query mask, segment mask) -> θ (N×2×3), identity at initialisation.

    Args:
        width: channels of the first conv (doubled twice).
        depth: stride-2 convs before global pooling.
    """

    def __init__(self, *, width: int = 8, depth: int = 4):
        super().__init__()
        self.features = _encoder(2, width, depth)
        self.fc = nn.Linear(width * 2 ** min(depth - 1, 2), 6)
        self.reset_identity()

    def reset_identity(self) -> None:
        nn.init.zeros_(self.fc.weight)
        with torch.no_grad():
            self.fc.bias.copy_(torch.tensor(IDENTITY))

    def forward(self, query_mask: torch.Tensor, segment_mask: torch.Tensor) -> torch.Tensor:
        h = self.features(torch.cat([query_mask, segment_mask], 1))
        return self.fc(h).view(-1, 2, 3)


class OrderingNet(nn.Module):
    """P(segment i in front of segment j) from ``(mask_i, mask_j, one-hot labels)`` (antisymmetric).

    Args:
        num_classes: classes of the label map.
        width, depth: the encoder (as :class:`SpatialTransformer`'s).
    """

    def __init__(self, num_classes: int, *, width: int = 8, depth: int = 4):
        super().__init__()
        self.features = _encoder(2 + num_classes, width, depth)
        self.fc = nn.Linear(width * 2 ** min(depth - 1, 2), 1)

    def score(self, mi: torch.Tensor, mj: torch.Tensor, onehot: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(torch.cat([mi, mj, onehot], 1)))[:, 0]

    def forward(self, mi: torch.Tensor, mj: torch.Tensor, onehot: torch.Tensor) -> torch.Tensor:
        """Logits (N) that ``i`` is in front; ``forward(mj, mi) == −forward(mi, mj)``."""
        return self.score(mi, mj, onehot) - self.score(mj, mi, onehot)


class _LayerNorm(nn.GroupNorm):
    """LayerNorm over (C, H, W) per item, as the CRN uses."""

    def __init__(self, channels: int):
        super().__init__(1, channels)


class RefinementModule(nn.Module):
    """conv3×3 – LN – LReLU ×2 on ``[upsampled features, label map, canvas, canvas mask]``."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), _LayerNorm(cout), nn.LeakyReLU(0.2, True),
                                  nn.Conv2d(cout, cout, 3, padding=1), _LayerNorm(cout), nn.LeakyReLU(0.2, True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class CascadedRefinementNet(nn.Module):
    """The SIMS synthesis network (module docstring).

    Args:
        num_classes: label classes (one-hot input and semantic head).
        ngf: channels of the finest module; coarser modules get ``min(ngf · 2^k, max_channels)``.
        n_scales: refinement modules; the coarsest works at ``H / 2^(n_scales − 1)``.
        max_channels: channel cap.

    Inputs of :meth:`forward`: one-hot labels N×C×H×W, canvas N×3×H×W in [-1, 1] (0 where empty), canvas
    mask N×1×H×W. Returns ``(rgb N×3×H×W, semantic logits N×C×H×W)``.
    """

    def __init__(self, num_classes: int, *, ngf: int = 32, n_scales: int = 5, max_channels: int = 256):
        super().__init__()
        self.num_classes, self.n_scales = num_classes, n_scales
        cond = num_classes + 4
        widths = [min(ngf * 2 ** (n_scales - 1 - s), max_channels) for s in range(n_scales)]
        mods, prev = [], 0
        for w in widths:
            mods.append(RefinementModule(prev + cond, w))
            prev = w
        self.modules_ = nn.ModuleList(mods)
        self.rgb = nn.Conv2d(prev, 3, 1)
        self.semantic = nn.Conv2d(prev, num_classes, 1)

    def forward(self, onehot: torch.Tensor, canvas: torch.Tensor,
                canvas_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        cond = torch.cat([onehot, canvas, canvas_mask], 1)
        h, w = cond.shape[-2:]
        feat = None
        for s, mod in enumerate(self.modules_):
            f = 2 ** (self.n_scales - 1 - s)
            c = F.adaptive_avg_pool2d(cond, (h // f, w // f)) if f > 1 else cond
            if feat is not None:
                feat = F.interpolate(feat, size=c.shape[-2:], mode="bilinear", align_corners=False)
                c = torch.cat([feat, c], 1)
            feat = mod(c)
        return self.rgb(feat), self.semantic(feat)
