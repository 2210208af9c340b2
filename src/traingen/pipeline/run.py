"""``traingen run``: a recipe from source to a sharded dataset, metrics and a report.

The job, in order:

1. **Validate everything before any work** (:func:`prepare`): the recipe (strict keys, lines), the
   source, every step's config and model files, each step's sample count, whether the output format
   can hold the targets the source and steps produce, and whether ``RUN`` holds another job. A bad
   recipe raises a :class:`~traingen.core.errors.ConfigError` and leaves nothing in ``RUN``.
2. Write ``RUN/recipe.yaml``: the recipe resolved (every default, each step's count and resolved
   config) with the versions of traingen, torch, numpy and Python and the sha256 of every model file.
3. Cut the final set's global indices into shards and run the unfinished ones on the engine
   (:func:`traingen.core.parallel.run_local` processes, or Ray Data actors with ``engine: ray``). The
   final set is the concatenation, in recipe order, of the source (``include_source``) and each
   step's samples; sample ``i`` of step ``s`` comes from the stream ``(seed, s, i)``. Each shard is
   written atomically with its success record (``RUN/data/.traingen/shards``); a rerun skips them.
4. Finalize ``RUN/data/manifest.json`` (identical for any worker count and engine), evaluate,
   write ``RUN/metrics.json``, ``RUN/run.json`` (times, workers, engine, host) and ``RUN/report.html``.

Example:
    >>> import traingen as tg
    >>> r = tg.run("recipes/run-augment-mnist5k.yaml", out="runs/aug", workers=2)
    >>> r.manifest["total"], r.paths["report"]
"""

from __future__ import annotations

import os
import platform
import shutil
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.errors import ConfigError, OutputError, TraingenError
from ..core.seeding import derive_seed
from .recipe import FORMAT_TARGETS, Recipe, load_recipe, override

DATA_DIR = "data"
PREVIEW_DIR = "preview"


# -- the picklable job -----------------------------------------------------------------------------


class _StepInput:
    """An earlier step's output seen as a Source (``len``, ``[i]``, ``classes``): input of a chained step."""

    def __init__(self, step: Any, count: int):
        self.step, self.count, self.classes = step, count, step.classes
        self.name = f"step:{step.name}"

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, i: int):
        return self.step.make(int(i), int(i) + 1)[0]


@dataclass
class Segment:
    """Global indices ``[start, stop)`` of the final set hold ``what``'s samples ``0 .. stop - start - 1``."""

    what: str  # "source" or a step name
    start: int
    stop: int


@dataclass
class RunJob:
    """Everything a worker needs to make and write any shard; builds its source and steps lazily.

    Pickled to local worker processes and to Ray actors; ``_built`` is dropped on pickling, so each
    worker opens the source and loads each model once.
    """

    recipe: dict[str, Any]
    data_dir: str
    classes: list[str]
    segments: list[Segment]
    counts: dict[str, int]
    identity: dict[str, Any]
    _built: dict[str, Any] = field(default_factory=dict, repr=False)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_built"] = {}
        return state

    @property
    def total(self) -> int:
        return self.segments[-1].stop if self.segments else 0

    @property
    def shard_size(self) -> int:
        return int(self.recipe["output"]["shard_size"])

    def build(self) -> dict[str, Any]:
        """Open the source and build every step (once per process)."""
        if self._built.get("_ready"):
            return self._built
        from ..data import open_source
        from .recipe import recipe_from_dict
        from .steps import STEPS, step_config

        rec = recipe_from_dict(self.recipe, where="RUN/recipe.yaml")
        built: dict[str, Any] = {"source": open_source(rec.source) if rec.source else None}
        for spec in rec.steps:
            inp = built["source"] if spec.input == "source" else _StepInput(built[spec.input], self.counts[spec.input])
            cls, cfg = STEPS.get(spec.step), step_config(spec.step, spec.config)
            built[spec.step] = cls(cfg, input=inp if cls.reads_input(cfg) else None,
                                   seed=derive_seed(rec.seed, spec.key))
        self._built.update(built, _ready=True)
        return self._built

    def writer(self):
        if "writer" not in self._built:
            from ..data import open_writer

            fmt = self.recipe["output"]["format"]
            self._built["writer"] = open_writer(fmt, self.data_dir, classes=self.classes, config=self.identity,
                                                seed=int(self.recipe["seed"]), shard_size=self.shard_size,
                                                prepare=False)
        return self._built["writer"]

    def samples(self, start: int, stop: int) -> list:
        """The final set's samples ``start .. stop - 1`` (pure function of the job)."""
        built = self.build()
        out = []
        for seg in self.segments:
            lo, hi = max(start, seg.start), min(stop, seg.stop)
            if lo >= hi:
                continue
            if seg.what == "source":
                src = built["source"]
                for i in range(lo - seg.start, hi - seg.start):
                    s = src[i]
                    s.meta = {**(s.meta or {}), "source": src.name, "technique": "source"}
                    out.append(s)
            else:
                out.extend(built[seg.what].make(lo - seg.start, hi - seg.start))
        return out

    def __call__(self, shard_id: int) -> dict[str, Any]:
        start = shard_id * self.shard_size
        stop = min(self.total, start + self.shard_size)
        return self.writer().write_shard(shard_id, self.samples(start, stop), start=start)


# -- results ---------------------------------------------------------------------------------------


@dataclass
class Run:
    """What :func:`run` did: the manifest, the metrics, the counts and where everything is.

    Attributes:
        out: the run folder.
        recipe: the resolved recipe as saved in ``RUN/recipe.yaml``.
        manifest: ``RUN/data/manifest.json`` as a dict.
        metrics: ``RUN/metrics.json`` as a dict (empty without ``evaluate``).
        counts: samples per part of the final set (``source`` and each step).
        shards, shards_run, shards_skipped: shard counts of this call.
        seconds: time per stage.
        paths: ``recipe``, ``data``, ``manifest``, ``metrics``, ``run``, ``report``.
    """

    out: Path
    recipe: dict[str, Any]
    manifest: dict[str, Any]
    metrics: dict[str, Any]
    counts: dict[str, int]
    shards: int
    shards_run: int
    shards_skipped: int
    seconds: dict[str, float]
    paths: dict[str, Path]


@dataclass
class Prepared:
    """A validated job before any work: the recipe, the job and the resolved recipe document."""

    recipe: Recipe
    job: RunJob
    resolved: dict[str, Any]
    out: Path
    text: str


def versions() -> dict[str, str]:
    """Versions that can change the bytes (saved in ``RUN/recipe.yaml``)."""
    import numpy

    from .. import __version__

    out = {"traingen": __version__, "numpy": numpy.__version__, "python": platform.python_version()}
    try:
        import torch

        out["torch"] = str(torch.__version__)
    except ImportError:  # pragma: no cover - torch is a dependency
        out["torch"] = "absent"
    return out


def _targets_of(sample) -> set[str]:
    have = {"label"} if sample.label is not None else set()
    for t in ("boxes", "keypoints", "mask", "instance_mask"):
        if getattr(sample, t, None) is not None:
            have.add(t)
    return have


def prepare(recipe: Any, out: str | os.PathLike, *, workers: int | None = None, engine: str | None = None,
            seed: int | None = None) -> Prepared:
    """Check everything that can be checked before work starts; create nothing.

    Raises:
        ConfigError: bad recipe, step config or counts; a format that cannot hold the targets.
        DataError / CheckpointError: unreadable source or model file.
        OutputError: ``out`` holds something else.
    """
    from ..core.errors import DataError
    from ..data import open_source
    from ..data import parquet as _parquet  # noqa: F401  (registers the parquet writer)
    from .steps import STEPS, step_config

    rec = override(load_recipe(recipe), workers=workers, engine=engine, seed=seed)
    where = rec.path or "<recipe>"
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputError("exists and is not a folder", where=str(out))
    if out.is_dir() and any(out.iterdir()) and not (out / "recipe.yaml").is_file():
        raise OutputError("folder is not empty and holds no traingen run; choose an empty or new folder",
                          where=str(out))
    src = open_source(rec.source) if rec.source else None
    if src is not None and len(src) == 0:
        raise DataError("the source is empty", where=rec.source, field="source")
    built: dict[str, Any] = {"source": src}
    counts: dict[str, int] = {}
    targets: dict[str, set[str]] = {}
    if src is not None:
        targets["source"] = _targets_of(src[0])
    for i, spec in enumerate(rec.steps):
        cls = STEPS.get(spec.step)
        try:
            cfg = step_config(spec.step, spec.config, where=where)
            if spec.input != "source" and counts[spec.input] < 1:
                raise ConfigError(f"step {spec.step!r} reads {spec.input!r}, which makes no samples",
                                  field=f"mix.{spec.input}")
            inp = src if spec.input == "source" else _StepInput(built[spec.input], counts[spec.input])
            reads = cls.reads_input(cfg)
            step = cls(cfg, input=inp if reads else None, seed=derive_seed(rec.seed, spec.key))
            mix = rec.mix.get(spec.step)
            if mix is None:
                n = step.default_count()
            elif isinstance(mix, float):
                n = round(mix * len(src))
            else:
                n = int(mix)
        except ConfigError as e:
            from .recipe import with_line

            fld = e.field if (e.field or "").startswith("mix.") else f"steps[{i}].{e.field}" if e.field else None
            raise with_line(ConfigError(e.message, field=fld), rec.lines, where=where) from None
        built[spec.step] = step
        counts[spec.step] = n
        targets[spec.step] = (targets.get(spec.input, set()) if reads else set()) | set(cls.produces)
    fmt = rec.output.format
    for what, have in targets.items():
        if what == "source" and not rec.include_source and not any(s.input == "source" and built[s.step].input is not None
                                                                   for s in rec.steps):
            continue
        missing = sorted(have - FORMAT_TARGETS[fmt])
        if missing:
            from .recipe import with_line

            ok = [f for f, t in FORMAT_TARGETS.items() if set(have) <= t]
            raise with_line(ConfigError(
                f"format {fmt!r} cannot hold the {', '.join(missing)} that {what!r} produces; formats that can: "
                f"{', '.join(ok) or '(none)'}", field="output.format"), rec.lines, where=where)
    classes = list(src.classes) if src is not None else list(built[rec.steps[0].step].classes)
    for spec in rec.steps:
        sc = built[spec.step].classes
        if sc and classes and sc != classes:
            raise ConfigError(f"step {spec.step!r} labels classes {sc}, the run's classes are {classes}",
                              where=where, field="steps")
    segments, start = [], 0
    parts = ([("source", len(src))] if rec.include_source else []) + [(s.step, counts[s.step]) for s in rec.steps]
    for what, n in parts:
        segments.append(Segment(what, start, start + n))
        start += n
    if start == 0:
        raise ConfigError("the recipe makes no samples (every count in 'mix' is 0)", where=where, field="mix")
    checkpoints = {k: v for spec in rec.steps for k, v in built[spec.step].checkpoints().items()}
    doc = rec.to_dict()
    identity = {"source": rec.source, "steps": doc["steps"], "counts": counts, "include_source": rec.include_source,
                "shard_size": rec.output.shard_size, "total": start, "checkpoints": checkpoints}
    resolved = {**doc, "resolved": {"counts": {**({"source": len(src)} if rec.include_source else {}), **counts},
                                    "total": start, "classes": classes,
                                    "steps": {s.step: built[s.step].resolved() for s in rec.steps},
                                    "checkpoints": checkpoints, "versions": versions()}}
    job = RunJob(recipe=doc, data_dir=str(out / DATA_DIR), classes=classes, segments=segments,
                 counts={**({"source": len(src)} if rec.include_source else {}), **counts}, identity=identity)
    job._built.update(built)
    from ..core.config import dump_yaml

    return Prepared(rec, job, resolved, out, dump_yaml(resolved))


def run(recipe: Any, out: str | os.PathLike, *, workers: int | None = None, engine: str | None = None,
        seed: int | None = None, ray_address: str | None = None, overwrite: bool = False,
        report: bool | None = None, progress=None) -> Run:
    """Run a recipe into the folder ``out`` (see the module docstring).

    Args:
        recipe: a path, a shipped recipe's name, a mapping or a :class:`Recipe`.
        out: the run folder (new, empty, or an earlier run of the same job, which resumes).
        workers, engine, seed: override the recipe (the output bytes do not depend on workers or engine).
        ray_address: an existing Ray cluster (``engine: ray``); default a local one.
        overwrite: start over in an ``out`` holding a different job.
        report: write ``RUN/report.html`` (default: the recipe's ``report``).
        progress: called with the number of samples of each finished shard.

    Returns:
        :class:`Run`.
    """
    import json

    from ..data.cache import atomic_write_bytes, atomic_write_json
    from ..data.shards import open_writer, plan_shards

    times: dict[str, float] = {}
    t0 = time.perf_counter()
    out = Path(out)
    if overwrite and (out / "recipe.yaml").is_file():
        shutil.rmtree(out)
    prep = prepare(recipe, out, workers=workers, engine=engine, seed=seed)
    rec, job = prep.recipe, prep.job
    times["validate"] = time.perf_counter() - t0
    fresh = not out.exists() or not any(out.iterdir())
    try:
        writer = open_writer(rec.output.format, job.data_dir, classes=job.classes, config=job.identity,
                             seed=rec.seed, shard_size=rec.output.shard_size)
    except OutputError as e:
        raise OutputError(e.message + " (a different recipe ran in this RUN folder; pass --overwrite)",
                          where=str(out)) from None
    job._built["writer"] = writer
    try:
        atomic_write_bytes(out / "recipe.yaml", prep.text.encode())
        shards = plan_shards(job.total, rec.output.shard_size)
        t = time.perf_counter()
        if rec.engine == "ray":
            from .ray_engine import run_ray

            res = run_ray(job, [s.id for s in shards], workers=rec.workers, is_done=writer.is_done,
                          address=ray_address, on_shard=progress)
        else:
            from ..core.parallel import run_local

            res = run_local(job, [s.id for s in shards], workers=rec.workers, is_done=writer.is_done,
                            on_shard=(lambda _sid, r: progress(int(r["count"]))) if progress else None)
        times["generate"] = time.perf_counter() - t
        manifest_path = writer.finalize({"engine": rec.engine, "workers": rec.workers}, shards=shards)
    except TraingenError:
        if fresh:  # bad input fails the same way again: leave nothing (a killed run keeps its shards)
            shutil.rmtree(out, ignore_errors=True)
        raise
    manifest = json.loads(Path(manifest_path).read_text())
    t = time.perf_counter()
    from .previews import write_previews

    write_previews(job, out / PREVIEW_DIR)
    times["previews"] = time.perf_counter() - t
    metrics: dict[str, Any] = {}
    if rec.evaluate.metrics:
        from .evaluate import evaluate_run

        t = time.perf_counter()
        metrics = evaluate_run(rec, job, out)
        times["evaluate"] = time.perf_counter() - t
    atomic_write_json(out / "metrics.json", metrics)
    run_info = {"engine": rec.engine, "workers": rec.workers, "ray_address": ray_address,
                "host": socket.gethostname(), "platform": platform.platform(), "argv": sys.argv,
                "loadavg": list(os.getloadavg()), "shards": len(shards), "shards_run": len(res.records),
                "shards_skipped": len(res.skipped), "seconds": {k: round(v, 3) for k, v in times.items()}}
    atomic_write_json(out / "run.json", run_info)
    paths = {"recipe": out / "recipe.yaml", "data": Path(job.data_dir), "manifest": Path(manifest_path),
             "metrics": out / "metrics.json", "run": out / "run.json", "report": out / "report.html"}
    if rec.report if report is None else report:
        from ..report.run_report import write_report

        t = time.perf_counter()
        write_report(out)
        times["report"] = time.perf_counter() - t
        run_info["seconds"] = {k: round(v, 3) for k, v in times.items()}
        atomic_write_json(out / "run.json", run_info)
    return Run(out, prep.resolved, manifest, metrics, dict(job.counts), len(shards), len(res.records),
               len(res.skipped), times, paths)
