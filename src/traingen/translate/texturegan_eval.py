"""TextureGAN's usefulness measurements and docs figure: texture fidelity on held-out textures, shape kept.

For each held-out sketch (``builtin:render-sketch2rgb@test``) the run's generator gets patches of a
held-out texture (``builtin:texture-bank@test``) pasted inside the eroded object mask, seeded per
sample (:func:`~.texturegan_data.texturize`). Then:

* **Local Gram distance** -- up to four 16×16 patches per output, centred inside the eroded object
  mask and overlapping the pasted squares by at most 25 % (so the score rewards propagating the
  texture, not copying the input): the Gram-matrix distance (:func:`traingen.texture.gram.style_loss`)
  between the output patch and the texture at the same place, on an *independent* feature network
  (``random-multiscale`` with seed 7, kernels 3–15, 32 maps: not the one the model trained with), RGB.
  Lower is better. The same patches of the sketch-only input (white) give the no-texture reference.
* **Mean colour error** -- ΔE (CIE76) between the mean Lab colour of each output patch and of the
  texture patch.
* **Object IoU** -- the output's object region (pixels more than ΔE 10 from white) against the input
  object mask; the target renders thresholded the same way give the ceiling of this measure.

``compare_runs`` prints one row per run; ``texturegan_figure`` draws sketch + pasted patches, output,
and the texture for a few held-out sketches (``python -m traingen.translate.texturegan_eval FIG RUN...``).

Example:
    >>> rows = compare_runs(["runs/tgan", "runs/tgan-nolocal"], n=120)

References:
    Xian et al. "TextureGAN: Controlling Deep Image Synthesis with Texture Patches", CVPR 2018
    (arXiv 1706.02823), §5 ablation: local texture loss vs none.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..core.seeding import torch_generator
from . import texturegan_ops as ops

EVAL_BACKBONE = {"seed": 7, "kernel_sizes": [3, 5, 7, 11, 15], "maps": 32}
PATCH = 16
MAX_OVERLAP = 0.25
WHITE_DELTA_E = 10.0


def _held_out(n: int, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    from ..data import open_source
    from ..data.paired import split_pair
    from .texturegan_data import pair_tensors

    src = open_source("builtin:render-sketch2rgb@test")
    n = min(n, len(src))
    pairs = [split_pair(src[i].image) for i in range(n)]
    a, b = pair_tensors([p[0] for p in pairs], [p[1] for p in pairs], size=size, where=src.name)
    return a, b


def object_iou(rgb01: torch.Tensor, mask: torch.Tensor, *, delta_e: float = WHITE_DELTA_E) -> torch.Tensor:
    """Per-image IoU of ``{pixels farther than delta_e from white}`` with ``mask`` (N×1×H×W {0, 1})."""
    lab = ops.rgb_to_lab(rgb01)
    white = torch.tensor([100.0, 0.0, 0.0]).view(1, 3, 1, 1)
    obj = ((lab - white).norm(dim=1, keepdim=True) > delta_e)
    m = mask > 0.5
    inter = (obj & m).flatten(1).sum(1).float()
    union = (obj | m).flatten(1).sum(1).float().clamp_min(1)
    return inter / union


@torch.no_grad()
def evaluate_run(run: str | os.PathLike, *, n: int = 120, seed: int = 0, eval_mode: bool | None = None) -> dict[str, Any]:
    """The measurements of the module docstring for one run (its latest checkpoint)."""
    from ..texture.gram import get_backbone, style_loss, style_targets
    from .texturegan_data import load_texture_bank, texturize
    from .trainer import load_run

    _, model, ckpt = load_run(run)
    if eval_mode is not None:
        model.config.eval_mode = eval_mode
    c = model.config
    a, b = _held_out(n, c.image_size)
    bank = load_texture_bank(c.export_bank, c.image_size)
    idx = list(range(len(a)))
    rgb, x, _ = texturize(model, a, indices=idx, seed=seed, bank=bank)
    mask = (a[:, 1:2] > 0).float()
    tex_rgb = ops.nlab_to_rgb(_source_from_inputs(model, a, idx, seed, bank))
    eroded = ops.erode_mask(mask, c.erode)
    bb = get_backbone("random-multiscale", **EVAL_BACKBONE)
    dist, dist_blank, de = [], [], []
    g = torch_generator(seed, "texturegan-eval")
    patch_mask = (x[:, 4:5] > 0).float()
    blank = torch.ones_like(rgb)
    for _ in range(4):
        cy, cx = ops.sample_centres(eroded, PATCH, generator=g, fallback=mask)
        overlap = ops.crop_patches(patch_mask, cy, cx, PATCH).mean(dim=(1, 2, 3))
        inside = ops.crop_patches(mask, cy, cx, PATCH).mean(dim=(1, 2, 3))
        keep = (overlap <= MAX_OVERLAP) & (inside >= 0.75)
        if not keep.any():
            continue
        po, pt, pb = (ops.crop_patches(t, cy, cx, PATCH)[keep] for t in (rgb, tex_rgb, blank))
        for k in range(len(po)):
            tgt = style_targets(bb.maps(pt[k:k + 1]))
            dist.append(float(style_loss(bb.maps(po[k:k + 1]), tgt)))
            dist_blank.append(float(style_loss(bb.maps(pb[k:k + 1]), tgt)))
        lo, lt = ops.rgb_to_lab(po).mean(dim=(2, 3)), ops.rgb_to_lab(pt).mean(dim=(2, 3))
        de += (lo - lt).norm(dim=1).tolist()
    iou = object_iou(rgb, mask)
    iou_gt = object_iou((b + 1) * 0.5, mask)
    return {"run": str(run), "checkpoint": Path(ckpt).name, "n_images": len(a), "n_patches": len(dist),
            "local_gram_distance": float(np.mean(dist)) if dist else None,
            "local_gram_distance_median": float(np.median(dist)) if dist else None,
            "blank_gram_distance": float(np.mean(dist_blank)) if dist_blank else None,
            "patch_mean_delta_e": float(np.mean(de)) if de else None,
            "object_iou": float(iou.mean()), "target_iou": float(iou_gt.mean()),
            "eval_mode": bool(c.eval_mode), "local_texture": bool(c.local_texture)}


def _source_from_inputs(model: Any, a: torch.Tensor, indices: list[int], seed: int, bank: torch.Tensor) -> torch.Tensor:
    """The full texture source (texture inside the mask, white outside) that :func:`texturize` pasted from."""
    out = []
    for j, i in enumerate(indices):
        g = torch_generator(seed, "texturegan-export", int(i))
        mask = (a[j:j + 1, 1:2] > 0).float()
        out.append(model.external_source(torch.zeros(1, 3, *a.shape[-2:]), mask, g, bank)[0])
    return torch.cat(out)


def compare_runs(runs: list[str], *, n: int = 120, seed: int = 0) -> list[dict[str, Any]]:
    """:func:`evaluate_run` for each run, on the same held-out sketches, textures and patches."""
    return [evaluate_run(r, n=n, seed=seed) for r in runs]


@torch.no_grad()
def texturegan_figure(out: str | os.PathLike, runs: list[str], *, n: int = 8, seed: int = 0) -> Path:
    """Rows: sketch with the pasted patches, each run's output, the texture (held-out sketches and textures)."""
    from ..report.grid import make_grid, save_png
    from .texturegan_data import load_texture_bank, texturize
    from .trainer import load_run

    models = [load_run(r)[1] for r in runs]
    c = models[0].config
    a, _ = _held_out(120, c.image_size)
    pick = list(range(0, len(a), max(1, len(a) // n)))[:n]
    a = a[pick]
    bank = load_texture_bank(c.export_bank, c.image_size)
    rows = []
    for k, model in enumerate(models):
        rgb, x, _ = texturize(model, a, indices=pick, seed=seed, bank=bank)
        if k == 0:
            sketch = ((x[:, :1] + 1) * 0.5).repeat(1, 3, 1, 1)
            pasted = torch.where(x[:, 4:5] > 0, ops.nlab_to_rgb(x[:, 1:4]), sketch)
            rows.append(list(_u8(pasted)))
            rows.append(list(_u8(ops.nlab_to_rgb(_source_from_inputs(model, a, pick, seed, bank)))))
        rows.append(list(_u8(rgb)))
    rows = [rows[0]] + rows[2:] + [rows[1]]
    return save_png(out, make_grid(rows, cell=96, pad=2))


def _u8(x: torch.Tensor) -> np.ndarray:
    return (x.permute(0, 2, 3, 1).numpy() * 255.0).round().clip(0, 255).astype(np.uint8)


if __name__ == "__main__":
    import json

    t = time.perf_counter()
    fig, runs = Path(sys.argv[1]), sys.argv[2:]
    print(texturegan_figure(fig, runs), f"{time.perf_counter() - t:.1f} s")
    for row in compare_runs(runs):
        print(json.dumps(row))
    print(f"total {time.perf_counter() - t:.1f} s, loadavg {os.getloadavg()}")
