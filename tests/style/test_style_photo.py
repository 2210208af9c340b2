"""Deep photo style transfer and facial texture transfer: the matting Laplacian against a dense float64
formula, gradchecks of the losses, masks guiding the Grams, shipped faces."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from traingen.core.errors import DataError
from traingen.style.photo import (
    Photo,
    PhotoConfig,
    guided_style_loss,
    laplacian_to_torch,
    matting_laplacian,
    photorealism_loss,
)


def dense_laplacian(img: np.ndarray, eps: float) -> np.ndarray:
    """Levin et al. eq. 12 written with explicit loops over windows and pixel pairs (float64)."""
    h, w, _ = img.shape
    lap = np.zeros((h * w, h * w))
    for cy in range(1, h - 1):
        for cx in range(1, w - 1):
            pix = [(y, x) for y in range(cy - 1, cy + 2) for x in range(cx - 1, cx + 2)]
            colours = np.array([img[y, x] for y, x in pix])
            mu = colours.mean(0)
            cov = np.cov(colours.T, bias=True)
            inv = np.linalg.inv(cov + eps / 9 * np.eye(3))
            for a, (ya, xa) in enumerate(pix):
                for b, (yb, xb) in enumerate(pix):
                    delta = 1.0 if a == b else 0.0
                    lap[ya * w + xa, yb * w + xb] += delta - (1 + (colours[a] - mu) @ inv @ (colours[b] - mu)) / 9
    return lap


@pytest.fixture(scope="module")
def small_photo():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:6, 0:7] / 7.0
    return np.stack([xx, yy, 0.5 * xx + 0.2], -1) * 0.8 + 0.05 * rng.random((6, 7, 3))


def test_laplacian_equals_dense_formula_symmetric_rows_sum_zero(small_photo):
    lap = matting_laplacian(small_photo, eps=1e-4).toarray()
    ref = dense_laplacian(small_photo, 1e-4)
    np.testing.assert_allclose(lap, ref, atol=1e-8, rtol=1e-8)
    np.testing.assert_allclose(lap, lap.T, atol=1e-10)
    np.testing.assert_allclose(lap.sum(1), 0.0, atol=1e-9)
    assert np.linalg.eigvalsh(ref).min() > -1e-8  # positive semi-definite: an energy


def test_energy_near_zero_on_content_large_on_noise():
    from traingen.data import open_source

    img = open_source("builtin:photos/coffee")[0].image[::12, ::12].astype(np.float64) / 255.0
    lap = matting_laplacian(img)
    v = img.reshape(-1, 3)
    e_content = sum(v[:, k] @ (lap @ v[:, k]) for k in range(3))
    noisy = np.clip(img + np.random.default_rng(0).normal(0, 0.1, img.shape), 0, 1).reshape(-1, 3)
    e_noisy = sum(noisy[:, k] @ (lap @ noisy[:, k]) for k in range(3))
    assert e_content < 1e-2 and e_noisy > 1e4 * e_content, (e_content, e_noisy)
    # the torch term gives the same number as the scipy product
    x = torch.from_numpy(img.transpose(2, 0, 1)[None].copy())
    t = photorealism_loss(x, laplacian_to_torch(lap, dtype=torch.float64))
    assert abs(float(t) - e_content) < 1e-9


def test_gradcheck_photorealism_loss(small_photo):
    lap = laplacian_to_torch(matting_laplacian(small_photo, eps=1e-3), dtype=torch.float64)
    x = torch.rand(1, 3, 6, 7, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda z: photorealism_loss(z, lap), (x,))


def test_gradcheck_guided_style_loss():
    g = torch.Generator().manual_seed(0)
    cm = np.array([[0, 0, 1, 1]] * 4)
    sm = np.array([[1, 1, 0, 0]] * 3 + [[2, 2, 2, 2]])
    x = torch.rand(1, 3, 4, 4, dtype=torch.float64, generator=g, requires_grad=True)
    s = {"a": torch.rand(1, 3, 4, 4, dtype=torch.float64, generator=g)}
    assert torch.autograd.gradcheck(lambda z: guided_style_loss({"a": z}, s, cm, sm), (x,))


def test_guided_loss_matches_regions_not_global_statistics():
    # content regions: left = label 0, right = label 1; the style has the same two regions swapped.
    left, right = torch.tensor([1.0, 0, 0]), torch.tensor([0, 0, 1.0])
    s = torch.zeros(1, 3, 4, 4, dtype=torch.float64)
    s[..., :2], s[..., 2:] = right.view(3, 1, 1).double(), left.view(3, 1, 1).double()
    sm = np.array([[1, 1, 0, 0]] * 4)
    cm = np.array([[0, 0, 1, 1]] * 4)
    good = torch.zeros_like(s)
    good[..., :2], good[..., 2:] = left.view(3, 1, 1).double(), right.view(3, 1, 1).double()
    bad = s.clone()  # right global statistics, wrong regions
    assert float(guided_style_loss({"a": good}, {"a": s}, cm, sm)) < 1e-12
    assert float(guided_style_loss({"a": bad}, {"a": s}, cm, sm)) > 0.1
    with pytest.raises(DataError, match="share no label"):
        guided_style_loss({"a": good}, {"a": s}, cm, sm + 5)


def test_photo_transfer_smoother_than_without_regulariser():
    from traingen.data import open_source

    c = open_source("builtin:photos/coffee")[0].image
    s = open_source("builtin:photos/chelsea")[0].image
    cm = np.zeros(c.shape[:2], int)
    cm[:, c.shape[1] // 2:] = 1
    sm = np.zeros(s.shape[:2], int)
    sm[s.shape[0] // 2:] = 1
    cfg = dict(size=32, evaluations=15)
    with_reg = Photo(PhotoConfig(photo_weight=100.0, **cfg))(c, s, seed=0, content_mask=cm, style_mask=sm)
    without = Photo(PhotoConfig(photo_weight=0.0, **cfg))(c, s, seed=0, content_mask=cm, style_mask=sm)
    assert with_reg.info["guided"]
    small = torch.nn.functional.interpolate(torch.from_numpy(c.transpose(2, 0, 1)[None] / 255.0), size=(21, 32),
                                            mode="bilinear", antialias=True)
    lap = matting_laplacian(small[0].permute(1, 2, 0).numpy())

    def energy(img):
        v = img.reshape(-1, 3).astype(np.float64) / 255.0
        return sum(v[:, k] @ (lap @ v[:, k]) for k in range(3))

    assert with_reg.image.shape == (21, 32, 3)
    assert energy(with_reg.image) < energy(without.image)
    with pytest.raises(DataError, match="both"):
        Photo(PhotoConfig(**cfg))(c, s, content_mask=cm)


def test_shipped_faces_and_facial_transfer_keeps_background():
    from traingen.style.facial import Facial, FacialConfig, load_face, structure_weights

    a, ma = load_face("astronaut")
    b, mb = load_face("grace_hopper")
    assert a.shape == (512, 512, 3) and ma.shape == (512, 512)
    assert set(np.unique(ma)) == set(np.unique(mb)) == {0, 1, 2, 3, 4, 5}
    # the eyes of the astronaut are in the upper half of her face region
    ys, _ = np.nonzero(ma == 3)
    ys_face, _ = np.nonzero(ma == 1)
    assert ys.mean() < ys_face.mean()
    w = structure_weights(ma, 4.0)
    assert w.max() == pytest.approx(1.0) and w[ma == 0].mean() < 0.05
    # whole-image mode (crop_to_face off): the output is the content resized to `size`
    whole = dict(crop_to_face=False, tv_weight=10.0, photo_weight=0.0)
    res = Facial(FacialConfig(size=48, evaluations=10, **whole))(a, b, seed=0, content_mask=ma, style_mask=mb)
    small = torch.nn.functional.interpolate(torch.from_numpy(a.transpose(2, 0, 1)[None] / 255.0), size=(48, 48),
                                            mode="bilinear", antialias=True)
    small = (small[0].permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
    far = np.zeros((48, 48), bool)
    far[:, :8] = True  # left border: flag, far from the face
    assert np.abs(res.image[far].astype(int) - small[far].astype(int)).max() <= 1
    assert np.abs(res.image[8:18, 18:28].astype(int) - small[8:18, 18:28].astype(int)).mean() > 1
    with pytest.raises(DataError, match="region masks"):
        Facial(FacialConfig(size=16, evaluations=1))(a, b)
    with pytest.raises(DataError, match="unknown face"):
        load_face("lena")


def test_guided_loss_with_one_region_equals_the_plain_gram_loss():
    """guided_style_loss is on texture.gram.style_loss's scale (/C²): unnormalised it was C² times larger,
    which drowned the content and face-prior terms."""
    from traingen.texture.gram import style_loss, style_targets

    g = torch.Generator().manual_seed(3)
    x = torch.rand(1, 8, 6, 7, generator=g, dtype=torch.float64)
    s = torch.rand(1, 8, 5, 5, generator=g, dtype=torch.float64)
    ones_c, ones_s = np.ones((6, 7), int), np.ones((5, 5), int)
    got = float(guided_style_loss({"a": x}, {"a": s}, ones_c, ones_s))
    want = float(style_loss({"a": x}, style_targets({"a": s})))
    # and a float64 formula written out: mean over the 8×8 Gram entries of the squared difference
    xf, sf = x[0].reshape(8, -1).numpy(), s[0].reshape(8, -1).numpy()
    ref = float((((xf @ xf.T) / xf.shape[1] - (sf @ sf.T) / sf.shape[1]) ** 2).mean())
    assert abs(got - want) < 1e-12 and abs(got - ref) < 1e-12


def test_facial_defaults_transfer_without_colour_noise():
    """Session 5: the old settings (all 8 random-filter taps, style weight 1e3, no TV) turned the face into
    colour noise: gradient energy inside the face 1.6x the content's (measured 0.95 vs 0.59 at 64 px, 20
    evaluations). Session 5's settings (taps k3..k11 for random-multiscale, style weight 100, TV 10, whole images;
    pinned here since session 9 moved the defaults to the face boxes at 256 px, TV 0.1) give 0.51."""
    import cv2

    from traingen.style.base import resize_mask
    from traingen.style.facial import Facial, FacialConfig, load_face

    a, ma = load_face("astronaut")
    b, mb = load_face("grace_hopper")
    cfg = FacialConfig(size=64, evaluations=20, crop_to_face=False, tv_weight=10.0, photo_weight=0.0)
    res = Facial(cfg)(a, b, seed=0, content_mask=ma, style_mask=mb)
    out = res.image.astype(np.float64) / 255
    h, w = out.shape[:2]
    c = cv2.resize(a, (w, h), interpolation=cv2.INTER_AREA).astype(np.float64) / 255
    face = resize_mask(ma, (h, w)) > 0

    def grad_energy(x):
        d = np.abs(np.diff(x, axis=0))[:, :-1] + np.abs(np.diff(x, axis=1))[:-1]
        return float(d.sum(-1)[face[:-1, :-1]].mean())

    assert grad_energy(out) < 1.1 * grad_energy(c), (grad_energy(out), grad_energy(c))
    assert float(np.abs(out - c)[face].mean()) > 0.05  # the face did change (measured 0.13)
