"""Non-rigid registration of a photo to its aligned model's silhouette (texture transfer, stage 3b).

The rigid pose (:mod:`traingen.mesh.texture_pose`) puts the retrieved model over the photo as well as a
camera and per-part scales can; when the photographed object is not in the collection its profile
differs, and a pixel near the silhouette shows another surface point than the model pixel under it. Wang
et al. (2016) register the image to the model before transferring appearance; here that is a smooth 2-D
displacement field ``d`` such that the photo's mask sampled at ``x + d(x)`` matches the model's mask at
``x``. The field is a bicubic interpolation of a coarse grid of control displacements, fitted by L-BFGS
on the squared difference of the two masks (Gaussian-blurred, coarse to fine, so that a silhouette a few
pixels away still pulls) plus a membrane penalty on neighbouring control points. The interior follows the
silhouette smoothly, like a thin-plate spline between contour matches.

Example:
    >>> import numpy as np
    >>> m = np.zeros((32, 32), bool); m[8:24, 8:24] = True
    >>> p = np.zeros((32, 32), bool); p[8:24, 10:26] = True        # the photo's object, 2 px to the right
    >>> flow = silhouette_flow(m, p)
    >>> bool(abs(flow[16, 16, 0] - 2.0) < 0.5)
    True

References:
    Wang, Su, Huang, Huang, Guibas & Mitra, "Unsupervised Texture Transfer from Images to Model
    Collections", ACM Trans. Graph. 35(6) (SIGGRAPH Asia), 2016 (image-to-model alignment).
    Bookstein, "Principal warps: thin-plate splines and the decomposition of deformations", IEEE TPAMI
    11(6), 1989 (smooth interpolation of contour displacements).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..core.errors import DataError


def _blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of a 1×1×H×W tensor (zero padding: outside the image is background)."""
    if sigma <= 0:
        return x
    r = max(1, int(round(3 * sigma)))
    t = torch.arange(-r, r + 1, dtype=x.dtype)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    x = F.conv2d(x, k.view(1, 1, 1, -1), padding=(0, r))
    return F.conv2d(x, k.view(1, 1, -1, 1), padding=(r, 0))


def _sample(img: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """``img`` (N×C×H×W) sampled at pixel centre + ``flow`` (1×2×H×W, pixels, x then y); zero outside."""
    _, _, H, W = img.shape
    ys, xs = torch.meshgrid(torch.arange(H, dtype=flow.dtype), torch.arange(W, dtype=flow.dtype), indexing="ij")
    gx = (xs + 0.5 + flow[0, 0]) / W * 2 - 1
    gy = (ys + 0.5 + flow[0, 1]) / H * 2 - 1
    grid = torch.stack([gx, gy], -1)[None].expand(img.shape[0], H, W, 2)
    return F.grid_sample(img, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _dense(ctrl: torch.Tensor, H: int, W: int) -> torch.Tensor:
    return F.interpolate(ctrl, size=(H, W), mode="bicubic", align_corners=True)


def silhouette_flow(model_mask: np.ndarray, photo_mask: np.ndarray, *, cells: int = 8, smooth: float = 1.0,
                    sigmas: tuple[float, ...] = (4.0, 2.0, 1.0), iters: int = 40, max_shift: float = 0.15
                    ) -> np.ndarray:
    """A smooth displacement field taking the model's silhouette onto the photo's.

    Args:
        model_mask: H×W, the aligned model's coverage.
        photo_mask: H×W, the photographed object's mask.
        cells: control-grid cells per side ((cells + 1)² control points over the image).
        smooth: weight of the membrane penalty Σ‖c_i − c_j‖² (pixels²) over neighbouring control points,
            against the data term Σ (photo(x + d) − model(x))² summed over pixels: 1 means one pixel² of
            bending costs as much as one fully mismatched pixel.
        sigmas: Gaussian blurs of both masks, coarse to fine.
        iters: L-BFGS iterations per blur level.
        max_shift: displacements are clipped to this fraction of the image side.

    Returns:
        H×W×2 float64 displacement (x, y) in pixels: model pixel x sees photo pixel x + d(x).

    Raises:
        DataError: the masks differ in shape or one is empty.
    """
    m = np.asarray(model_mask, np.float64)
    p = np.asarray(photo_mask, np.float64)
    if m.shape != p.shape or m.ndim != 2:
        raise DataError(f"model mask {m.shape} and photo mask {p.shape} must be the same H×W",
                        where="texture-warp", field="mask")
    if not (m > 0.5).any() or not (p > 0.5).any():
        raise DataError("an empty mask cannot be registered", where="texture-warp", field="mask")
    H, W = m.shape
    M0 = torch.from_numpy((m > 0.5).astype(np.float64))[None, None]
    P0 = torch.from_numpy((p > 0.5).astype(np.float64))[None, None]
    ctrl = torch.zeros(1, 2, cells + 1, cells + 1, dtype=torch.float64, requires_grad=True)
    limit = max_shift * max(H, W)
    for sigma in sigmas:
        M, P = _blur(M0, sigma), _blur(P0, sigma)
        opt = torch.optim.LBFGS([ctrl], lr=1.0, max_iter=iters, line_search_fn="strong_wolfe")

        def closure(M=M, P=P):
            ctrl.grad = None
            d = limit * torch.tanh(_dense(ctrl, H, W) / limit)
            data = ((_sample(P, d) - M) ** 2).sum()
            bend = ((ctrl[:, :, 1:] - ctrl[:, :, :-1]) ** 2).sum() + ((ctrl[:, :, :, 1:] - ctrl[:, :, :, :-1]) ** 2).sum()
            loss = data + smooth * bend
            loss.backward()
            return loss

        opt.step(closure)
    with torch.no_grad():
        d = limit * torch.tanh(_dense(ctrl, H, W) / limit)
    return d[0].permute(1, 2, 0).numpy().copy()


def warp_image(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """``image`` (H×W or H×W×C) resampled bilinearly at pixel centre + ``flow`` (zero outside the image)."""
    a = np.asarray(image, np.float64)
    x = torch.from_numpy(a if a.ndim == 3 else a[..., None]).permute(2, 0, 1)[None]
    f = torch.from_numpy(np.asarray(flow, np.float64)).permute(2, 0, 1)[None]
    out = _sample(x, f)[0].permute(1, 2, 0).numpy()
    return out if a.ndim == 3 else out[..., 0]
