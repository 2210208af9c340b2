"""Pipeline steps: the registry ``traingen run`` recipes name (``augment``, ``gan-sample``, ...).

A step is a small adapter between a technique and the job. It has a typed config dataclass
(``Config``, strict keys), says whether it reads an input (the recipe's source or an earlier step),
which sample targets it produces, and makes the samples of an index range::

    step = STEPS.get("augment")(config, input=source, seed=derive_seed(run_seed, "augment"))
    step.make(0, 250)          # samples 0..249, each from its own (seed, step, index) stream

Sample ``i`` of a step depends only on the run seed, the step's name and ``i`` -- never on the shard
it falls in or on the worker that makes it -- so any executor gives the same bytes. Heavy state
(models, the source) is opened once per step object, which the local executor builds once per
worker process and the Ray engine once per actor.

Adding a step: subclass :class:`Step`, give it ``Config``, ``needs_input``, ``produces`` and
``make``, and decorate it with ``@STEPS.register("name")``.

Example:
    >>> cls = STEPS.get("gan-sample")
    >>> step = cls(step_config("gan-sample", {"checkpoint": "cdcgan-mnist5k-fewlabel"}), input=None, seed=0)
    >>> [s.label for s in step.make(0, 3)]
    [0, 1, 2]

References:
    Kubric (Greff et al., CVPR 2022): every asset and random draw of a scene from a seeded stream,
    so a worker regenerates any item alone; Ray Data stateful actors (models loaded once per worker).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..core.config import from_dict, to_dict
from ..core.errors import ConfigError, DataError
from ..core.registry import Registry
from ..core.sample import Sample
from ..core.seeding import derive_seed

STEPS = Registry("pipeline-steps", "Steps of a traingen run recipe: augment, gan-sample, ...")


def step_config(name: str, data: dict[str, Any], *, where: str | None = None) -> Any:
    """The typed config of step ``name`` from a mapping (strict keys; ConfigError names the key)."""
    return from_dict(STEPS.get(name).Config, data, where=where)


class Step:
    """Base class of a pipeline step (see the module docstring).

    Args:
        config: the step's ``Config`` instance.
        input: the source (or the earlier step's output, as a Source) for steps that read one.
        seed: the step's seed (the run seed combined with the step's name by the job).
    """

    Config: ClassVar[type]
    needs_input: ClassVar[bool] = True
    #: Targets the step adds to what its input has (the job checks them against the output format).
    produces: ClassVar[frozenset[str]] = frozenset({"label"})
    name: ClassVar[str] = ""
    #: The report shows input ``i % len(input)`` above output ``i`` (false for selections).
    show_pairs: ClassVar[bool] = True

    def __init__(self, config: Any, *, input: Any = None, seed: int = 0):
        if self.reads_input(config) and input is None:
            raise ConfigError(f"step {self.name!r} needs an input (the source or an earlier step)", field="input")
        self.config = config
        self.input = input
        self.seed = int(seed)

    @classmethod
    def reads_input(cls, config: Any) -> bool:
        """Whether a step with ``config`` reads an input (``needs_input`` unless a mode decides it)."""
        return cls.needs_input

    @property
    def classes(self) -> list[str]:
        """Class names of the step's labels."""
        return list(getattr(self.input, "classes", []) or [])

    def default_count(self) -> int:
        """How many samples the step makes when ``mix`` does not say (one per input item)."""
        if self.input is None:
            raise ConfigError(f"step {self.name!r} has no input: give its count in 'mix'", field=f"mix.{self.name}")
        return len(self.input)

    def sample_seed(self, index: int) -> int:
        return derive_seed(self.seed, index)

    def make(self, start: int, stop: int) -> list[Sample]:
        """Samples ``start .. stop - 1`` of this step."""
        raise NotImplementedError

    def checkpoints(self) -> dict[str, str]:
        """Model files the step uses, name -> sha256 (saved in ``RUN/recipe.yaml``)."""
        return {}

    def resolved(self) -> dict[str, Any]:
        """The config with every default written out."""
        return to_dict(self.config)


def input_index(index: int, n_input: int) -> int:
    """The input item of output ``index``: items in turn, so every item gets the same number of copies."""
    return index % n_input


# -- augment ---------------------------------------------------------------------------------------


@dataclass
class AugmentStepConfig:
    """``augment``: a per-sample transform pipeline over the input.

    Attributes:
        pipeline: a shipped pipeline's file name (``augment-light.yaml``), a path, or the pipeline
            document inline (``{version: 1, pipeline: {transforms: [...]}}``).
    """

    pipeline: str | dict[str, Any] = "augment-light.yaml"


def load_pipeline_doc(pipeline: str | dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """The pipeline document and the file it came from (None when inline)."""
    from pathlib import Path

    from ..core.config import load_yaml

    if isinstance(pipeline, dict):
        return pipeline, None
    path = Path(pipeline)
    if not path.is_file() and not path.parent.parts:
        from ..recipes import recipe_path

        path = recipe_path(pipeline)
    return load_yaml(path), str(path)


@STEPS.register("augment")
class AugmentStep(Step):
    """Output ``i`` is input item ``i % len(input)`` through the pipeline with seed ``(seed, i)``."""

    Config = AugmentStepConfig
    name = "augment"
    produces = frozenset()

    def __init__(self, config: AugmentStepConfig, *, input: Any = None, seed: int = 0):
        super().__init__(config, input=input, seed=seed)
        from .. import augment

        self.doc, self.doc_path = load_pipeline_doc(config.pipeline)
        self.pipe = augment.from_dict(self.doc, where=self.doc_path or "steps.augment.pipeline")

    def make(self, start: int, stop: int) -> list[Sample]:
        out = []
        n = len(self.input)
        for i in range(start, stop):
            j = input_index(i, n)
            original = self.input[j]
            s = self.sample_seed(i)
            res = self.pipe(original, seed=s)
            res.meta = {**(original.meta or {}), "key": original.meta.get("key", str(j)) if original.meta else str(j),
                        "seed": s, "technique": "augment", "params": {"input_index": j}}
            out.append(res)
        return out

    def resolved(self) -> dict[str, Any]:
        return {"pipeline": self.doc, "pipeline_file": self.doc_path}


# -- gan-sample ------------------------------------------------------------------------------------


@dataclass
class GanSampleStepConfig:
    """``gan-sample``: labelled images from a class-conditional GAN, optionally filtered.

    Attributes:
        checkpoint: a generator shipped in the package (``cdcgan-mnist5k-fewlabel``) or a
            ``traingen train gan`` run folder (its latest checkpoint, EMA weights).
        classes: class indices to draw (default all); sample ``i`` has class ``classes[i % K]``.
        truncation: resample latent values with ``|z| > truncation`` (null: none).
        filter_classifier: a feature extractor with class logits (``mnist5k-classifier``) that must
            give the drawn class at least ``min_confidence``; null: no filter.
        min_confidence: see ``filter_classifier``.
        max_tries: candidates per sample before the step fails with a DataError.
        batch_size: images per forward pass.
    """

    checkpoint: str = "cdcgan-mnist5k-fewlabel"
    classes: list[int] | None = None
    truncation: float | None = None
    filter_classifier: str | None = None
    min_confidence: float = 0.5
    max_tries: int = 20
    batch_size: int = 256

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_confidence <= 1.0:
            raise ConfigError(f"must lie in [0, 1], got {self.min_confidence}", field="min_confidence")
        if self.truncation is not None and not self.truncation > 0:
            raise ConfigError(f"must be > 0, got {self.truncation}", field="truncation")
        if self.max_tries < 1 or self.batch_size < 1:
            raise ConfigError("max_tries and batch_size must be >= 1", field="max_tries")


@STEPS.register("gan-sample")
class GanSampleStep(Step):
    """Sample ``i``: class ``classes[i % K]``; candidate ``t`` has latent seed ``(seed, i, t)``; the first
    candidate the filter accepts is kept (candidate 0 without a filter)."""

    Config = GanSampleStepConfig
    name = "gan-sample"
    needs_input = False
    produces = frozenset({"label"})

    def __init__(self, config: GanSampleStepConfig, *, input: Any = None, seed: int = 0):
        super().__init__(config, input=input, seed=seed)
        from .weights import load_any_generator

        self.gen = load_any_generator(config.checkpoint)
        k = self.gen.model.config.num_classes
        if k < 1:
            raise ConfigError("gan-sample needs a class-conditional generator", field="checkpoint")
        self.labels = list(range(k)) if config.classes is None else list(config.classes)
        bad = [c for c in self.labels if not 0 <= c < k]
        if bad or not self.labels:
            raise ConfigError(f"classes must lie in [0, {k}), got {config.classes}", field="classes")
        self.classifier = None
        if config.filter_classifier:
            from ..gan.sample import classifier_from_name

            self.classifier = classifier_from_name(config.filter_classifier)

    @property
    def classes(self) -> list[str]:
        return list(self.gen.classes)

    def default_count(self) -> int:
        raise ConfigError("gan-sample makes as many images as you ask: give its count in 'mix'",
                          field="mix.gan-sample")

    def checkpoints(self) -> dict[str, str]:
        return {f"gan-sample:{self.config.checkpoint}": self.gen.sha256}

    def _generate(self, seeds: list[int], labels: list[int]) -> np.ndarray:
        import torch

        from ..core.seeding import torch_generator
        from ..gan.trainer import to_uint8

        model = self.gen.model
        with torch.no_grad():
            z = torch.cat([model.sample_z(1, generator=torch_generator(s), truncation=self.config.truncation)
                           for s in seeds])
            y = torch.tensor(labels, dtype=torch.long)
            return to_uint8(model.G(z, y)).cpu().numpy()

    def make(self, start: int, stop: int) -> list[Sample]:
        cfg = self.config
        idx = list(range(start, stop))
        labels = {i: self.labels[i % len(self.labels)] for i in idx}
        kept: dict[int, tuple[np.ndarray, int, float | None]] = {}
        pending = idx
        for t in range(cfg.max_tries):
            if not pending:
                break
            for b in range(0, len(pending), cfg.batch_size):
                chunk = pending[b:b + cfg.batch_size]
                imgs = self._generate([derive_seed(self.seed, i, t) for i in chunk], [labels[i] for i in chunk])
                conf = self._confidence(imgs, [labels[i] for i in chunk])
                for k, i in enumerate(chunk):
                    c = None if conf is None else float(conf[k])
                    if c is None or c >= cfg.min_confidence:
                        kept[i] = (imgs[k], t, c)
            pending = [i for i in pending if i not in kept]
        if pending:
            raise DataError(f"the filter rejected all {cfg.max_tries} candidates of sample {pending[0]} "
                            f"(class {labels[pending[0]]}); lower min_confidence or raise max_tries",
                            where=cfg.checkpoint, field="min_confidence")
        out = []
        for i in idx:
            img, t, c = kept[i]
            img = img.transpose(1, 2, 0)
            out.append(Sample(image=img[:, :, 0] if img.shape[2] == 1 else img, label=labels[i],
                              meta={"source": f"gan:{cfg.checkpoint}", "key": f"{i:08d}",
                                    "seed": derive_seed(self.seed, i, t), "technique": "gan-sample",
                                    "params": {"candidate": t, "confidence": c, "checkpoint": self.gen.sha256}}))
        return out

    def _confidence(self, imgs: np.ndarray, labels: list[int]) -> np.ndarray | None:
        if self.classifier is None:
            return None
        import torch

        probs = self.classifier(torch.from_numpy(imgs))
        probs = np.asarray(probs.detach().cpu() if isinstance(probs, torch.Tensor) else probs, dtype=np.float64)
        return probs[np.arange(len(labels)), labels]



# -- fewlabel --------------------------------------------------------------------------------------


@dataclass
class FewLabelStepConfig:
    """``fewlabel``: keep the first ``per_class`` items of each class of the input (no randomness).

    Attributes:
        per_class: labelled items kept per class (the quickstart's regime: 50 of mnist5k's 400).
    """

    per_class: int = 50

    def __post_init__(self) -> None:
        if self.per_class < 1:
            raise ConfigError(f"must be >= 1, got {self.per_class}", field="per_class")


@STEPS.register("fewlabel")
class FewLabelStep(Step):
    """Output ``i`` is the ``i``-th kept input item, unchanged (:func:`traingen.pipeline.fewlabel.fewlabel_indices`)."""

    Config = FewLabelStepConfig
    name = "fewlabel"
    produces = frozenset()
    show_pairs = False

    def __init__(self, config: FewLabelStepConfig, *, input: Any = None, seed: int = 0):
        super().__init__(config, input=input, seed=seed)
        from .fewlabel import fewlabel_indices, src_labels

        self.indices = fewlabel_indices(src_labels(self.input), config.per_class)

    def default_count(self) -> int:
        return len(self.indices)

    def make(self, start: int, stop: int) -> list[Sample]:
        if stop > len(self.indices):
            raise ConfigError(f"fewlabel keeps {len(self.indices)} items; asked for index {stop - 1}",
                              field="mix.fewlabel")
        out = []
        for i in range(start, stop):
            s = self.input[int(self.indices[i])]
            s.meta = {**(s.meta or {}), "technique": "fewlabel", "params": {"input_index": int(self.indices[i])}}
            out.append(s)
        return out


# -- render ----------------------------------------------------------------------------------------


@dataclass
class RenderStepConfig:
    """``render``: domain-randomized scenes (:mod:`traingen.render`), exactly annotated.

    Attributes:
        scene: a scene YAML path, the scene inline (``{version: 1, width: 128, ...}``), or null for
            the paper's defaults with the built-in object classes.
    """

    scene: str | dict[str, Any] | None = None


@STEPS.register("render")
class RenderStep(Step):
    """Sample ``i`` is the scene drawn from ``(seed, i)`` rendered by one GL renderer per process."""

    Config = RenderStepConfig
    name = "render"
    needs_input = False
    produces = frozenset({"boxes", "mask", "instance_mask"})

    def __init__(self, config: RenderStepConfig, *, input: Any = None, seed: int = 0):
        super().__init__(config, input=input, seed=seed)
        import os

        from ..render.scene import load_scene, scene_from_dict

        os.environ.setdefault("LP_NUM_THREADS", "1")  # before Mesa starts its threads
        self.scene = scene_from_dict(config.scene, where="steps.render.scene") if isinstance(config.scene, dict) \
            else load_scene(config.scene)
        self._renderer = None

    @property
    def renderer(self):
        if self._renderer is None:  # the GL context is made in the process that renders
            from ..render.job import SceneRenderer

            self._renderer = SceneRenderer(self.scene, self.seed)
        return self._renderer

    @property
    def classes(self) -> list[str]:
        from ..render.scene import Catalogue

        return list(Catalogue.build(self.scene).classes)

    def default_count(self) -> int:
        raise ConfigError("render makes as many images as you ask: give its count in 'mix'", field="mix.render")

    def make(self, start: int, stop: int) -> list[Sample]:
        out = []
        for i in range(start, stop):
            s = self.renderer.sample(i)
            s.meta = {k: v for k, v in (s.meta or {}).items() if k != "depth"}
            s.meta["technique"] = "render"
            out.append(s)
        return out

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_renderer"] = None
        return state


# -- style -----------------------------------------------------------------------------------------


@dataclass
class StyleStepConfig:
    """``style``: restyle each input item with a style image (:mod:`traingen.style.restyle`); targets stay.

    Attributes:
        style: the style images (a source address, e.g. ``builtin:textures/brick``).
        method: a registered style method (``gatys``, ``adain``, ``sanet``, ``arbitrary``, ``photo``, ...).
        config: the method's own config overrides.
        checkpoint: a trained style network's run folder, for the feed-forward methods.
        size: working resolution (None: the method's default).
    """

    style: str = "builtin:textures/brick"
    method: str = "gatys"
    config: dict[str, Any] | None = None
    checkpoint: str | None = None
    size: int | None = None


@STEPS.register("style")
class StyleStep(Step):
    """Output ``i``: input item ``i % len(input)`` restyled with style item ``derive_seed(seed, i) % n_styles``."""

    Config = StyleStepConfig
    name = "style"
    produces = frozenset()

    def __init__(self, config: StyleStepConfig, *, input: Any = None, seed: int = 0):
        super().__init__(config, input=input, seed=seed)
        from ..data import open_source
        from ..style.train import method_runner

        self.styles = open_source(config.style)
        if len(self.styles) == 0:
            raise DataError("holds no style images", where=config.style, field="style")
        self.runner = method_runner(config.method, checkpoint=config.checkpoint, config=dict(config.config or {}),
                                    size=config.size)

    def make(self, start: int, stop: int) -> list[Sample]:
        from ..style.restyle import match_image

        out = []
        for i in range(start, stop):
            j = input_index(i, len(self.input))
            original = self.input[j]
            s = self.sample_seed(i)
            k = s % len(self.styles)
            res = self.runner(original.image, self.styles[k].image, seed=s)
            meta = {**(original.meta or {}), "seed": s, "technique": "style",
                    "params": {"method": self.config.method, "style": self.config.style, "style_index": k,
                               "input_index": j}}
            out.append(original.replace(image=match_image(res.image, original.image), meta=meta))
        return out


# -- steps in their own modules (imported here so that STEPS lists them) ---------------------------

from . import steps_mesh_style, steps_texture, steps_translate  # noqa: E402,F401
