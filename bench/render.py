"""Domain-randomization renderer benchmark: images per second end to end, and RSS over many images.

End to end means ``run_render`` into a fresh folder: scene sampling, GL rendering, visibility counts,
annotations, PNG encoding (level 1, "up" row filter: ``render.job.WRITER_OPTIONS``) of the image,
depth and instance planes, COCO RLE masks and the
final ``annotations.json``. Timed at 256² and at the paper's 1200×400 with 1 and 2 workers (wall clock,
including process start-up and the EGL context of each worker). The memory part renders ``--rss-n``
images in one process through :class:`SceneRenderer` + the COCO writer, shard by shard, and records the
RSS after each thousand. Blender Cycles runs side by side only when ``bpy`` is importable.

Usage:
    OMP_NUM_THREADS=1 python bench/render.py --n 200 --rss-n 10000 --out bench/RESULTS.md
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("LP_NUM_THREADS", "1")


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def cpu_seconds() -> float:
    """User + system CPU time of this process and its reaped children (the workers)."""
    a, b = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime


def throughput(scene: dict, n: int, workers: int, shard_size: int) -> tuple[float, float, float]:
    """(images per wall second, seconds, images per CPU second) of one end-to-end run into a temporary
    folder; the CPU figure hardly depends on what else runs on the machine."""
    from traingen.render.job import run_render
    from traingen.render.scene import scene_from_dict

    tmp = Path(tempfile.mkdtemp(prefix="render-bench-"))
    try:
        t0, c0 = time.perf_counter(), cpu_seconds()
        run_render(tmp / "out", n=n, scene=scene_from_dict(scene), seed=0, fmt="coco", workers=workers,
                   shard_size=shard_size)
        dt, dc = time.perf_counter() - t0, cpu_seconds() - c0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return n / dt, dt, n / dc


def rss_run(scene: dict, n: int, step: int = 1000) -> list[tuple[int, float]]:
    """RSS (MB) after every ``step`` images of one process rendering and writing ``n`` images."""
    from traingen.data import open_writer
    from traingen.data.shards import plan_shards
    from traingen.render.job import SceneRenderer
    from traingen.render.scene import scene_from_dict

    cfg = scene_from_dict(scene)
    tmp = Path(tempfile.mkdtemp(prefix="render-rss-"))
    points = []
    try:
        r = SceneRenderer(cfg, seed=0)
        w = open_writer("coco", tmp / "out", classes=cfg.classes, config={"bench": "rss"}, seed=0)
        r.sample(0)
        points.append((0, rss_mb()))
        for sh in plan_shards(n, 100):
            w.write_shard(sh, [r.sample(i) for i in sh.indices])
            if sh.stop % step == 0:
                points.append((sh.stop, rss_mb()))
                print(f"  rss after {sh.stop}: {points[-1][1]:.1f} MB", file=sys.stderr, flush=True)
                # Keep the disk small: finished shard parts are not needed for the memory measurement.
                shutil.rmtree(tmp / "out" / ".parts", ignore_errors=True)
        r.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return points


def blender_side_by_side(n: int, size: tuple[int, int], samples: list[int], figure: str | None = None,
                         threads: int = 1) -> list[tuple[str, float, float]]:
    """GL and Blender Cycles (``renderer.backend: blender`` at each of ``samples``) on the same ``n`` scenes
    (seed 0, indices 0..n-1), in this process: scene sampling + render + annotations, no writing. Returns
    ``(backend, images per wall second, CPU seconds per image)``; the first image of each renderer (start-up)
    is not timed. ``figure``: a PNG of the first 2 scenes, one row each (GL, then each sample count)."""
    import numpy as np

    from traingen.render.job import SceneRenderer
    from traingen.render.scene import scene_from_dict

    w, h = size
    rows, images, masks = [], [], None
    for label, renderer in [("gl", {})] + [(f"cycles {k} spp", {"backend": "blender", "samples": k,
                                                                    "threads": threads}) for k in samples]:
        r = SceneRenderer(scene_from_dict({"version": 1, "width": w, "height": h, "renderer": renderer}), seed=0)
        first = r.sample(0)
        t0, c0 = time.perf_counter(), cpu_seconds()
        out = [first] + [r.sample(i) for i in range(1, n)]
        dt, dc = time.perf_counter() - t0, cpu_seconds() - c0
        r.close()
        rows.append((label, (n - 1) / dt, dc / (n - 1)))
        images.append([s.image for s in out[:2]])
        print(f"  {label}: {rows[-1][1]:.3f} img/s, {rows[-1][2]:.3f} CPU s/img", file=sys.stderr, flush=True)
        if masks is None:
            masks = [s.instance_mask for s in out]
        else:  # every backend labels from the same GL id pass
            assert all(np.array_equal(a, s.instance_mask) for a, s in zip(masks, out, strict=True))
    if figure:
        import cv2

        from traingen.report.grid import make_grid

        # 192-px cells (area-averaged) keep the committed PNG under 300 KB: path-traced noise compresses poorly.
        small = [[cv2.resize(im, (192, 192 * h // w), interpolation=cv2.INTER_AREA) for im in col] for col in images]
        grid = make_grid([list(row) for row in zip(*small, strict=True)], pad=2)
        cv2.imwrite(figure, cv2.cvtColor(grid, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=200, help="images per throughput run")
    ap.add_argument("--rss-n", type=int, default=10_000, help="images of the memory run (0 skips it)")
    ap.add_argument("--sizes", nargs="*", default=["256x256", "1200x400"], help="none: memory run only")
    ap.add_argument("--workers", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--out", help="append a markdown section to this file")
    ap.add_argument("--blender-n", type=int, default=8, help="scenes of the GL vs Cycles run (needs bpy; 0 skips)")
    ap.add_argument("--blender-samples", nargs="+", type=int, default=[4, 16])
    ap.add_argument("--blender-figure", help="PNG of GL vs Cycles on the first 2 scenes")
    ap.add_argument("--blender-sizes", nargs="+", default=["256x256"], help="sizes of the GL vs Cycles run")
    args = ap.parse_args()

    load0 = os.getloadavg()
    rows = []
    for size in args.sizes:
        w, h = (int(x) for x in size.split("x"))
        scene = {"version": 1, "width": w, "height": h}
        for workers in args.workers:
            runs = [throughput(scene, args.n, workers, shard_size=max(8, args.n // (2 * workers)))
                    for _ in range(args.repeats)]
            best = max(r[0] for r in runs)
            per_cpu = max(r[2] for r in runs)
            rows.append((size, workers, best, [round(r[0], 1) for r in runs], per_cpu))
            print(f"{size} workers={workers}: best {best:.1f} img/s, {per_cpu:.1f} img/CPU-s, runs "
                  f"{[round(r[0], 1) for r in runs]}", file=sys.stderr, flush=True)
    rss = rss_run({"version": 1, "width": 256, "height": 256}, args.rss_n) if args.rss_n else []
    load1 = os.getloadavg()
    try:
        import bpy

        parts = []
        for i, size in enumerate(args.blender_sizes):
            w, h = (int(x) for x in size.split("x"))
            side = blender_side_by_side(args.blender_n, (w, h), args.blender_samples,
                                        args.blender_figure if i == 0 else None)
            parts.append(f"at {size}: " + "; ".join(f"{k} {ips:.3f} img/s, {cpu:.3f} CPU s/img" for k, ips, cpu in side))
        blender = (f"Blender {bpy.app.version_string} Cycles (CPU, 1 thread, no denoising) vs GL on the same "
                   f"{args.blender_n} scenes (sampling + render + labels, no writing; first image untimed) "
                   + " — ".join(parts) + ".")
    except ImportError:
        blender = "Blender Cycles: not run (`bpy` is not installed on this machine; the `[blender]` extra)."

    lines = [f"## Domain-randomization renderer ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})", "",
             f"Command: `OMP_NUM_THREADS=1 python bench/render.py {' '.join(sys.argv[1:])}`  ",
             f"Machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
             "Mesa llvmpipe through EGL; LP_NUM_THREADS=0 in spawned workers, 1 in a single in-process worker.  ",
             f"Load average before {' '.join(f'{x:.2f}' for x in load0)}, after {' '.join(f'{x:.2f}' for x in load1)} "
             "(the machine is shared: these are not quiet-machine numbers).  ",
             f"End to end: default scene (built-in classes, 1-14 objects, 0-20 distractors), COCO with depth and "
             f"instance planes, PNG level 1 with the 'up' row filter; {args.n} images per run, best of {args.repeats} runs "
             "(wall clock, including worker start-up).", "",
             "Images per CPU-second counts the CPU time of the main process and its workers (start-up "
             "included); on a quiet 2-core machine, 2 workers can reach about twice that per wall second.", "",
             "| size | workers | images/s wall (best) | images per CPU-second | CPU ms per image | runs |",
             "| --- | ---: | ---: | ---: | ---: | --- |"]
    lines += [f"| {s} | {wk} | {b:.1f} | {c:.1f} | {1000 / c:.1f} | {r} |" for s, wk, b, r, c in rows]
    lines.append("")
    if rss:
        growth = rss[-1][1] - rss[1][1] if len(rss) > 2 else rss[-1][1] - rss[0][1]
        lines.append(f"- RSS over {rss[-1][0]} images in one process (256², COCO writer): "
                     + ", ".join(f"{k}: {v:.0f} MB" for k, v in rss)
                     + f"; growth after the first thousand {growth:+.1f} MB (target < 50 MB: "
                     + ("met" if growth < 50 else "MISSED") + ")")
    target = [(b, c) for s, wk, b, _, c in rows if s == "256x256" and wk == 2]
    if target:
        b, c = target[0]
        lines.append(f"- 256² with 2 workers: {b:.1f} img/s wall at this load, {c:.1f} images per CPU-second, "
                     f"so about {2 * c:.0f} img/s with both cores free (target 50: "
                     + ("met" if b >= 50 else f"MISSED as measured; {'met' if 2 * c >= 50 else 'missed'} by the CPU-time estimate") + ")")
    lines.append(f"- {blender}")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        with open(args.out, "a") as f:
            f.write("\n" + text)


if __name__ == "__main__":
    main()
