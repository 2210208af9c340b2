"""SIMS canvases: composition in depth order with boundary elision, and the simulated training canvases.

* :func:`compose_canvas` pastes warped segments back to front (a later segment covers an earlier one
  where they overlap), then **elides boundaries**: pixels within ``elision`` px of a class boundary of
  the query label map are left empty (canvas mask 0), so the synthesis network, not the retrieved
  pixels, decides the edges.
* :func:`order_from_net` turns the ordering network's pairwise front/behind logits over the pairs of
  touching segments into a back-to-front order (each segment ranked by its summed win probability).
* :func:`depth_order_pairs` labels the touching segment pairs of a training label map from the
  renderer's depth: the segment nearer the camera on their shared band is in front.
* :func:`simulate_canvas` makes the training canvas the paper uses instead of retrieved segments: each
  of the image's **own** segments is cut by the mask of a retrieved segment of its class (from another
  image), and with probability ``p_colour`` its colours are moved to the retrieved segment's
  statistics (per-channel mean and standard deviation); the result is elided as above.

Example:
    >>> canvas, cmask = compose_canvas(pixels, masks, order, label_map, elision=1)

References:
    Qi, Chen, Jia & Koltun. "Semi-parametric Image Synthesis", CVPR 2018. arXiv:1804.10992 (Sec. 3.2-3.4).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from .sims_bank import SegmentBank, connected_segments, retrieve


def onehot(label_map: torch.Tensor, num_classes: int) -> torch.Tensor:
    """N×H×W int -> N×C×H×W float one-hot (classes >= C map to nothing)."""
    lm = label_map.long().clamp(0, num_classes)
    return F.one_hot(lm, num_classes + 1)[..., :num_classes].permute(0, 3, 1, 2).float()


def boundary_band(label_map: torch.Tensor, width: int) -> torch.Tensor:
    """N×H×W bool: pixels whose (2·width+1)² window holds more than one class (0 px: nothing)."""
    if width <= 0:
        return torch.zeros(label_map.shape, dtype=torch.bool, device=label_map.device)
    x = label_map.float()[:, None]
    k = 2 * width + 1
    hi = F.max_pool2d(x, k, stride=1, padding=width)
    lo = -F.max_pool2d(-x, k, stride=1, padding=width)
    return (hi != lo)[:, 0]


def compose_canvas(pixels: torch.Tensor, masks: torch.Tensor, order: list[int], label_map: torch.Tensor, *,
                   elision: int = 1, query_masks: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Paste segments back to front, then elide the label map's boundaries.

    Args:
        pixels: K×3×H×W segment pixels in [-1, 1] (already warped into place).
        masks: K×H×W segment masks (bool or [0, 1]; > 0.5 counts).
        order: back-to-front segment indices (a subset of ``range(K)``).
        label_map: H×W int query label map.
        elision: boundary band width in pixels (0: none).
        query_masks: K×H×W masks of the query segments; when given, segment k is pasted only inside
            ``query_masks[k]`` (``SIMSConfig.clip_to_query``, beyond the paper).

    Returns:
        ``(canvas 3×H×W, canvas mask 1×H×W)``; empty pixels are 0 in both.
    """
    h, w = label_map.shape
    canvas = torch.zeros(3, h, w, dtype=pixels.dtype, device=pixels.device)
    filled = torch.zeros(h, w, dtype=torch.bool, device=pixels.device)
    for k in order:
        m = masks[k] > 0.5
        if query_masks is not None:
            m = m & (query_masks[k] > 0.5)
        canvas = torch.where(m[None], pixels[k], canvas)
        filled |= m
    keep = filled & ~boundary_band(label_map[None], elision)[0]
    return canvas * keep[None], keep[None].to(pixels.dtype)


def touching_pairs(masks: torch.Tensor) -> list[tuple[int, int]]:
    """``(i, j)``, i < j, of masks (K×H×W) that overlap or touch (8-neighbourhood)."""
    m = masks.float()[:, None] > 0.5
    dil = F.max_pool2d(m.float(), 3, stride=1, padding=1)[:, 0] > 0.5
    flat_d, flat_m = dil.flatten(1).float(), m[:, 0].flatten(1).float()
    touch = (flat_d @ flat_m.T) > 0
    return [(i, j) for i in range(len(masks)) for j in range(i + 1, len(masks)) if touch[i, j] or touch[j, i]]


def order_from_net(net: torch.nn.Module, masks: torch.Tensor, onehot_map: torch.Tensor) -> list[int]:
    """Back-to-front order of ``masks`` (K×H×W) from the ordering network's pairwise logits.

    Args:
        net: an :class:`~.sims_nets.OrderingNet`.
        masks: K×H×W segment masks.
        onehot_map: 1×C×H×W one-hot query label map.
    """
    k = len(masks)
    wins = torch.zeros(k)
    pairs = touching_pairs(masks)
    if pairs:
        i, j = (torch.tensor(t) for t in zip(*pairs, strict=True))
        mf = masks.float()[:, None]
        with torch.no_grad():
            p = torch.sigmoid(net(mf[i], mf[j], onehot_map.expand(len(pairs), -1, -1, -1))).cpu()
        wins.index_add_(0, i, p)
        wins.index_add_(0, j, 1.0 - p)
    return sorted(range(k), key=lambda s: (float(wins[s]), s))


def depth_order_pairs(label_map: torch.Tensor, depth: torch.Tensor, *, min_pixels: int = 4,
                      ) -> tuple[torch.Tensor, list[tuple[int, int]], torch.Tensor]:
    """Segments of ``label_map`` and, for each touching pair, whether the first is in front.

    Args:
        label_map: H×W int.
        depth: H×W nearness (larger is nearer, as ``builtin:render-mask2rgb``'s depth channel).
        min_pixels: smallest segment.

    Returns:
        ``(masks K×H×W bool, pairs [(i, j)], targets float: 1 where i is nearer than j on their band)``.
    """
    segs = connected_segments(label_map.cpu().numpy(), min_pixels=min_pixels)
    if len(segs) < 2:
        return torch.zeros(0, *label_map.shape, dtype=torch.bool), [], torch.zeros(0)
    masks = torch.stack([torch.from_numpy(m) for _, m in segs]).to(label_map.device)
    dil = F.max_pool2d(masks.float()[:, None], 5, stride=1, padding=2)[:, 0] > 0.5
    pairs, targets = [], []
    for i, j in touching_pairs(masks):
        bi, bj = masks[i] & dil[j], masks[j] & dil[i]  # each segment's side of the shared band
        di, dj = float(depth[bi].float().mean()), float(depth[bj].float().mean())
        if di != dj:
            pairs.append((i, j))
            targets.append(1.0 if di > dj else 0.0)
    return masks, pairs, torch.tensor(targets)


def colour_transfer(x: torch.Tensor, mask: torch.Tensor, ref: torch.Tensor, ref_mask: torch.Tensor) -> torch.Tensor:
    """``x`` (3×H×W) with per-channel mean/std inside ``mask`` moved to those of ``ref`` inside ``ref_mask``."""
    m, r = mask.bool(), ref_mask.bool()
    if int(m.sum()) < 2 or int(r.sum()) < 2:
        return x
    xs, rs = x[:, m], ref[:, r]
    mx, sx = xs.mean(1, keepdim=True), xs.std(1, keepdim=True).clamp_min(1e-3)
    mr, sr = rs.mean(1, keepdim=True), rs.std(1, keepdim=True)
    out = x.clone()
    out[:, m] = ((xs - mx) / sx * sr + mr).clamp(-1.0, 1.0)
    return out


def simulate_canvas(image: torch.Tensor, label_map: torch.Tensor, bank: SegmentBank, *, image_index: int,
                    generator: torch.Generator, k: int = 5, p_colour: float = 0.2, elision: int = 1,
                    min_pixels: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    """A training canvas from the image's own segments (module docstring).

    Args:
        image: 3×H×W in [-1, 1]; label_map: H×W int.
        bank: the segment bank (retrieved masks come from it).
        image_index: the image's index in the bank (its own segments are never retrieved; -1: none).
        generator: draws which of the top-``k`` is used and the colour-transfer coins (CPU generator).
        k: retrieval depth.
        p_colour: probability of colour transfer per segment (paper: 0.2).
        elision: boundary band width.
        min_pixels: smallest own segment.

    Returns:
        ``(canvas 3×H×W, canvas mask 1×H×W)``.
    """
    segs = connected_segments(label_map.cpu().numpy(), min_pixels=min_pixels)
    if not segs:
        return compose_canvas(image[None], torch.zeros(1, *label_map.shape), [], label_map, elision=elision)
    dev = image.device
    masks = torch.stack([torch.from_numpy(m) for _, m in segs]).to(bank.masks.device)
    classes = torch.tensor([c for c, _ in segs], dtype=torch.int64)
    hits = retrieve(bank, masks, classes, k=k,
                    exclude_image=torch.full((len(segs),), image_index, dtype=torch.int64))
    pick = torch.randint(0, k, (len(segs),), generator=generator)
    coins = torch.rand(len(segs), generator=generator) < p_colour
    pixels, cut = [], []
    for s in range(len(segs)):
        row = hits.indices[s]
        valid = row[row >= 0]
        own = masks[s].to(dev)
        if len(valid) == 0:  # no other segment of this class: keep the own segment whole
            pixels.append(image)
            cut.append(own)
            continue
        r = int(valid[int(pick[s]) % len(valid)])
        rmask = bank.masks[r].to(dev)
        px = image
        if coins[s]:
            px = colour_transfer(image, own, bank.images[bank.image_index[r]].to(dev), rmask)
        pixels.append(px)
        cut.append(own & rmask)
    return compose_canvas(torch.stack(pixels), torch.stack(cut), list(range(len(segs))), label_map.to(dev),
                          elision=elision)
