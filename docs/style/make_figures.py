"""Make the figures of docs/style.md from the embedded photos and textures, and record each one's time.

Every figure is one run of the library on this machine (one thread); the seconds are written beside
the figures in ``docs/style/figures.json`` together with the load average, and quoted in the page.

Figures:
    gatys.png        chelsea restyled with photos/flower (plain, luminance-only, colour histogram) and
                     with textures/brick; random-multiscale backbone
    photo.png        chelsea x flower: Gatys vs deep photo (matting Laplacian)
    facial.png       astronaut with the skin/hair texture of grace_hopper (region masks), masks preview
    feedforward.png  adain, arbitrary and sanet from the recipe runs (--runs), on a style the runs saw
                     (brick) and on styles they did not (procedural, gravel held out of nothing: see page)
    adain.png        coffee and chelsea x brick, flower, rocket and an unseen procedural style, from
                     ``--runs``/run-adain (recipes/style-adain.yaml), with the "not a copy" NCC per output

Run:
    OMP_NUM_THREADS=1 .venv/bin/python docs/style/make_figures.py [--size 96] [--evals 50]
        [--runs /work/runs/style] [--only gatys,photo,facial,feedforward,adain]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

HERE = Path(__file__).resolve().parent


def save_small(path: Path, grid) -> None:
    """Save ``grid`` as PNG, scaled down (area interpolation, steps of 0.8) until the file is under 300 KB."""
    import cv2

    from traingen.report.grid import save_png

    save_png(path, grid)
    while path.stat().st_size > 300_000:
        grid = cv2.resize(grid, None, fx=0.8, fy=0.8, interpolation=cv2.INTER_AREA)
        save_png(path, grid)


def record(log: dict, name: str, seconds: float, **extra) -> None:
    log[name] = {"seconds": round(seconds, 1), "load": [round(x, 2) for x in os.getloadavg()], **extra}
    print(name, log[name], flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=96)
    ap.add_argument("--evals", type=int, default=50)
    ap.add_argument("--runs", type=Path, default=Path("/work/runs/style"))
    ap.add_argument("--only", default="gatys,photo,facial,feedforward,adain")
    args = ap.parse_args()
    only = set(args.only.split(","))

    import torch

    torch.set_num_threads(1)
    from traingen.data import open_source
    from traingen.report.grid import make_grid
    from traingen.style.facial import Facial, FacialConfig, load_face
    from traingen.style.gatys import Gatys, GatysConfig
    from traingen.style.photo import Photo, PhotoConfig

    log_path = HERE / "figures.json"
    log = json.loads(log_path.read_text()) if log_path.exists() else {}
    chelsea = open_source("builtin:photos/chelsea")[0].image
    flower = open_source("builtin:photos/flower")[0].image
    brick = open_source("builtin:textures/brick")[0].image
    cell = 2 * args.size
    plain = None
    if "gatys" in only or "photo" in only:
        res = Gatys(GatysConfig(size=args.size, evaluations=args.evals))(chelsea, flower, seed=0)
        plain = res.image
        record(log, "gatys chelsea x flower", res.seconds, evaluations=res.info["evaluations"], size=args.size)
    if "gatys" in only:
        row1 = [chelsea, flower, plain]
        for mode in ("luminance", "histogram"):
            res = Gatys(GatysConfig(size=args.size, evaluations=args.evals, preserve_color=mode))(chelsea, flower, seed=0)
            record(log, f"gatys chelsea x flower, preserve_color={mode}", res.seconds, size=args.size)
            row1.append(res.image)
        res = Gatys(GatysConfig(size=args.size, evaluations=args.evals))(chelsea, brick, seed=0)
        record(log, "gatys chelsea x brick", res.seconds, size=args.size)
        save_small(HERE / "gatys.png", make_grid([row1, [chelsea, brick, res.image]], cell=cell))
    if "photo" in only:
        res = Photo(PhotoConfig(size=args.size, evaluations=args.evals))(chelsea, flower, seed=0)
        record(log, "photo chelsea x flower", res.seconds, size=args.size)
        save_small(HERE / "photo.png", make_grid([[chelsea, flower, plain, res.image]], cell=cell))
    if "facial" in only:
        a, ma = load_face("astronaut")
        b, mb = load_face("grace_hopper")
        res = Facial(FacialConfig(size=2 * args.size, evaluations=args.evals))(a, b, seed=0, content_mask=ma,
                                                                                style_mask=mb)
        record(log, "facial astronaut x grace_hopper", res.seconds, size=2 * args.size)
        crop_a, crop_out = a[20:200, 130:320], None
        s = res.image.shape[0] / a.shape[0]
        crop_out = res.image[round(20 * s):round(200 * s), round(130 * s):round(320 * s)]
        save_small(HERE / "facial.png", make_grid([[a, b, res.image], [crop_a, b[60:360, 130:400], crop_out]],
                                                cell=cell))
    if "feedforward" in only:
        from traingen.style.train import method_runner, procedural_style

        g = torch.Generator().manual_seed(2024)  # a style stream no training run used
        unseen = (procedural_style(128, g)[0].permute(1, 2, 0).numpy() * 255).astype("uint8")
        coffee = open_source("builtin:photos/coffee")[0].image
        styles = [brick, flower, unseen]
        rows = [[None, *styles]]
        for method in ("adain", "arbitrary", "sanet"):
            run = args.runs / f"run-{method}"
            if not (run / "model.json").exists():
                print(f"skip {method}: no trained run in {run}")
                continue
            fn = method_runner(method, checkpoint=str(run), size=256)
            row, t0 = [coffee], time.perf_counter()
            for st in styles:
                row.append(fn(coffee, st, seed=0).image)
            record(log, f"{method} coffee x 3 styles", time.perf_counter() - t0, images=3, size=256)
            rows.append(row)
        if len(rows) > 1:
            rows[0][0] = coffee
            save_small(HERE / "feedforward.png", make_grid(rows, cell=128))
    if "adain" in only:
        adain_figure(args.runs / "run-adain", log)
    log_path.write_text(json.dumps(log, indent=2, sort_keys=True) + "\n")


def adain_figure(run: Path, log: dict) -> None:
    """adain.png: contents x (brick, flower, rocket, an unseen procedural style) from the recipe's run.

    Records each output's largest 32×32-patch NCC with its style image (the "not a copy" check, < 0.95).
    """
    import torch

    from traingen.data import open_source
    from traingen.report.grid import make_grid
    from traingen.style.train import method_runner, procedural_style
    from traingen.texture.base import max_patch_ncc

    g = torch.Generator().manual_seed(2024)  # a style stream no training run used
    unseen = (procedural_style(128, g)[0].permute(1, 2, 0).numpy() * 255).astype("uint8")
    styles = {n: open_source(f"builtin:{n}")[0].image for n in ("textures/brick", "photos/flower", "photos/rocket")}
    styles["procedural (unseen)"] = unseen
    fn = method_runner("adain", checkpoint=str(run), size=256)
    rows, nccs = [[None, *styles.values()]], {}
    t0 = time.perf_counter()
    for cname in ("coffee", "chelsea"):
        content = open_source(f"builtin:photos/{cname}")[0].image
        row = [content]
        for sname, st in styles.items():
            out = fn(content, st, seed=0).image
            nccs[f"{cname} x {sname}"] = round(max_patch_ncc(out, st, patch=32, stride=8), 3)
            row.append(out)
        rows.append(row)
    record(log, "adain 2 contents x 4 styles", time.perf_counter() - t0, images=8, size=256, run=str(run),
           max_patch_ncc=nccs)
    rows[0][0] = rows[1][0] * 0 + 255  # blank corner
    save_small(HERE / "adain.png", make_grid(rows, cell=160))


if __name__ == "__main__":
    main()
