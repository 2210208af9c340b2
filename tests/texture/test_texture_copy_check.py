"""The "not a copy" check: plain (DESIGN §9) and restricted to textured patches, against a float64 reference."""

from __future__ import annotations

import numpy as np

from traingen.texture.base import copy_check, max_patch_ncc


def _reference(out: np.ndarray, ex: np.ndarray, patch: int, stride: int, min_std: float, thr: float):
    """Brute-force float64 NCC of every output patch with every exemplar window (loops, no OpenCV)."""
    best = best_t = -1.0
    n = n_t = over = over_t = 0
    H, W = ex.shape
    wins = np.stack([ex[y:y + patch, x:x + patch] for y in range(H - patch + 1) for x in range(W - patch + 1)])
    wz = wins - wins.mean(axis=(1, 2), keepdims=True)
    wstd = wins.std(axis=(1, 2))
    for i in range(0, out.shape[0] - patch + 1, stride):
        for j in range(0, out.shape[1] - patch + 1, stride):
            p = out[i:i + patch, j:j + patch]
            if p.std() < 1e-3:
                continue
            pz = p - p.mean()
            ncc = (wz * pz).sum(axis=(1, 2)) / np.sqrt((wz ** 2).sum(axis=(1, 2)) * (pz ** 2).sum() + 1e-300)
            n += 1
            best = max(best, ncc.max())
            over += ncc.max() > thr
            if p.std() >= min_std:
                vt = ncc[wstd >= min_std].max()
                n_t += 1
                best_t = max(best_t, vt)
                over_t += vt > thr
    return best, best_t, n, n_t, over, over_t


def _scene(seed: int):
    """An exemplar whose left half is a smooth ramp and right half noise texture, both in [0, 1]."""
    rng = np.random.default_rng(seed)
    ex = np.empty((40, 48))
    ex[:, :24] = np.linspace(0.2, 0.6, 24)[None, :] + np.linspace(0, 0.1, 40)[:, None]
    ex[:, 24:] = 0.5 + 0.2 * rng.standard_normal((40, 24))
    return np.clip(ex, 0, 1)


def test_copy_check_matches_a_float64_brute_force_reference():
    rng = np.random.default_rng(1)
    ex = _scene(0)
    out = np.clip(0.5 + 0.15 * rng.standard_normal((24, 28)), 0, 1)
    out[4:14, 2:14] = ex[10:20, 30:42]  # a partly copied piece
    out[14:24, 14:28] = np.linspace(0.3, 0.5, 14)[None, :] + 0 * out[14:24, 14:28]  # a smooth ramp
    res = copy_check(out, ex, patch=8, stride=4, min_std=0.05, threshold=0.9)
    ref = _reference(out.astype(np.float32).astype(np.float64), ex.astype(np.float32).astype(np.float64),
                     8, 4, 0.05, 0.9)
    assert abs(res.max_ncc - ref[0]) < 1e-3 and abs(res.max_ncc_textured - ref[1]) < 1e-3, (res, ref)
    assert (res.patches, res.textured, res.over, res.over_textured) == ref[2:], (res, ref)
    assert res.max_ncc == max_patch_ncc(out, ex, patch=8, stride=4)  # the plain value is the §9 quantity


def test_smooth_ramp_matches_by_chance_but_not_as_texture_while_a_pasted_crop_is_caught():
    ex = _scene(2)
    yy, xx = np.mgrid[0:32, 0:32] / 32.0
    ramp = 0.3 + 0.2 * xx + 0.02 * yy  # smooth, never copied: matches the exemplar's ramp
    res = copy_check(ramp, ex, patch=16, stride=8)
    assert res.max_ncc > 0.95  # the plain check calls this a copy
    assert res.textured == 0 and res.max_ncc_textured == -1.0  # no textured patch: nothing to call a copy
    pasted = ramp.copy()
    pasted[8:24, 8:24] = ex[12:28, 28:44]  # a real copy of texture
    res = copy_check(pasted, ex, patch=16, stride=8)
    assert res.max_ncc_textured > 0.999 and res.over_textured >= 1
    noise = np.clip(0.5 + 0.2 * np.random.default_rng(3).standard_normal((32, 32)), 0, 1)  # new texture
    res = copy_check(noise, ex, patch=16, stride=8)
    assert res.textured > 0 and res.max_ncc_textured < 0.6
