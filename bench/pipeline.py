"""Pipeline throughput: samples/s of the augment, render (and mesh-style) steps, local and Ray, 1 and 2 workers.

Each configuration runs ``traingen.pipeline.run`` end to end (validate, make, write shards, finalize;
no previews or report) into a fresh folder; the rate is samples / wall seconds of the generate stage
(the shards), and the end-to-end time is printed beside it. Ray's start-up, its per-batch overhead
(an empty ``map_batches`` through 2 actors) and its shutdown are measured separately. The load
average is recorded with every row: on a shared machine the numbers move with it.

    OMP_NUM_THREADS=1 python bench/pipeline.py --out bench/RESULTS.md
    OMP_NUM_THREADS=1 python bench/pipeline.py --augment 400 --render 40 --size 128     # quicker
    OMP_NUM_THREADS=1 python bench/pipeline.py --steps mesh-style --mesh-style 32 --no-ray  # mesh-style rows
    OMP_NUM_THREADS=1 python bench/pipeline.py --overhead-only                           # Ray's costs only
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def recipe(step: str, n: int, size: int, shard: int) -> dict:
    if step == "augment":
        return {"version": 1, "source": "builtin:mnist5k@train", "steps": [{"step": "augment"}],
                "mix": {"augment": n}, "output": {"format": "webdataset", "shard_size": shard}, "report": False}
    if step == "mesh-style":  # 2 meshes x 1 variant, n // 2 views each; 5 style steps at 32 px
        return {"version": 1, "steps": [{"step": "mesh-style", "variants": 1, "views": max(1, n // 2), "size": size,
                                         "style": {"steps": 5, "size": 32, "views_per_step": 2}}],
                "mix": {"mesh-style": n}, "output": {"format": "webdataset", "shard_size": shard}, "report": False}
    return {"version": 1, "steps": [{"step": "render", "scene": {"version": 1, "width": size, "height": size}}],
            "mix": {"render": n}, "output": {"format": "webdataset", "shard_size": shard}, "report": False}


def one(step: str, n: int, size: int, shard: int, workers: int, engine: str, root: Path) -> dict:
    from traingen.pipeline.run import run

    out = root / f"{step}-{engine}-{workers}"
    shutil.rmtree(out, ignore_errors=True)
    load0 = os.getloadavg()[0]
    cpu0 = _cpu()
    t = time.perf_counter()
    res = run(recipe(step, n, size, shard), out, workers=workers, engine=engine, report=False)
    total = time.perf_counter() - t
    cpu = _cpu() - cpu0 if engine == "local" else float("nan")  # Ray's actors are not our children
    gen = res.seconds["generate"]
    return {"step": step, "engine": engine, "workers": workers, "n": n, "generate_s": gen, "total_s": total,
            "rate": n / gen, "cpu_rate": n / cpu, "load": load0,
            "manifest": (out / "data" / "manifest.json").read_bytes()}


def ray_costs(workers: int = 2, batches: int = 40) -> dict[str, float]:
    """Ray's fixed and per-batch costs, from the arrival times of empty batches in ONE pipeline.

    ``ray.init`` (local); the first batch's latency (pipeline planning + ``workers`` actors starting);
    the steady per-batch cost = (last arrival - first arrival) / (batches - 1) through the started
    actors (``batch_size=1``, ``preserve_order``); shutdown. Comparing two pipelines instead mixes two
    actor start-ups into the difference, which the load on a shared machine swamps.
    """
    from traingen.pipeline.ray_engine import init_ray

    t = time.perf_counter()
    ray = init_ray(None, num_cpus=workers)
    startup = time.perf_counter() - t
    import ray.data as rd

    class _Noop:
        def __call__(self, batch):
            return batch

    ctx = rd.DataContext.get_current()
    ctx.execution_options.preserve_order = True
    ds = rd.from_items([{"i": i} for i in range(batches)], override_num_blocks=batches)
    arrivals = []
    t0 = time.perf_counter()
    for _ in ds.map_batches(_Noop, batch_size=1, compute=rd.ActorPoolStrategy(size=workers), num_cpus=1).iter_rows():
        arrivals.append(time.perf_counter() - t0)
    t = time.perf_counter()
    ray.shutdown()
    return {"startup_s": startup, "first_batch_s": arrivals[0],
            "per_batch_s": (arrivals[-1] - arrivals[0]) / max(1, len(arrivals) - 1), "batches": len(arrivals),
            "shutdown_s": time.perf_counter() - t}


def _cpu() -> float:
    """CPU seconds of this process and its finished children (the local workers)."""
    import resource

    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--augment", type=int, default=2000)
    ap.add_argument("--render", type=int, default=100)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--mesh-style", type=int, default=0, help="samples of a mesh-style row (0: none)")
    ap.add_argument("--mesh-size", type=int, default=64, help="render size of the mesh-style samples")
    ap.add_argument("--steps", default="augment,render,mesh-style", help="which step rows to run")
    ap.add_argument("--overhead-only", action="store_true", help="only Ray's start-up and per-batch overhead")
    ap.add_argument("--shard", type=int, default=0, help="shard size (default n / 8)")
    ap.add_argument("--no-ray", action="store_true")
    ap.add_argument("--out", default=None, help="append the table to this markdown file")
    args = ap.parse_args()

    import numpy
    import torch

    from traingen import __version__

    root = Path(tempfile.mkdtemp(prefix="tg-bench-pipe-"))
    engines = ["local"] + ([] if args.no_ray else ["ray"])
    rows, overhead = [], None
    try:
        wanted = set(args.steps.split(","))
        plan = [(s, n) for s, n in (("augment", args.augment), ("render", args.render),
                                    ("mesh-style", args.mesh_style)) if s in wanted and n > 0]
        for step, n in ([] if args.overhead_only else plan):
            shard = args.shard or max(1, n // 8)
            for engine in engines:
                for workers in (1, 2):
                    r = one(step, n, args.mesh_size if step == "mesh-style" else args.size, shard, workers, engine,
                            root)
                    rows.append(r)
                    print(f"{step:8s} {engine:5s} w={workers} {r['rate']:8.1f} samples/s  {r['cpu_rate']:.1f}/CPU-s  generate {r['generate_s']:.1f} s "
                          f"end-to-end {r['total_s']:.1f} s  load {r['load']:.1f}", flush=True)
        if not args.no_ray:
            overhead = ray_costs(workers=2, batches=40)
            print("ray overhead", {k: round(v, 3) for k, v in overhead.items()}, flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    same = {}
    for step in sorted({r["step"] for r in rows}):
        ms = {r["manifest"] for r in rows if r["step"] == step}
        same[step] = len(ms) == 1
    lines = [
        f"\n## Pipeline throughput ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})\n",
        f"Command: `OMP_NUM_THREADS=1 python bench/pipeline.py {' '.join(sys.argv[1:])}`  ",
        f"Machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; traingen "
        f"{__version__}, torch {torch.__version__}, numpy {numpy.__version__}.  ",
        "Rate = samples / wall seconds of the generate stage (make + write shards; WebDataset output); "
        f"end-to-end adds validation and finalize (and Ray's start-up). augment: mnist5k 28² through "
        f"augment-light.yaml; render: {args.size}² domain-randomization scenes (moderngl/llvmpipe); mesh-style: "
        f"{args.mesh_size}² views of cup and vase, 1 variant each (5 style steps at 32 px, stylised once per "
        "worker process).  ",
        "Same manifest bytes for every engine and worker count: "
        f"{', '.join(f'{k} {v}' for k, v in same.items()) or '-'}.\n",
        "samples/CPU-s = samples / CPU seconds of the whole local run (validation, workers, finalize): the "
        "per-core rate with the contention of a shared machine taken out (not measurable for Ray actors).\n",
        "| step | engine | workers | samples | samples/s (wall) | samples/CPU-s | generate s | end-to-end s | "
        "load avg (1 min) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        cpu = "-" if r["cpu_rate"] != r["cpu_rate"] else f"{r['cpu_rate']:.1f}"
        lines.append(f"| {r['step']} | {r['engine']} | {r['workers']} | {r['n']} | {r['rate']:.1f} | {cpu} | "
                     f"{r['generate_s']:.1f} | {r['total_s']:.1f} | {r['load']:.1f} |")
    if overhead:
        lines.append(f"\nRay (local, 2 actors, one pipeline of {overhead['batches']} empty batches of 1 item): "
                     f"`ray.init` {overhead['startup_s']:.2f} s; first batch back (planning + 2 actors starting) "
                     f"{overhead['first_batch_s']:.2f} s; each further batch {1000 * overhead['per_batch_s']:.1f} ms; "
                     f"shutdown {overhead['shutdown_s']:.2f} s; load average {os.getloadavg()[0]:.1f}.")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        with open(args.out, "a") as f:
            f.write(text)


if __name__ == "__main__":
    main()
