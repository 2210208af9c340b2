"""Make the figures and the quality table of docs/texture.md from the embedded textures.

For brick, grass and gravel (scikit-image, 512² grey, resized to 256² exemplars; gatys and
multiscale read that 256² exemplar too, expansion trains on it) it synthesises a
128² texture with each method, times it, scores it with the reduced-reference texture quality against
the exemplar, and checks the "not a copy" NCC. For texture expansion it also grows the exemplar's
centre 64² crop 2× by bilinear upsampling and by quilting, for comparison. Writes
``methods_<texture>.png``, ``expansion_<texture>.png`` and ``results.json`` into the output folder.

Usage (2 shared cores, about 25 minutes; --quick about 6):
    OMP_NUM_THREADS=1 python docs/texture/make_figures.py --out docs/texture [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from traingen.data import open_source
from traingen.metrics.texture_quality import texture_features, texture_quality
from traingen.report.grid import make_grid, save_png
from traingen.texture.base import TextureResult, build_config, get_method, max_patch_ncc, to_tensor, to_uint8
from traingen.texture.expansion import centre_crop, compare_with_baselines, train_expansion

TEXTURES = ("brick", "grass", "gravel")


def settings(quick: bool) -> dict[str, dict]:
    s = 0.25 if quick else 1.0
    return {
        "gatys": {"size": 128, "steps": max(4, int(80 * s)), "exemplar_size": 256},
        "multiscale": {"size": 128, "steps": max(4, int(80 * s)), "levels": 2, "exemplar_size": 256},
        "expansion": {"size": 128, "steps": max(4, int(300 * s)), "crop": 24, "batch": 2, "exemplar_size": 256},
        "quilting": {"size": 128, "block": 32, "exemplar_size": 256},
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="docs/texture")
    ap.add_argument("--quick", action="store_true", help="a quarter of the steps (smoke run)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict] = {"settings": settings(args.quick), "threads": os.environ.get("OMP_NUM_THREADS"),
                                "textures": {}}
    for name in TEXTURES:
        full = open_source(f"builtin:textures/{name}")[0].image
        ex = to_uint8(__import__("torch").nn.functional.interpolate(
            to_tensor(full), size=(256, 256), mode="bilinear", antialias=True, align_corners=False))
        ref = texture_features(ex)
        row, rec = [ex], {}
        ex_t = to_tensor(ex)
        for method, opts in settings(args.quick).items():
            cfg = build_config(method, opts)
            t0 = time.perf_counter()
            if method == "expansion":  # train once; its output is the 2x growth of the centre 64² crop
                G, losses = train_expansion(ex_t, cfg, seed=args.seed)
                comp = compare_with_baselines(ex, 64, G, seed=args.seed)
                res = TextureResult(comp["expansion"], losses)
            else:
                res = get_method(method).run(full, cfg, seed=args.seed)
            secs = time.perf_counter() - t0
            rec[method] = {"seconds": round(secs, 1), "quality": round(texture_quality(ref, res.image), 4),
                           "max_patch_ncc": round(max_patch_ncc(res.image, ex), 4),
                           "loss_first": res.losses[0] if res.losses else None,
                           "loss_last": res.losses[-1] if res.losses else None}
            if method == "quilting":
                rec[method]["largest_copied_region"] = res.info["largest_copied_region"]
            row.append(res.image)
            print(name, method, rec[method], flush=True)
        save_png(out / f"methods_{name}.png", make_grid([row], cell=128))
        # expansion vs bilinear and quilting, all from the same centre 64² crop
        centre = to_uint8(centre_crop(ex_t, 128))
        rec["expansion_comparison"] = {k: round(texture_quality(ref, v), 4) for k, v in comp.items() if k != "input"}
        rec["expansion_comparison"]["true_centre_128"] = round(texture_quality(ref, centre), 4)
        save_png(out / f"expansion_{name}.png",
                 make_grid([[comp["input"], comp["bilinear"], comp["quilting"], comp["expansion"], centre]], cell=128))
        results["textures"][name] = rec
        print(name, rec["expansion_comparison"], flush=True)
        (out / "results.json").write_text(json.dumps(results, indent=1, default=float))
    print("wrote", out)


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
