"""The CNN-MRF loss (Li & Wand) of facial texture transfer, against direct float64 computations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from traingen.core.errors import DataError
from traingen.style.mrf import MrfLoss, centre_labels, nearest_patches, neural_patches


def _maps(seed: int, c: int = 4, h: int = 9, w: int = 11, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return torch.rand((1, c, h, w), generator=g, dtype=dtype)


def test_neural_patches_match_a_direct_loop():
    m = _maps(0)
    p = neural_patches(m, 3).numpy()
    a = m[0].numpy()
    want = np.array([a[:, y:y + 3, x:x + 3].reshape(-1) for y in range(7) for x in range(9)])
    assert p.shape == (63, 36)
    np.testing.assert_array_equal(p, want)


def test_nearest_patches_is_the_normalised_cross_correlation_argmax():
    x, s = neural_patches(_maps(1), 3), neural_patches(_maps(2, h=8, w=8), 3)
    xd, sd = x.double().numpy(), s.double().numpy()
    ncc = (xd / np.linalg.norm(xd, axis=1, keepdims=True)) @ (sd / np.linalg.norm(sd, axis=1, keepdims=True)).T
    np.testing.assert_array_equal(nearest_patches(x, s, chunk=7).numpy(), ncc.argmax(1))


def test_centre_labels_follow_patch_order():
    mask = np.arange(20).reshape(4, 5)
    np.testing.assert_array_equal(centre_labels(mask, (4, 5), 3), [6, 7, 8, 11, 12, 13])


def test_loss_is_zero_on_the_style_itself_and_the_mean_squared_distance_otherwise():
    s = _maps(3)
    loss = MrfLoss({"t": s})
    assert float(loss({"t": s})) == pytest.approx(0.0, abs=1e-10)
    x = _maps(4)
    xp, sp = neural_patches(x, 3).double(), neural_patches(s, 3).double()
    nn = nearest_patches(xp, sp)
    want = float(((xp - sp[nn]) ** 2).mean())
    assert float(loss({"t": x})) == pytest.approx(want, rel=1e-5)


def test_region_guidance_matches_only_within_the_same_label():
    # style: left half all 0, right half all 1 (labels 1 and 2); output all 1 but labelled 1 everywhere
    s = torch.zeros(1, 2, 6, 8)
    s[..., 4:] = 1.0
    smask = np.ones((6, 8), np.int64)
    smask[:, 4:] = 2
    x = {"t": torch.ones(1, 2, 6, 8) + 0.0}
    guided = MrfLoss({"t": s}, style_mask=smask, content_mask=np.ones((6, 8), np.int64))
    free = MrfLoss({"t": s})
    # guided: label 1's style patches are those centred in columns 1..3; patches centred at column 3 straddle
    # the border, so the nearest (most correlated with all-ones) label-1 patch has only its right third at 1:
    # 12 of its 18 entries differ by 1
    assert float(guided(x)) == pytest.approx(12 / 18)
    assert float(free(x)) == pytest.approx(0.0, abs=1e-12)  # the all-ones style patches exist unguided
    cut = MrfLoss({"t": s}, style_mask=smask, content_mask=np.full((6, 8), 2), labels=(1,))
    with pytest.raises(DataError, match="share no label"):
        cut(x)


def test_gradcheck_of_the_mrf_loss():
    s = _maps(5, c=2, h=6, w=6, dtype=torch.float64)
    loss = MrfLoss({"t": s}, pool=2)
    x = _maps(6, c=2, h=8, w=8, dtype=torch.float64).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t: loss({"t": t}), (x,), eps=1e-6, atol=1e-6)


def test_facial_with_mrf_reduces_its_loss_and_keeps_the_background():
    from traingen.style.facial import Facial, FacialConfig, load_face

    a, ma = load_face("astronaut")
    b, mb = load_face("grace_hopper")
    cfg = FacialConfig(size=48, evaluations=12, texture_loss="mrf", crop_to_face=True, tv_weight=10.0, photo_weight=0.0)
    res = Facial(cfg)(a, b, seed=0, content_mask=ma, style_mask=mb)
    assert res.image.shape == a.shape
    # measured at 48 px / 12 evaluations: 6.04 -> 2.67 (0.44)
    assert res.losses[-1] < 0.6 * res.losses[0], (res.losses[0], res.losses[-1])
    y0, y1, x0, x1 = res.info["face_box"]
    assert np.array_equal(res.image[:y0], a[:y0]) and np.array_equal(res.image[y1:], a[y1:])
