"""Silhouette registration of a photo to its aligned model (texture transfer, stage 3b)."""

import cv2
import numpy as np
import pytest

from traingen.core.errors import DataError
from traingen.mesh.texture_warp import silhouette_flow, warp_image


def _ellipse(cx, cy, ax, ay, n=128):
    yy, xx = np.mgrid[:n, :n] + 0.5
    return ((xx - cx) / ax) ** 2 + ((yy - cy) / ay) ** 2 < 1


def test_identical_masks_give_zero_flow():
    m = _ellipse(60, 64, 30, 40)
    assert np.abs(silhouette_flow(m, m)).max() < 1e-9


def test_a_shift_is_recovered_everywhere():
    m = np.zeros((32, 32), bool)
    m[8:24, 8:24] = True
    p = np.roll(m, (1, 2), axis=(0, 1))  # the photo's object 2 px right, 1 px down
    flow = silhouette_flow(m, p)
    inside = m
    assert np.allclose(flow[inside][:, 0], 2.0, atol=0.1) and np.allclose(flow[inside][:, 1], 1.0, atol=0.1)
    assert ((warp_image(p.astype(float), flow) > 0.5) != m).sum() == 0


def test_a_different_profile_is_mostly_registered():
    m = _ellipse(64, 64, 30, 40)
    p = _ellipse(66, 62, 33, 37)
    flow = silhouette_flow(m, p)
    before = int((m != p).sum())
    after = int(((warp_image(p.astype(float), flow) > 0.5) != m).sum())
    assert after * 3 < before
    # smooth: neighbouring displacements differ by well under a pixel
    assert np.abs(np.diff(flow, axis=0)).max() < 0.5 and np.abs(np.diff(flow, axis=1)).max() < 0.5


def test_warp_image_matches_opencv_remap():
    rng = np.random.default_rng(0)
    img = rng.random((40, 50, 3))
    flow = np.stack([rng.uniform(-3, 3, (40, 50)), rng.uniform(-3, 3, (40, 50))], -1)
    ys, xs = np.mgrid[:40, :50].astype(np.float32)
    # OpenCV puts pixel centres on integers; ours are at i + 0.5, so the same point is x + flow in both.
    ref = cv2.remap(img.astype(np.float32), xs + flow[..., 0].astype(np.float32), ys + flow[..., 1].astype(np.float32),
                    cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    ours = warp_image(img, flow)
    assert np.abs(ours - ref).max() < 0.04  # OpenCV quantises the sample position to 1/32 px
    assert np.abs(ours - ref).mean() < 0.005


def test_bad_masks_give_clear_errors():
    m = np.zeros((16, 16), bool)
    m[4:8, 4:8] = True
    with pytest.raises(DataError, match="same"):
        silhouette_flow(m, m[:8])
    with pytest.raises(DataError, match="empty"):
        silhouette_flow(m, np.zeros_like(m))
