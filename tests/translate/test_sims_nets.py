"""SIMS networks and canvases: identity transformer, warp convention, ordering net on a toy depth order,
canvas composition order, boundary elision, colour transfer, simulated canvases."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from traingen.core.seeding import torch_generator
from traingen.translate.sims_bank import SegmentBank
from traingen.translate.sims_canvas import (
    boundary_band,
    colour_transfer,
    compose_canvas,
    depth_order_pairs,
    onehot,
    order_from_net,
    simulate_canvas,
)
from traingen.translate.sims_nets import (
    CascadedRefinementNet,
    OrderingNet,
    SpatialTransformer,
    soft_iou,
    soft_iou_loss,
    warp,
)


def test_spatial_transformer_starts_as_identity():
    torch.manual_seed(0)
    stn = SpatialTransformer(width=4)
    for p in stn.features.parameters():  # whatever the encoder's weights, the output is the identity
        torch.nn.init.normal_(p, std=1.0)
    q = (torch.rand(3, 1, 16, 16) > 0.5).float()
    seg = torch.rand(3, 4, 16, 16)
    theta = stn(q, seg[:, 3:])
    assert torch.equal(theta, torch.tensor([[1.0, 0, 0], [0, 1.0, 0]]).expand(3, 2, 3))
    assert torch.allclose(warp(seg, theta), seg, atol=1e-6)


def test_warp_translation_matches_a_pixel_shift():
    x = torch.rand(1, 3, 8, 12)
    theta = torch.tensor([[[1.0, 0.0, 2 * 2 / 12], [0.0, 1.0, -1 * 2 / 8]]])  # +2 px in x, -1 px in y
    out = warp(x, theta)[0].numpy()
    ref = np.zeros((3, 8, 12), np.float32)
    src = x[0].numpy()
    for y in range(8):
        for xx in range(12):
            sy, sx = y - 1, xx + 2
            if 0 <= sy < 8 and 0 <= sx < 12:
                ref[:, y, xx] = src[:, sy, sx]
    assert np.allclose(out, ref, atol=1e-5)


def test_spatial_transformer_learns_to_align_masks():
    g = torch.Generator().manual_seed(1)

    def batch(n):
        q = torch.zeros(n, 1, 24, 24)
        r = torch.zeros(n, 1, 24, 24)
        for i in range(n):
            y, x = (int(v) for v in torch.randint(6, 12, (2,), generator=g))
            dy, dx = (int(v) for v in torch.randint(-4, 5, (2,), generator=g))
            q[i, 0, y:y + 8, x:x + 8] = 1
            r[i, 0, y + dy:y + dy + 8, x + dx:x + dx + 8] = 1
        return q, r

    torch.manual_seed(0)
    stn = SpatialTransformer(width=8)
    opt = torch.optim.Adam(stn.parameters(), lr=3e-3)
    q_test, r_test = batch(32)
    with torch.no_grad():
        before = float(soft_iou(warp(r_test, stn(q_test, r_test)), q_test).mean())
    for _ in range(100):
        q, r = batch(16)
        loss = soft_iou_loss(warp(r, stn(q, r)), q)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        after = float(soft_iou(warp(r_test, stn(q_test, r_test)), q_test).mean())
    assert after > before + 0.15, (before, after)


def _toy_scene(g: torch.Generator):
    """Two overlapping squares of classes 1 and 2; the lower one (larger y) is nearer, painted last."""
    lm = torch.zeros(16, 16, dtype=torch.int64)
    depth = torch.zeros(16, 16)
    y1, y2 = (int(v) for v in torch.randint(1, 8, (2,), generator=g))
    while y1 == y2:
        y2 = int(torch.randint(1, 8, (1,), generator=g))
    x1 = int(torch.randint(1, 7, (1,), generator=g))
    x2 = x1 + int(torch.randint(-2, 3, (1,), generator=g))
    squares = sorted([(y1, x1, 1), (y2, x2, 2)], key=lambda t: t[0])  # back (smaller y) first
    for k, (y, x, c) in enumerate(squares):
        lm[y:y + 8, max(x, 0):x + 8] = c
        depth[y:y + 8, max(x, 0):x + 8] = 0.4 + 0.4 * k
    return lm, depth


def test_ordering_net_learns_a_toy_depth_order():
    g = torch.Generator().manual_seed(3)

    def pairs(n):
        mi, mj, oh, t = [], [], [], []
        for _ in range(n):
            lm, depth = _toy_scene(g)
            masks, prs, tg = depth_order_pairs(lm, depth, min_pixels=1)
            cls = [int(lm[m][0]) for m in masks]
            for (i, j), y in zip(prs, tg.tolist(), strict=True):
                if cls[i] and cls[j]:  # the two squares (the background is always behind)
                    mi.append(masks[i])
                    mj.append(masks[j])
                    oh.append(onehot(lm[None], 3)[0])
                    t.append(y)
        return (torch.stack(mi).float()[:, None], torch.stack(mj).float()[:, None], torch.stack(oh),
                torch.tensor(t))

    torch.manual_seed(0)
    net = OrderingNet(3, width=8, depth=3)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    test = pairs(60)
    assert 0.2 < float(test[3].mean()) < 0.8  # both answers occur
    for _ in range(120):
        a, b, oh, t = pairs(8)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(net(a, b, oh), t)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        logit = net(test[0], test[1], test[2])
        acc = float(((logit > 0).float() == test[3]).float().mean())
        assert torch.allclose(net(test[1], test[0], test[2]), -logit, atol=1e-5)  # antisymmetric
    assert acc >= 0.9, acc


def test_depth_order_pairs_labels_the_nearer_segment():
    lm = torch.zeros(10, 10, dtype=torch.int64)
    lm[2:6, 2:6] = 1
    lm[5:9, 4:9] = 2
    depth = torch.where(lm == 2, 0.9, torch.where(lm == 1, 0.5, 0.0))
    masks, pairs, targets = depth_order_pairs(lm, depth, min_pixels=1)
    got = {(int(masks[i].nonzero()[0].sum()), int(masks[j].nonzero()[0].sum())): t
           for (i, j), t in zip(pairs, targets.tolist(), strict=True)}
    assert len(pairs) == 3  # bg-1, bg-2, 1-2
    cls = [int(lm[m].unique()) for m in masks]
    for (i, j), t in zip(pairs, targets.tolist(), strict=True):
        assert t == (1.0 if cls[i] > cls[j] else 0.0)  # here a larger class is nearer
    assert got


def test_canvas_composition_respects_the_order():
    h = w = 10
    masks = torch.zeros(2, h, w, dtype=torch.bool)
    masks[0, 1:7, 1:7] = True
    masks[1, 4:9, 4:9] = True
    pixels = torch.stack([torch.full((3, h, w), -0.5), torch.full((3, h, w), 0.75)])
    lm = torch.zeros(h, w, dtype=torch.int64)
    c01, m01 = compose_canvas(pixels, masks, [0, 1], lm, elision=0)
    c10, _ = compose_canvas(pixels, masks, [1, 0], lm, elision=0)
    overlap = masks[0] & masks[1]
    assert (c01[:, overlap] == 0.75).all() and (c10[:, overlap] == -0.5).all()
    assert (c01[:, masks[0] & ~masks[1]] == -0.5).all()
    assert torch.equal(m01[0].bool(), masks[0] | masks[1])
    assert (c01[:, ~(masks[0] | masks[1])] == 0).all()


def test_canvas_clipped_to_query_segments():
    # clip_to_query: a segment overflowing its query segment is pasted only inside it, whatever the order
    h = w = 10
    masks = torch.zeros(2, h, w, dtype=torch.bool)
    masks[0] = True                      # an aligned background segment covering the frame
    masks[1, 2:8, 2:8] = True            # an aligned object larger than its query
    query = torch.zeros(2, h, w, dtype=torch.bool)
    query[1, 3:6, 3:6] = True
    query[0] = ~query[1]
    pixels = torch.stack([torch.full((3, h, w), -0.5), torch.full((3, h, w), 0.75)])
    lm = query[1].long()
    for order in ([0, 1], [1, 0]):
        c, m = compose_canvas(pixels, masks, order, lm, elision=0, query_masks=query)
        assert (c[:, query[1]] == 0.75).all() and (c[:, query[0]] == -0.5).all() and bool(m.all())
    c, _ = compose_canvas(pixels, masks, [1, 0], lm, elision=0)  # unclipped: the order decides
    assert (c[:, query[1]] == -0.5).all()
    c, _ = compose_canvas(pixels, masks, [0, 1], lm, elision=0)
    assert (c[:, 2:8, 2:8] == 0.75).all()  # the object spills over the background's query pixels


def test_boundary_elision_matches_a_window_reference():
    rng = np.random.default_rng(0)
    lm = rng.integers(0, 3, (12, 12))
    lm[:6, :6] = 1
    band = boundary_band(torch.from_numpy(lm)[None], 1)[0].numpy()
    ref = np.zeros_like(band)
    for y in range(12):
        for x in range(12):
            win = lm[max(0, y - 1):y + 2, max(0, x - 1):x + 2]
            ref[y, x] = len(np.unique(win)) > 1
    assert np.array_equal(band, ref)
    full = torch.ones(1, 12, 12, dtype=torch.bool)
    _, cm = compose_canvas(torch.zeros(1, 3, 12, 12), full, [0], torch.from_numpy(lm), elision=1)
    assert np.array_equal(cm[0].bool().numpy(), ~ref)


def test_colour_transfer_matches_reference_statistics():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(3, 8, 8, generator=g) * 0.5 - 0.5
    ref = torch.rand(3, 8, 8, generator=g) * 0.4 + 0.1
    m = torch.zeros(8, 8, dtype=torch.bool)
    m[1:6, 1:6] = True
    rm = torch.ones(8, 8, dtype=torch.bool)
    out = colour_transfer(x, m, ref, rm)
    xs, rs = out[:, m].double().numpy(), ref[:, rm].double().numpy()
    assert np.allclose(xs.mean(1), rs.mean(1), atol=1e-5)
    assert np.allclose(xs.std(1, ddof=1), rs.std(1, ddof=1), atol=1e-5)
    assert torch.equal(out[:, ~m], x[:, ~m])


def test_simulated_canvas_is_cut_from_own_pixels():
    lms = torch.zeros(3, 16, 16, dtype=torch.int64)
    lms[0, 2:10, 2:10] = 1
    lms[1, 4:12, 3:11] = 1
    lms[2, 6:14, 6:14] = 1
    images = torch.rand(3, 3, 16, 16) * 2 - 1
    bank = SegmentBank.from_label_maps(lms, images, min_pixels=1)
    canvas, cm = simulate_canvas(images[0], lms[0], bank, image_index=0, generator=torch_generator(0, "t"), k=1,
                                 p_colour=0.0, elision=0)
    keep = cm[0].bool()
    # the class-1 segment is cut by the best other class-1 mask (image 1's); background by another background
    assert keep[2:10, 2:10].sum() == (lms[1, 2:10, 2:10] == 1).sum()
    assert torch.equal(canvas[:, keep], images[0][:, keep])
    assert not keep.all()


@pytest.mark.parametrize("n_scales", [1, 3])
def test_crn_shapes_and_gradients(n_scales):
    net = CascadedRefinementNet(4, ngf=4, n_scales=n_scales)
    lm = torch.randint(0, 4, (2, 16, 16))
    rgb, logits = net(onehot(lm, 4), torch.zeros(2, 3, 16, 16), torch.zeros(2, 1, 16, 16))
    assert rgb.shape == (2, 3, 16, 16) and logits.shape == (2, 4, 16, 16)
    (rgb.mean() + logits.mean()).backward()
    assert all(p.grad is not None for p in net.parameters())


def test_order_from_net_sorts_by_wins():
    class Fixed(torch.nn.Module):
        def forward(self, mi, mj, oh):  # nearer = larger area
            return (mi.sum((1, 2, 3)) - mj.sum((1, 2, 3))).float()

    masks = torch.zeros(3, 8, 8, dtype=torch.bool)
    masks[0, 0:4, 0:4] = True
    masks[1, 2:8, 2:8] = True
    masks[2, 0:2, 3:6] = True
    order = order_from_net(Fixed(), masks, torch.zeros(1, 2, 8, 8))
    assert order == [2, 0, 1]
