"""Make the figures of docs/style.md from the embedded photos and textures, and record each one's time.

Every figure is one run of the library on this machine (one thread); the seconds are written beside
the figures in ``docs/style/figures.json`` together with the load average, and quoted in the page.

Figures:
    gatys.png        chelsea restyled with photos/flower (plain, luminance-only, colour histogram) and
                     with textures/brick; random-multiscale backbone
    photo.png        chelsea x flower: Gatys vs deep photo (matting Laplacian)
    facial_strength.png  the defaults at style weight 100 / 1,000 / 10,000 (fine skin texture vs identity)
    facial.png       astronaut with the face texture of grace_hopper (region masks), between the face
                     boxes (``crop_to_face``): session 7's settings, 256 px / TV 0.1, + matting Laplacian
                     (the defaults), CNN-MRF; bottom row eyes and nose enlarged; with sharpness / fringes /
                     SSIM / texture numbers in figures.json
    adain.png        coffee and chelsea x brick, flower, rocket and an unseen procedural style, from
                     ``--runs``/run-adain (recipes/style-adain.yaml)
    sanet.png,       the same for ``--runs``/run-sanet and run-arbitrary (recipes/style-sanet.yaml,
    arbitrary.png    style-arbitrary.yaml) with brick (a training style) and gravel, flower, rocket and the
                     procedural style (all held out of training)
    Each feed-forward figure records per output the style statistics and the "not a copy" check
    (texture.base.copy_check) of the output and of the unstylised content photo (the chance level).

Run:
    OMP_NUM_THREADS=1 .venv/bin/python docs/style/make_figures.py [--size 96] [--evals 50]
        [--runs /work/runs/style] [--only gatys,photo,facial,facial-strength,adain,sanet,arbitrary]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import functools  # noqa: E402
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
    ap.add_argument("--only", default="gatys,photo,facial,facial-strength,adain,sanet,arbitrary")
    args = ap.parse_args()
    only = set(args.only.split(","))

    import torch

    torch.set_num_threads(1)
    from traingen.data import open_source
    from traingen.report.grid import make_grid
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
        facial_figure(log)
        log_path.write_text(json.dumps(log, indent=2, sort_keys=True) + "\n")
    if "facial-strength" in only:
        facial_strength_figure(log)
        log_path.write_text(json.dumps(log, indent=2, sort_keys=True) + "\n")
    for method, styles in (("adain", ADAIN_STYLES), ("sanet", HELDOUT_STYLES), ("arbitrary", HELDOUT_STYLES)):
        if method in only:
            feedforward_figure(method, args.runs / f"run-{method}", log, styles)
            log_path.write_text(json.dumps(log, indent=2, sort_keys=True) + "\n")
    log_path.write_text(json.dumps(log, indent=2, sort_keys=True) + "\n")


#: facial.png, session 8: label -> FacialConfig keys. "before" is session 7's crop_to_face figure setting; "tv0.1"
#: works at 256 px with a small TV weight; "after" adds the matting Laplacian against colour fringes (the
#: face defaults since session 9); "mrf" is "tv0.1" with Li & Wand's patch loss (FaceTex's texture loss).
FACIAL_RUNS = {
    "before": {"crop_to_face": True, "size": 128, "evaluations": 50, "tv_weight": 10.0, "photo_weight": 0.0},
    "tv0.1": {"crop_to_face": True, "size": 256, "evaluations": 60, "tv_weight": 0.1, "photo_weight": 0.0},
    "after": {"crop_to_face": True, "size": 256, "evaluations": 60, "tv_weight": 0.1, "photo_weight": 0.02},
    "mrf": {"crop_to_face": True, "size": 256, "evaluations": 60, "tv_weight": 0.1, "photo_weight": 0.0,
            "texture_loss": "mrf"},
}


def facial_figure(log: dict, cell: int = 100) -> None:
    """facial.png: astronaut with grace_hopper's face texture, before / after session 8, and its numbers.

    facial.png: the face boxes of content, style, then each of :data:`FACIAL_RUNS` (transferred between the
    face boxes, pasted back into the full-size content, cropped here for viewing); bottom row: eyes and
    nose of the same, enlarged. Each run's CPU seconds and :func:`traingen.style.face_metrics.transfer_report` go to
    figures.json.
    """
    from traingen.report.grid import make_grid

    (a, _), (b, _) = _faces()
    zoom = (slice(75, 155), slice(175, 280))
    row1, row2 = [a[FACE_BOX], b[60:360, 130:400]], [a[zoom], b[150:290, 190:350]]
    for label, kw in FACIAL_RUNS.items():
        out = _facial_run(log, f"facial astronaut x grace_hopper, {label}", kw)
        row1.append(out[FACE_BOX])
        row2.append(out[zoom])
    save_small(HERE / "facial.png", make_grid([row1, row2], cell=cell))


#: The astronaut's face box in the full-size photo (the figures' crops).
FACE_BOX = (slice(20, 200), slice(130, 320))


@functools.cache
def _faces():
    """``((astronaut, mask), (grace_hopper, mask))``: the shipped faces with their region maps (read once)."""
    from traingen.style.facial import load_face

    return load_face("astronaut"), load_face("grace_hopper")


def _facial_run(log: dict, name: str, kw: dict):
    """astronaut with grace_hopper's face texture under ``FacialConfig(**kw)``; its CPU seconds and
    :func:`traingen.style.face_metrics.transfer_report` are recorded in ``log`` as ``name``; returns the image."""
    from traingen.style.face_metrics import transfer_report
    from traingen.style.facial import Facial, FacialConfig

    (a, ma), (b, mb) = _faces()
    t0 = time.process_time()
    res = Facial(FacialConfig(**kw))(a, b, seed=0, content_mask=ma, style_mask=mb)
    cpu = time.process_time() - t0
    record(log, name, res.seconds, cpu_s=round(cpu, 1), config=kw, metrics=transfer_report(res.image, a, b, ma, mb))
    return res.image


#: facial_strength.png, session 9: the style weight as a texture-strength knob (the defaults otherwise).
STRENGTH_RUNS = {"style weight 100 (default)": {}, "style weight 1,000": {"style_weight": 1000.0},
                 "style weight 10,000": {"style_weight": 10000.0}}


def facial_strength_figure(log: dict, cell: int = 190) -> None:
    """facial_strength.png: the content face box, then :data:`STRENGTH_RUNS` (the style face is in facial.png).

    Each run's CPU seconds and :func:`traingen.style.face_metrics.transfer_report` go to figures.json.
    """
    from traingen.report.grid import make_grid

    row = [_faces()[0][0][FACE_BOX]]
    for label, kw in STRENGTH_RUNS.items():
        row.append(_facial_run(log, f"facial strength, {label}", kw)[FACE_BOX])
    save_small(HERE / "facial_strength.png", make_grid([row], cell=cell))


def _img(addr: str):
    from traingen.data import open_source

    return open_source(addr)[0].image


def unseen_procedural():
    """A procedural style from a generator no training run used (seed 2024), 128² uint8."""
    import torch

    from traingen.style.train import procedural_style

    g = torch.Generator().manual_seed(2024)
    return (procedural_style(128, g)[0].permute(1, 2, 0).numpy() * 255).astype("uint8")


#: Styles of the adain figure (all but the procedural one were in its training set).
ADAIN_STYLES = ("textures/brick", "photos/flower", "photos/rocket")
#: Styles of the sanet / arbitrary figures: brick was a training style; gravel, flower, rocket and the
#: procedural style were not (their recipes leave them out of ``styles`` and ``contents``).
HELDOUT_STYLES = ("textures/brick", "textures/gravel", "photos/flower", "photos/rocket")


def style_stats(net, content, output, style) -> dict:
    """Channel-statistics distance of the output to the style, relative to the content's, per tap.

    ``ratio[t] = d(out, style) / d(content, style)`` with ``d`` the mean squared difference of the encoder's
    channel means plus that of its channel stds at tap ``t`` (0 = the output has the style's statistics, 1 = it
    is as far as the content), and the grey NCC of output and content (content kept).
    """
    import numpy as np
    import torch

    from traingen.style.base import to_tensor
    from traingen.style.encoder import mean_std

    taps = ["relu1_1", "relu2_1", "relu3_1"]
    x = [to_tensor(a) for a in (output, content, style)]
    with torch.no_grad():
        feats = [net.encoder(t, taps) for t in x]
    ratio = {}
    for t in taps:
        (my, sy), (mc, sc), (ms, ss) = (mean_std(f[t]) for f in feats)
        d_out = float(((my - ms) ** 2).mean() + ((sy - ss) ** 2).mean())
        d_content = float(((mc - ms) ** 2).mean() + ((sc - ss) ** 2).mean())
        ratio[t] = round(d_out / d_content, 3)
    gy, gc = (a.astype(np.float64).mean(-1).ravel() for a in (output, content))
    ncc = float(np.corrcoef(gy, gc)[0, 1])
    return {"ratio": ratio, "ncc_content": round(ncc, 3)}


def feedforward_figure(method: str, run: Path, log: dict, styles: tuple[str, ...]) -> None:
    """``<method>.png``: coffee and chelsea x ``styles`` + an unseen procedural style, from ``run``.

    Records per output: :func:`style_stats` and the "not a copy" check (:func:`copy_check`: the §9 maximum
    over all 32×32 patches and over textured ones) for the output and, as the chance level of the same
    pair, for the unstylised content photo at the same size (cached in the log, shared by the methods).
    """
    import cv2

    from traingen.report.grid import make_grid
    from traingen.style.train import method_runner
    from traingen.texture.base import copy_check

    style_imgs = {n: _img(f"builtin:{n}") for n in styles}
    style_imgs["procedural (unseen)"] = unseen_procedural()
    fn = method_runner(method, checkpoint=str(run), size=256)
    rows, stats = [[None, *style_imgs.values()]], {}
    baselines = log.setdefault("copy check baselines (content photo at 256 px vs style)", {})
    t0, t_copy = time.perf_counter(), 0.0
    for cname in ("coffee", "chelsea"):
        content = _img(f"builtin:photos/{cname}")
        row = [content]
        for sname, st in style_imgs.items():
            out = fn(content, st, seed=0).image
            small = cv2.resize(content, (out.shape[1], out.shape[0]), interpolation=cv2.INTER_AREA)
            key = f"{cname} x {sname}"
            tc = time.perf_counter()
            cc = copy_check(out, st, patch=32, stride=8)
            if key not in baselines:
                cb = copy_check(small, st, patch=32, stride=8)
                baselines[key] = {"max_ncc": round(cb.max_ncc, 3), "max_ncc_textured": round(cb.max_ncc_textured, 3)}
            t_copy += time.perf_counter() - tc
            stats[key] = {**style_stats(fn.net, small, out, st), "max_ncc": round(cc.max_ncc, 3),
                          "max_ncc_textured": round(cc.max_ncc_textured, 3), "baseline": baselines[key]}
            row.append(out)
        rows.append(row)
    record(log, f"{method} 2 contents x {len(style_imgs)} styles", time.perf_counter() - t0,
           images=len(rows[1:]) * len(style_imgs), size=256, run=str(run), copy_check_seconds=round(t_copy, 1),
           stats=stats)
    rows[0][0] = rows[1][0] * 0 + 255  # blank corner
    save_small(HERE / f"{method}.png", make_grid(rows, cell=160))


if __name__ == "__main__":
    main()
