"""Differentiable rasterizer speed: forward+backward ms, side by side with Mitsuba 3 when installed.

For the Utah teapot at two tessellations (2,256 and 9,120 faces) and 64 / 128 / 256 px, one thread:

- traingen ``soft`` (Soft Rasterizer, σ = γ = ε = 1e-4) and ``nmr`` (Kato's gradient): one forward
  and one backward of ``Σ W·rgb + Σ W'·alpha`` for fixed random weights; process CPU time (all threads), the
  minimum of the repeats as the least contended figure (FACTS "Threads"), the median beside it.
- Mitsuba 3 (``llvm_ad_rgb``, ``direct_projective`` with ``guiding: "none"``, 1 spp; the mesh is black
  in front of a constant white environment, so the image is one minus its silhouette), when ``mitsuba`` and
  ``drjit`` import; ``DRJIT_LIBLLVM_PATH`` must name an LLVM shared library (``libllvm19`` from
  Debian, or the system ``libLLVM-15.so.1``, which this script tries by default).
- The cosine between the two renderers' gradients of ``Σ W·image`` for a rigid translation of the
  mesh, and the silhouette IoU of the two renders (checks that the cameras agree).

Usage:
    OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE python bench/mesh3d.py [--repeats 5] [--out bench/RESULTS.md]
    # the lit rows alone (about a minute): --modes lit --no-mitsuba --repeats 15
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
import tempfile
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
for _cand in ("/usr/lib/llvm-19/lib/libLLVM-19.so", "/usr/lib/x86_64-linux-gnu/libLLVM-19.so",
              "/usr/lib/x86_64-linux-gnu/libLLVM-19.so.1",
              "/usr/lib/x86_64-linux-gnu/libLLVM-15.so.1"):
    if "DRJIT_LIBLLVM_PATH" not in os.environ and os.path.exists(_cand):
        os.environ["DRJIT_LIBLLVM_PATH"] = _cand

import numpy as np  # noqa: E402
import torch  # noqa: E402

from traingen.mesh.builtin import load_mesh  # noqa: E402
from traingen.mesh.raster import Attributes, Lighting, RasterSettings, rasterize  # noqa: E402
from traingen.render.camera import Camera  # noqa: E402

TARGETS = {("teapot", 64): 20, ("teapot", 128): 60, ("teapot", 256): 200,
           ("teapot-hi", 64): 40, ("teapot-hi", 128): 150, ("teapot-hi", 256): 500}
FOV = 40.0


def camera(mesh, size: int) -> Camera:
    centre = mesh.bounds().mean(0)
    return Camera.orbit(10.0, 30.0, 25.0, target=tuple(centre), width=size, height=size, fov_y_deg=FOV)


def ours(mesh, cam: Camera, mode: str, weights: np.ndarray, translation: bool = False, cull: bool = False,
         lit: bool = False):
    """One forward+backward; returns (seconds, image, gradient of the translation or None).

    ``lit``: per-vertex colours (fixed, grey levels) and an ambient + directional light instead of a
    constant white colour, unlit (the general path: colours and light factors gathered per pair).
    """
    v0 = torch.tensor(mesh.vertices, dtype=torch.float32)
    f = torch.tensor(mesh.faces)
    w = torch.tensor(weights, dtype=torch.float32)
    t0 = time.process_time()
    shift = torch.zeros(3, requires_grad=True)
    v = (v0 + shift) if translation else v0.clone().requires_grad_(True)
    if lit:
        vc = torch.linspace(0.2, 1.0, len(v0)).unsqueeze(1).expand(-1, 3).contiguous().requires_grad_(True)
        attrs, light = Attributes(vertex_colors=vc), Lighting()
    else:
        attrs, light = Attributes(color=(1.0, 1.0, 1.0)), None
    out = rasterize(v, f, cam, mode=mode, attributes=attrs, lighting=light,
                    settings=RasterSettings(cull_backfaces=cull))
    loss = (out.rgb * w).sum() + (out.alpha * w[:1]).sum()
    loss.backward()
    dt = time.process_time() - t0
    return dt, out.alpha[0, 0].detach().numpy(), (shift.grad.numpy().copy() if translation else None)


class MitsubaSide:
    """The same mesh and camera in Mitsuba 3 (silhouette as an area emitter)."""

    def __init__(self, mesh, cam: Camera):
        import drjit as dr
        import mitsuba as mi

        mi.set_variant("llvm_ad_rgb")
        dr.set_thread_count(1)
        self.mi, self.dr = mi, dr
        self.tmp = tempfile.mkdtemp(prefix="mesh3d-")
        path = os.path.join(self.tmp, "m.ply")
        import trimesh

        trimesh.Trimesh(mesh.vertices, mesh.faces, process=False).export(path)
        eye = cam.eye
        target = eye + cam.R[2]
        up = -cam.R[1]
        self.scene = mi.load_dict({
            "type": "scene",
            "integrator": {"type": "direct_projective", "guiding": "none"},
            "sensor": {"type": "perspective", "fov": FOV, "fov_axis": "y",
                       "to_world": mi.ScalarTransform4f().look_at(origin=eye.tolist(), target=target.tolist(),
                                                                  up=up.tolist()),
                       "film": {"type": "hdrfilm", "width": cam.width, "height": cam.height,
                                "rfilter": {"type": "box"}, "pixel_format": "rgb", "sample_border": True},
                       "sampler": {"type": "independent", "sample_count": 1}},
            # A black mesh in front of a constant white environment: image = 1 − silhouette (an area
            # emitter on the mesh would light only the faces' front sides).
            "env": {"type": "constant", "radiance": {"type": "rgb", "value": 1.0}},
            "mesh": {"type": "ply", "filename": path, "face_normals": True,
                     "bsdf": {"type": "diffuse", "reflectance": {"type": "rgb", "value": 0.0}}},
        })
        self.params = mi.traverse(self.scene)
        self.v0 = self.dr.unravel(mi.Point3f, self.params["mesh.vertex_positions"])

    def run(self, weights: np.ndarray, seed: int):
        mi, dr = self.mi, self.dr
        t0 = time.process_time()
        shift = mi.Vector3f(0.0, 0.0, 0.0)
        dr.enable_grad(shift)
        self.params["mesh.vertex_positions"] = dr.ravel(self.v0 + shift)
        self.params.update()
        img = mi.render(self.scene, self.params, spp=1, seed=seed)
        loss = dr.sum(img * mi.TensorXf(np.ascontiguousarray(weights.transpose(1, 2, 0)).astype(np.float32)),
                      axis=None)
        dr.backward(loss)
        g = -np.array(dr.grad(shift)).ravel()  # of Σ W·(1 − silhouette): negate to compare
        dt = time.process_time() - t0
        return dt, 1.0 - np.array(img)[..., 0], g


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--sizes", default="64,128,256")
    ap.add_argument("--no-mitsuba", action="store_true")
    ap.add_argument("--modes", default="soft,culled,lit,nmr",
                    help="comma-separated subset of soft,culled,lit,nmr (rows of the others show '-')")
    ap.add_argument("--out", default=None, help="append the table to this markdown file")
    args = ap.parse_args()
    modes = set(args.modes.split(","))
    if not modes <= {"soft", "culled", "lit", "nmr"}:
        ap.error(f"unknown mode in --modes {args.modes!r}")
    torch.set_num_threads(1)
    load_before = os.getloadavg()
    try:
        if args.no_mitsuba:
            raise ImportError("disabled")
        import mitsuba  # noqa: F401

        have_mi = True
    except Exception as e:  # ImportError, or drjit failing to find LLVM
        have_mi = False
        print(f"Mitsuba 3 not available: {e}", file=sys.stderr)
    rows = []
    rng = np.random.default_rng(0)
    for name in ("teapot", "teapot-hi"):
        mesh = load_mesh(f"builtin:mesh/{name}")
        for size in (int(s) for s in args.sizes.split(",")):
            cam = camera(mesh, size)
            weights = rng.uniform(0.0, 1.0, (3, size, size))
            row = {"mesh": name, "faces": mesh.n_faces, "size": size}
            for key, mode, cull, lit in (("soft", "soft", False, False), ("culled", "soft", True, False),
                                         ("lit", "soft", False, True), ("nmr", "nmr", False, False)):
                if key not in modes:
                    continue
                ours(mesh, cam, mode, weights, cull=cull, lit=lit)  # warm-up
                ts = [ours(mesh, cam, mode, weights, cull=cull, lit=lit)[0] for _ in range(args.repeats)]
                row[key] = (min(ts) * 1e3, statistics.median(ts) * 1e3)
            if have_mi:
                _, alpha, g_ours = ours(mesh, cam, "soft", weights, translation=True)
                side = MitsubaSide(mesh, cam)
                side.run(weights, 0)  # JIT compile
                res = [side.run(weights, k + 1) for k in range(args.repeats)]
                ts = [r[0] for r in res]
                row["mitsuba"] = (min(ts) * 1e3, statistics.median(ts) * 1e3)
                g_mi = np.mean([r[2] for r in res], axis=0)
                sil = res[0][1] > 0.5
                ours_sil = alpha > 0.5
                row["iou"] = float((sil & ours_sil).sum() / max((sil | ours_sil).sum(), 1))
                row["cos"] = float(g_ours @ g_mi / (np.linalg.norm(g_ours) * np.linalg.norm(g_mi) + 1e-30))
            rows.append(row)
            print(row, flush=True)
    load_after = os.getloadavg()
    lines = [f"\n## Differentiable rasterizer, mesh3d ({datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC)\n",
             f"Command: `OMP_NUM_THREADS=1 python bench/mesh3d.py --repeats {args.repeats}"
             f"{' --sizes ' + args.sizes if args.sizes != '64,128,256' else ''}"
             f"{' --modes ' + args.modes if modes != {'soft', 'culled', 'lit', 'nmr'} else ''}"
             f"{' --no-mitsuba' if args.no_mitsuba else ''}{' --out ' + args.out if args.out else ''}`  ",
             f"Machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
             f"torch {torch.__version__}; one thread.  ",
             f"Load average before {' '.join(f'{x:.2f}' for x in load_before)}, after "
             f"{' '.join(f'{x:.2f}' for x in load_after)} (the machine is shared: min of {args.repeats} repeats "
             "is the least contended figure, the median beside it).  ",
             "Forward+backward CPU ms (process time, all threads) of `Σ W·rgb + Σ W'·alpha`; Mitsuba: `llvm_ad_rgb`, `direct_projective` "
             "(guiding none), 1 spp, black mesh on a white environment. cos: gradient cosine for a rigid "
             "translation (Mitsuba's averaged over the repeats' seeds); IoU: silhouettes of the two renders.\n",
             "soft: constant white colour, unlit (as Mitsuba's side); soft culled: the same with "
             "`cull_backfaces=True` (an option: it changes the soft image); soft lit: per-vertex colours "
             "(gradients to them too) and ambient + directional light.\n",
             "| mesh | faces | px | soft min / median | target | soft culled min / median | soft lit min / median | "
             "nmr min / median | Mitsuba min / median | soft / Mitsuba | cos | IoU |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    def cell(r, key):
        return f"{r[key][0]:.0f} / {r[key][1]:.0f}" if key in r else "-"

    for r in rows:
        mi_t = cell(r, "mitsuba")
        ratio = f"{r['soft'][0] / r['mitsuba'][0]:.2f}" if "mitsuba" in r and "soft" in r else "-"
        lines.append(f"| {r['mesh']} | {r['faces']} | {r['size']} | {cell(r, 'soft')} | "
                     f"≤ {TARGETS[(r['mesh'], r['size'])]} | {cell(r, 'culled')} | {cell(r, 'lit')} | "
                     f"{cell(r, 'nmr')} | {mi_t} | "
                     f"{ratio} | {r.get('cos', float('nan')):.3f} | {r.get('iou', float('nan')):.3f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        with open(args.out, "a") as fh:
            fh.write(text)


if __name__ == "__main__":
    main()
