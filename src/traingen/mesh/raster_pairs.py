"""Sparse (face, pixel) pairs for the soft rasterizer, enumerated row by row without per-pixel tests.

Soft Rasterizer (Liu et al. 2019) gives every face a coverage that decays with the squared distance
``d²`` to its boundary and drops pairs past ``d² ≥ σ·ln(1/ε − 1)`` outside the face, so a face reaches
the pixels within the blur radius ``r`` of its triangle. A cheap superset of that region is the
triangle pushed out by ``r`` along its three edge normals (three half-planes ``n_k·p + c_k > −r``).
Each image row cuts that region in one interval of pixel columns, so the pairs are listed per
(face, row) item from three affine bounds in the row's ``y``, then expanded to pixels with a handful
of vectorised integer ops: no per-pixel test, no compaction, and the list stays sorted by face row
(which :class:`~traingen.mesh.raster_soft_ops.SortedGather` relies on). The exact ``d²`` cutoff is
applied afterwards, as a 0/1 factor.

Example:
    >>> import torch
    >>> from traingen.render.camera import Camera
    >>> from traingen.mesh.raster_common import Cameras, RasterSettings, setup_faces
    >>> cams = Cameras.from_cameras(Camera.orbit(3.0, 0, 0, width=16, height=16))
    >>> v = torch.tensor([[[0, -1, -1], [0, 1, -1], [0, 0, 1.0]]])
    >>> pairs = enumerate_near_pairs(setup_faces(v, torch.tensor([[0, 1, 2]]), cams, RasterSettings()), 16, 16, 1.0)
    >>> bool((pairs.fi == 0).all()), int(pairs.crow[-1]) == len(pairs.fi)
    (True, True)

References:
    Liu, Li, Chen & Li, "Soft Rasterizer: A Differentiable Renderer for Image-based 3D Reasoning",
    ICCV 2019, arXiv 1904.01786.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .raster_common import FaceSetup, edge_lines, expand_ranges, pixel_bounds

__all__ = ["PairList", "enumerate_near_pairs"]

_BIG = 1e9  # a column bound that never binds (images are far smaller)


@dataclass
class PairList:
    """Pairs sorted by face row: ``fi`` (row of the B·F face list), flat pixel index ``pix``, pixel
    centre ``X``, ``Y`` (float), and ``crow`` (N + 1 offsets: face row ``n`` owns pairs
    ``crow[n]:crow[n+1]``)."""

    fi: torch.Tensor
    pix: torch.Tensor
    X: torch.Tensor
    Y: torch.Tensor
    crow: torch.Tensor


def _row_bounds(uv: torch.Tensor, reach: float) -> torch.Tensor:
    """Per face, the column bounds of the pushed-out triangle as affine functions of the row's ``y``.

    Returns N×12: ``lo_a (3), lo_b (3), hi_a (3), hi_b (3)`` with the region's row ``y`` spanning
    ``max_k(lo_a·y + lo_b) < x < min_k(hi_a·y + hi_b)``. Edges with a horizontal line (``n_x = 0``) bound
    rows only, which the dilated bounding box already does.
    """
    ln = edge_lines(uv)  # N×3×(n_x, n_y, c): n·p + c is the signed distance, > 0 inside
    a, b, c = ln[..., 0], ln[..., 1], ln[..., 2] + reach
    pos, neg = (a > 0).to(uv.dtype), (a < 0).to(uv.dtype)
    inv = 1.0 / (a + (a == 0).to(uv.dtype))
    # a·x + b·y + c > 0  ⇔  x > −(b·y + c)/a for a > 0, x < −(b·y + c)/a for a < 0.
    sa, sb = -b * inv, -c * inv
    return torch.cat([sa * pos, sb * pos - _BIG * (1 - pos), sa * neg, sb * neg + _BIG * (1 - neg)], 1)


def enumerate_near_pairs(setup: FaceSetup, width: int, height: int, radius_px: float) -> PairList:
    """Pairs whose pixel centre lies within ``radius_px`` (plus a rounding margin) of each valid face's
    three edge lines, clipped to the image (see module doc)."""
    with torch.no_grad():
        uv = setup.uv.detach()
        dt, dev = uv.dtype, uv.device
        x0, x1, y0, y1 = pixel_bounds(setup, width, height, radius_px)
        n_rows = ((y1 - y0 + 1).clamp_(min=0) * ((x1 >= x0) & setup.valid)).long()
        # A margin keeps the region a superset under rounding; the exact cutoff comes later.
        reach = radius_px + 1e-3 + 1e-6 * max(width, height)
        # 15 rows of per-face values (contiguous rows: the per-item work below reads whole rows).
        per_face = torch.cat([_row_bounds(uv, reach).t(), (x0 + 0.5).unsqueeze(0), (x1 + 0.5).unsqueeze(0),
                              (y0 + 0.5).unsqueeze(0)], 0)
        rf, roff = expand_ranges(n_rows)  # one item per (face row, image row)
        g = per_face.index_select(1, rf)
        Y = g[14] + roff.to(dt)  # the row's pixel-centre y
        # max_k / min_k over the three edges, elementwise (a reduction over a dimension of 3 is slower).
        lower = torch.maximum(torch.maximum(torch.addcmul(g[3], g[0], Y), torch.addcmul(g[4], g[1], Y)),
                              torch.addcmul(g[5], g[2], Y))
        upper = torch.minimum(torch.minimum(torch.addcmul(g[9], g[6], Y), torch.addcmul(g[10], g[7], Y)),
                              torch.addcmul(g[11], g[8], Y))
        # First and last column centre i + 0.5 inside (lower, upper), within the bounding box.
        xs = torch.maximum(torch.ceil(lower - 0.5) + 0.5, g[12])
        xe = torch.minimum(torch.floor(upper - 0.5) + 0.5, g[13])
        cnt = (xe - xs + 1).clamp_(min=0).long()
        # Pair p of item i sits at column xs_i + (p − start_i): one gather of (base − start) per output.
        total = int(cnt.sum())
        item = torch.repeat_interleave(torch.arange(len(cnt), device=dev), cnt, output_size=total)
        start = torch.cumsum(cnt, 0) - cnt
        pos = torch.arange(total, device=dev)
        rowbase = (rf // setup.n_faces) * (height * width) + Y.long() * width + xs.long()
        pix = pos + (rowbase - start).index_select(0, item)
        if dt == torch.float64 or total < 2**22:  # integers + 0.5 stay exact
            X = torch.arange(total, dtype=dt, device=dev) + (xs - start.to(dt)).index_select(0, item)
        else:
            X = (pos + (xs.long() - start).index_select(0, item)).to(dt) + 0.5
        fi = rf.index_select(0, item)
        Yp = Y.index_select(0, item)
        counts = torch.zeros(setup.batch * setup.n_faces, dtype=torch.int64, device=dev).index_add_(0, rf, cnt)
        crow = torch.cat([torch.zeros(1, dtype=torch.int64, device=dev), torch.cumsum(counts, 0)])
    return PairList(fi, pix, X, Yp, crow)
