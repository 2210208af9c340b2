"""Pixel scores of paired translations: PSNR and SSIM against scikit-image, and the command on a tiny pix2pix run."""

from __future__ import annotations

import json

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from traingen.core.errors import DataError
from traingen.translate.config import TranslateTrainConfig, resolved
from traingen.translate.paired_score import image_scores, main, paired_scores, psnr, ssim
from traingen.translate.trainer import train_translation


@pytest.mark.parametrize("shape", [(32, 32, 3), (17, 23), (64, 40, 1), (7, 9, 3)])
def test_psnr_and_ssim_equal_scikit_image(shape):
    rng = np.random.default_rng(sum(shape))
    a = rng.integers(0, 256, shape, dtype=np.uint8)
    # a correlated pair: a plus noise, clipped (SSIM well away from 0 and 1)
    b = np.clip(a.astype(np.int64) + rng.integers(-40, 41, shape), 0, 255).astype(np.uint8)
    channel_axis = 2 if len(shape) == 3 else None
    assert psnr(a, b) == pytest.approx(peak_signal_noise_ratio(a, b, data_range=255), rel=1e-12)
    ref = structural_similarity(a, b, data_range=255, channel_axis=channel_axis)
    assert ssim(a, b) == pytest.approx(ref, rel=1e-9, abs=1e-12)
    assert 0.1 < ssim(a, b) < 0.99
    assert ssim(a, a) == pytest.approx(1.0) and psnr(a, a) == float("inf")


def test_image_scores_and_bad_input():
    a = np.zeros((2, 16, 16), np.uint8)
    b = np.full((2, 16, 16), 10, np.uint8)
    s = image_scores(a, b)
    assert s["mae"] == pytest.approx(10.0) and s["psnr"] == pytest.approx(10 * np.log10(255**2 / 100))
    with pytest.raises(DataError, match="one shape"):
        psnr(a[0], b[0, :8])
    with pytest.raises(DataError, match="at least 7"):
        ssim(a[0, :5, :5], b[0, :5, :5])
    with pytest.raises(DataError, match="as many outputs"):
        image_scores(a, b[:1])


@pytest.fixture(scope="module")
def tiny_dem_run(tmp_path_factory):
    path = tmp_path_factory.mktemp("ps") / "dem"
    mc = {"in_channels": 1, "out_channels": 1, "image_size": 32, "ngf": 4, "ndf": 4, "n_layers": 1}
    train_translation(resolved(TranslateTrainConfig(model="pix2pix", model_config=mc, data_a="builtin:dem2relief@train",
                                                    limit_a=16, steps=3, batch_size=4, checkpoint_every=3,
                                                    tensorboard=False)), path)
    return path


def test_paired_scores_on_a_tiny_run_are_seeded_and_written_by_the_command(tiny_dem_run, capsys):
    res = paired_scores(tiny_dem_run, "builtin:dem2relief@test")
    assert res["train"] == "builtin:dem2relief@train" and res["n_images"] > 50
    gen, base = res["rows"]["generator"], res["rows"]["mean training target"]
    for row in (gen, base):
        assert set(row) == {"mae", "psnr", "ssim", "domain_fid"} and all(np.isfinite(list(row.values())))
        assert 0 < row["mae"] < 255 and -1 <= row["ssim"] <= 1
    assert gen != base
    main([str(tiny_dem_run), "builtin:dem2relief@test"])
    printed = json.loads(capsys.readouterr().out)
    written = json.loads((tiny_dem_run / "paired-score-builtin-dem2relief@test.json").read_text())
    assert printed["rows"] == written["rows"] == res["rows"]   # the same seed: the same dropout, the same scores
