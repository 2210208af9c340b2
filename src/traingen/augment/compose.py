"""Pipelines: ``Compose`` runs transforms in order with fused geometry; ``OneOf`` picks one of several.

Consecutive geometric transforms are fused into one matrix and every target is warped once, from
the original, onto the final canvas; pixel transforms (noise, cutout) split the fusion. Randomness
comes from one :class:`~traingen.core.seeding.Rng` per call, seeded by ``seed=`` or, without it,
by ``derive_seed(pipe.seed, call_index)``; each step draws from it in order, so a seed replays the
same output bytes in any process.

References:
    Buslaev et al. "Albumentations: Fast and Flexible Image Augmentations", Information 11(2), 2020
    (the pipeline interface that takes and returns every target).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..core.atomic import atomic_write_text
from ..core.config import check_version, dump_yaml, load_yaml
from ..core.config import from_dict as config_from_dict
from ..core.errors import ConfigError, OutputError, RegistryError, TargetError
from ..core.sample import TARGET_KEYS, Sample, check_image
from ..core.seeding import MASK64, Rng, splitmix64
from .base import TRANSFORMS, GeometricTransform, PixelTransform, Transform, check_probability, check_targets
from .geometry import INTERPOLATIONS, relabel_instances, warp_boxes, warp_image, warp_keypoints, warp_mask


def is_geometric(t: Any) -> bool:
    """True for a transform that only maps coordinates (a ``OneOf`` of geometric transforms too)."""
    return isinstance(t, GeometricTransform) or (isinstance(t, OneOf) and t.geometric)


@TRANSFORMS.register("one-of")
class OneOf(Transform):
    """With probability ``p``, apply one of ``transforms`` chosen uniformly.

    A ``OneOf`` of geometric transforms is itself geometric (it fuses with its neighbours and has
    :meth:`geometry`); one that holds a pixel transform runs as a step of its own.

    Args:
        transforms: the candidates.
        p: probability of applying one of them.

    Targets:
        those of the chosen transform.

    Example:
        >>> OneOf([Scale(0.8, 1.2), Translate(0.1)], p=1.0)

    References:
        Buslaev et al., Information 2020.
    """

    def __init__(self, transforms: Sequence[Transform], p: float = 1.0):
        self.transforms = list(transforms)
        if not self.transforms:
            raise ConfigError("expected at least one transform", where="OneOf", field="transforms")
        for i, t in enumerate(self.transforms):
            if not isinstance(t, Transform):
                raise ConfigError(f"expected a transform, got {type(t).__name__}", where="OneOf",
                                  field=f"transforms[{i}]")
        self.p = p
        check_probability(self, "p")
        self.geometric = all(is_geometric(t) for t in self.transforms)

    def choose(self, rng: Rng) -> int | None:
        """Index of the chosen transform, or None when skipped."""
        if not rng.bernoulli(self.p):
            return None
        return rng.integers(0, len(self.transforms))

    def make_params(self, rng: Rng, h: int, w: int) -> dict[str, Any]:
        i = self.choose(rng)
        if i is None:
            return {"applied": False}
        t = self.transforms[i]
        return {"applied": True, "index": i, "name": t.registry_name, "params": t.make_params(rng, h, w)}

    def matrix(self, params: dict[str, Any], h: int, w: int) -> tuple[np.ndarray | None, tuple[int, int]]:
        if not params["applied"]:
            return None, (h, w)
        return self.transforms[params["index"]].matrix(params["params"], h, w)

    def geometry(self, rng: Rng, h: int, w: int) -> tuple[np.ndarray, tuple[int, int]]:
        """Like :meth:`GeometricTransform.geometry` (only for a ``OneOf`` of geometric transforms)."""
        if not self.geometric:
            raise TypeError("geometry() of a OneOf that holds pixel transforms")
        return GeometricTransform.geometry(self, rng, h, w)  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, Any]:
        return {"name": "one-of", "p": self.p, "transforms": [t.to_dict() for t in self.transforms]}

    def __repr__(self) -> str:
        return f"OneOf({self.transforms!r}, p={self.p})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, OneOf) and self.to_dict() == other.to_dict()


def _plan(transforms: Sequence[Transform]) -> list[tuple[str, Any]]:
    """Group consecutive geometric transforms into runs: ``[("geo", [t, ...]), ("pix", t), ...]``."""
    plan: list[tuple[str, Any]] = []
    for t in transforms:
        if is_geometric(t):
            if plan and plan[-1][0] == "geo":
                plan[-1][1].append(t)
            else:
                plan.append(("geo", [t]))
        elif isinstance(t, PixelTransform):
            plan.append(("pix", t))
        elif isinstance(t, OneOf):
            plan.append(("one-of", (t, [_plan([c]) for c in t.transforms])))
        else:
            raise ConfigError(f"not a transform: {t!r}", where="Compose", field="transforms")
    return plan


#: Integer image dtypes: an ndarray of these with ndim 2 or 3 (the caller's test) needs no further check.
_INT_DTYPES = frozenset({np.dtype(np.uint8), np.dtype(np.uint16)})

_PIPELINE_KEYS = ("seed", "interpolation", "fill", "mask_fill", "min_visibility", "transforms")


class Compose:
    """Run transforms in order on every target of a sample, fusing consecutive geometric ones.

    Args:
        transforms: the steps.
        seed: pipeline seed; calls without ``seed=`` use ``derive_seed(seed, call_index)``.
        interpolation: image interpolation of warps: nearest, bilinear, bicubic or lanczos (masks are
            always nearest).
        fill: image value of pixels that come from outside the input (image units).
        mask_fill: mask class of such pixels (instance masks get 0).
        min_visibility: a box whose visible fraction after a geometric run is below this is dropped,
            with its label and instance id.

    Targets:
        image, mask, instance_mask, boxes + box_labels, keypoints (+ keypoint_visible), label.

    Returns:
        ``pipe(image=..., ..., seed=...)`` returns a dict with the given keys (+ ``keypoint_visible``
        when keypoints were given); ``pipe(sample, seed=...)`` returns a new :class:`Sample` whose
        meta holds ``technique``, ``seed`` and ``params``.

    Example:
        >>> pipe = Compose([HorizontalFlip(), Rotate(30), RandomCrop(224, 224), GaussianNoise(0.05)])
        >>> out = pipe(image=img, boxes=boxes, box_labels=labels, seed=7)

    References:
        Buslaev et al., Information 2020.
    """

    def __init__(self, transforms: Sequence[Transform], seed: int = 0, interpolation: str = "bilinear",
                 fill: float = 0.0, mask_fill: int = 0, min_visibility: float = 0.0):
        self.transforms = list(transforms)
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise ConfigError(f"expected an integer, got {seed!r}", where="Compose", field="seed")
        if interpolation not in INTERPOLATIONS:
            raise ConfigError(f"unknown interpolation {interpolation!r}; known: {', '.join(INTERPOLATIONS)}",
                              where="Compose", field="interpolation")
        if isinstance(fill, bool) or not isinstance(fill, (int, float)):
            raise ConfigError(f"expected a number, got {fill!r}", where="Compose", field="fill")
        if isinstance(mask_fill, bool) or not isinstance(mask_fill, (int, np.integer)):
            raise ConfigError(f"expected an integer, got {mask_fill!r}", where="Compose", field="mask_fill")
        self.seed = int(seed)
        self.interpolation = interpolation
        self.fill = float(fill)
        self.mask_fill = int(mask_fill)
        self.min_visibility = min_visibility
        check_probability(self, "min_visibility")  # a fraction in [0, 1] as well
        self._plan = _plan(self.transforms)
        # A pipeline of one geometric step (a flip, a resize...): image-only calls go straight to its
        # direct kernel (see GeometricTransform.apply_image), which costs a few µs less per call.
        only = self._plan[0][1] if len(self._plan) == 1 and self._plan[0][0] == "geo" else []
        self._direct = only[0] if len(only) == 1 and isinstance(only[0], GeometricTransform) else None
        self._calls = 0
        # derive_seed(seed, i) == splitmix64(splitmix64(seed) ^ i): keep the first half per pipeline.
        self._seed_state = splitmix64(self.seed & MASK64)

    # -- running ------------------------------------------------------------------------------

    def __call__(self, sample: Sample | np.ndarray | None = None, /, *, seed: int | None = None,
                 **targets: Any) -> Any:
        if seed is None:
            seed = splitmix64(self._seed_state ^ self._calls)  # = derive_seed(self.seed, call_index)
            self._calls += 1
        if self._direct is not None and sample is None and len(targets) == 1:
            out = self._direct_image(targets.get("image"), seed)
            if out is not None:
                return {"image": out}
        if isinstance(sample, Sample):
            if targets:
                raise TargetError("pass either a Sample or keyword targets, not both", where="Compose",
                                  field=next(iter(targets)))
            out, params = self.run(sample.targets(), seed)
            meta = dict(sample.meta, technique="augment", seed=int(seed), params=params)
            return sample.replace(meta=meta, **{k: out.get(k) for k in TARGET_KEYS})
        if sample is not None:
            if "image" in targets:
                raise TargetError("image given twice (positional and keyword)", where="Compose", field="image")
            targets["image"] = sample
        out, _ = self.run(targets, seed, record=False)
        return out

    def _direct_image(self, image: Any, seed: int) -> np.ndarray | None:
        """The one step's direct kernel on a plain integer image (None: take the general path).

        A float image goes the general way, whose check scans it for NaN.
        """
        if type(image) is np.ndarray and 1 < image.ndim < 4 and image.dtype in _INT_DTYPES and image.size:
            t = self._direct
            return t.apply_image(image, t.make_params(Rng(seed), *image.shape[:2]),
                                 interpolation=self.interpolation, fill=self.fill)
        return None

    def run(self, targets: dict[str, Any], seed: int, *, record: bool = True) -> tuple[dict[str, Any], list]:
        """Augment one sample's targets with ``Rng(seed)``; return ``(targets, params)``.

        ``params`` lists each step's draw as ``{"name": ..., **params}`` (empty if not ``record``).
        """
        if len(targets) == 1 and "image" in targets and getattr(targets["image"], "ndim", 0) > 1:
            image = targets["image"]
            if not (type(image) is np.ndarray and image.ndim < 4 and image.dtype in _INT_DTYPES and image.size):
                check_image(image, where="Compose")  # the full check (and a float image's finiteness)
            t = self._direct
            if t is not None:
                params = t.make_params(Rng(seed), *image.shape[:2])
                out = t.apply_image(image, params, interpolation=self.interpolation, fill=self.fill)
                if out is not None:
                    return {"image": out}, ([{"name": t.registry_name, **params}] if record else [])
                # no direct kernel for this draw: the general path below draws the same params again
        else:
            for k in targets:
                if k not in TARGET_KEYS:
                    raise TargetError(f"unknown target '{k}'; known: {', '.join(TARGET_KEYS)}", where="Compose",
                                      field=k)
            targets = check_targets(targets, where="Compose")
        log: list | None = [] if record else None
        out = self._run(self._plan, targets, Rng(seed), log)
        return out, (log or [])

    def _run(self, plan: list[tuple[str, Any]], targets: dict[str, Any], rng: Rng, log: list | None) -> dict[str, Any]:
        h, w = targets["image"].shape[:2]
        for kind, item in plan:
            if kind == "geo":
                # One step on an image alone: its direct kernel where it has one (the same bytes).
                direct = len(item) == 1 and len(targets) == 1 and isinstance(item[0], GeometricTransform)
                m = image = None
                oh, ow = h, w
                for t in item:
                    params = t.make_params(rng, oh, ow)
                    if log is not None:
                        log.append({"name": t.registry_name, **params})
                    if direct:
                        image = t.apply_image(targets["image"], params, interpolation=self.interpolation,
                                              fill=self.fill)
                        if image is not None:
                            break
                    mi, (oh, ow) = t.matrix(params, oh, ow)
                    if mi is not None:
                        m = mi if m is None else mi @ m
                if image is not None:
                    targets = {"image": image}
                    h, w = image.shape[:2]
                    continue
                if m is None and (oh, ow) == (h, w):
                    continue  # every step was skipped: nothing to warp
                targets = self.apply_matrix(targets, np.eye(3) if m is None else m, (oh, ow))
                h, w = oh, ow
            elif kind == "pix":
                params = item.make_params(rng, h, w)
                if log is not None:
                    log.append({"name": item.registry_name, **params})
                targets = item.apply(targets, params)
            else:
                one_of, child_plans = item
                i = one_of.choose(rng)
                if log is not None:
                    log.append({"name": "one-of", "applied": i is not None, "index": i})
                if i is not None:
                    targets = self._run(child_plans[i], targets, rng, log)
                    h, w = targets["image"].shape[:2]
        return targets

    def apply_matrix(self, targets: dict[str, Any], m: np.ndarray, out_hw: tuple[int, int]) -> dict[str, Any]:
        """Warp every target of a sample by the traingen matrix ``m`` onto an ``out_hw`` canvas."""
        image = warp_image(targets["image"], m, out_hw, interpolation=self.interpolation, fill=self.fill)
        if len(targets) == 1:
            return {"image": image}
        out = dict(targets)
        out["image"] = image
        if targets.get("mask") is not None:
            out["mask"] = warp_mask(targets["mask"], m, out_hw, fill=self.mask_fill)
        if targets.get("instance_mask") is not None:
            out["instance_mask"] = warp_mask(targets["instance_mask"], m, out_hw, fill=0)
        if targets.get("boxes") is not None:
            boxes, keep = warp_boxes(targets["boxes"], m, out_hw, min_visibility=self.min_visibility)
            out["boxes"] = boxes
            out["box_labels"] = np.asarray(targets["box_labels"])[keep]
            if out.get("instance_mask") is not None:
                out["instance_mask"] = relabel_instances(out["instance_mask"], keep)
        if targets.get("keypoints") is not None:
            out["keypoints"], out["keypoint_visible"] = warp_keypoints(
                targets["keypoints"], targets["keypoint_visible"], m, out_hw)
        return out

    # -- config -------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The pipeline document: ``{"version": 1, "pipeline": {...}}``."""
        return {"version": 1, "pipeline": {
            "seed": self.seed, "interpolation": self.interpolation, "fill": self.fill,
            "mask_fill": self.mask_fill, "min_visibility": self.min_visibility,
            "transforms": [t.to_dict() for t in self.transforms],
        }}

    def to_yaml(self) -> str:
        return dump_yaml(self.to_dict())

    def save(self, path: str | os.PathLike) -> Path:
        """Write the YAML atomically (a temporary file renamed over ``path``)."""
        path = Path(path)
        try:
            atomic_write_text(path, self.to_yaml())
        except OSError as e:
            raise OutputError(f"cannot write the pipeline: {e.strerror or e}", where=str(path)) from e
        return path

    def __repr__(self) -> str:
        return f"Compose({self.transforms!r}, seed={self.seed})"


# ---------------------------------------------------------------------------------------------
# Loading


def transform_from_dict(d: Any, *, where: str | None = None, field: str = "transforms[0]") -> Transform:
    """Build one transform from ``{"name": key, **config}`` (strict keys)."""
    if not isinstance(d, dict):
        raise ConfigError(f"expected a mapping with a 'name', got {d!r}", where=where, field=field)
    if "name" not in d:
        raise ConfigError("missing 'name' (a registered transform)", where=where, field=f"{field}.name")
    rest = {k: v for k, v in d.items() if k != "name"}
    try:
        cls = TRANSFORMS.get(d["name"])
    except RegistryError as e:
        raise ConfigError(e.message, where=where, field=f"{field}.name") from None
    if cls is OneOf:
        unknown = [k for k in rest if k not in ("p", "transforms")]
        if unknown:
            raise ConfigError(f"unknown key '{unknown[0]}' for OneOf; allowed: p, transforms", where=where,
                              field=f"{field}.{unknown[0]}")
        children = rest.get("transforms")
        if not isinstance(children, list):
            raise ConfigError("expected a list of transforms", where=where, field=f"{field}.transforms")
        kids = [transform_from_dict(c, where=where, field=f"{field}.transforms[{i}]") for i, c in enumerate(children)]
        p = rest.get("p", 1.0)
        try:
            return OneOf(kids, p=p)
        except ConfigError as e:
            raise ConfigError(e.message, where=where, field=f"{field}.{e.field or 'p'}") from None
    try:
        return config_from_dict(cls, rest, where=where, prefix=f"{field}.")
    except ConfigError as e:
        if e.field and e.field.startswith(field):
            raise
        # Raised in __post_init__ (where = class name): re-anchor the field in the document.
        raise ConfigError(e.message, where=where, field=f"{field}.{e.field}" if e.field else field) from None


def from_dict(d: Any, *, where: str | None = None) -> Compose:
    """Build a :class:`Compose` from a pipeline document ``{"version": 1, "pipeline": {...}}``."""
    if not isinstance(d, dict):
        raise ConfigError(f"expected a mapping, got {type(d).__name__}", where=where)
    unknown = [k for k in d if k not in ("version", "pipeline")]
    if unknown:
        raise ConfigError(f"unknown key '{unknown[0]}'; allowed: version, pipeline", where=where, field=unknown[0])
    check_version(d, where=where)
    pipe = d.get("pipeline")
    if not isinstance(pipe, dict):
        raise ConfigError("expected a 'pipeline:' mapping", where=where, field="pipeline")
    unknown = [k for k in pipe if k not in _PIPELINE_KEYS]
    if unknown:
        raise ConfigError(f"unknown key '{unknown[0]}'; allowed: {', '.join(_PIPELINE_KEYS)}", where=where,
                          field=f"pipeline.{unknown[0]}")
    items = pipe.get("transforms")
    if not isinstance(items, list):
        raise ConfigError("expected a list of transforms", where=where, field="pipeline.transforms")
    transforms = [transform_from_dict(t, where=where, field=f"pipeline.transforms[{i}]") for i, t in enumerate(items)]
    kwargs = {k: pipe[k] for k in _PIPELINE_KEYS[:-1] if k in pipe}
    try:
        return Compose(transforms, **kwargs)
    except ConfigError as e:
        raise ConfigError(e.message, where=where, field=f"pipeline.{e.field}") from None


def load(path: str | os.PathLike) -> Compose:
    """Read a pipeline YAML file (``version: 1`` required, strict keys)."""
    return from_dict(load_yaml(path), where=str(path))
