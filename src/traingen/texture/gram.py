"""Gram-matrix texture statistics, the losses built on them, and the feature backbones they read.

Gatys et al. describe a texture by the Gram matrices of a network's feature maps: at a layer with C
maps of H×W positions, ``G = F Fᵀ / (H·W)`` where F is the C×(H·W) matrix of the maps (the
spatial average of the outer products of the feature vectors, so it does not grow with the image).
The losses here are shared by texture synthesis (:mod:`traingen.texture`) and style transfer
(:mod:`traingen.style`):

- :func:`style_loss` ``= Σ_l w_l · ||G_l − T_l||²_F / C_l²``. Gatys et al. divide by ``4 C_l² M_l²``
  with an unnormalised Gram (M_l = H·W); with the Gram already divided by M_l, dividing by ``C_l²``
  leaves a per-entry mean, so layers with 64 and 512 maps weigh alike. It is 4× their ``E_l``.
  Default weights are ``1/L`` for L layers (the mean over layers).
- :func:`content_loss` ``= Σ_l w_l · mean((F_l − P_l)²)`` (the mean squared error of the maps),
  weights ``1/L`` by default.
- :func:`total_variation` = the mean squared difference of horizontally and vertically adjacent
  pixels (summed over the two directions).

Masks (for semantic or region-guided style) weight positions: ``G = Σ_p m_p f_p f_pᵀ / Σ_p m_p``.

A :class:`Backbone` wraps a feature extractor of :mod:`traingen.features` (``vgg19`` from a weight
file, or the weights-free ``random-multiscale`` filter bank) with its default style and content
taps. Its :meth:`Backbone.maps` takes float N×C×H×W images in [0, 1] (grey is repeated to RGB) and
applies the network's input normalisation itself. ``padding="circular"`` makes every convolution
wrap around the image, so the Gram of an image equals the Gram of its circular shift and textures
synthesised with it tile seamlessly (``random-multiscale`` has no pooling, so this is exact for any
shift; for ``vgg19`` only for shifts that are multiples of 16).

Example:
    >>> bb = get_backbone("random-multiscale")
    >>> targets = style_targets(bb.maps(exemplar, bb.default_style_taps))
    >>> loss = style_loss(bb.maps(x, bb.default_style_taps), targets)

References:
    Gatys, Ecker, Bethge, "Texture Synthesis Using Convolutional Neural Networks", NeurIPS 2015.
    Gatys, Ecker, Bethge, "Image Style Transfer Using Convolutional Neural Networks", CVPR 2016.
    Ustyuzhaninov, Brendel, Gatys, Bethge, "What does it take to generate natural textures?", ICLR 2017.
    Mahendran & Vedaldi, "Understanding Deep Image Representations by Inverting Them", CVPR 2015
    (total variation prior).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..core.errors import ConfigError, DataError

#: per backbone: (default style taps, default content taps).
DEFAULT_TAPS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "vgg19": (("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"), ("relu4_2",)),
    "random-multiscale": (("k3", "k5", "k7", "k11", "k15", "k23", "k37", "k55"), ("k11",)),
}

PADDINGS = ("zero", "circular")


def gram_matrix(feat, mask=None, *, normalize: bool = True):
    """Gram matrices of feature maps.

    Args:
        feat: float N×C×H×W tensor.
        mask: optional N×1×H×W (or 1×1×H×W, or H×W) weights in [0, 1]; resized (bilinear) to the
            maps' size when it differs. Positions are weighted by it.
        normalize: divide by the number of positions H·W (or by the mask's area); False returns the
            raw sum ``F Fᵀ``.

    Returns:
        N×C×C tensor, differentiable.

    Example:
        >>> gram_matrix(torch.ones(1, 2, 4, 4))      # every entry 1.0
    """
    import torch
    import torch.nn.functional as F

    if not isinstance(feat, torch.Tensor) or feat.dim() != 4:
        raise DataError(f"gram_matrix expects an N×C×H×W tensor, got {_shape(feat)}", field="feat")
    n, c, h, w = feat.shape
    flat = feat.reshape(n, c, h * w)
    if mask is None:
        g = torch.bmm(flat, flat.transpose(1, 2))
        return g / float(h * w) if normalize else g
    if not isinstance(mask, torch.Tensor):
        mask = torch.as_tensor(mask)
    mask = mask.to(feat.device, feat.dtype)
    if mask.dim() == 2:
        mask = mask[None, None]
    if mask.dim() != 4 or mask.shape[1] != 1 or mask.shape[0] not in (1, n):
        raise DataError(f"mask must be N×1×H×W (N = {n} or 1), got {tuple(mask.shape)}", field="mask")
    if tuple(mask.shape[-2:]) != (h, w):
        mask = F.interpolate(mask, size=(h, w), mode="bilinear", align_corners=False)
    m = mask.expand(n, 1, h, w).reshape(n, 1, h * w)
    g = torch.bmm(flat * m, flat.transpose(1, 2))
    if not normalize:
        return g
    area = m.sum(dim=2, keepdim=True).clamp_min(1e-8)
    return g / area


def style_targets(maps: dict[str, Any], masks: Any = None) -> dict[str, Any]:
    """Gram matrices of an exemplar's maps, detached: the targets of :func:`style_loss`.

    Args:
        maps: tap -> N×C×H×W tensor (from :meth:`Backbone.maps`).
        masks: None, one mask for every tap (resized to each), or a dict tap -> mask.

    Returns:
        dict tap -> N×C×C Gram (no gradient).
    """
    out = {}
    for tap, m in maps.items():
        mask = masks.get(tap) if isinstance(masks, dict) else masks
        out[tap] = gram_matrix(m.detach(), mask)
    return out


def _layer_weights(keys: Iterable[str], weights: dict[str, float] | None, where: str) -> dict[str, float]:
    keys = list(keys)
    if not keys:
        raise DataError("no feature maps given", where=where, field="maps")
    if weights is None:
        return {k: 1.0 / len(keys) for k in keys}
    unknown = [k for k in weights if k not in keys]
    if unknown:
        raise ConfigError(f"weights name taps {unknown} that are not in the maps ({', '.join(keys)})",
                          where=where, field="weights")
    return {k: float(weights[k]) for k in keys if k in weights}


def style_loss(maps: dict[str, Any], targets: dict[str, Any], weights: dict[str, float] | None = None,
               masks: Any = None):
    """``Σ_l w_l · ||G_l − T_l||²_F / C_l²``, averaged over the batch.

    Args:
        maps: tap -> N×C×H×W maps of the image being optimised.
        targets: tap -> Gram (N×C×C or 1×C×C, broadcast), e.g. from :func:`style_targets`.
        weights: tap -> weight; None gives ``1/L`` to each of the L taps of ``maps``. Taps with no
            weight are left out.
        masks: optional masks for the Grams of ``maps`` (see :func:`style_targets`).

    Returns:
        Scalar tensor.
    """
    w = _layer_weights(maps, weights, "style_loss")
    total = None
    for tap, wt in w.items():
        if tap not in targets:
            raise DataError(f"no style target for tap {tap!r} (targets: {', '.join(targets)})",
                            where="style_loss", field="targets")
        mask = masks.get(tap) if isinstance(masks, dict) else masks
        g = gram_matrix(maps[tap], mask)
        t = targets[tap]
        if t.shape[-2:] != g.shape[-2:]:
            raise DataError(f"tap {tap!r}: Gram {tuple(g.shape)} vs target {tuple(t.shape)}",
                            where="style_loss", field="targets")
        c = g.shape[-1]
        term = ((g - t) ** 2).sum(dim=(-2, -1)).mean() / float(c * c)
        total = wt * term if total is None else total + wt * term
    return total


def content_loss(maps: dict[str, Any], targets: dict[str, Any], weights: dict[str, float] | None = None):
    """``Σ_l w_l · mean((F_l − P_l)²)``: feature reconstruction loss.

    Args:
        maps: tap -> maps of the image being optimised.
        targets: tap -> maps of the content image (same shape, or batch 1 broadcast).
        weights: tap -> weight; None gives ``1/L`` each.

    Returns:
        Scalar tensor.
    """
    w = _layer_weights(maps, weights, "content_loss")
    total = None
    for tap, wt in w.items():
        if tap not in targets:
            raise DataError(f"no content target for tap {tap!r}", where="content_loss", field="targets")
        if targets[tap].shape[1:] != maps[tap].shape[1:]:
            raise DataError(f"tap {tap!r}: maps {tuple(maps[tap].shape)} vs target {tuple(targets[tap].shape)}"
                            " (content and output must have the same size)", where="content_loss", field="targets")
        term = ((maps[tap] - targets[tap].detach()) ** 2).mean()
        total = wt * term if total is None else total + wt * term
    return total


def total_variation(x):
    """Mean squared difference of vertically plus horizontally adjacent pixels of N×C×H×W ``x``."""
    if x.dim() != 4:
        raise DataError(f"total_variation expects N×C×H×W, got {tuple(x.shape)}", field="x")
    dh = (x[..., 1:, :] - x[..., :-1, :]) ** 2
    dw = (x[..., :, 1:] - x[..., :, :-1]) ** 2
    return dh.mean() + dw.mean()


# -- backbones ------------------------------------------------------------------------------------


@dataclass
class Backbone:
    """A feature network with named taps and the taps texture/style methods use by default.

    Attributes:
        name: ``vgg19`` or ``random-multiscale``.
        extractor: the :class:`traingen.features.FeatureExtractor`.
        taps: every tap name, in network order.
        default_style_taps: taps whose Grams describe a texture / style.
        default_content_taps: taps compared for content.
        padding: ``zero`` (the network's own) or ``circular``.
    """

    name: str
    extractor: Any
    taps: tuple[str, ...]
    default_style_taps: tuple[str, ...]
    default_content_taps: tuple[str, ...]
    padding: str = "zero"
    options: dict[str, Any] = field(default_factory=dict)

    def maps(self, x, taps: Iterable[str] | None = None) -> dict[str, Any]:
        """Feature maps of float N×C×H×W images in [0, 1] (or uint8), differentiable.

        Args:
            x: images; 1 channel is repeated to RGB, an alpha channel dropped.
            taps: tap names (None: all).

        Returns:
            dict tap -> N×C'×H'×W' tensor, in network order.
        """
        wanted = list(self.taps) if taps is None else list(taps)
        unknown = [t for t in wanted if t not in self.taps]
        if unknown:
            raise ConfigError(f"unknown taps {unknown} for backbone {self.name}; known: {', '.join(self.taps)}",
                              where=f"backbone '{self.name}'", field="taps")
        if self.padding == "zero" or self.name == "vgg19":
            return self.extractor.maps(x, wanted)
        return _circular_random_maps(self.extractor, self.extractor.prepare(x, resize=False), wanted)

    def provenance(self) -> dict[str, Any]:
        """What decides the features (the extractor's provenance plus the padding)."""
        prov = dict(self.extractor.provenance())
        prov["padding"] = self.padding
        return prov


def _circular_random_maps(ext, x, taps: list[str]) -> dict[str, Any]:
    """random-multiscale maps with wrap-around padding (pads by index, so any kernel size works)."""
    import torch
    import torch.nn.functional as F

    from ..features.random_multiscale import conv2d_same

    h, w = int(x.shape[-2]), int(x.shape[-1])
    out = {}
    for t in taps:
        weight = ext.module[t].weight
        p = int(weight.shape[-1]) // 2
        ih = torch.arange(-p, h + p, device=x.device) % h
        iw = torch.arange(-p, w + p, device=x.device) % w
        xp = x.index_select(2, ih).index_select(3, iw)
        out[t] = F.relu(conv2d_same(xp, weight)[..., p:p + h, p:p + w])
    return out


def _set_vgg_circular(ext) -> None:
    from torch import nn

    for m in ext.module.modules():
        if isinstance(m, nn.Conv2d):
            m.padding_mode = "circular"


def get_backbone(name: str = "random-multiscale", *, weights: str | None = None, device: str = "cpu",
                 padding: str = "zero", **opts: Any) -> Backbone:
    """Build a texture/style backbone.

    Args:
        name: ``random-multiscale`` (weights-free, the offline default) or ``vgg19`` (needs ``weights``,
            torchvision's ``vgg19-dcbb9e9d.pth`` or a folder holding it; ``$TRAINGEN_WEIGHTS`` is searched too).
        weights: the weight file (vgg19 only).
        device: torch device.
        padding: ``zero`` or ``circular`` (wrap-around convolutions: shift-invariant Grams, tileable output).
        **opts: options of the extractor (``seed``, ``kernel_sizes``, ``maps`` for random-multiscale).

    Returns:
        A :class:`Backbone`.

    Example:
        >>> bb = get_backbone("vgg19", weights="~/weights/vgg19-dcbb9e9d.pth")
        >>> bb.default_style_taps
        ('relu1_1', 'relu2_1', 'relu3_1', 'relu4_1', 'relu5_1')
    """
    from ..features import get_extractor

    if name not in DEFAULT_TAPS:
        raise ConfigError(f"unknown backbone {name!r}; known: {', '.join(DEFAULT_TAPS)}", field="backbone")
    if padding not in PADDINGS:
        raise ConfigError(f"unknown padding {padding!r}; known: {', '.join(PADDINGS)}", field="padding")
    if name == "random-multiscale" and weights is not None:
        raise ConfigError("random-multiscale takes no weight file (its filters come from 'seed')",
                          where="backbone 'random-multiscale'", field="weights")
    ext = get_extractor(name, weights=weights, device=device, **opts)
    style, content = DEFAULT_TAPS[name]
    if name == "random-multiscale":
        taps = tuple(ext.taps)
        style = tuple(t for t in style if t in taps) or taps
        content = tuple(t for t in content if t in taps) or (taps[len(taps) // 2],)
    else:
        taps = tuple(ext.taps)
    if name == "vgg19" and padding == "circular":
        _set_vgg_circular(ext)
    return Backbone(name, ext, taps, style, content, padding, dict(opts))


def _shape(x: Any) -> str:
    shape = getattr(x, "shape", None)
    return f"{type(x).__name__} of shape {tuple(shape)}" if shape is not None else type(x).__name__
