"""BatchAffine: one grid_sample for the batch equals the per-sample Compose and cv2.warpAffine."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from traingen.augment import (
    Compose,
    GaussianNoise,
    HorizontalFlip,
    RandomCrop,
    Resize,
    Rotate,
    Scale,
    Translate,
)
from traingen.augment.batch import MIXERS, BatchAffine
from traingen.augment.batch.batch_affine import BatchAffineParams
from traingen.augment.cutout import Cutout as SampleCutout
from traingen.core import Sample
from traingen.core.errors import ConfigError, DataError

H, W = 40, 48


def structured(i: int) -> np.ndarray:
    """HxWx3 uint8 with gradients and a block (distinct per i), so warps are visible."""
    y, x = np.mgrid[0:H, 0:W]
    img = np.stack([(x * 5 + i * 7) % 256, (y * 6 + i) % 256, ((x + y) * 3) % 256], axis=-1).astype(np.uint8)
    img[8 + i:20 + i, 10:30] = (250, 20, 100)
    return img


def to_batch(imgs: list[np.ndarray], dtype=torch.float32) -> torch.Tensor:
    return torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).to(dtype) / 255.0


def chain() -> list:
    return [HorizontalFlip(), Rotate(30), Scale(0.8, 1.2), Translate(0.1), RandomCrop(32, 36)]


def test_equals_per_sample_compose_for_the_same_seeds():
    imgs = [structured(i) for i in range(4)]
    seeds = [101, 102, 103, 104]
    pipe = Compose(chain())
    boxes = [np.array([[5.0, 6.0, 20.0, 30.0], [30.0, 2.0, 44.0, 12.0]], np.float32)] * 4
    kps = [np.array([[10.0, 10.0], [40.0, 35.0], [2.0, 2.0]], np.float32)] * 4
    masks = [(img[:, :, 0] // 64).astype(np.int64) for img in imgs]
    out = BatchAffine.from_pipeline(pipe)(
        to_batch(imgs), torch.arange(4), num_classes=4, seeds=seeds, masks=torch.from_numpy(np.stack(masks)),
        boxes=[torch.from_numpy(b) for b in boxes], box_labels=[torch.tensor([1, 2])] * 4,
        keypoints=[torch.from_numpy(k) for k in kps])
    assert out.images.shape == (4, 3, 32, 36)
    mask_agree = []
    for i in range(4):
        ref = pipe(Sample(image=imgs[i].astype(np.float32) / 255, mask=masks[i], boxes=boxes[i],
                          box_labels=np.array([1, 2]), keypoints=kps[i]), seed=seeds[i])
        ours = out.images[i].permute(1, 2, 0).numpy()
        assert ref.image.shape == ours.shape
        assert ref.image.std() > 0.1  # a real picture, not an empty canvas
        diff = np.abs(ref.image - ours)[2:-2, 2:-2] * 255
        assert diff.mean() < 2.0, diff.mean()
        mask_agree.append((ref.mask == out.masks[i].numpy()).mean())
        np.testing.assert_allclose(out.boxes[i].numpy(), ref.boxes, atol=1e-4)
        assert out.box_labels[i].tolist() == ref.box_labels.tolist()
        np.testing.assert_allclose(out.keypoints[i].numpy(), ref.keypoints, atol=1e-4)
        assert out.keypoint_visible[i].tolist() == ref.keypoint_visible.tolist()
    # nearest sampling may round a tie differently on a handful of border pixels
    assert min(mask_agree) > 0.98, mask_agree


def opencv_matrix(m: np.ndarray) -> np.ndarray:
    """Our matrix (pixel i covers [i, i+1)) for OpenCV (pixel centres on integers), written out here."""
    shift = np.array([[1, 0, 0.5], [0, 1, 0.5], [0, 0, 1]])
    unshift = np.array([[1, 0, -0.5], [0, 1, -0.5], [0, 0, 1]])
    return (unshift @ m @ shift)[:2]


@pytest.mark.parametrize("angle,scale,shift,out_hw", [(23.0, 1.1, (3.5, -2.0), (40, 48)),
                                                      (-90.0, 0.7, (0.0, 0.0), (30, 50)),
                                                      (0.0, 1.5, (-7.25, 4.0), (40, 48))])
def test_equals_cv2_warpaffine_with_the_same_matrix(angle, scale, shift, out_hw):
    img = structured(0)
    a = np.deg2rad(angle)
    c, s = np.cos(a) * scale, np.sin(a) * scale
    cx, cy = W / 2, H / 2
    # rotation+scale about the centre, then a shift, built independently of traingen.augment.geometry
    m = np.array([[c, s, cx - c * cx - s * cy + shift[0]], [-s, c, cy + s * cx - c * cy + shift[1]], [0, 0, 1]])
    ref = cv2.warpAffine(img, opencv_matrix(m), (out_hw[1], out_hw[0]), flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    params = BatchAffineParams(matrices=m[None], out_hw=out_hw)
    ours = BatchAffine([]).apply(to_batch([img]), params=params).images[0].permute(1, 2, 0).numpy() * 255
    diff = np.abs(ours - ref.astype(np.float32))[3:-3, 3:-3]
    assert diff.mean() < 1.0, diff.mean()
    # the wrong half-pixel convention (align_corners=True style) is off by far more
    wrong = cv2.warpAffine(img, m[:2], (out_hw[1], out_hw[0]), flags=cv2.INTER_LINEAR)
    if angle or scale != 1.0:
        assert np.abs(ours - wrong.astype(np.float32))[3:-3, 3:-3].mean() > 3 * max(diff.mean(), 0.1)


def test_resize_and_fill_value():
    img = structured(1)
    ba = BatchAffine([Resize(20, 24), Scale(0.5, 0.5)], fill=1.0)
    out = ba(to_batch([img]), generator=torch.Generator().manual_seed(0)).images[0].permute(1, 2, 0).numpy()
    m = np.diag([0.5 * 24 / W, 0.5 * 20 / H, 1.0])
    m[0, 2], m[1, 2] = 12 - 0.5 * 12, 10 - 0.5 * 10
    ref = cv2.warpAffine(img.astype(np.float32) / 255, opencv_matrix(m), (24, 20), flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=(1.0, 1.0, 1.0))
    assert np.abs(out - ref)[1:-1, 1:-1].mean() * 255 < 2.0
    assert (out[0, 0] == 1.0).all()  # outside the shrunk image: the fill value


def test_noise_level_flags_and_determinism():
    imgs = to_batch([np.full((H, W, 3), 128, np.uint8)] * 6, torch.float64)
    pipe = Compose([HorizontalFlip(), GaussianNoise(std=0.05, p=0.5)])
    ba = BatchAffine.from_pipeline(pipe)
    assert ba.noise_std == 0.05
    seeds = list(range(20, 26))
    out = ba(imgs, seeds=seeds)
    assert out.images.dtype == torch.float64
    for i, s in enumerate(seeds):
        applied = pipe.run({"image": np.zeros((H, W, 3), np.uint8)}, s)[1][-1]["applied"]
        assert bool(out.params.noise_applied[i]) == applied
        resid = out.images[i] - imgs[i]
        if applied:
            assert abs(float(resid.std()) - 0.05) < 0.005
        else:
            assert float(resid.abs().max()) < 1e-12  # no noise (only rounding of the warp)
    g = [torch.Generator().manual_seed(5) for _ in range(2)]
    a, b = (BatchAffine(chain(), noise_std=0.1)(imgs, generator=gi) for gi in g)
    assert a.images.numpy().tobytes() == b.images.numpy().tobytes()
    c = BatchAffine(chain(), noise_std=0.1)(imgs, generator=torch.Generator().manual_seed(6))
    assert not torch.equal(a.images, c.images)
    assert float(a.images.min()) >= 0.0 and float(a.images.max()) <= 1.0


def test_bad_pipelines_and_inputs():
    with pytest.raises(ConfigError, match="step 1"):
        BatchAffine([HorizontalFlip(), SampleCutout()])
    with pytest.raises(ConfigError, match="noise given twice"):
        BatchAffine([GaussianNoise(0.1)], noise_std=0.1)
    with pytest.raises(ConfigError, match="std"):
        BatchAffine([], noise_std=-1.0)
    crop_sometimes = BatchAffine([RandomCrop(20, 20, p=0.5)])
    with pytest.raises(DataError, match="one size"):
        crop_sometimes(to_batch([structured(0)] * 8), seeds=list(range(8)))
    with pytest.raises(DataError, match="images"):
        BatchAffine([])(torch.rand(3, H, W), generator=torch.Generator())
    with pytest.raises(ConfigError, match="generator"):
        BatchAffine([])(torch.rand(1, 3, H, W))
    assert MIXERS.get("batch-affine") is BatchAffine


def test_fast_grid_equals_torch_affine_grid():
    import torch.nn.functional as F

    from traingen.augment.batch.batch_affine import affine_grid

    theta = torch.randn(5, 2, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    ref = F.affine_grid(theta, [5, 1, 7, 11], align_corners=False)
    torch.testing.assert_close(affine_grid(theta, (7, 11)), ref, rtol=0, atol=1e-12)


def test_uint8_batch_is_converted_inside():
    imgs = [structured(i) for i in range(3)]
    u8 = torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).contiguous()
    ba = BatchAffine(chain())
    a = ba(u8, seeds=[1, 2, 3]).images
    b = ba(to_batch(imgs), seeds=[1, 2, 3]).images
    assert a.dtype == torch.float32
    torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
    with pytest.raises(DataError, match="images"):
        ba(u8.to(torch.int32), seeds=[1, 2, 3])
