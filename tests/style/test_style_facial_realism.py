"""Session 8's facial finding at test scale: working size + small TV sharpen the face, the matting Laplacian
removes colour fringes, and the identity (SSIM over eyes, nose, mouth) is kept.

The figure's numbers (docs/style.md, 128 -> 256 px) are reproduced here at a smaller scale (64 -> 128 px,
15 evaluations) so the test runs in seconds; the measured values are in the comments.
"""

from __future__ import annotations

import pytest

from traingen.style.face_metrics import chroma_noise_ratio, sharpness_ratio, structure_ssim
from traingen.style.facial import Facial, FacialConfig, load_face


@pytest.fixture(scope="module")
def outputs():
    a, ma = load_face("astronaut")
    b, mb = load_face("grace_hopper")
    runs = {
        "before": dict(size=64, tv_weight=10.0, photo_weight=0.0),
        "tv": dict(size=128, tv_weight=0.1, photo_weight=0.0),
        "after": dict(size=128),  # the defaults since session 9: TV 0.1, photo_weight 0.02
    }
    out = {}
    for k, kw in runs.items():
        cfg = FacialConfig(crop_to_face=True, evaluations=15, **kw)
        out[k] = Facial(cfg)(a, b, seed=0, content_mask=ma, style_mask=mb).image
    return a, ma, out


def test_working_size_and_small_tv_sharpen_the_face(outputs):
    a, ma, out = outputs
    before, tv = sharpness_ratio(out["before"], a, ma), sharpness_ratio(out["tv"], a, ma)
    after = sharpness_ratio(out["after"], a, ma)
    # measured: 0.045 (64 px, TV 10), 0.287 (128 px, TV 0.1), 0.250 (+ photo_weight 0.02) of the content's
    assert tv > 3 * before and after > 3 * before, (before, tv, after)


def test_matting_laplacian_removes_colour_fringes_and_keeps_identity(outputs):
    a, ma, out = outputs
    fr_tv, fr_after = chroma_noise_ratio(out["tv"], a, ma), chroma_noise_ratio(out["after"], a, ma)
    assert fr_after < 0.92 * fr_tv, (fr_tv, fr_after)  # measured 1.035 -> 0.871 (0.84x)
    # measured 0.767 vs 0.480: the blurred 64 px result lost the eyes and mouth
    assert structure_ssim(out["after"], a, ma) > structure_ssim(out["before"], a, ma) + 0.1
