"""Recipes for ``traingen run``: one strict, typed YAML file from source to report.

A recipe names a source, a list of steps (each a key of :data:`traingen.pipeline.steps.STEPS` with
its own config), how many samples of each step go into the final set (``mix``), the output format,
what to evaluate, and the run's seed, workers and engine::

    version: 1
    source: builtin:mnist5k@train
    steps:
      - step: augment
        pipeline: augment-light.yaml
      - step: gan-sample
        checkpoint: cdcgan-mnist5k-fewlabel
        min_confidence: 0.9
    mix: {augment: 2000, gan-sample: 0.5}   # a count, or a ratio to the source's size
    output: {format: webdataset, shard_size: 250}
    evaluate: {metrics: [fid, kid], reference: builtin:mnist5k@test, n: 500}
    seed: 0
    workers: 1
    engine: local

The file is read with a line-tracking safe loader (:func:`load_recipe_text`): an unknown key or a
wrong type is a :class:`~traingen.core.errors.ConfigError` that names the file, the key and its line
(``recipe.yaml: field 'steps[0].pipline': unknown key 'pipline' ... (line 6)``). Every check that can
be made without running a step is made here, before anything is written (see
:func:`traingen.pipeline.run.prepare`).

Example:
    >>> r = load_recipe("recipes/run-augment-mnist5k.yaml")
    >>> r.steps[0].step, r.output.format
    ('augment', 'webdataset')

References:
    nanoGPT's ``GPTConfig`` and StudioGAN's ``_overwrite_cfgs`` (typed defaults, strict overrides).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from ..core.config import check_version, from_dict, to_dict
from ..core.errors import ConfigError

FORMATS = ("imagefolder", "coco", "webdataset", "parquet")
ENGINES = ("local", "ray")

#: The sample targets each output format can hold (checked against what the source and steps produce).
FORMAT_TARGETS: dict[str, frozenset[str]] = {
    "imagefolder": frozenset({"label", "boxes", "keypoints"}),
    # COCO keeps instance masks as RLE with a category per object: the class map follows from them
    "coco": frozenset({"label", "boxes", "instance_mask", "mask"}),
    "webdataset": frozenset({"label", "boxes", "keypoints", "mask", "instance_mask"}),
    "parquet": frozenset({"label", "boxes", "keypoints", "mask", "instance_mask"}),
}

METRICS = ("fid", "kid", "is", "pr", "cas", "classifier")


@dataclass
class OutputConfig:
    """Where and how the final set is written.

    Attributes:
        format: ``imagefolder``, ``coco``, ``webdataset`` or ``parquet``.
        shard_size: samples per shard (part of the output's identity: it decides the files).
    """

    format: Literal["imagefolder", "coco", "webdataset", "parquet"] = "webdataset"
    shard_size: int = 250

    def __post_init__(self) -> None:
        if self.shard_size < 1:
            raise ConfigError(f"must be >= 1, got {self.shard_size}", field="shard_size")


@dataclass
class EvaluateConfig:
    """What to measure on the final set (empty ``metrics``: nothing).

    Attributes:
        metrics: any of ``fid``, ``kid``, ``is``, ``pr`` (feature statistics against ``reference``),
            ``cas`` and ``classifier`` (the fixed small CNN trained on the result, tested on ``reference``).
        reference: held-out real data (a source address).
        real_train: real training data of the CAS comparison arm.
        extractor: feature network for FID/KID/PR (``random-multiscale`` works offline); IS and the
            classifier use ``classifier_features``.
        classifier_features: the extractor with class logits for IS.
        n: images per side for the feature metrics (clamped to what exists).
        epochs: epochs of the downstream classifier.
    """

    metrics: list[str] = field(default_factory=list)
    reference: str = "builtin:mnist5k@test"
    real_train: str = "builtin:mnist5k@train"
    extractor: str = "random-multiscale"
    classifier_features: str = "mnist5k-classifier"
    n: int = 500
    epochs: int = 5

    def __post_init__(self) -> None:
        for i, m in enumerate(self.metrics):
            if m not in METRICS:
                raise ConfigError(f"unknown metric {m!r}; known: {', '.join(METRICS)}", field=f"metrics[{i}]")


@dataclass
class StepSpec:
    """One entry of ``steps``: the registered step name, an optional input, and its own config."""

    step: str
    config: dict[str, Any]
    input: str = "source"
    line: int | None = None

    @property
    def key(self) -> str:
        """The name that keys this step's randomness and its ``mix`` entry."""
        return self.step


@dataclass
class Recipe:
    """A resolved recipe (see the module docstring). ``path`` and ``lines`` are where it came from."""

    source: str | None = None
    steps: list[StepSpec] = field(default_factory=list)
    mix: dict[str, int | float] = field(default_factory=dict)
    include_source: bool = False
    output: OutputConfig = field(default_factory=OutputConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)
    seed: int = 0
    workers: int = 1
    engine: Literal["local", "ray"] = "local"
    report: bool = True
    path: str | None = None
    lines: dict[str, int] = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """The recipe as YAML-able data (``version: 1`` first), every default written out."""
        return {
            "version": 1,
            "source": self.source,
            "steps": [{"step": s.step, **({"input": s.input} if s.input != "source" else {}), **s.config}
                      for s in self.steps],
            "mix": dict(self.mix),
            "include_source": self.include_source,
            "output": to_dict(self.output),
            "evaluate": to_dict(self.evaluate),
            "seed": self.seed,
            "workers": self.workers,
            "engine": self.engine,
            "report": self.report,
        }

    def line_of(self, field_path: str | None) -> int | None:
        """The YAML line of a dotted key path (``steps[0].pipeline``), or of its nearest parent."""
        return _line_of(self.lines, field_path)


_TOP_KEYS = ("version", "source", "steps", "mix", "include_source", "output", "evaluate", "seed", "workers",
             "engine", "report")


# -- the line-tracking loader ------------------------------------------------------------------------


def _walk(node: yaml.Node, path: str, lines: dict[str, int], where: str | None) -> Any:
    """Turn a composed YAML node into plain data, recording the 1-based line of every key path."""
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for knode, vnode in node.value:
            if not isinstance(knode, yaml.ScalarNode):
                raise ConfigError(f"keys must be plain names (line {knode.start_mark.line + 1})", where=where,
                                  field=path or None)
            key = _scalar(knode)
            sub = f"{path}.{key}" if path else str(key)
            if key in out:
                raise ConfigError(f"duplicate key '{key}' (line {knode.start_mark.line + 1})", where=where,
                                  field=sub)
            lines[sub] = knode.start_mark.line + 1
            out[key] = _walk(vnode, sub, lines, where)
        return out
    if isinstance(node, yaml.SequenceNode):
        items = []
        for i, item in enumerate(node.value):
            sub = f"{path}[{i}]"
            lines[sub] = item.start_mark.line + 1
            items.append(_walk(item, sub, lines, where))
        return items
    return _scalar(node)


def _scalar(node: yaml.Node) -> Any:
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    finally:
        loader.dispose()


def load_recipe_text(text: str, *, where: str | None = None) -> tuple[dict[str, Any], dict[str, int]]:
    """Parse YAML safely; return ``(data, lines)`` where ``lines`` maps key paths to line numbers."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as e:
        raise ConfigError(f"invalid YAML: {e}", where=where) from e
    if not isinstance(node, yaml.MappingNode):
        raise ConfigError("expected a mapping at the top level", where=where)
    lines: dict[str, int] = {}
    return _walk(node, "", lines, where), lines


def _line_of(lines: dict[str, int], field_path: str | None) -> int | None:
    path = field_path or ""
    while path:
        if path in lines:
            return lines[path]
        cut = max(path.rfind("."), path.rfind("["))
        path = path[:cut] if cut > 0 else ""
    return None


def with_line(err: ConfigError, lines: dict[str, int], *, where: str | None, prefix: str = "") -> ConfigError:
    """The same error, naming the file and the YAML line of its field."""
    field_path = prefix + (err.field or "") if err.field else prefix.rstrip(".") or None
    line = _line_of(lines, field_path)
    msg = err.message + (f" (line {line})" if line else "")
    return ConfigError(msg, where=where or err.where, field=field_path)


# -- building the typed recipe ---------------------------------------------------------------------


def recipe_from_dict(data: dict[str, Any], *, lines: dict[str, int] | None = None,
                     where: str | None = None) -> Recipe:
    """Check and type a recipe mapping (strict keys; steps are checked against the STEPS registry).

    Args:
        data: the parsed YAML.
        lines: key path -> line (from :func:`load_recipe_text`), for the error messages.
        where: the file name, for the error messages.

    Returns:
        :class:`Recipe` with every default filled in.
    """
    from .steps import STEPS, step_config

    lines = lines or {}

    def fail(msg: str, field_path: str | None) -> ConfigError:
        return with_line(ConfigError(msg, field=field_path), lines, where=where)

    if not isinstance(data, dict):
        raise ConfigError("expected a mapping at the top level", where=where)
    try:
        check_version(data, where=where)
    except ConfigError as e:
        raise with_line(e, lines, where=where) from None
    for k in data:
        if k not in _TOP_KEYS:
            raise fail(f"unknown key '{k}'; allowed: {', '.join(_TOP_KEYS)}", str(k))
    raw_steps = data.get("steps") or []
    if not isinstance(raw_steps, list) or not raw_steps:
        raise fail("expected a non-empty list of steps", "steps")
    specs: list[StepSpec] = []
    for i, raw in enumerate(raw_steps):
        p = f"steps[{i}]"
        if not isinstance(raw, dict) or "step" not in raw:
            raise fail("each step is a mapping with a 'step:' key naming a registered step", p)
        name = raw["step"]
        if name not in STEPS:
            raise fail(f"unknown step {name!r}; registered: {', '.join(STEPS.names())}", f"{p}.step")
        if any(s.step == name for s in specs):
            raise fail(f"step {name!r} appears twice; give one entry per step", f"{p}.step")
        inp = raw.get("input", "source")
        if not isinstance(inp, str):
            raise fail("expected 'source' or the name of an earlier step", f"{p}.input")
        later = [r.get("step") for r in raw_steps[i + 1:] if isinstance(r, dict)]
        if inp != "source" and inp not in [s.step for s in specs]:
            why = "which comes after it" if inp in later else "which is not in the recipe"
            raise fail(f"step {name!r} takes its input from {inp!r}, {why}; a step can only read the "
                       "source or an earlier step", f"{p}.input")
        cfg = {k: v for k, v in raw.items() if k not in ("step", "input")}
        try:
            step_config(name, cfg)
        except ConfigError as e:
            raise with_line(e, lines, where=where, prefix=f"{p}.") from None
        specs.append(StepSpec(name, cfg, inp, lines.get(p)))
    source = data.get("source")
    if source is not None and not isinstance(source, str):
        raise fail(f"expected a source address (builtin:NAME, a folder, a COCO json, shards), got {source!r}",
                   "source")
    for s in specs:
        if s.input == "source" and STEPS.get(s.step).reads_input(step_config(s.step, s.config)) and source is None:
            raise fail(f"step {s.step!r} reads the source, but the recipe has no 'source:'", "source")
    mix = data.get("mix") or {}
    if not isinstance(mix, dict):
        raise fail("expected a mapping of step name -> count (int) or ratio to the source (float)", "mix")
    for k, v in mix.items():
        if k not in [s.step for s in specs]:
            raise fail(f"'{k}' is not a step of this recipe; steps: {', '.join(s.step for s in specs)}",
                       f"mix.{k}")
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
            raise fail(f"expected a count (int >= 0) or a ratio (float >= 0), got {v!r}", f"mix.{k}")
        if isinstance(v, float) and source is None:
            raise fail("a ratio needs a source to be a ratio of", f"mix.{k}")
    rest = {k: data[k] for k in ("include_source", "output", "evaluate", "seed", "workers", "engine", "report")
            if k in data}
    try:
        typed = from_dict(_Rest, rest, where=where)
    except ConfigError as e:
        raise with_line(e, lines, where=where) from None
    if typed.workers < 1:
        raise fail(f"must be >= 1, got {typed.workers}", "workers")
    if typed.include_source and source is None:
        raise fail("include_source needs a source", "include_source")
    return Recipe(source=source, steps=specs, mix=dict(mix), include_source=typed.include_source,
                  output=typed.output, evaluate=typed.evaluate, seed=typed.seed, workers=typed.workers,
                  engine=typed.engine, report=typed.report, path=where, lines=lines)


@dataclass
class _Rest:
    include_source: bool = False
    output: OutputConfig = field(default_factory=OutputConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)
    seed: int = 0
    workers: int = 1
    engine: Literal["local", "ray"] = "local"
    report: bool = True


def load_recipe(recipe: str | os.PathLike | dict[str, Any] | Recipe) -> Recipe:
    """A :class:`Recipe` from a path, a shipped recipe's file name, a mapping or a Recipe (returned as is).

    Raises:
        ConfigError: unreadable file, invalid YAML, unknown key or step, wrong type (with the line).
    """
    if isinstance(recipe, Recipe):
        return recipe
    if isinstance(recipe, dict):
        return recipe_from_dict(recipe, where="<recipe>")
    path = Path(recipe)
    if not path.is_file() and not path.parent.parts:
        from ..recipes import recipe_path

        path = recipe_path(str(recipe))
    try:
        text = path.read_text()
    except OSError as e:
        raise ConfigError(f"cannot read: {e.strerror or e}", where=str(path)) from e
    data, lines = load_recipe_text(text, where=str(path))
    return recipe_from_dict(data, lines=lines, where=str(path))


def override(recipe: Recipe, **changes: Any) -> Recipe:
    """A copy with command-line overrides applied (``None`` values are ignored)."""
    changes = {k: v for k, v in changes.items() if v is not None}
    if "workers" in changes and changes["workers"] < 1:
        raise ConfigError(f"must be >= 1, got {changes['workers']}", field="workers")
    if "engine" in changes and changes["engine"] not in ENGINES:
        raise ConfigError(f"expected one of {list(ENGINES)}, got {changes['engine']!r}", field="engine")
    return dataclasses.replace(recipe, **changes)
