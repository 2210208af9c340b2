"""MixUp, CutMix and Cutout on batches; labels checked against torchvision v2 on the same draw."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torchvision.transforms import v2

from traingen.augment.batch import MIXERS, RICAP, CutMix, Cutout, MixUp
from traingen.augment.batch.base import subtract_rect_bbox
from traingen.augment.batch.cutmix import params_from_box
from traingen.augment.batch.mixup import MixUpParams
from traingen.core.errors import ConfigError, DataError, TargetError

N, H, W, K = 5, 16, 20, 7


def constant_batch(n=N, dtype=torch.float32):
    vals = (torch.arange(n, dtype=dtype) + 1) / (n + 1)
    return vals.view(n, 1, 1, 1).expand(n, 3, H, W).clone()


def roll_perm(n):
    """torchvision pairs image i with image i - 1 (``roll(1, 0)``)."""
    return (np.arange(n) - 1) % n


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mixup_matches_torchvision_on_the_same_draw(seed):
    x = constant_batch()
    y = torch.tensor([0, 3, 6, 2, 3])
    torch.manual_seed(seed)  # torchvision draws from the global generator; we read its lambda back
    tv_x, tv_y = v2.MixUp(alpha=1.0, num_classes=K)(x, y)
    # image i is c_i * lam + c_{i-1} * (1 - lam) with distinct constants: solve for lam
    c = x[:, 0, 0, 0].double()
    lam = float((tv_x[0, 0, 0, 0].double() - c[-1]) / (c[0] - c[-1]))
    params = MixUpParams(lam=np.full(N, lam), perm=roll_perm(N))
    ours = MixUp().apply(x, y, num_classes=K, params=params)
    torch.testing.assert_close(ours.labels, tv_y, rtol=0, atol=1e-5)
    torch.testing.assert_close(ours.images, tv_x, rtol=0, atol=1e-5)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_cutmix_matches_torchvision_on_the_same_box(seed):
    x = constant_batch()
    y = torch.tensor([1, 0, 4, 4, 6])
    torch.manual_seed(seed)
    tv_x, tv_y = v2.CutMix(alpha=1.0, num_classes=K)(x, y)
    changed = (tv_x[0, 0] != x[0, 0]).nonzero()
    if len(changed):
        box = [int(changed[:, 1].min()), int(changed[:, 0].min()), int(changed[:, 1].max()) + 1,
               int(changed[:, 0].max()) + 1]
    else:
        box = [0, 0, 0, 0]
    params = params_from_box([box] * N, roll_perm(N), H, W)
    ours = CutMix().apply(x, y, num_classes=K, params=params)
    assert torch.equal(ours.images, tv_x)
    torch.testing.assert_close(ours.labels, tv_y, rtol=0, atol=1e-6)


@pytest.mark.parametrize("per_sample", [False, True])
def test_cutmix_label_weights_are_the_pasted_areas(per_sample):
    x = constant_batch()
    y = torch.arange(N)
    for seed in range(4):
        out = CutMix(alpha=1.0, per_sample=per_sample)(x, y, num_classes=N, generator=torch.Generator().manual_seed(seed))
        src = (out.images[:, 0] * (N + 1)).round().long() - 1
        counts = torch.stack([torch.bincount(src[i].flatten(), minlength=N) for i in range(N)]).float() / (H * W)
        torch.testing.assert_close(out.labels, counts, rtol=0, atol=1e-6)
        # lam is corrected to the clipped area, not the drawn one (an image paired with itself keeps all)
        moved = out.params.perm != np.arange(N)
        own = counts[torch.arange(N), torch.arange(N)].numpy()
        np.testing.assert_allclose(out.params.lam[moved], own[moved], atol=1e-6)


def test_cutmix_masks_pasted_and_boxes_cut():
    x = torch.rand(2, 3, 20, 20)
    masks = torch.stack([torch.zeros(20, 20, dtype=torch.int64), torch.ones(20, 20, dtype=torch.int64)])
    boxes = [torch.tensor([[0.0, 0.0, 10.0, 20.0], [2.0, 2.0, 6.0, 6.0], [12.0, 12.0, 14.0, 14.0]]),
             torch.tensor([[0.0, 0.0, 20.0, 20.0], [0.0, 0.0, 3.0, 3.0]])]
    labels = [torch.tensor([1, 2, 3]), torch.tensor([4, 5])]
    kps = [torch.tensor([[3.0, 3.0], [15.0, 15.0]]), torch.tensor([[1.0, 1.0], [12.0, 5.0]])]
    params = params_from_box([[5, 0, 20, 20], [5, 0, 20, 20]], [1, 0], 20, 20)
    out = CutMix().apply(x, torch.tensor([0, 1]), num_classes=2, params=params, masks=masks, boxes=boxes,
                         box_labels=labels, keypoints=kps)
    assert out.masks.dtype == torch.int64
    assert (out.masks[0, :, 5:] == 1).all() and (out.masks[0, :, :5] == 0).all()
    assert torch.equal(out.masks[0] == 1, (out.images[0] == x[1]).all(0))
    # own boxes: [0,0,10,20] keeps its left strip [0,0,5,20]; [2,2,6,6] keeps [2,2,5,6]; [12,12,14,14] gone.
    # partner boxes clipped to the pasted rect: [0,0,20,20] -> [5,0,20,20]; [0,0,3,3] gone.
    torch.testing.assert_close(out.boxes[0], torch.tensor([[0.0, 0.0, 5.0, 20.0], [2.0, 2.0, 5.0, 6.0],
                                                           [5.0, 0.0, 20.0, 20.0]]))
    assert out.box_labels[0].tolist() == [1, 2, 4]
    assert out.keypoint_visible[0].tolist() == [True, False, False, True]
    torch.testing.assert_close(out.labels[0], torch.tensor([0.25, 0.75]))


def test_subtract_rect_bbox_against_pixel_counting():
    rng = np.random.default_rng(0)
    boxes = torch.tensor(rng.integers(0, 12, size=(300, 2, 2)).astype(np.float32))
    boxes = torch.cat([boxes.min(1).values, boxes.max(1).values], 1)  # x0, y0, x1, y1 ints
    for _ in range(20):
        a, b = sorted(rng.integers(0, 13, 2)), sorted(rng.integers(0, 13, 2))
        rect = (float(a[0]), float(b[0]), float(a[1]), float(b[1]))
        out, keep = subtract_rect_bbox(boxes, rect)
        for i in range(len(boxes)):
            x0, y0, x1, y1 = boxes[i].int().tolist()
            grid = np.zeros((12, 12), bool)
            grid[y0:y1, x0:x1] = True
            grid[int(rect[1]):int(rect[3]), int(rect[0]):int(rect[2])] = False
            ys, xs = np.nonzero(grid)
            assert bool(keep[i]) == bool(len(ys))
            if len(ys):
                assert out[i].tolist() == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]


def test_mixup_soft_masks_sum_to_one_and_weights():
    x = torch.rand(N, 3, H, W, generator=torch.Generator().manual_seed(0))
    masks = torch.randint(0, K, (N, H, W), generator=torch.Generator().manual_seed(1))
    boxes = [torch.tensor([[1.0, 1.0, 5.0, 5.0]] * (i % 3)) for i in range(N)]
    box_labels = [torch.full((i % 3,), i) for i in range(N)]
    out = MixUp(alpha=0.4, per_sample=True)(x, torch.arange(N), num_classes=K,
                                              generator=torch.Generator().manual_seed(3), masks=masks,
                                              boxes=boxes, box_labels=box_labels)
    assert out.masks.shape == (N, K, H, W)
    torch.testing.assert_close(out.masks.sum(1), torch.ones(N, H, W))
    lam, perm = out.params.lam, out.params.perm
    assert len(set(lam.tolist())) == N  # one lambda per image
    for i in range(N):
        onehot = torch.nn.functional.one_hot(masks[i], K).permute(2, 0, 1).float()
        other = torch.nn.functional.one_hot(masks[perm[i]], K).permute(2, 0, 1).float()
        torch.testing.assert_close(out.masks[i], lam[i] * onehot + (1 - lam[i]) * other)
        torch.testing.assert_close(out.images[i], lam[i] * x[i] + (1 - lam[i]) * x[perm[i]])
        n_own = i % 3
        assert out.boxes[i].shape[0] == n_own + perm[i] % 3
        assert out.box_weights[i][:n_own].tolist() == pytest.approx([lam[i]] * n_own)
        assert out.box_weights[i][n_own:].tolist() == pytest.approx([1 - lam[i]] * (perm[i] % 3))
    # a batch-wide lambda by default
    out = MixUp()(x, torch.arange(N), num_classes=K, generator=torch.Generator().manual_seed(3))
    assert len(set(out.params.lam.tolist())) == 1


def test_cutout_holes_and_labels():
    x = torch.ones(N, 3, H, W, dtype=torch.float64)
    masks = torch.zeros(N, H, W, dtype=torch.int32)
    out = Cutout(holes=2, size=6, fill=0.0, mask_fill=255)(x, torch.arange(N), num_classes=K,
                                                            generator=torch.Generator().manual_seed(0), masks=masks)
    assert out.images.dtype == torch.float64
    torch.testing.assert_close(out.labels, torch.nn.functional.one_hot(torch.arange(N), K).double())
    for i in range(N):
        expect = np.zeros((H, W), bool)
        for x0, y0, x1, y1 in out.params.rects[i]:
            assert 0 <= x0 <= x1 <= W and 0 <= y0 <= y1 <= H and x1 - x0 <= 6 and y1 - y0 <= 6
            expect[y0:y1, x0:x1] = True
        assert np.array_equal((out.images[i, 0] == 0).numpy(), expect)
        assert np.array_equal((out.masks[i] == 255).numpy(), expect)
    # holes are partial near borders: over many draws some are clipped, centres cover the image
    many = Cutout(holes=1, size=8).make_params(400, H, W, torch.Generator().manual_seed(1)).rects[:, 0]
    sizes = (many[:, 2] - many[:, 0]) * (many[:, 3] - many[:, 1])
    assert sizes.max() == 64 and sizes.min() < 64


@pytest.mark.parametrize("name", ["ricap", "mixup", "cutmix", "cutout"])
def test_contract_shapes_dtypes_determinism(name):
    cls = MIXERS.get(name)
    for dtype in (torch.float32, torch.float64):
        x = torch.rand(N, 3, H, W, generator=torch.Generator().manual_seed(0), dtype=dtype)
        soft = torch.softmax(torch.rand(N, K, dtype=dtype), 1)
        runs = [cls()(x, soft, generator=torch.Generator().manual_seed(9)) for _ in range(2)]
        assert runs[0].images.shape == x.shape and runs[0].images.dtype == dtype
        assert runs[0].labels.shape == (N, K) and runs[0].labels.dtype == dtype
        torch.testing.assert_close(runs[0].labels.sum(1), torch.ones(N, dtype=dtype))
        assert runs[0].images.numpy().tobytes() == runs[1].images.numpy().tobytes()
        assert runs[0].params.to_dict() == runs[1].params.to_dict()
        assert 0.0 <= float(runs[0].images.min()) and float(runs[0].images.max()) <= 1.0
    assert x.equal(torch.rand(N, 3, H, W, generator=torch.Generator().manual_seed(0), dtype=dtype))  # input kept


@pytest.mark.parametrize("cls", [RICAP, MixUp, CutMix, Cutout])
def test_bad_inputs_name_the_argument(cls):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(N, 3, H, W)
    y = torch.arange(N)
    with pytest.raises(DataError, match="images"):
        cls()(x[0], y, num_classes=K, generator=g)
    with pytest.raises(DataError, match="images"):
        cls()((x * 255).to(torch.uint8), y, num_classes=K, generator=g)
    with pytest.raises(TargetError, match="labels.*lie in"):
        cls()(x, torch.tensor([0, 1, 2, 3, K]), num_classes=K, generator=g)
    with pytest.raises(TargetError, match="labels.*expected 5"):
        cls()(x, y[:4], num_classes=K, generator=g)
    with pytest.raises(TargetError, match="masks"):
        cls()(x, y, num_classes=K, generator=g, masks=torch.zeros(N - 1, H, W, dtype=torch.int64))
    with pytest.raises(TargetError, match="boxes"):
        cls()(x, y, num_classes=K, generator=g, boxes=[torch.zeros(0, 4)] * 3, box_labels=[torch.zeros(0)] * 3)
    with pytest.raises(TargetError, match="box_labels"):
        cls()(x, y, num_classes=K, generator=g, boxes=[torch.zeros(1, 4)] * N)
    with pytest.raises(ConfigError, match="generator"):
        cls()(x, y, num_classes=K, generator=None)


def test_importing_the_package_does_not_import_torch():
    import subprocess
    import sys

    code = ("import sys, traingen.augment.batch as b; assert len(b.MIXERS) == 5, b.MIXERS.names(); "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
