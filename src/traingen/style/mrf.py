"""The CNN-MRF texture loss of Li & Wand: every neural patch of the output pulled to its best-matching style patch.

Gram matrices keep only global feature statistics, so an optimisation driven by them averages a texture
into a smooth tone. Li & Wand instead cut the feature maps of the output and of the style image into
k×k *neural patches* and, for every output patch, find the style patch of largest normalised
cross-correlation; the loss is the squared distance to it:

``E = Σ_i ||Ψ_i(F(x)) − Ψ_NN(i)(F(s))||²``,  ``NN(i) = argmax_j <Ψ_i(F(x)), Ψ_j(F(s))> / (|Ψ_i(F(x))| |Ψ_j(F(s))|)``.

Because every target is a patch that exists in the style image, fine structure (pores, wrinkles, hair
strands) is copied instead of averaged; Kaur et al.'s FaceTex builds its facial texture transfer on this
loss. Semantic guidance (Champandard's neural doodles, Kaur et al.'s region-wise transfer): with label
maps, an output patch whose centre has label ``l`` is matched only among the style patches whose centre
has label ``l``. The matching is done without gradient at every evaluation; the loss is differentiable in
the output's maps. Here it is averaged (over patches, patch dimensions and taps) so its scale does not
depend on the image size. ``pool`` average-pools the maps first (the weights-free random filter bank has
no pooling, so its maps are at full resolution; VGG's relu3_1/relu4_1 are 1/4 and 1/8), which makes the
search ``pool⁴`` times cheaper.

Example:
    >>> loss = MrfLoss(style_maps, style_mask=sm, content_mask=cm, patch=3, pool=2)
    >>> loss(backbone.maps(x, list(style_maps)))      # scalar, differentiable in x

References:
    Li, Wand, "Combining Markov Random Fields and Convolutional Neural Networks for Image Synthesis",
    CVPR 2016.
    Champandard, "Semantic Style Transfer and Turning Two-Bit Doodles into Fine Artworks", arXiv 1603.01768.
    Kaur, Zhang, Dana, "Photo-realistic Facial Texture Transfer", arXiv 1706.04306, 2017.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core.errors import ConfigError, DataError
from .base import resize_mask


def neural_patches(maps, patch: int):
    """All ``patch``×``patch`` patches of 1×C×h×w ``maps`` (no padding) as an L×(C·patch²) matrix, row-major."""
    import torch.nn.functional as F

    if maps.dim() != 4 or maps.shape[0] != 1:
        raise DataError(f"expected 1×C×h×w maps, got {tuple(maps.shape)}", field="maps")
    return F.unfold(maps, patch).transpose(1, 2)[0]


def centre_labels(mask: np.ndarray, hw: tuple[int, int], patch: int) -> np.ndarray:
    """The label of each patch centre (same order as :func:`neural_patches`) of a map of size ``hw``."""
    m = resize_mask(np.asarray(mask), hw)
    r = patch // 2
    return m[r:hw[0] - patch + 1 + r, r:hw[1] - patch + 1 + r].reshape(-1)


def nearest_patches(x_patches, s_patches, chunk: int = 4096):
    """Index of the style patch of largest normalised cross-correlation for each output patch (no gradient)."""
    import torch

    with torch.no_grad():
        s_n = s_patches / s_patches.norm(dim=1, keepdim=True).clamp_min(1e-8)
        out = []
        for i in range(0, x_patches.shape[0], chunk):
            out.append((x_patches[i:i + chunk] @ s_n.T).argmax(1))  # |x_i| does not change the argmax
        return torch.cat(out) if out else torch.zeros(0, dtype=torch.long, device=x_patches.device)


class MrfLoss:
    """Region-guided CNN-MRF loss against fixed style maps; call it with the output's maps at the same taps.

    Args:
        style_maps: tap -> 1×C×h×w maps of the style image.
        style_mask / content_mask: HxW label maps of the style and output (content) images, or both None
            (one region: every patch matched against every style patch).
        patch: neural patch size (3 in Li & Wand).
        pool: average-pooling factor applied to the maps before cutting patches.
        labels: the region labels matched (default: every label of the style mask); output patches of other
            labels get no texture loss (facial transfer leaves the background, which it composites back, out).
    """

    def __init__(self, style_maps: dict[str, Any], *, style_mask: np.ndarray | None = None,
                 content_mask: np.ndarray | None = None, patch: int = 3, pool: int = 1,
                 labels: tuple[int, ...] | None = None):
        if patch < 1 or pool < 1:
            raise ConfigError(f"patch and pool must be >= 1, got {patch}, {pool}", field="mrf_patch")
        if (style_mask is None) != (content_mask is None):
            raise DataError("give both content_mask and style_mask, or neither", field="style_mask")
        import torch

        self.patch, self.pool, self.content_mask = patch, pool, content_mask
        self.style: dict[str, dict[int, Any]] = {}
        self._rows: dict[tuple, dict[int, Any]] = {}  # (map h, w, device) -> label -> output patch rows
        for tap, sm in style_maps.items():
            s = self._pool(sm.detach())
            if min(s.shape[-2:]) < patch:
                raise DataError(f"tap {tap!r}: style maps {tuple(s.shape[-2:])} smaller than the patch", field="patch")
            sp = neural_patches(s, patch)
            lab_of = (np.zeros(sp.shape[0], np.int64) if style_mask is None
                      else centre_labels(style_mask, tuple(s.shape[-2:]), patch))
            keep = [int(v) for v in np.unique(lab_of) if labels is None or int(v) in labels]
            self.style[tap] = {lab: sp[torch.from_numpy(lab_of == lab).to(sp.device)] for lab in keep}

    def _pool(self, m):
        import torch.nn.functional as F

        return F.avg_pool2d(m, self.pool) if self.pool > 1 else m

    def _output_rows(self, hw: tuple[int, int], n: int, device: Any) -> dict[int, Any]:
        """Label -> indices of the output patches with that centre label, for maps of size ``hw`` (the output's
        maps keep their size over an optimisation, so this is built once per tap size, not per evaluation)."""
        import torch

        key = (*hw, str(device))
        if key not in self._rows:
            labels = (np.zeros(n, np.int64) if self.content_mask is None
                      else centre_labels(self.content_mask, hw, self.patch))
            self._rows[key] = {int(v): torch.from_numpy(np.nonzero(labels == v)[0]).to(device)
                               for v in np.unique(labels)}
        return self._rows[key]

    def __call__(self, x_maps: dict[str, Any]):
        """Mean over taps of the mean squared distance between output patches and their nearest style patches."""
        total, taps = 0.0, 0
        for tap, by_label in self.style.items():
            x = self._pool(x_maps[tap])
            xp = neural_patches(x, self.patch)
            rows = self._output_rows(tuple(x.shape[-2:]), xp.shape[0], xp.device)
            sq, count = 0.0, 0
            for lab, sp in by_label.items():
                sel = rows.get(lab)
                if sel is None or sp.shape[0] == 0:
                    continue
                xs = xp[sel]
                nn = nearest_patches(xs.detach(), sp)
                sq = sq + ((xs - sp[nn]) ** 2).sum()
                count += xs.numel()
            if count:
                total = total + sq / count
                taps += 1
        if taps == 0:
            raise DataError("content and style masks share no label at any tap: nothing to match",
                            field="style_mask")
        return total / taps
