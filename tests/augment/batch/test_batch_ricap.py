"""RICAP: label weights are patch areas, masks follow images pixel for pixel, boxes and keypoints follow."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from traingen.augment.batch import MIXERS, RICAP
from traingen.augment.batch.ricap import RICAPParams, area_weights, make_ricap_params

N, H, W, K = 6, 24, 32, 6


def constant_batch(n=N, h=H, w=W, dtype=torch.float32):
    """Image i is filled with the value (i + 1) / (n + 1): the source of every pixel can be read back."""
    vals = (torch.arange(n, dtype=dtype) + 1) / (n + 1)
    return vals.view(n, 1, 1, 1).expand(n, 3, h, w).clone()


def source_map(images, n=N):
    """N x H x W index of the source image of each pixel (from the constant values)."""
    return (images[:, 0] * (n + 1)).round().long() - 1


@pytest.mark.parametrize("per_sample", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_label_weights_equal_pixel_counts(per_sample, seed):
    x = constant_batch()
    y = torch.arange(N)
    out = RICAP(beta=0.3, per_sample_boundary=per_sample)(x, y, num_classes=K,
                                                          generator=torch.Generator().manual_seed(seed))
    src = source_map(out.images)
    # Count the pixels of each source in each output image: the label weights must be those fractions.
    counts = torch.stack([torch.bincount(src[i].flatten(), minlength=N) for i in range(N)]).double() / (H * W)
    torch.testing.assert_close(out.labels.double(), counts, rtol=0, atol=1e-6)
    torch.testing.assert_close(out.labels.sum(1), torch.ones(N), rtol=0, atol=1e-6)


def test_patches_are_crops_of_the_right_sources():
    g = torch.Generator().manual_seed(5)
    x = torch.rand(N, 3, H, W, generator=g)
    params = make_ricap_params(np.random.default_rng(3), N, H, W, beta=0.3)
    out = RICAP().apply(x, torch.arange(N), num_classes=K, params=params)
    w, h = int(params.w[0]), int(params.h[0])
    dst = [(0, 0, w, h), (w, 0, W, h), (0, h, w, H), (w, h, W, H)]
    for k, (x0, y0, x1, y1) in enumerate(dst):
        sx, sy = params.offset[k, 0]
        for i in range(N):
            j = params.perm[k, i]
            assert torch.equal(out.images[i, :, y0:y1, x0:x1], x[j, :, sy:sy + y1 - y0, sx:sx + x1 - x0])


def test_masks_patched_like_images():
    x = constant_batch()
    masks = torch.arange(N).view(N, 1, 1).expand(N, H, W).clone()  # mask of image i is all i
    g = torch.Generator().manual_seed(7)
    for per_sample in (False, True):
        out = RICAP(per_sample_boundary=per_sample)(x, torch.arange(N), num_classes=K, generator=g, masks=masks)
        assert out.masks.dtype == masks.dtype  # hard class maps stay hard
        assert torch.equal(out.masks, source_map(out.images))


def test_area_weights_sum_to_one_and_degenerate_boundaries():
    p = RICAPParams(w=np.array([0, W, 5]), h=np.array([0, 3, H]), perm=np.zeros((4, 3), np.int64),
                    offset=np.zeros((4, 3, 2), np.int64), shared=False)
    wt = area_weights(p, H, W)
    np.testing.assert_allclose(wt.sum(0), 1.0)
    assert wt[3, 0] == 1.0  # boundary at the corner: the whole image is quadrant 3
    x = constant_batch(n=3)
    p.perm = np.array([[0, 1, 2], [1, 2, 0], [2, 0, 1], [1, 1, 1]])
    # offsets must fit: quadrant sizes for image 1 are (W, 3), (0, 3), (W, H-3), (0, H-3)
    out = RICAP().apply(x, torch.arange(3), num_classes=3, params=p)
    torch.testing.assert_close(out.labels[0], torch.tensor([0.0, 1.0, 0.0]))


def test_boxes_clipped_and_shifted_to_their_patch():
    x = torch.zeros(2, 1, 20, 20)
    p = RICAPParams(w=np.array([10, 10]), h=np.array([10, 10]), perm=np.array([[0, 0], [1, 1], [0, 0], [1, 1]]),
                    offset=np.array([[[5, 5]] * 2, [[0, 0]] * 2, [[0, 0]] * 2, [[10, 10]] * 2]), shared=True)
    boxes = [torch.tensor([[0.0, 0.0, 8.0, 8.0], [16.0, 16.0, 19.0, 19.0]]), torch.tensor([[2.0, 2.0, 4.0, 4.0]])]
    labels = [torch.tensor([3, 4]), torch.tensor([5])]
    out = RICAP().apply(x, torch.tensor([0, 1]), num_classes=2, params=p, boxes=boxes, box_labels=labels)
    # quadrant 0 takes image 0's crop [5, 15)^2 to [0, 10)^2: box 0 -> [5,5,8,8] shifted by -5 -> [0,0,3,3]
    # quadrant 1 takes image 1's crop [0,10)x[0,10) to [10,20)x[0,10): box [2,2,4,4] -> [12,2,14,4]
    # quadrant 2 takes image 0's crop [0,10)x[0,10) to [0,10)x[10,20): box 0 -> [0,10,8,18]
    # quadrant 3 takes image 1's crop [10,20)^2: its box lies outside -> dropped
    expect = torch.tensor([[0.0, 0.0, 3.0, 3.0], [12.0, 2.0, 14.0, 4.0], [0.0, 10.0, 8.0, 18.0]])
    torch.testing.assert_close(out.boxes[0], expect)
    assert out.box_labels[0].tolist() == [3, 5, 3]
    assert out.box_weights[0].tolist() == [1.0, 1.0, 1.0]


def test_keypoints_shift_and_turn_invisible_outside_their_crop():
    x = torch.zeros(2, 1, 20, 20)
    p = RICAPParams(w=np.array([10, 10]), h=np.array([10, 10]), perm=np.array([[0, 0], [1, 1], [0, 0], [1, 1]]),
                    offset=np.array([[[5, 5]] * 2, [[0, 0]] * 2, [[0, 0]] * 2, [[10, 10]] * 2]), shared=True)
    kps = [torch.tensor([[6.0, 7.0], [1.0, 1.0]]), torch.tensor([[3.0, 4.0]])]
    out = RICAP().apply(x, torch.tensor([0, 1]), num_classes=2, params=p, keypoints=kps)
    # slots: quadrant 0 (image 0: 2 points), 1 (image 1: 1), 2 (image 0: 2), 3 (image 1: 1)
    assert out.keypoints[0].shape == (6, 2)
    torch.testing.assert_close(out.keypoints[0][0], torch.tensor([1.0, 2.0]))
    torch.testing.assert_close(out.keypoints[0][2], torch.tensor([13.0, 4.0]))
    assert out.keypoint_visible[0].tolist() == [True, False, True, True, True, False]


def test_seeded_determinism_and_dtypes():
    for dtype in (torch.float32, torch.float64):
        x = torch.rand(N, 3, H, W, generator=torch.Generator().manual_seed(0), dtype=dtype)
        a = RICAP()(x, torch.arange(N), num_classes=K, generator=torch.Generator().manual_seed(42))
        b = RICAP()(x, torch.arange(N), num_classes=K, generator=torch.Generator().manual_seed(42))
        c = RICAP()(x, torch.arange(N), num_classes=K, generator=torch.Generator().manual_seed(43))
        assert a.images.dtype == dtype and a.labels.dtype == dtype and a.images.shape == x.shape
        assert a.images.numpy().tobytes() == b.images.numpy().tobytes()
        assert not torch.equal(a.images, c.images)


def test_registry_and_config():
    assert MIXERS.get("ricap") is RICAP
    from traingen.core.config import ConfigError, from_dict, to_dict

    r = from_dict(RICAP, {"beta": 0.5, "per_sample_boundary": True})
    assert to_dict(r) == {"beta": 0.5, "per_sample_boundary": True}
    with pytest.raises(ConfigError, match="beta"):
        RICAP(beta=0)
    with pytest.raises(ConfigError, match="unknown key 'alpha'"):
        from_dict(RICAP, {"alpha": 1.0})
