"""BatchAffine's reused CPU scratch buffers never leak into results.

The float copy of a uint8 batch, the sampling grid and the noise live in per-thread buffers that
are reused between calls (to save page faults); the results must be new tensors, equal to what
``F.affine_grid`` + ``F.grid_sample`` on freshly allocated tensors give.
"""

from __future__ import annotations

import threading

import numpy as np
import torch
import torch.nn.functional as F

from traingen.augment import HorizontalFlip, RandomCrop, Rotate, Scale
from traingen.augment.batch import BatchAffine
from traingen.augment.batch.batch_affine import release_workspace, theta_from_matrices, workspace


def batch(seed: int, n: int = 4, h: int = 24, w: int = 28) -> torch.Tensor:
    return torch.randint(0, 256, (n, 3, h, w), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def reference(x_u8: torch.Tensor, aug: BatchAffine, params) -> torch.Tensor:
    """The documented computation with torch's own grid and fresh tensors (no noise in ``aug``)."""
    theta = torch.as_tensor(theta_from_matrices(params.matrices, tuple(x_u8.shape[2:]), params.out_hw),
                            dtype=torch.float32)
    grid = F.affine_grid(theta, [x_u8.shape[0], 3, *params.out_hw], align_corners=False)
    out = F.grid_sample(x_u8.float(), grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out * (1.0 / 255.0)


def test_results_are_new_tensors_equal_to_a_fresh_computation():
    aug = BatchAffine([HorizontalFlip(), Rotate(30), Scale(0.8, 1.2), RandomCrop(16, 20)])
    x1, x2 = batch(1), batch(2)
    r1 = aug(x1, generator=torch.Generator().manual_seed(0))
    keep = r1.images.clone()
    r2 = aug(x2, generator=torch.Generator().manual_seed(1))  # reuses the buffers of the first call
    torch.testing.assert_close(r1.images, keep, rtol=0, atol=0)
    assert r1.images.data_ptr() != r2.images.data_ptr()
    for x, r in ((x1, r1), (x2, r2)):
        torch.testing.assert_close(r.images, reference(x, aug, r.params), rtol=0, atol=1e-5)  # our grid vs torch's: float32 rounding


def test_same_bytes_with_fresh_and_reused_buffers_and_noise():
    aug = BatchAffine([Rotate(20), RandomCrop(20, 20)], noise_std=0.05)
    x = batch(3)
    release_workspace()
    a = aug(x, generator=torch.Generator().manual_seed(7)).images
    aug(batch(4, n=6, h=30, w=22), generator=torch.Generator().manual_seed(8))  # other shapes in between
    b = aug(x, generator=torch.Generator().manual_seed(7)).images
    c = aug(x, generator=torch.Generator().manual_seed(7)).images
    assert torch.equal(a, b) and torch.equal(b, c)
    # the noise really is there: the same draw without noise differs by about its std
    plain = BatchAffine([Rotate(20), RandomCrop(20, 20)])(x, generator=torch.Generator().manual_seed(7)).images
    inside = (plain > 0.1) & (plain < 0.9)
    assert 0.04 < float((a - plain)[inside].std()) < 0.06


def test_workspace_is_per_thread_and_per_shape():
    a = workspace("t", (2, 3), torch.float32, "cpu")
    assert workspace("t", (2, 3), torch.float32, "cpu") is a
    assert workspace("t", (3, 3), torch.float32, "cpu").shape == (3, 3)
    seen = []
    th = threading.Thread(target=lambda: seen.append(workspace("t", (2, 3), torch.float32, "cpu")))
    th.start()
    th.join()
    assert seen[0] is not a
    release_workspace()
    assert workspace("t", (2, 3), torch.float32, "cpu") is not a


def test_uint8_and_float_inputs_agree():
    aug = BatchAffine([Rotate(25), RandomCrop(18, 18)])
    x = batch(5)
    a = aug(x, generator=torch.Generator().manual_seed(2)).images
    b = aug(x.float() / 255.0, generator=torch.Generator().manual_seed(2)).images
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=0, atol=1e-6)
