"""Deep photo style transfer: Gatys transfer kept photorealistic by the matting Laplacian, guided by masks.

Luan et al. add two things to Gatys et al.'s objective:

- the photorealism regulariser ``sum_c V_c[O]^T L V_c[O]``: ``L`` is the matting Laplacian of the
  *content* image (Levin et al.), ``V_c[O]`` channel ``c`` of the output as a vector. It is small when
  the output is, in every 3×3 window, an affine function of the content's colours, so edges and
  structure stay those of the photo and only colours move;
- a semantically guided style loss: for each region label present in both images, the Gram matrix
  of the output's features inside the content mask matches the Gram of the style's features inside
  the style mask with the same label (masks down-sampled to each tap).

Masks come from the user (HxW int label maps) or, in the dataset operation, from the sample's own
``mask``. Without masks the style loss is the plain Gram loss.

``L`` is built once per content image with scipy (float64, CSR, 81 entries per interior window) and
applied as a torch sparse matrix, so its gradient ``2 L V`` costs one sparse product per evaluation.

Example:
    >>> lap = matting_laplacian(content_float_hwc)       # scipy.sparse (HW×HW)
    >>> out = Photo(PhotoConfig(size=96))(content, style, content_mask=m1, style_mask=m2)

References:
    Luan, Paris, Shechtman, Bala, "Deep Photo Style Transfer", CVPR 2017.
    Levin, Lischinski, Weiss, "A Closed-Form Solution to Natural Image Matting", TPAMI 2008.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.config import to_dict
from ..core.errors import DataError
from ..core.seeding import torch_generator
from .base import METHODS, StyleResult, resize_mask, to_uint8
from .gatys import GatysConfig, OptimisationMethod, prepare_pair, stylize_tensor


def matting_laplacian(img: np.ndarray, eps: float = 1e-7, radius: int = 1):
    """The matting Laplacian of an HxWx3 float image in [0, 1] (Levin et al. 2008, eq. 12).

    ``L_ij = sum_{k: i,j in w_k} (delta_ij - (1 + (I_i - mu_k)^T (Sigma_k + eps/|w| I)^-1 (I_j - mu_k)) / |w|)``
    over every (2r+1)² window ``w_k`` lying inside the image.

    Returns:
        scipy.sparse CSR float64 matrix of size HW×HW (pixel index ``y * W + x``), symmetric, rows sum to 0.
    """
    import scipy.sparse as sp

    a = np.asarray(img, dtype=np.float64)
    if a.ndim != 3 or a.shape[2] != 3:
        raise DataError(f"expected HxWx3, got {a.shape}", field="content")
    h, w, _ = a.shape
    k = 2 * radius + 1
    if h < k or w < k:
        raise DataError(f"image {h}x{w} is smaller than the {k}x{k} window", field="content")
    n = k * k
    idx = np.arange(h * w).reshape(h, w)
    win_idx = np.lib.stride_tricks.sliding_window_view(idx, (k, k)).reshape(-1, n)          # K×n
    win_pix = np.lib.stride_tricks.sliding_window_view(a, (k, k), axis=(0, 1))             # h'×w'×3×k×k
    win_pix = win_pix.reshape(-1, 3, n).transpose(0, 2, 1)                                  # K×n×3
    mu = win_pix.mean(1, keepdims=True)
    d = win_pix - mu
    cov = np.einsum("kni,knj->kij", d, d) / n + (eps / n) * np.eye(3)
    inv = np.linalg.inv(cov)
    vals = np.eye(n)[None] - (1.0 + np.einsum("kai,kij,kbj->kab", d, inv, d)) / n           # K×n×n
    rows = np.repeat(win_idx, n, axis=1).ravel()
    cols = np.tile(win_idx, (1, n)).ravel()
    return sp.csr_matrix((vals.ravel(), (rows, cols)), shape=(h * w, h * w))


def laplacian_to_torch(lap, device: str = "cpu", dtype=None):
    """A scipy sparse matrix as a torch sparse COO tensor (float32 unless ``dtype`` says otherwise)."""
    import torch

    coo = lap.tocoo()
    ind = torch.from_numpy(np.vstack([coo.row, coo.col]).astype(np.int64))
    vals = torch.from_numpy(coo.data).to(dtype or torch.float32)
    return torch.sparse_coo_tensor(ind, vals, coo.shape, device=device, check_invariants=False).coalesce()


def photorealism_loss(x, lap_t):
    """``sum_c V_c^T L V_c`` for a 1×3×H×W image ``x`` and the HW×HW Laplacian ``lap_t`` (torch sparse)."""
    import torch

    v = x[0].reshape(3, -1).T  # HW×3
    return (v * torch.sparse.mm(lap_t, v)).sum()


def guided_style_loss(x_maps: dict[str, Any], s_maps: dict[str, Any], content_mask: np.ndarray,
                      style_mask: np.ndarray):
    """Gram loss per region: for every label in both masks, Gram(x in content region) vs Gram(s in style region).

    Args:
        x_maps, s_maps: tap -> 1×C×h×w maps of the output and of the style image.
        content_mask, style_mask: HxW int label maps at the images' resolutions.

    Returns:
        Scalar: the mean over taps and shared labels of ``||G_x − G_s||²_F / C²`` (C maps at the tap),
        the scale of :func:`traingen.texture.gram.style_loss`.
    """
    import torch

    from ..texture.gram import gram_matrix

    labels = sorted(set(np.unique(content_mask).tolist()) & set(np.unique(style_mask).tolist()))
    if not labels:
        raise DataError("content and style masks share no label: nothing to guide the style",
                        field="style_mask")
    total, count = 0.0, 0
    for t in x_maps:
        xm, sm = x_maps[t], s_maps[t]
        cm = resize_mask(content_mask, tuple(xm.shape[-2:]))
        smk = resize_mask(style_mask, tuple(sm.shape[-2:]))
        for lab in labels:
            a = torch.from_numpy((cm == lab).astype(np.float32)).to(xm.device)[None, None]
            b = torch.from_numpy((smk == lab).astype(np.float32)).to(sm.device)[None, None]
            if a.sum() == 0 or b.sum() == 0:
                continue  # the region vanished at this tap's resolution
            # / C², as texture.gram.style_loss: unnormalised, a 32-map tap weighed 1,024x the plain Gram loss
            # at the same style_weight, drowning the content and face-prior terms
            total = total + ((gram_matrix(xm, a) - gram_matrix(sm, b)) ** 2).sum() / xm.shape[1] ** 2
            count += 1
    return total / max(count, 1)


@dataclass
class PhotoConfig(GatysConfig):
    """:class:`~traingen.style.gatys.GatysConfig` plus the photorealism weight and the Laplacian's eps.

    Args:
        photo_weight: weight of the matting-Laplacian term (lambda in Luan et al.).
        eps: regulariser of the window covariances (1e-7 in Luan et al.'s code).
    """

    photo_weight: float = 1e2
    eps: float = 1e-7


@METHODS.register("photo")
class Photo(OptimisationMethod):
    """Deep photo style transfer (Luan et al.); masks are passed per call."""

    Config = PhotoConfig

    def __call__(self, content: Any, style: Any, *, seed: int = 0, content_mask: np.ndarray | None = None,
                 style_mask: np.ndarray | None = None, **_: Any) -> StyleResult:
        cfg = self.config
        t0 = time.perf_counter()
        c, s = prepare_pair(content, style, cfg.size, cfg.style_size, self.device)
        lap = laplacian_to_torch(matting_laplacian(c[0].permute(1, 2, 0).cpu().numpy(), cfg.eps), self.device)
        style_term = None
        if (content_mask is None) != (style_mask is None):
            raise DataError("give both content_mask and style_mask, or neither", field="style_mask")
        if content_mask is not None:
            cm = resize_mask(np.asarray(content_mask), tuple(c.shape[-2:]))
            sm = resize_mask(np.asarray(style_mask), tuple(s.shape[-2:]))

            def style_term(xm, smaps):
                return guided_style_loss(xm, smaps, cm, sm)

        def extra(x):
            return cfg.photo_weight * photorealism_loss(x, lap)

        x, trace = stylize_tensor(c, s, self.backbone, cfg, torch_generator(seed, "style-photo"), extra, style_term)
        return StyleResult(to_uint8(x), trace.losses, time.perf_counter() - t0, "photo",
                           {"backbone": cfg.backbone, "evaluations": trace.evaluations, "guided": style_term is not None,
                            "config": to_dict(cfg)})
