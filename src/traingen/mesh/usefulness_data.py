"""The data of the 3D "data helps" experiment: three training sets and one held-out test set.

Every image is a domain-randomised render (random view, distance, target offset, light and background)
of a procedural part-labelled mesh (:mod:`traingen.mesh.procedural`) through the hard rasterizer of
:mod:`traingen.mesh.raster` (the camera module shared with the EGL renderer). The three training arms
render the **same** members, views, lights and backgrounds; only the object's texture differs:

==========  ===========================================================================================
arm         object texture (drawn per image unless said)
==========  ===========================================================================================
``flat``    (a) one random flat colour per part
``procedural``  (b) one procedural texture per part (``checker``, ``stripes``, ``noise``, ``gradient``
            of :mod:`traingen.render.textures`) in the part's canonical UV chart
``stylised``  (c) one of ``variants`` copies of the member stylised by Kato's 2D→3D style transfer
            (:func:`traingen.mesh.style.stylize`) from the *style sources* (embedded photos and textures)
==========  ===========================================================================================

Training backgrounds are procedural textures (the same draw for every arm). The test set renders
*held-out* members of each family, textured by Wang et al.'s texture transfer
(:func:`traingen.mesh.texture_transfer.transfer_texture`) from *held-out photos* that no arm sees, in
front of random crops of those held-out photos: a texture source and a background source never seen in
training. :func:`check_sources` refuses a configuration whose style sources and test photos overlap.

Example:
    >>> cfg = DataConfig(classes=("cup", "vase"), per_class=4, test_per_class=2)
    >>> data = build_data(cfg)                                     # doctest: +SKIP
    >>> sorted(data.train), data.test.images.shape[1:]             # doctest: +SKIP
    (['flat', 'procedural', 'stylised'], (64, 64, 3))

References:
    Tobin et al., "Domain Randomization for Transferring Deep Neural Networks from Simulation to the
    Real World", IROS 2017. Kato, Ushiku & Harada, "Neural 3D Mesh Renderer", CVPR 2018 (§4.3 2D-to-3D
    style transfer). Wang, Su, Huang, Huang, Guibas & Mitra, "Unsupervised Texture Transfer from Images
    to Model Collections", SIGGRAPH Asia 2016.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import numpy as np

from ..core.errors import ConfigError
from ..core.seeding import derive_seed, numpy_rng

ARMS = ("flat", "procedural", "stylised")
#: Procedural kinds of arm (b) (``flat`` is arm (a)'s).
PROCEDURAL_KINDS = ("checker", "stripes", "noise", "gradient")
#: GrabCut boxes (x0, y0, x1, y1 in the original photo) where the default (photo less 5 %) is poor.
PHOTO_BOXES = {"rocket": (290, 120, 355, 405)}
FOV_Y_DEG = 46.0
DISTANCE = 2.732


@dataclass
class DataConfig:
    """What the three training sets and the test set hold (defaults: the documented run).

    Attributes:
        classes: procedural families (:data:`traingen.mesh.procedural.FAMILIES`), one class each.
        train_members: training shapes per class: members ``0 .. n−1`` (``builtin:mesh/FAM/K``).
        test_members: held-out shapes per class: members ``100 .. 100 + n − 1``.
        per_class: training images per class and arm (equal in every arm).
        test_per_class: test images per class.
        size: render side in pixels.
        variants: stylised copies of each training member (arm c).
        style_sources: style images of arm (c): ``photos/NAME`` or ``textures/NAME`` (embedded data).
        style_crop: each stylised copy uses a random square crop of its style source whose side is this
            fraction range of the source's shorter side (distinct copies from few sources).
        test_photos: embedded photos (``photos`` items) that texture the test set; never a style source.
        style: :class:`traingen.mesh.style.StyleConfig` fields.
        transfer_size: longest side of a test photo for texture transfer.
        transfer: :class:`traingen.mesh.texture_pose.PoseConfig` fields; ``texture_size`` is separate.
        texture_size: texels per part chart side in texture transfer.
        elevation: camera elevation range (degrees).
        seed: every draw of the data (the classifiers have their own seeds).
    """

    classes: tuple[str, ...] = ("cup", "bottle", "vase", "rocket", "chair", "table")
    train_members: int = 4
    test_members: int = 2
    per_class: int = 150
    test_per_class: int = 50
    size: int = 64
    variants: int = 2
    style_sources: tuple[str, ...] = ("photos/astronaut", "photos/chelsea", "photos/hubble_deep_field",
                                      "photos/flower", "textures/brick", "textures/grass", "textures/gravel")
    style_crop: tuple[float, float] = (0.5, 1.0)
    test_photos: tuple[str, ...] = ("coffee", "rocket", "china")
    style: dict = field(default_factory=lambda: {"steps": 30, "size": 64, "views_per_step": 4, "texture": "uv",
                                                 "uv_size": 64, "lr_texture": 0.3})
    transfer_size: int = 128
    transfer: dict = field(default_factory=lambda: {"azimuths": 24, "elevations": [0.0, 20.0, 40.0],
                                                    "starts": 2, "steps": 30, "refine_size": 64})
    texture_size: int = 48
    elevation: tuple[float, float] = (0.0, 45.0)
    seed: int = 0

    def __post_init__(self) -> None:
        from .procedural import FAMILIES

        self.classes = tuple(self.classes)
        self.style_sources = tuple(self.style_sources)
        self.test_photos = tuple(self.test_photos)
        self.elevation = tuple(float(e) for e in self.elevation)
        self.style_crop = tuple(float(f) for f in self.style_crop)
        if len(self.style_crop) != 2 or not 0.0 < self.style_crop[0] <= self.style_crop[1] <= 1.0:
            raise ConfigError(f"need 0 < lo <= hi <= 1, got {list(self.style_crop)}", where="mesh usefulness",
                              field="style_crop")
        bad = [c for c in self.classes if c not in FAMILIES]
        if bad or len(self.classes) < 2 or len(set(self.classes)) != len(self.classes):
            raise ConfigError(f"need >= 2 distinct families of {sorted(FAMILIES)}, got {list(self.classes)}",
                              where="mesh usefulness", field="classes")
        for name in ("train_members", "test_members", "per_class", "test_per_class", "variants"):
            if getattr(self, name) < 1:
                raise ConfigError(f"must be >= 1, got {getattr(self, name)}", where="mesh usefulness", field=name)
        if self.size < 16:
            raise ConfigError(f"must be >= 16, got {self.size}", where="mesh usefulness", field="size")
        check_sources(self.style_sources, self.test_photos)


def check_sources(style_sources, test_photos) -> None:
    """Style sources must be ``photos/X`` or ``textures/X`` and share no photo with the test photos."""
    from ..data.builtin import PHOTO_ITEMS, TEXTURE_ITEMS

    if not style_sources or not test_photos:
        raise ConfigError("need at least one style source and one test photo", where="mesh usefulness",
                          field="style_sources")
    for s in style_sources:
        kind, _, item = str(s).partition("/")
        known = {"photos": PHOTO_ITEMS, "textures": TEXTURE_ITEMS}.get(kind, ())
        if item not in known:
            raise ConfigError(f"style source {s!r} is not photos/{{{','.join(PHOTO_ITEMS)}}} or textures/"
                              f"{{{','.join(TEXTURE_ITEMS)}}}", where="mesh usefulness", field="style_sources")
    bad = [p for p in test_photos if p not in PHOTO_ITEMS]
    if bad:
        raise ConfigError(f"unknown test photo {bad[0]!r}; known: {', '.join(PHOTO_ITEMS)}",
                          where="mesh usefulness", field="test_photos")
    shared = sorted({s.split("/", 1)[1] for s in style_sources if s.startswith("photos/")} & set(test_photos))
    if shared:
        raise ConfigError(f"test photos must be held out of the style sources; both hold {shared}",
                          where="mesh usefulness", field="test_photos")


@dataclass
class ImageSet:
    """Rendered images (N×H×W×3 uint8), labels, object masks and one provenance record per image."""

    images: np.ndarray
    labels: np.ndarray
    masks: np.ndarray
    meta: list[dict]


@dataclass
class UsefulnessData:
    """The three training sets (keyed by :data:`ARMS`), the test set, and the CPU seconds per stage."""

    train: dict[str, ImageSet]
    test: ImageSet
    classes: tuple[str, ...]
    cpu_s: dict[str, float]


# -- sources ----------------------------------------------------------------------------------------


def embedded_image(spec: str) -> np.ndarray:
    """``photos/NAME`` or ``textures/NAME`` as H×W×3 uint8."""
    from ..data import open_source

    img = np.asarray(open_source(f"builtin:{spec}")[0].image)
    return np.repeat(img[..., None], 3, 2) if img.ndim == 2 else img[..., :3]


def procedural_texture(rng: np.random.Generator, size: int, kinds=PROCEDURAL_KINDS) -> np.ndarray:
    """One procedural texture (float32 size×size×3) of a kind drawn from ``kinds``."""
    from ..render.textures import PROCEDURAL

    return PROCEDURAL[kinds[int(rng.integers(len(kinds)))]](rng, size).astype(np.float32)


def textured_by_parts(mesh, textures: dict[int, np.ndarray]):
    """``mesh`` with one texture per part packed into an atlas (canonical per-part UV charts)."""
    from .texture_charts import pack_parts

    return pack_parts(mesh, textures)


def arm_texture(arm: str, mesh, rng: np.random.Generator, size: int = 64):
    """The per-image texture of arm ``flat`` or ``procedural`` on ``mesh`` (see module doc)."""
    n = len(mesh.part_names)
    if arm == "flat":
        return textured_by_parts(mesh, {p: np.broadcast_to(rng.uniform(0, 1, 3), (4, 4, 3)).astype(np.float32)
                                        for p in range(n)})
    return textured_by_parts(mesh, {p: procedural_texture(rng, size) for p in range(n)})


# -- domain-randomised rendering ----------------------------------------------------------------------


@dataclass
class View:
    """Camera (orbit around a jittered target), light and the draw that made them."""

    azimuth: float
    elevation: float
    distance: float
    target: tuple[float, float, float]
    ambient: float
    light_dir: tuple[float, float, float]

    def to_meta(self) -> dict:
        return {k: (round(v, 6) if isinstance(v, float) else [round(x, 6) for x in v])
                for k, v in self.__dict__.items()}


def draw_view(rng: np.random.Generator, elevation: tuple[float, float]) -> View:
    """A random view: any azimuth, elevation in range, distance ×0.9–1.3, target ±0.15, random light."""
    az, el = rng.uniform(0, 360), rng.uniform(*elevation)
    dist = DISTANCE * rng.uniform(0.9, 1.3)
    target = tuple(float(t) for t in rng.uniform(-0.15, 0.15, 3))
    # Light travels downward-ish from a random azimuth, 0–60° off vertical.
    la, lt = rng.uniform(0, 2 * math.pi), math.radians(rng.uniform(0, 60))
    d = (-math.sin(lt) * math.cos(la), -math.sin(lt) * math.sin(la), -math.cos(lt))
    return View(float(az), float(el), float(dist), target, float(rng.uniform(0.3, 0.7)), d)


def render(mesh, view: View, size: int, background: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hard render of the normalised textured ``mesh`` over ``background`` (size×size×3 float [0, 1]).

    Returns:
        (uint8 size×size×3 image, bool object mask).
    """
    import torch

    from ..render.camera import Camera
    from .raster import Attributes, Lighting, RasterSettings, rasterize

    m = mesh.normalized(1.0)
    cam = Camera.orbit(view.distance, view.azimuth, view.elevation, view.target, width=size, height=size,
                       fov_y_deg=FOV_Y_DEG)
    light = Lighting(ambient=view.ambient, directional=1.0 - view.ambient, direction=view.light_dir)
    with torch.no_grad():
        out = rasterize(torch.tensor(m.vertices, dtype=torch.float32), torch.tensor(m.faces), [cam], mode="hard",
                        attributes=Attributes.from_mesh(m), lighting=light,
                        settings=RasterSettings(background=(0.0, 0.0, 0.0)))
    rgb = out.rgb[0].permute(1, 2, 0).clamp(0, 1).numpy().astype(np.float64)
    alpha = out.alpha[0, 0].numpy().astype(np.float64)[..., None]
    img = alpha * rgb + (1.0 - alpha) * np.asarray(background, np.float64)
    return (img * 255.0 + 0.5).astype(np.uint8), alpha[..., 0] > 0.5


def photo_crop(photo: np.ndarray, rng: np.random.Generator, size: int) -> np.ndarray:
    """A random square crop (30–100 % of the shorter side) of a uint8 photo, resized to ``size``, float."""
    import cv2

    h, w = photo.shape[:2]
    s = int(min(h, w) * rng.uniform(0.3, 1.0))
    y, x = int(rng.integers(0, h - s + 1)), int(rng.integers(0, w - s + 1))
    crop = cv2.resize(np.ascontiguousarray(photo[y:y + s, x:x + s]), (size, size), interpolation=cv2.INTER_AREA)
    return crop.astype(np.float32) / 255.0


# -- the sets -----------------------------------------------------------------------------------------


def train_members(cfg: DataConfig, family: str) -> list:
    from .builtin import load_mesh

    return [load_mesh(f"builtin:mesh/{family}/{k}") for k in range(cfg.train_members)]


def test_members(cfg: DataConfig, family: str) -> list:
    from .builtin import load_mesh

    return [load_mesh(f"builtin:mesh/{family}/{100 + k}") for k in range(cfg.test_members)]


def style_choice(cfg: DataConfig, ci: int, k: int, j: int, styles: list[np.ndarray], rng: np.random.Generator):
    """Style source index and crop of copy ``j`` of member ``k`` of class ``ci``.

    The source is ``(j·C·M + ci·M + k) mod n_styles`` (round robin over classes and members, so every
    class sees the whole pool; a new copy ``j`` never changes the earlier copies' sources), the crop a
    random square whose side is a :attr:`DataConfig.style_crop` fraction of the shorter side.

    Returns:
        (source index, (y, x, side) of the crop in the source image).
    """
    C, M = len(cfg.classes), cfg.train_members
    s = (j * C * M + ci * M + k) % len(cfg.style_sources)
    h, w = styles[s].shape[:2]
    side = max(8, int(round(min(h, w) * rng.uniform(*cfg.style_crop))))
    y, x = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
    return s, (y, x, side)


def _mesh_arrays(m, extra: dict) -> dict:
    return {"vertices": m.vertices, "faces": m.faces, "uv": m.uv, "texture": m.texture, "face_parts": m.face_parts,
            "part_names": np.array(list(m.part_names)), "name": np.array(m.name),
            "extra": np.array(json.dumps(extra, sort_keys=True))}


def _mesh_from_arrays(z):
    from .mesh import Mesh, check_mesh

    m = check_mesh(Mesh(np.asarray(z["vertices"]), np.asarray(z["faces"]), uv=np.asarray(z["uv"]),
                        texture=np.asarray(z["texture"]), face_parts=np.asarray(z["face_parts"]),
                        part_names=tuple(str(p) for p in z["part_names"]), name=str(z["name"])))
    m.meta = json.loads(str(z["extra"]))
    return m


def stylised_copy(cfg: DataConfig, ci: int, k: int, j: int, member, styles: list[np.ndarray],
                  cache_dir=None):
    """Copy ``j`` of training member ``k`` of class ``ci``, stylised by :func:`traingen.mesh.style.stylize`.

    The style image is a crop of a style source (:func:`style_choice`). With ``cache_dir`` the copy is
    stored there as ``style/FAM-K-J-HASH.npz`` (the hash covers everything that decides it) and
    reused; a fresh copy goes through the same arrays, so a cached run renders the same bytes.

    Returns:
        The stylised mesh; ``meta`` holds the style source, crop, first/last style loss and CPU seconds.
    """
    import hashlib
    import io
    import time
    from pathlib import Path

    from ..core.config import from_dict
    from ..data.cache import atomic_write_bytes
    from .style import StyleConfig, stylize

    fam = cfg.classes[ci]
    s, (y, x, side) = style_choice(cfg, ci, k, j, styles, numpy_rng(cfg.seed, "style-crop", fam, k, j))
    seed = derive_seed(cfg.seed, "style", fam, k, j)
    key = json.dumps({"style": dict(cfg.style), "source": cfg.style_sources[s], "crop": [y, x, side],
                      "mesh": f"{fam}/{k}", "seed": int(seed)}, sort_keys=True)
    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / "style" / f"{fam}-{k}-{j}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.npz"
        if path.is_file():
            with np.load(path, allow_pickle=False) as z:
                return _mesh_from_arrays(z)
    scfg = from_dict(StyleConfig, dict(cfg.style), where="mesh usefulness.style")
    t = time.process_time()
    res = stylize(member, np.ascontiguousarray(styles[s][y:y + side, x:x + side]), scfg, seed=seed)
    extra = {"style": cfg.style_sources[s], "crop": [y, x, side], "key": key,
             "style_loss": [res.style_losses[0], res.style_losses[-1]] if res.style_losses else [],
             "cpu_s": round(time.process_time() - t, 2)}
    arrays = _mesh_arrays(res.mesh, extra)
    if path is not None:
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, buf.getvalue())
    return _mesh_from_arrays(arrays)


def stylised_variants(cfg: DataConfig, ci: int, members: list, styles: list[np.ndarray], cache_dir=None) -> list[list]:
    """``variants`` stylised copies of each member (:func:`stylised_copy`), indexed [member][copy]."""
    return [[stylised_copy(cfg, ci, k, j, m, styles, cache_dir) for j in range(cfg.variants)]
            for k, m in enumerate(members)]


def transferred(cfg: DataConfig, family: str, photo_name: str, photo: np.ndarray, members: list) -> list:
    """The held-out ``members`` textured by texture transfer from one photo (Wang et al. 2016)."""
    import cv2

    from ..core.config import from_dict
    from .texture_pose import PoseConfig
    from .texture_transfer import Photo, TransferConfig, transfer_texture

    k = min(1.0, cfg.transfer_size / max(photo.shape[:2]))
    img = cv2.resize(photo, (round(photo.shape[1] * k), round(photo.shape[0] * k)), interpolation=cv2.INTER_AREA)
    box = PHOTO_BOXES.get(photo_name)
    box = tuple(int(round(v * k)) for v in box) if box else None
    pose = from_dict(PoseConfig, dict(cfg.transfer), where="mesh usefulness.transfer")
    res = transfer_texture([Photo(img.astype(np.float64) / 255.0, None, box, name=photo_name)], members,
                           TransferConfig(pose=pose, texture_size=cfg.texture_size),
                           seed=derive_seed(cfg.seed, "transfer", family, photo_name) % (2**31))
    return res.textured


#: The DataConfig fields that decide the test set (its cache key).
TEST_FIELDS = ("classes", "test_members", "test_per_class", "size", "test_photos", "transfer_size", "transfer",
               "texture_size", "elevation", "seed")


def heldout_key(cfg: DataConfig) -> str:
    """A JSON string of the settings that decide the test set (the key of ``test.npz``)."""
    from ..core.config import to_dict

    d = to_dict(cfg)
    return json.dumps({f: d[f] for f in TEST_FIELDS}, sort_keys=True)


def save_set(path, key: str, s: ImageSet, cpu_s: dict) -> None:
    """One :class:`ImageSet` as npz (atomically) with its cache key and the CPU seconds that made it."""
    import io

    from ..data.cache import atomic_write_bytes

    buf = io.BytesIO()
    np.savez_compressed(buf, key=np.array(key), images=s.images, labels=s.labels, masks=s.masks,
                        meta=np.array(json.dumps(s.meta)), cpu_s=np.array(json.dumps(cpu_s)))
    atomic_write_bytes(path, buf.getvalue())


def load_set(path, key: str) -> tuple[ImageSet, dict] | None:
    """The set saved at ``path`` with the same key, and its CPU seconds; ``None`` if absent or stale."""
    from pathlib import Path

    if not Path(path).is_file():
        return None
    with np.load(path, allow_pickle=False) as z:
        if str(z["key"]) != key:
            return None
        return (ImageSet(z["images"], z["labels"], z["masks"], json.loads(str(z["meta"]))),
                json.loads(str(z["cpu_s"])))


def _pack(parts) -> ImageSet:
    imgs, labels, masks, meta = parts
    return ImageSet(np.stack(imgs), np.asarray(labels, np.int64), np.stack(masks), list(meta))


def build_test(cfg: DataConfig, *, on_stage=None) -> tuple[ImageSet, dict]:
    """The test set: held-out members textured by transfer from the held-out photos, over their crops."""
    import time

    note = on_stage or (lambda _s: None)
    photos = {p: embedded_image(f"photos/{p}") for p in cfg.test_photos}
    S = cfg.size
    test: tuple[list, list, list, list] = ([], [], [], [])
    cpu = {"transfer": 0.0, "render": 0.0}
    for ci, fam in enumerate(cfg.classes):
        note(f"transfer {fam}")
        held = test_members(cfg, fam)
        t = time.process_time()
        textured = {p: transferred(cfg, fam, p, photos[p], held) for p in cfg.test_photos}
        cpu["transfer"] += time.process_time() - t
        t = time.process_time()
        for n in range(cfg.test_per_class):
            k, p = n % len(held), cfg.test_photos[(n // len(held)) % len(cfg.test_photos)]
            rng = numpy_rng(cfg.seed, "test-view", fam, n)
            view = draw_view(rng, cfg.elevation)
            bg_photo = cfg.test_photos[int(rng.integers(len(cfg.test_photos)))]
            img, mask = render(textured[p][k], view, S, photo_crop(photos[bg_photo], rng, S))
            for lst, v in zip(test, (img, ci, mask, {"member": 100 + k, "texture": f"photos/{p}",
                                                     "background": f"photos/{bg_photo}", **view.to_meta()}),
                              strict=True):
                lst.append(v)
        cpu["render"] += time.process_time() - t
    return _pack(test), {k: round(v, 2) for k, v in cpu.items()}


def build_data(cfg: DataConfig, *, on_stage=None, cache_dir=None) -> UsefulnessData:
    """Render the three training sets and the test set (module doc); ``on_stage(name)`` reports progress.

    With ``cache_dir``, stylised copies (``style/``) and the test set (``test.npz``, keyed by
    :data:`TEST_FIELDS`) are reused from there and written there. ``cpu_s`` gives the CPU seconds
    spent in this call per stage, and ``style_all``/``test_all``: those of every copy and of the
    test set whether made now or earlier.
    """
    import time
    from pathlib import Path

    note = on_stage or (lambda _s: None)
    cpu: dict[str, float] = {"style": 0.0, "render": 0.0}
    t0 = time.process_time()
    styles = [embedded_image(s) for s in cfg.style_sources]
    S = cfg.size
    train = {a: ([], [], [], []) for a in ARMS}
    style_all = 0.0
    for ci, fam in enumerate(cfg.classes):
        members = train_members(cfg, fam)
        note(f"style {fam}")
        t = time.process_time()
        variants = stylised_variants(cfg, ci, members, styles, cache_dir)
        cpu["style"] += time.process_time() - t
        style_all += sum(v.meta["cpu_s"] for row in variants for v in row)
        t = time.process_time()
        for n in range(cfg.per_class):
            k = n % len(members)
            rng = numpy_rng(cfg.seed, "train-view", fam, n)
            view = draw_view(rng, cfg.elevation)
            bg = procedural_texture(rng, S, (*PROCEDURAL_KINDS, "flat"))
            for arm in ARMS:
                trng = numpy_rng(cfg.seed, "texture", arm, fam, n)
                extra = {}
                if arm == "stylised":
                    j = int(trng.integers(cfg.variants))
                    mesh, src, extra = variants[k][j], variants[k][j].meta["style"], {"copy": j}
                else:
                    mesh, src = arm_texture(arm, members[k], trng), arm
                img, mask = render(mesh, view, S, bg)
                meta = {"member": k, "texture": src, **extra, **view.to_meta()}
                for lst, v in zip(train[arm], (img, ci, mask, meta), strict=True):
                    lst.append(v)
        cpu["render"] += time.process_time() - t
    cached = load_set(Path(cache_dir) / "test.npz", heldout_key(cfg)) if cache_dir is not None else None
    if cached is None:
        test, test_cpu = build_test(cfg, on_stage=note)
        if cache_dir is not None:
            save_set(Path(cache_dir) / "test.npz", heldout_key(cfg), test, test_cpu)
        cpu.update({f"test_{k}": v for k, v in test_cpu.items()})
    else:
        test, test_cpu = cached
        note("test set reused")
    cpu["total"] = time.process_time() - t0
    cpu["style_all"] = style_all
    cpu["test_all"] = sum(test_cpu.values())
    return UsefulnessData({a: _pack(train[a]) for a in ARMS}, test, cfg.classes,
                          {k: round(v, 2) for k, v in cpu.items()})
