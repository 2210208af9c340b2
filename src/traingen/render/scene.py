"""Scene randomization: a typed scene config (strict YAML) and the per-image draw of a random scene.

:class:`SceneConfig` holds the paper's ranges as defaults (Tremblay et al. 2018, §3): objects of interest
(user meshes with a class name each, or the built-in classes), 0-20 flying distractors of random shapes,
random textures per object (a folder of images and/or procedural kinds), a background (folder or
procedural), a camera at azimuth 0-360°, elevation 5-30°, pan / tilt / roll ±30°, 1-12 point lights plus
an ambient term, and a ground plane shown with probability ``ground.p_visible``. :func:`sample_scene`
is a pure function of ``(config, catalogue, seed, index)``: every draw comes from ``Rng(seed, "render",
index)``, so image ``index`` is the same with any worker count, and :meth:`SceneDraw.to_meta` is the
JSON record saved in the sample's meta.

Example:
    >>> cfg = scene_from_dict({"version": 1, "objects": {"count": [2, 2]}})
    >>> cat = Catalogue.build(cfg)
    >>> draw = sample_scene(cfg, cat, seed=0, index=7)
    >>> len(draw.objects)
    2

References:
    Tremblay et al., "Training Deep Networks with Synthetic Data: Bridging the Reality Gap by Domain
    Randomization", CVPRW 2018 (arXiv 1804.06516).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..core.config import check_version, from_dict, load_yaml, to_dict
from ..core.errors import ConfigError, DataError
from ..core.seeding import Rng
from .camera import Camera
from .primitives import BUILTIN_CLASSES, DISTRACTOR_TYPES, MeshData, flat

Range = tuple[float, float]
IntRange = tuple[int, int]
MAX_LIGHTS = 12


def _check_range(r: tuple, name: str, lo: float | None = None, hi: float | None = None) -> None:
    if r[0] > r[1]:
        raise ConfigError(f"range must be [low, high] with low <= high, got {list(r)}", where="scene", field=name)
    if lo is not None and r[0] < lo or hi is not None and r[1] > hi:
        raise ConfigError(f"range {list(r)} must lie within [{lo}, {hi}]", where="scene", field=name)


@dataclass
class MeshSpec:
    """A user mesh: ``path`` (OBJ, PLY, GLB, STL, ...), its class name, its largest extent in metres,
    and which of its axes points up."""

    path: str
    class_name: str
    size: float = 1.0
    up: Literal["z", "y"] = "z"


@dataclass
class ObjectsConfig:
    meshes: list[MeshSpec] = field(default_factory=list)
    builtin: list[str] = field(default_factory=lambda: sorted(BUILTIN_CLASSES))
    count: IntRange = (1, 14)
    scale: Range = (0.8, 1.2)
    builtin_size: float = 2.0
    area: float = 3.0
    p_on_ground: float = 0.7
    max_height: float = 2.0

    def __post_init__(self) -> None:
        _check_range(self.count, "objects.count", 0, 64)
        _check_range(self.scale, "objects.scale", 1e-3)
        unknown = [b for b in self.builtin if b not in BUILTIN_CLASSES]
        if unknown:
            raise ConfigError(f"unknown built-in class {unknown[0]!r}; known: {sorted(BUILTIN_CLASSES)}",
                              where="scene", field="objects.builtin")


@dataclass
class DistractorsConfig:
    count: IntRange = (0, 20)
    types: list[str] = field(default_factory=lambda: list(DISTRACTOR_TYPES))
    scale: Range = (0.3, 1.5)
    area: float = 8.0
    height: Range = (0.2, 4.0)

    def __post_init__(self) -> None:
        _check_range(self.count, "distractors.count", 0, 200)
        _check_range(self.scale, "distractors.scale", 1e-3)
        _check_range(self.height, "distractors.height")
        unknown = [t for t in self.types if t not in DISTRACTOR_TYPES]
        if unknown:
            raise ConfigError(f"unknown distractor type {unknown[0]!r}; known: {sorted(DISTRACTOR_TYPES)}",
                              where="scene", field="distractors.types")


@dataclass
class TexturesConfig:
    folder: str | None = None
    procedural: list[str] = field(default_factory=lambda: ["checker", "stripes", "noise", "gradient", "flat"])
    pool: int = 48
    size: int = 128
    randomize: bool = True
    #: With ``randomize: false``: each class draws among this many layers (class ``c`` wears layer
    #: ``c + (pool // per_class) * j``, ``j`` uniform in ``0 .. per_class - 1``; with ``procedural`` kinds
    #: of a length dividing ``pool // per_class`` those layers share class ``c``'s kind, not its colours).
    per_class: int = 1

    def __post_init__(self) -> None:
        if self.per_class < 1 or self.per_class > self.pool:
            raise ConfigError(f"per_class must be in 1..pool ({self.pool}), got {self.per_class}", where="scene",
                              field="textures.per_class")


@dataclass
class BackgroundConfig:
    folder: str | None = None
    procedural: list[str] = field(default_factory=lambda: ["noise", "gradient", "checker", "stripes"])
    pool: int = 16
    size: int = 256


@dataclass
class CameraConfig:
    azimuth: Range = (0.0, 360.0)
    elevation: Range = (5.0, 30.0)
    pan: Range = (-30.0, 30.0)
    tilt: Range = (-30.0, 30.0)
    roll: Range = (-30.0, 30.0)
    distance: Range = (6.0, 14.0)
    fov_y: Range = (50.0, 50.0)
    target_jitter: float = 1.5
    near: float = 0.1
    far: float = 200.0

    def __post_init__(self) -> None:
        for name in ("azimuth", "elevation", "pan", "tilt", "roll", "distance", "fov_y"):
            _check_range(getattr(self, name), f"camera.{name}")
        _check_range(self.fov_y, "camera.fov_y", 1.0, 170.0)
        _check_range(self.distance, "camera.distance", 1e-3)


@dataclass
class LightsConfig:
    count: IntRange = (1, MAX_LIGHTS)
    intensity: Range = (0.3, 1.2)
    ambient: Range = (0.05, 0.4)
    distance: Range = (5.0, 25.0)
    randomize: bool = True

    def __post_init__(self) -> None:
        _check_range(self.count, "lights.count", 1, MAX_LIGHTS)


@dataclass
class GroundConfig:
    p_visible: float = 0.5


@dataclass
class AnnotateConfig:
    easy_filter: bool = False
    min_height: float = 40.0
    max_truncation: float = 0.15
    min_visible_px: int = 1
    guard: int = 1


@dataclass
class RendererConfig:
    """``backend``: ``gl`` (moderngl, the default) or ``blender`` (colour path-traced by Cycles through the
    optional ``bpy`` package; labels still from GL, see :mod:`traingen.render.blender`); Cycles ``samples``,
    ``denoise`` and ``threads``."""

    backend: Literal["gl", "blender"] = "gl"
    samples: int = 16
    denoise: bool = False
    threads: int = 1

    def __post_init__(self) -> None:
        if not (1 <= self.samples <= 65536 and 1 <= self.threads <= 1024):
            raise ConfigError(f"samples and threads must be >= 1, got {self.samples}, {self.threads}",
                              where="scene", field="renderer.samples")


@dataclass
class SceneConfig:
    """The whole scene file (``version: 1`` plus these sections); see the module docstring."""

    version: int = 1
    width: int = 256
    height: int = 256
    objects: ObjectsConfig = field(default_factory=ObjectsConfig)
    distractors: DistractorsConfig = field(default_factory=DistractorsConfig)
    textures: TexturesConfig = field(default_factory=TexturesConfig)
    background: BackgroundConfig = field(default_factory=BackgroundConfig)
    camera: CameraConfig = field(default_factory=CameraConfig)
    lights: LightsConfig = field(default_factory=LightsConfig)
    ground: GroundConfig = field(default_factory=GroundConfig)
    annotate: AnnotateConfig = field(default_factory=AnnotateConfig)
    renderer: RendererConfig = field(default_factory=RendererConfig)

    def __post_init__(self) -> None:
        if not (1 <= self.width <= 8192 and 1 <= self.height <= 8192):
            raise ConfigError(f"image size must be 1..8192, got {self.width}x{self.height}", where="scene",
                              field="width")
        if not self.objects.meshes and not self.objects.builtin:
            raise ConfigError("no objects of interest: give objects.meshes or objects.builtin", where="scene",
                              field="objects")

    @property
    def classes(self) -> list[str]:
        """Class names in label order: user mesh classes (first seen order), else the built-in classes."""
        if self.objects.meshes:
            return list(dict.fromkeys(m.class_name for m in self.objects.meshes))
        return list(self.objects.builtin)

    def to_dict(self) -> dict[str, Any]:
        return to_dict(self)


def scene_from_dict(data: dict[str, Any] | None, *, where: str = "scene") -> SceneConfig:
    """Strict construction: an unknown key or a wrong type is a ConfigError naming it."""
    data = dict(data or {"version": 1})
    check_version(data, where=where)
    try:
        return from_dict(SceneConfig, data, where=where)
    except ConfigError as e:
        if e.where in (None, "scene") and where != "scene":
            raise ConfigError(e.message, where=where, field=e.field) from None
        raise


def load_scene(path: str | Path | None) -> SceneConfig:
    """The scene file at ``path`` (relative mesh and folder paths resolve against its folder); None gives
    the paper's defaults with the built-in classes."""
    if path is None:
        return scene_from_dict({"version": 1})
    path = Path(path)
    cfg = scene_from_dict(load_yaml(path), where=str(path))
    base = path.parent
    for m in cfg.objects.meshes:
        if not Path(m.path).expanduser().is_absolute():
            m.path = str((base / m.path).resolve())
    for sect in (cfg.textures, cfg.background):
        if sect.folder and not Path(sect.folder).expanduser().is_absolute():
            sect.folder = str((base / sect.folder).resolve())
    return cfg


# ---------------------------------------------------------------------------------- mesh catalogue
def load_mesh(spec: MeshSpec, where: str = "scene") -> MeshData:
    """Load a user mesh through trimesh, normalised: largest extent ``spec.size``, centred on the z axis,
    lowest point on z = 0. A missing, unreadable or empty mesh is a DataError naming the file."""
    import trimesh

    path = Path(spec.path).expanduser()
    if not path.is_file():
        raise DataError("mesh file not found", where=str(path), field="objects.meshes.path")
    try:
        loaded = trimesh.load(str(path), force="mesh", process=False)
    except Exception as e:  # noqa: BLE001 - trimesh raises many types for bad files
        raise DataError(f"cannot read mesh ({type(e).__name__}: {e})", where=str(path)) from e
    v = np.asarray(getattr(loaded, "vertices", np.zeros((0, 3))), np.float64)
    f = np.asarray(getattr(loaded, "faces", np.zeros((0, 3))), np.int64)
    if len(v) == 0 or len(f) == 0:
        raise DataError("mesh has no triangles", where=str(path))
    if not np.all(np.isfinite(v)) or f.min() < 0 or f.max() >= len(v):
        raise DataError("mesh has non-finite vertices or out-of-range face indices", where=str(path))
    if spec.up == "y":
        v = v[:, [0, 2, 1]] * [1, -1, 1]
    ext = np.ptp(v, axis=0)
    if ext.max() <= 0:
        raise DataError("mesh is degenerate (zero extent)", where=str(path))
    v = (v - [(v[:, 0].min() + v[:, 0].max()) / 2, (v[:, 1].min() + v[:, 1].max()) / 2, v[:, 2].min()])
    v = v * (spec.size / ext.max())
    uv = getattr(getattr(loaded, "visual", None), "uv", None)
    return flat(v, f, None if uv is None or len(uv) != len(v) else np.asarray(uv, np.float64))


def _resize(m: MeshData, size: float) -> MeshData:
    from .primitives import transformed

    return transformed(m, scale=(size / float(np.ptp(m.vertices, axis=0).max()),) * 3)


@dataclass
class Catalogue:
    """Every mesh a scene may use, loaded once: ``classes[label] -> [mesh keys]`` and ``meshes[key]``."""

    classes: list[str]
    class_meshes: list[list[str]]
    distractors: list[str]
    meshes: dict[str, MeshData]

    @classmethod
    def build(cls, cfg: SceneConfig) -> Catalogue:
        meshes: dict[str, MeshData] = {}
        classes = cfg.classes
        class_meshes: list[list[str]] = [[] for _ in classes]
        if cfg.objects.meshes:
            for i, spec in enumerate(cfg.objects.meshes):
                key = f"user{i}:{Path(spec.path).name}"
                meshes[key] = load_mesh(spec)
                class_meshes[classes.index(spec.class_name)].append(key)
        else:
            for i, name in enumerate(classes):  # built-ins share one size, as user meshes do
                meshes[f"builtin:{name}"] = _resize(BUILTIN_CLASSES[name](), cfg.objects.builtin_size)
                class_meshes[i].append(f"builtin:{name}")
        for t in cfg.distractors.types:
            meshes[f"distractor:{t}"] = DISTRACTOR_TYPES[t]()
        return cls(classes, class_meshes, [f"distractor:{t}" for t in cfg.distractors.types], meshes)


# ---------------------------------------------------------------------------------- per-image draw
@dataclass
class Placed:
    """One object in a drawn scene: mesh key, model matrix (4×4 world), texture layer, UV transform
    (``[su, sv, angle, du, dv]``), colour tint, and its class label (-1 for distractors)."""

    mesh: str
    model: np.ndarray
    layer: int
    uv: tuple[float, float, float, float, float]
    tint: tuple[float, float, float]
    label: int = -1

    def to_meta(self) -> dict[str, Any]:
        """JSON record; ``model`` is the top 3×4 of the world matrix, row-major, as 12 numbers (one flat
        list: the finalize step walks and parses every image's record, so nesting costs time)."""
        return {"mesh": self.mesh, "label": self.label, "model": np.round(self.model[:3], 6).ravel().tolist(),
                "texture": self.layer, "uv": [round(x, 6) for x in self.uv], "tint": [round(x, 6) for x in self.tint]}


@dataclass
class SceneDraw:
    """Everything random about one image: camera, lights, objects, distractors, ground and background."""

    camera: Camera
    objects: list[Placed]
    distractors: list[Placed]
    lights: np.ndarray  # L × 6: position xyz, colour rgb
    ambient: tuple[float, float, float]
    ground: Placed | None
    background: tuple[int, tuple[float, float, float, float, float]]

    def to_meta(self) -> dict[str, Any]:
        return {"camera": self.camera.to_dict(), "P2": np.round(self.camera.projection_matrix(), 6).tolist(),
                "objects": [o.to_meta() for o in self.objects],
                "distractors": [d.to_meta() for d in self.distractors],
                "lights": np.round(self.lights, 6).tolist(), "ambient": [round(a, 6) for a in self.ambient],
                "ground": None if self.ground is None else self.ground.to_meta(),
                "background": {"texture": self.background[0], "uv": [round(x, 6) for x in self.background[1]]}}


def _u(rng: Rng, r: tuple[float, float]) -> float:
    return rng.uniform(r[0], r[1]) if r[1] > r[0] else float(r[0])


def _i(rng: Rng, r: tuple[int, int]) -> int:
    return rng.integers(r[0], r[1] + 1)


def _rot_z(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]])


def _random_rotation(rng: Rng) -> np.ndarray:
    """Uniform rotation from a normalised Gaussian quaternion."""
    q = np.array([rng.normal() for _ in range(4)])
    w, x, y, z = q / max(np.linalg.norm(q), 1e-12)
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def model_matrix(rotation: np.ndarray, scale: np.ndarray | float, translation) -> np.ndarray:
    """4×4 world matrix ``T · R · S``."""
    m = np.eye(4)
    m[:3, :3] = np.asarray(rotation, np.float64) * np.asarray(scale, np.float64)
    m[:3, 3] = translation
    return m


def _uv(rng: Rng, randomize: bool) -> tuple[float, float, float, float, float]:
    if not randomize:
        return (1.0, 1.0, 0.0, 0.0, 0.0)
    s = rng.uniform(0.5, 3.0)
    return (s, s * rng.uniform(0.7, 1.4), rng.uniform(0, 2 * math.pi), rng.random(), rng.random())


def _tint(rng: Rng, randomize: bool) -> tuple[float, float, float]:
    if not randomize:
        return (1.0, 1.0, 1.0)
    return (rng.uniform(0.6, 1.0), rng.uniform(0.6, 1.0), rng.uniform(0.6, 1.0))


def sample_scene(cfg: SceneConfig, cat: Catalogue, *, seed: int, index: int) -> SceneDraw:
    """Draw image ``index``'s scene; a pure function of its arguments (see the module docstring)."""
    rng = Rng(seed, "render", index)
    tex_rand = cfg.textures.randomize
    n_tex, n_bg = cfg.textures.pool, cfg.background.pool
    objects = []
    oc = cfg.objects
    for _ in range(_i(rng, oc.count)):
        label = rng.choice(len(cat.classes))
        keys = cat.class_meshes[label]
        key = keys[rng.choice(len(keys))]
        yaw = rng.uniform(0, 2 * math.pi)
        s = _u(rng, oc.scale)
        x, y = rng.uniform(-oc.area, oc.area), rng.uniform(-oc.area, oc.area)
        if rng.bernoulli(oc.p_on_ground):
            rot, z = _rot_z(yaw), 0.0
        else:
            rot, z = _random_rotation(rng), rng.uniform(0.2, oc.max_height)
        if tex_rand:
            layer = rng.choice(n_tex)
        elif cfg.textures.per_class > 1:
            layer = (label + (n_tex // cfg.textures.per_class) * rng.choice(cfg.textures.per_class)) % n_tex
        else:
            layer = label % n_tex
        objects.append(Placed(key, model_matrix(rot, s, (x, y, z)), layer, _uv(rng, tex_rand), _tint(rng, tex_rand),
                              label))
    distractors = []
    dc = cfg.distractors
    for _ in range(_i(rng, dc.count)):
        key = cat.distractors[rng.choice(len(cat.distractors))]
        s = _u(rng, dc.scale) * np.array([rng.uniform(0.7, 1.3) for _ in range(3)])
        pos = (rng.uniform(-dc.area, dc.area), rng.uniform(-dc.area, dc.area), _u(rng, dc.height))
        layer = rng.choice(n_tex) if tex_rand else (n_tex - 1)
        distractors.append(Placed(key, model_matrix(_random_rotation(rng), s, pos), layer, _uv(rng, tex_rand),
                                  _tint(rng, tex_rand)))
    cc = cfg.camera
    target = (rng.uniform(-cc.target_jitter, cc.target_jitter), rng.uniform(-cc.target_jitter, cc.target_jitter),
              rng.uniform(0.0, 1.0))
    cam = Camera.orbit(_u(rng, cc.distance), _u(rng, cc.azimuth), _u(rng, cc.elevation), target,
                       fov_y_deg=_u(rng, cc.fov_y), width=cfg.width, height=cfg.height, near=cc.near, far=cc.far,
                       pan_deg=_u(rng, cc.pan), tilt_deg=_u(rng, cc.tilt), roll_deg=_u(rng, cc.roll))
    lc = cfg.lights
    if lc.randomize:
        lights = []
        for _ in range(_i(rng, lc.count)):
            d, az, el = _u(rng, lc.distance), rng.uniform(0, 2 * math.pi), rng.uniform(0.1, 1.4)
            inten = _u(rng, lc.intensity)
            col = np.array([rng.uniform(0.7, 1.0) for _ in range(3)]) * inten
            lights.append([d * math.cos(el) * math.cos(az), d * math.cos(el) * math.sin(az), d * math.sin(el), *col])
        amb = _u(rng, lc.ambient)
        ambient = (amb, amb, amb)
    else:
        lights = [[6.0, 4.0, 12.0, 1.0, 1.0, 1.0]]
        ambient = (0.25, 0.25, 0.25)
    ground = None
    if rng.bernoulli(cfg.ground.p_visible):
        ground = Placed("ground", np.eye(4), rng.choice(n_tex) if tex_rand else 0, _uv(rng, tex_rand),
                        _tint(rng, tex_rand))
    bg_uv = (1.0, 1.0, 0.0, 0.0, 0.0) if not tex_rand else (rng.uniform(0.5, 1.0), rng.uniform(0.5, 1.0), 0.0,
                                                           rng.random(), rng.random())
    background = (rng.choice(n_bg) if tex_rand else 0, bg_uv)
    return SceneDraw(cam, objects, distractors, np.asarray(lights, np.float64).reshape(-1, 6), ambient, ground,
                     background)
