"""Style and texture speed: seconds per optimiser evaluation and per image, for each backbone and method.

Measured, one process, one thread:

- texture synthesis (:func:`traingen.texture.gatys.synthesize`, TEXTURE's Gatys) at 128² and 256²,
  a fixed number of L-BFGS evaluations (``--evals``), for each backbone;
- style transfer (:class:`traingen.style.gatys.Gatys`, content initialisation) at 128² and 256² with
  the same evaluation budget, for each backbone; deep photo transfer (the matting Laplacian build is
  included) at 128²;
- the feed-forward methods (adain, sanet, arbitrary) per image at 256², with the recipe networks
  (width 0.25) and with VGG19-wide encoders (width 1.0); their weights are random: speed does not
  depend on training.

``vgg19`` has no downloadable weights here: a state dict of the right shapes filled with seeded random
numbers is written to a temporary safetensors file and loaded through the real loading path; it stands
in for timing only (the speed of VGG19 does not depend on its weights). No reference implementation of
neural style transfer runs here (pystiche breaks with torchvision >= 0.15; the others are Lua, TF1 or
CUDA-only). Beside the ``vgg19`` style rows stands a **plain-PyTorch loop** (:func:`plain_gatys`: the design
of PyTorch's neural-transfer tutorial — torchvision's ``vgg19().features`` cut after relu5_1, Gram
matrices, MSE content loss at relu4_2, ``torch.optim.LBFGS`` with the same evaluation budget), written
here, with the same weight file (loading it is timed on both sides): the ratio says what traingen's
backbone, tap and loss plumbing cost.

Facial texture transfer (:class:`traingen.style.facial.Facial`, ``crop_to_face`` at 256 px, region-wise
Gram loss and the CNN-MRF patch loss) is timed per evaluation on the shipped faces.

Times are CPU seconds of this process (``time.process_time``) and wall seconds; ``os.getloadavg()``
before and after is recorded. The fastest of ``--repeats`` is reported.

Usage:
    OMP_NUM_THREADS=1 python bench/style.py [--evals 5] [--repeats 1] [--backbones random-multiscale,vgg19]
        [--no-texture] [--out bench/RESULTS.md | --no-write]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import datetime  # noqa: E402
import platform  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402


def timed(fn, repeats: int) -> tuple[float, float, object]:
    """(cpu seconds, wall seconds, result) of the fastest of ``repeats`` calls."""
    best = None
    for _ in range(repeats):
        c0, w0 = time.process_time(), time.perf_counter()
        out = fn()
        cpu, wall = time.process_time() - c0, time.perf_counter() - w0
        if best is None or cpu < best[0]:
            best = (cpu, wall, out)
    return best


def random_vgg19_file(folder: Path) -> str:
    """A VGG19 state dict (torchvision keys and shapes) of seeded random numbers, as safetensors."""
    import torch
    from safetensors.torch import save_file
    from torchvision.models import vgg19

    with torch.device("meta"):
        shapes = {k: v.shape for k, v in vgg19(weights=None).state_dict().items()}
    g = torch.Generator().manual_seed(0)
    state = {k: torch.randn(s, generator=g) * 0.02 for k, s in shapes.items()}
    path = folder / "vgg19-random-stand-in.safetensors"
    save_file(state, str(path))
    return str(path)


def plain_gatys(weights: str, content, style, size: int, evaluations: int) -> int:
    """The tutorial-style Gatys loop on torchvision's VGG19 (reference for timing); returns the evaluations done."""
    import numpy as np
    import torch
    import torch.nn.functional as F
    from safetensors.torch import load_file
    from torchvision.models.vgg import cfgs, make_layers

    # torchvision's VGG19 feature layers (the classifier is never used; building it would dominate the time)
    feats = make_layers(cfgs["E"])
    feats.load_state_dict({k[9:]: v for k, v in load_file(weights).items() if k.startswith("features.")})
    feats = feats[:30].eval().requires_grad_(False)
    style_at, content_at = (1, 6, 11, 20, 29), 22
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)

    def prep(img):
        img = np.repeat(img[..., None], 3, axis=2) if img.ndim == 2 else img[..., :3]  # brick is grey
        t = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None].float() / 255
        h, w = t.shape[-2:]
        k = size / max(h, w)
        return F.interpolate(t, size=(round(h * k), round(w * k)), mode="bilinear", antialias=True)

    def run(x):
        out, h = {}, (x - mean) / std
        for i, layer in enumerate(feats):
            h = layer(h)
            if i in style_at or i == content_at:
                out[i] = h
        return out

    def gram(f):
        _, c, h, w = f.shape
        v = f.reshape(c, h * w)
        return v @ v.T / (c * h * w)

    c, s = prep(content), prep(style)
    with torch.no_grad():
        c_t = run(c)[content_at]
        s_t = {i: gram(m) for i, m in run(s).items() if i in style_at}
    x = c.clone().requires_grad_(True)
    opt = torch.optim.LBFGS([x], max_iter=evaluations, max_eval=evaluations, line_search_fn="strong_wolfe",
                            tolerance_grad=0.0, tolerance_change=0.0)
    count = [0]

    def closure():
        opt.zero_grad()
        m = run(x)
        loss = F.mse_loss(m[content_at], c_t) + 1e3 * sum(F.mse_loss(gram(m[i]), s_t[i]) for i in style_at) / 5
        loss.backward()
        count[0] += 1
        return loss

    opt.step(closure)
    return count[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--evals", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--backbones", default="random-multiscale,vgg19")
    ap.add_argument("--no-texture", action="store_true", help="skip the texture rows (TEXTURE's synthesize)")
    ap.add_argument("--out", default="bench/RESULTS.md")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()

    import numpy as np
    import torch

    torch.set_num_threads(1)
    from traingen.data import open_source
    from traingen.style.facial import Facial, FacialConfig, load_face
    from traingen.style.gatys import Gatys, GatysConfig
    from traingen.style.photo import Photo, PhotoConfig
    from traingen.texture.gatys import synthesize

    load0 = os.getloadavg()
    brick = open_source("builtin:textures/brick")[0].image
    chelsea = open_source("builtin:photos/chelsea")[0].image
    (face_a, mask_a), (face_b, mask_b) = load_face("astronaut"), load_face("grace_hopper")
    rows: list[tuple[str, str, str, float, float, str]] = []
    tmp = tempfile.TemporaryDirectory(prefix="bench-style-")
    for bb in args.backbones.split(","):
        weights = random_vgg19_file(Path(tmp.name)) if bb == "vgg19" else None
        opts = {"weights": weights} if weights else {}
        for size in (128, 256):
            if args.no_texture:
                break
            cpu, wall, res = timed(lambda s=size, b=bb, o=opts: synthesize(brick, size=s, steps=args.evals, backbone=b,
                                                                           seed=0, **o), args.repeats)
            n = len(res.losses)
            rows.append(("texture gatys", bb, f"{size}²", cpu / n, wall / n, f"{n} evaluations, exemplar set-up included"))
            print(rows[-1], flush=True)
        for size in (128, 256):
            cfg = GatysConfig(backbone=bb, weights=weights, size=size, evaluations=args.evals)
            cpu, wall, res = timed(lambda c=cfg: Gatys(c)(chelsea, brick, seed=0), args.repeats)
            n = res.info["evaluations"]
            rows.append(("style gatys", bb, f"{size}² (long side)", cpu / n, wall / n, f"{n} evaluations"))
            print(rows[-1], flush=True)
            if weights:
                cpu, wall, n = timed(lambda s=size, w=weights: plain_gatys(w, chelsea, brick, s, args.evals),
                                     args.repeats)
                rows.append(("style gatys, plain-PyTorch loop", bb, f"{size}² (long side)", cpu / n, wall / n,
                             f"{n} evaluations"))
                print(rows[-1], flush=True)
        cfg = PhotoConfig(backbone=bb, weights=weights, size=128, evaluations=args.evals)
        cpu, wall, res = timed(lambda c=cfg: Photo(c)(chelsea, brick, seed=0), args.repeats)
        n = res.info["evaluations"]
        rows.append(("style photo", bb, "128² (long side)", cpu / n, wall / n, f"{n} evaluations, Laplacian included"))
        print(rows[-1], flush=True)
        for loss in ("gram", "mrf"):
            cfg = FacialConfig(backbone=bb, weights=weights, size=256, evaluations=args.evals, crop_to_face=True,
                               tv_weight=0.1, texture_loss=loss)
            cpu, wall, res = timed(lambda c=cfg: Facial(c)(face_a, face_b, seed=0, content_mask=mask_a,
                                                           style_mask=mask_b), args.repeats)
            n = res.info["evaluations"]
            rows.append((f"style facial ({loss})", bb, "256² face box", cpu / n, wall / n, f"{n} evaluations"))
            print(rows[-1], flush=True)
    tmp.cleanup()

    from traingen.style.adain import AdaINConfig, AdaINNet
    from traingen.style.arbitrary import ArbitraryConfig, ArbitraryNet
    from traingen.style.sanet import SANetConfig, SANetNet

    g = torch.Generator().manual_seed(0)
    c, s = torch.rand(1, 3, 256, 256, generator=g), torch.rand(1, 3, 256, 256, generator=g)
    for width in (0.25, 1.0):
        for name, net in (("adain", AdaINNet(AdaINConfig(width=width))), ("sanet", SANetNet(SANetConfig(width=width))),
                          ("arbitrary", ArbitraryNet(ArbitraryConfig(width=width)))):
            net.eval()
            with torch.no_grad():
                net.stylize(c, s)  # warm-up
                cpu, wall, _ = timed(lambda n=net: n.stylize(c, s), max(3, args.repeats))
            rows.append((f"style {name}", f"encoder width {width}", "256²", cpu, wall, "per image, forward only"))
            print(rows[-1], flush=True)
    load1 = os.getloadavg()

    lines = [
        f"\n## Style transfer and texture speed ({datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC)\n",
        f"Command: `OMP_NUM_THREADS=1 python bench/style.py --evals {args.evals} --repeats {args.repeats} "
        f"--backbones {args.backbones}{' --no-texture' if args.no_texture else ''}`  ",
        f"Machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; one thread.  ",
        f"Load average before {' '.join(f'{x:.2f}' for x in load0)}, after {' '.join(f'{x:.2f}' for x in load1)}.  ",
        f"torch {torch.__version__}, numpy {np.__version__}. `vgg19` = torchvision's VGG19 with seeded random "
        "weights loaded from a temporary file: a stand-in for timing (no weights can be downloaded here). "
        "No third-party reference implementation runs here; the plain-PyTorch rows are the tutorial-style loop of "
        "`plain_gatys` on the same weight file and budget.\n",
        "| what | backbone | size | CPU s | wall s | unit |",
        "| --- | --- | --- | ---: | ---: | --- |",
    ]
    for what, bb, size, cpu, wall, unit in rows:
        per = "per evaluation; " if "evaluations" in unit else ""
        lines.append(f"| {what} | {bb} | {size} | {cpu:.3f} | {wall:.3f} | {per}{unit} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_write:
        with open(args.out, "a", encoding="utf-8") as f:
            f.write(text)


if __name__ == "__main__":
    main()
