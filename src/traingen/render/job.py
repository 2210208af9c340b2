"""The render job: randomized scenes -> GL renderer -> exact annotations -> a sharded dataset on disk.

Image ``index`` is a pure function of ``(scene config, seed, index)``: its scene is drawn from
``Rng(seed, "render", index)`` and the texture pools from ``(seed, "render-textures")``, so the bytes
never depend on the worker count or on which shards a previous run finished. Shards run on
:func:`traingen.core.parallel.run_local`; each worker builds one :class:`SceneRenderer` (meshes and
textures uploaded once) and renders its shards with ``LP_NUM_THREADS=0`` (no rasterizer thread). A
rerun skips finished shards (per-shard resume through the writer's records).

Example:
    >>> res = run_render("out/dr", n=64, seed=0, fmt="coco", workers=2)    # doctest: +SKIP
    >>> r = SceneRenderer(scene_from_dict({"version": 1}), seed=0)         # doctest: +SKIP
    >>> sample = r.sample(3)                                               # doctest: +SKIP

References:
    Tremblay et al., "Training Deep Networks with Synthetic Data: Bridging the Reality Gap by Domain
    Randomization", CVPRW 2018 (arXiv 1804.06516).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import ConfigError
from ..core.seeding import derive_seed, numpy_rng
from ..data.shard_job import ShardJob
from .scene import Catalogue, SceneConfig, load_scene, sample_scene, scene_from_dict

STEP = "render"
FORMATS = ("coco", "kitti", "webdataset", "imagefolder")
#: How the render writers encode: every PNG (RGB, instance, depth planes) with the "up" row filter
#: (10.4 -> 4.9 ms for the three planes of a 256² render, about as many bytes) and the shard resume
#: records as compact JSON (C encoder). Part of the job's config, so of the output's identity.
WRITER_OPTIONS: dict[str, Any] = {"png_filter": "up", "compact_records": True}


class SceneRenderer:
    """Scene sampling + GL rendering + annotation for one process (meshes and pools loaded once).

    Args:
        cfg: the scene config.
        seed: run seed (texture pools and every image's scene derive from it).
        preload: see :class:`~traingen.render.gl.GLRenderer`.
    """

    def __init__(self, cfg: SceneConfig, seed: int = 0, *, preload: bool = True):
        from .gl import GLRenderer
        from .textures import texture_pool

        self.cfg, self.seed = cfg, int(seed)
        self.catalogue = Catalogue.build(cfg)
        self.gl = GLRenderer(cfg.width, cfg.height, guard=cfg.annotate.guard, preload=preload)
        for key, mesh in self.catalogue.meshes.items():
            self.gl.add_mesh(key, mesh)
        tc, bc = cfg.textures, cfg.background
        pools = (texture_pool(numpy_rng(seed, "render-textures"), size=tc.size, count=tc.pool,
                              kinds=tc.procedural, folder=tc.folder, field="textures"),
                 texture_pool(numpy_rng(seed, "render-backgrounds"), size=bc.size, count=bc.pool,
                              kinds=bc.procedural, folder=bc.folder, field="background"))
        self.gl.set_textures(pools[0])
        self.gl.set_backgrounds(pools[1])
        self.cycles = None
        if cfg.renderer.backend == "blender":  # colour from Cycles, labels from GL (render/blender.py)
            from .blender_scene import cycles_for_scene

            self.cycles = cycles_for_scene(cfg, self.catalogue, *pools)

    def render_index(self, index: int):
        """``(draw, frame, annotation)`` of image ``index``."""
        from .annotate import annotate

        draw = sample_scene(self.cfg, self.catalogue, seed=self.seed, index=index)
        k = len(draw.objects)
        draws = [{"mesh": o.mesh, "model": o.model, "id": i + 1, "layer": o.layer, "uv": o.uv, "tint": o.tint}
                 for i, o in enumerate(draw.objects)]
        draws += [{"mesh": d.mesh, "model": d.model, "id": k + 1 + i, "layer": d.layer, "uv": d.uv, "tint": d.tint}
                  for i, d in enumerate(draw.distractors)]
        if draw.ground is not None:
            g = draw.ground
            draws.append({"mesh": "ground", "model": g.model, "id": 0, "layer": g.layer, "uv": g.uv, "tint": g.tint})
        frame = self.gl.render(draw.camera, draws, lights=draw.lights, ambient=draw.ambient,
                               background=draw.background)
        if self.cycles is not None:
            frame = self.cycles.replace_colour(frame, draw, draws, seed=derive_seed(self.seed, "render-cycles", index))
        # Only objects the camera sees can be annotated: count the others' pixels not at all.
        seen = np.bincount(frame.ids.reshape(-1), minlength=k + 1)[1:k + 1] > 0
        measured = iter(self.gl.visibility(draw.camera, [d for d, s in zip(draws[:k], seen, strict=True) if s]))
        counts = [next(measured) if s else (0, 0) for s in seen]
        return draw, frame, annotate(draw, frame, counts, self.catalogue, self.cfg.annotate)

    def sample(self, index: int):
        """The :class:`~traingen.core.sample.Sample` of image ``index`` (see :func:`annotate.to_sample`)."""
        from .annotate import to_sample

        draw, frame, ann = self.render_index(index)
        return to_sample(frame, ann, draw, key=f"{index:08d}", index=index, seed=self.seed,
                         scene_seed=derive_seed(self.seed, STEP, index), classes=self.catalogue.classes)

    def close(self) -> None:
        self.gl.release()
        if self.cycles is not None:
            self.cycles.release()


@dataclass
class RenderJob(ShardJob):
    """A picklable shard task (see :func:`traingen.core.parallel.run_local`)."""

    scene: dict[str, Any]
    out: str
    fmt: str
    seed: int
    shard_size: int
    total: int
    classes: list[str]
    _cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def config(self) -> dict[str, Any]:
        """Everything that decides the bytes (goes into the manifest)."""
        return {"step": STEP, "scene": self.scene, "shard_size": self.shard_size, "total": self.total,
                "format": self.fmt, "png_filter": WRITER_OPTIONS["png_filter"]}

    def _build(self, what: str) -> Any:
        if what == "renderer":
            import multiprocessing

            spawned = multiprocessing.parent_process() is not None
            # Before Mesa starts its threads. A spawned worker shares the cores with its siblings: llvmpipe
            # rasterizes in the worker's own thread (0 = no rasterizer thread, no hand-off per draw; session 6,
            # 2 workers, 300 images, interleaved: 38.0 / 39.9 vs 39.8 / 41.0 ms CPU per image with 1 thread).
            # In the main process one rasterizer thread overlaps the Python work on a second core.
            if spawned:
                os.environ["LP_NUM_THREADS"] = "0"
            else:
                os.environ.setdefault("LP_NUM_THREADS", "1")
            # A spawned worker only renders and writes: without torch (the webdataset writer imports it)
            # nothing can import triton after the context exists, so it skips the preload.
            worker = spawned and self.fmt != "webdataset"
            return SceneRenderer(scene_from_dict(self.scene), self.seed, preload=not worker)
        if what == "writer":
            from ..data import open_writer  # importing data registers the kitti writer

            return open_writer(self.fmt, self.out, classes=self.classes, config=self.config(), seed=self.seed,
                               prepare=False, **WRITER_OPTIONS)
        return super()._build(what)

    def sample(self, index: int) -> Any:
        return self._get("renderer").sample(index)


@dataclass
class RenderResult:
    out: Path
    manifest: Path
    total: int
    shards: int
    skipped: int
    seconds: float
    format: str


def run_render(out: str | Path, *, n: int, scene: str | Path | SceneConfig | None = None, seed: int = 0,
               fmt: str = "coco", workers: int = 1, shard_size: int = 64, overwrite: bool = False,
               progress=None) -> RenderResult:
    """Render ``n`` randomized images with exact labels into ``out``.

    Args:
        out: output folder.
        n: number of images.
        scene: a scene YAML path, a :class:`SceneConfig`, or None for the paper's defaults with the
            built-in classes.
        seed: run seed; the same seed gives the same bytes with any number of workers.
        fmt: ``coco`` (with ``depth/`` and ``instances/`` planes), ``kitti``, ``webdataset`` or ``imagefolder``.
        workers: processes.
        shard_size: images per shard (part of the config).
        overwrite: replace an ``out`` that holds a different run.
        progress: called with the number of images finished after each shard.

    Returns:
        RenderResult with the paths and counts.
    """
    from ..data.shard_job import run_shard_job

    if fmt not in FORMATS:
        raise ConfigError(f"unknown format {fmt!r}; choose one of {list(FORMATS)}", field="format")
    if n < 1:
        raise ConfigError(f"n must be >= 1, got {n}", field="n")
    t0 = time.perf_counter()
    cfg = scene if isinstance(scene, SceneConfig) else load_scene(scene)
    Catalogue.build(cfg)  # fail early on bad meshes, before any process starts
    if cfg.renderer.backend == "blender":
        from .blender import require_bpy

        require_bpy()
    job = RenderJob(scene=cfg.to_dict(), out=str(out), fmt=fmt, seed=seed, shard_size=shard_size, total=n,
                    classes=cfg.classes)
    try:
        res = run_shard_job(job, out=out, fmt=fmt, classes=cfg.classes, config=job.config(), seed=seed, total=n,
                            shard_size=shard_size, workers=workers, overwrite=overwrite, progress=progress, t0=t0,
                            writer_options=WRITER_OPTIONS)
    finally:
        if "renderer" in job._cache:
            job._cache.pop("renderer").close()
    return RenderResult(Path(out), res.manifest, n, res.shards, res.skipped, res.seconds, fmt)
