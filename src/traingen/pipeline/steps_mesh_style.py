"""The ``mesh-style`` step: stylised 3D assets and labelled turntable views of them.

The recipe names meshes (files or ``builtin:mesh/NAME[/K]``) and style images. The step makes
``variants`` stylised copies of each mesh with Kato's 2D→3D style transfer
(:func:`traingen.mesh.style.stylize`; texture cubes baked into a UV atlas) and renders views of them:

- variant ``v`` (``0 .. M·K − 1``) is mesh ``v // K`` styled with style image ``v % n_styles``, its
  optimisation seeded by ``derive_seed(seed, "variant", v)``;
- sample ``i`` shows variant ``(i // views) % (M·K)`` from turntable slot ``a = i % views``: azimuth
  ``360° · (a + jitter · (u − ½)) / views`` and an elevation uniform in ``elevation``, both drawn from
  ``derive_seed(seed, i)`` -- so a sample depends on the run seed, the step and ``i`` only;
- a sample holds the rendered RGB image (the hard rasterizer of :mod:`traingen.mesh.raster`, Kato's
  light), the class map ``mask`` (label + 1 on the object), ``instance_mask`` (1 on the object), its
  box and the class label: the mesh's name, or its family (``builtin:mesh/cup/3`` -> ``cup``).

The texture is quantised to 8 bits before rendering, so the asset written with ``assets: DIR``
(``DIR/<name>-<k>/mesh.obj`` + ``.mtl`` + ``.png``, and ``variant.json``) holds exactly the colours of
the views. Each process stylises the variants its shards need (once, in memory); identical bytes from
any worker, so two processes writing the same asset write the same files (each one atomically).
The optimisation runs on one torch thread: the bytes do not depend on the machine's thread count.

Example (in a recipe; no source needed)::

    steps:
      - step: mesh-style
        meshes: [builtin:mesh/cup, builtin:mesh/vase]
        styles: builtin:textures
        variants: 2
        views: 4
        style: {steps: 5}
        assets: runs/mesh-style-assets

References:
    Kato, Ushiku & Harada, "Neural 3D Mesh Renderer", CVPR 2018, arXiv 1711.07566 (§4.3 2D-to-3D
    style transfer); Tobin et al., "Domain Randomization for Transferring Deep Neural Networks from
    Simulation to the Real World", IROS 2017 (random textures on the objects of a training set).
"""

from __future__ import annotations

import contextlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..core.errors import ConfigError, TraingenError
from ..core.sample import Sample
from ..core.seeding import derive_seed, numpy_rng
from ..data.cache import atomic_write_bytes
from .steps import STEPS, Step

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
#: Style-transfer settings of the step unless ``style`` says otherwise (tiny: seconds per variant).
STYLE_DEFAULTS = {"steps": 5, "size": 32, "views_per_step": 2}
#: Camera of the views: Kato's distance for a mesh of radius 1; the field of view frames it.
DISTANCE = 2.732
FOV_Y_DEG = 46.0


@dataclass
class MeshStyleStepConfig:
    """``mesh-style``: views of stylised meshes (module docstring).

    Attributes:
        meshes: mesh files or ``builtin:mesh/NAME[/K]`` (distinct).
        styles: style images: an image file, a folder or a source address (``builtin:textures``).
        variants: stylised variants per mesh (``K``).
        views: turntable slots per variant.
        label: class of a mesh: ``family`` (``builtin:mesh/cup/3`` -> ``cup``; a file's stem) or ``name``
            (``cup-3``).
        size: side of the rendered samples in pixels.
        elevation: camera elevation range in degrees (drawn uniformly per sample).
        azimuth_jitter: azimuth jitter as a fraction of the slot spacing (0: exact turntable).
        background: RGB in [0, 1] behind the object.
        style: :class:`traingen.mesh.style.StyleConfig` fields over the step's defaults
            (``steps: 5, size: 32, views_per_step: 2``).
        assets: folder for the textured OBJ of every variant (null: not written).
    """

    meshes: list[str] = field(default_factory=lambda: ["builtin:mesh/cup", "builtin:mesh/vase"])
    styles: str = "builtin:textures"
    variants: int = 2
    views: int = 4
    label: Literal["family", "name"] = "family"
    size: int = 32
    elevation: list[float] = field(default_factory=lambda: [20.0, 40.0])
    azimuth_jitter: float = 0.5
    background: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    style: dict[str, Any] | None = None
    assets: str | None = None

    def __post_init__(self) -> None:
        if not self.meshes:
            raise ConfigError("name at least one mesh (a file or builtin:mesh/NAME)", field="meshes")
        dup = sorted({m for m in self.meshes if self.meshes.count(m) > 1})
        if dup:
            raise ConfigError(f"meshes are listed twice: {', '.join(dup)}", field="meshes")
        for name in ("variants", "views"):
            if getattr(self, name) < 1:
                raise ConfigError(f"must be >= 1, got {getattr(self, name)}", field=name)
        if self.size < 8:
            raise ConfigError(f"must be >= 8, got {self.size}", field="size")
        if len(self.elevation) != 2 or not -90.0 < self.elevation[0] <= self.elevation[1] < 90.0:
            raise ConfigError(f"must be [low, high] degrees in (-90, 90), got {self.elevation}", field="elevation")
        if not 0.0 <= self.azimuth_jitter <= 1.0:
            raise ConfigError(f"must lie in [0, 1], got {self.azimuth_jitter}", field="azimuth_jitter")
        if len(self.background) != 3 or not all(0.0 <= b <= 1.0 for b in self.background):
            raise ConfigError(f"must be three values in [0, 1], got {self.background}", field="background")


def mesh_class(spec: str, mesh_name: str, label: str) -> str:
    """The class of a mesh: its name, or its family (``cup-3`` -> ``cup`` for ``builtin:mesh/cup/3``)."""
    if label == "name":
        return mesh_name
    if str(spec).startswith("builtin:mesh/"):
        return str(spec)[len("builtin:mesh/"):].split("/")[0]
    return Path(spec).stem


def read_styles(addr: str) -> list[np.ndarray]:
    """The style images of a file, a folder or a source address (ConfigError naming ``styles``)."""
    from ..data import open_source
    from ..data.imageio import read_image

    try:
        if Path(addr).suffix.lower() in IMAGE_SUFFIXES:
            if not Path(addr).is_file():
                raise ConfigError(f"no such style image: {addr}", field="styles")
            images = [read_image(addr)]
        else:
            src = open_source(addr)
            images = [np.asarray(src[i].image) for i in range(len(src))]
    except ConfigError:
        raise
    except TraingenError as e:
        raise ConfigError(f"cannot read the style images {addr}: {e}", field="styles") from None
    if not images:
        raise ConfigError(f"{addr} holds no style image", field="styles")
    return images


@contextlib.contextmanager
def one_torch_thread():
    """Run the block on one torch thread (the bytes then do not depend on the thread count)."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


def quantised(mesh):
    """``mesh`` with its texture rounded to uint8 (what its PNG holds)."""
    from dataclasses import replace

    from ..mesh.mesh import texture_float

    tex = (np.clip(texture_float(mesh), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return replace(mesh, texture=tex, meta={})


def render_view(mesh, azimuth: float, elevation: float, size: int, background) -> tuple[np.ndarray, np.ndarray]:
    """A hard render of the (normalised) textured ``mesh``: uint8 H×W×3 image and a bool object mask."""
    import torch

    from ..mesh.raster_attributes import Attributes
    from ..mesh.style import kato_light, render_views
    from ..render.camera import Camera

    cam = Camera.orbit(DISTANCE, azimuth, elevation, width=size, height=size, fov_y_deg=FOV_Y_DEG)
    with torch.no_grad():
        rgb, alpha = render_views(torch.tensor(mesh.vertices, dtype=torch.float32), torch.tensor(mesh.faces),
                                  Attributes.from_mesh(mesh), [cam], kato_light(), background, "hard")
    img = (rgb[0].permute(1, 2, 0).clamp(0, 1).numpy().astype(np.float64) * 255.0 + 0.5).astype(np.uint8)
    return img, alpha[0, 0].numpy() > 0.5



@STEPS.register("mesh-style")
class MeshStyleStep(Step):
    """Sample ``i``: a view of stylised variant ``(i // views) % (M·K)`` (module docstring)."""

    Config = MeshStyleStepConfig
    name = "mesh-style"
    needs_input = False
    produces = frozenset({"label", "mask", "instance_mask", "boxes"})
    show_pairs = False

    def __init__(self, config: MeshStyleStepConfig, *, input: Any = None, seed: int = 0):
        super().__init__(config, input=None, seed=seed)
        from ..core.config import from_dict
        from ..mesh.builtin import load_mesh
        from ..mesh.style import StyleConfig

        self.style_config = from_dict(StyleConfig, {**STYLE_DEFAULTS, **(config.style or {})},
                                      where="steps.mesh-style.style")
        if self.style_config.backbone == "vgg19" and not self.style_config.weights:
            raise ConfigError("backbone vgg19 needs a local weight file (style.weights)", field="style.weights")
        self.meshes = []
        for k, spec in enumerate(config.meshes):
            try:
                self.meshes.append(load_mesh(spec))
            except TraingenError as e:
                raise ConfigError(f"cannot load mesh {spec!r}: {e}", field=f"meshes[{k}]") from None
        names = [m.name for m in self.meshes]
        if len(set(names)) != len(names):
            raise ConfigError(f"two meshes share a name ({names}); asset folders are named after them",
                              field="meshes")
        self.mesh_classes = [mesh_class(s, m.name, config.label) for s, m in zip(config.meshes, self.meshes,
                                                                                 strict=True)]
        self.styles = read_styles(config.styles)
        self._variants: dict[int, Any] = {}

    @property
    def classes(self) -> list[str]:
        return list(dict.fromkeys(self.mesh_classes))

    @property
    def n_variants(self) -> int:
        return len(self.meshes) * self.config.variants

    def default_count(self) -> int:
        return self.n_variants * self.config.views

    def checkpoints(self) -> dict[str, str]:
        w = self.style_config.weights
        if not w:
            return {}
        from .weights import _sha256

        return {f"mesh-style:{w}": _sha256(Path(w))}

    def resolved(self) -> dict[str, Any]:
        from ..core.config import to_dict

        return {**to_dict(self.config), "style": to_dict(self.style_config), "classes": self.classes}

    def variant_info(self, v: int) -> dict[str, Any]:
        """Mesh, style image and seed of variant ``v``."""
        m, k = divmod(v, self.config.variants)
        return {"variant": v, "mesh": self.config.meshes[m], "mesh_index": m, "k": k,
                "style_index": v % len(self.styles), "seed": derive_seed(self.seed, "variant", v),
                "name": f"{self.meshes[m].name}-{k}", "class": self.mesh_classes[m]}

    def variant(self, v: int):
        """The stylised mesh of variant ``v`` (normalised, 8-bit texture), made once per process."""
        if v not in self._variants:
            from ..mesh.style import stylize

            info = self.variant_info(v)
            with one_torch_thread():
                res = stylize(self.meshes[info["mesh_index"]], self.styles[info["style_index"]],
                              self.style_config, info["seed"])
            mesh = quantised(res.mesh)
            mesh.name = info["name"]
            if self.config.assets:
                self._write_asset(mesh, info, res.style_losses)
            self._variants[v] = mesh
        return self._variants[v]

    def _write_asset(self, mesh, info: dict[str, Any], style_losses: list[float]) -> None:
        from ..mesh.io import save_mesh

        folder = Path(self.config.assets) / re.sub(r"[^A-Za-z0-9_.-]", "_", info["name"])
        folder.mkdir(parents=True, exist_ok=True)
        save_mesh(mesh, folder / "mesh.obj")
        doc = {**info, "styles": self.config.styles, "style_config": self.resolved()["style"],
               "style_loss": [round(x, 8) for x in style_losses]}
        text = json.dumps(doc, indent=2, sort_keys=True) + "\n"
        atomic_write_bytes(folder / "variant.json", text.encode("utf-8"))

    def view(self, index: int) -> tuple[int, float, float]:
        """Variant, azimuth and elevation (degrees) of sample ``index``."""
        cfg = self.config
        v = (index // cfg.views) % self.n_variants
        u = numpy_rng(self.sample_seed(index), "view").random(2)
        az = 360.0 * ((index % cfg.views) + cfg.azimuth_jitter * (u[0] - 0.5)) / cfg.views
        lo, hi = cfg.elevation
        return v, float(az), float(lo + (hi - lo) * u[1])

    def make(self, start: int, stop: int) -> list[Sample]:
        return [self._one(i) for i in range(start, stop)]

    def _one(self, i: int) -> Sample:
        cfg = self.config
        v, az, el = self.view(i)
        info = self.variant_info(v)
        with one_torch_thread():
            img, obj = render_view(self.variant(v), az, el, cfg.size, cfg.background)
        label = self.classes.index(info["class"])
        inst = obj.astype(np.int32)
        ys, xs = np.nonzero(obj)
        boxes = (np.array([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]], np.float32) if len(xs)
                 else np.zeros((0, 4), np.float32))
        params = {"mesh": info["mesh"], "variant": v, "k": info["k"], "style_index": info["style_index"],
                  "variant_seed": info["seed"], "azimuth_deg": round(az, 6), "elevation_deg": round(el, 6),
                  "styles": cfg.styles}
        return Sample(image=img, mask=inst * (label + 1), instance_mask=inst, boxes=boxes,
                      box_labels=np.full(len(boxes), label, np.int64), label=label,
                      meta={"source": "mesh-style", "key": f"{i:08d}", "seed": self.sample_seed(i),
                            "technique": "mesh-style", "params": params})
