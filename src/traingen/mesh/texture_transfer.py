"""Texture transfer from photos to a model collection (Wang et al. 2016), by optimisation.

The pipeline, one stage per module:

1. retrieval and pose — :mod:`traingen.mesh.texture_pose` (silhouette IoU over a pose grid per model,
   then gradient refinement of the camera and per-part scales through the Soft Rasterizer); the
   mask is given, or comes from GrabCut on a box (:func:`~traingen.mesh.texture_shading.grabcut_mask`).
   After a first pass of stages 2–5, the pose is refined again on the photo's colours against a
   re-render of that first albedo (``PoseConfig.photo_steps``; kept when its loss fell), and stages
   2–5 run again at the new pose;
2. per-pixel part labels, normals and depth from the aligned model, and 3. illumination removal —
   :mod:`traingen.mesh.texture_shading`; pixels whose colour is not their model part's
   (:func:`~traingen.mesh.texture_shading.part_colour_outliers`) are left out of the light fit and of
   the back-projection; 3b. the photo registered non-rigidly to the aligned model's silhouette
   (:mod:`traingen.mesh.texture_warp`), so that a shape that is not in the collection still sends each
   model pixel the photo pixel of the same surface point;
4. back-projection (through that registration) into each part's canonical UV chart with a depth test,
   most frontal sample per texel, 5. completion by mirror symmetry then quilting, and 6. shape-to-shape transfer through
   shared part names and canonical UVs at constant texel density — :mod:`traingen.mesh.texture_charts`.

Wang et al. learn predictors (for pose, and a network for intrinsic decomposition); here they are
replaced by optimisation through the rasterizer and by exact renders of the aligned model.

Example:
    >>> from traingen.mesh.procedural import family_member
    >>> coll = [family_member("cup", np.random.default_rng(k)) for k in (1, 2)]
    >>> res = transfer_texture([photo], coll, TransferConfig())            # doctest: +SKIP
    >>> res.textured[0].texture.shape                                      # doctest: +SKIP

References:
    Wang, Su, Huang, Huang, Guibas & Mitra, "Unsupervised Texture Transfer from Images to Model
    Collections", ACM Trans. Graph. 35(6) (SIGGRAPH Asia), 2016.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import torch

from ..core.errors import ConfigError, DataError
from .mesh import Mesh
from .raster import Attributes, RasterSettings, rasterize
from .texture_charts import (
    back_project,
    chart_lengths,
    complete_by_quilting,
    complete_by_symmetry,
    mirror_planes,
    pack_parts,
    resample_for_density,
    texel_geometry,
)
from .texture_pose import Alignment, PoseConfig, align, mask_iou, refine_photometric, scale_parts, silhouette
from .texture_shading import (
    LUMA,
    LightFit,
    fit_lighting,
    gbuffer,
    grabcut_mask,
    part_colour_outliers,
    remove_illumination,
    unreliable_pixels,
)
from .texture_warp import silhouette_flow, warp_image


@dataclass
class TransferConfig:
    """Texture-transfer settings: the pose search, the chart resolution, completion, and the cut-off (in
    robust scales) of the part-colour test that drops pixels from the light fit and the back-projection
    (:func:`~traingen.mesh.texture_shading.part_colour_outliers`; ``None``: off), and the silhouette
    registration before back-projection (:func:`~traingen.mesh.texture_warp.silhouette_flow`: control-grid
    cells per side, ``None``: off; membrane weight)."""

    pose: PoseConfig = field(default_factory=PoseConfig)
    texture_size: int = 64
    symmetry: bool = True
    quilt_block: int = 12
    depth_tol: float = 0.01
    colour_outlier_k: float | None = 5.0
    warp_cells: int | None = 8
    warp_smooth: float = 1.0

    def __post_init__(self) -> None:
        if self.warp_cells is not None and not self.warp_cells >= 1:
            raise ConfigError(f"warp_cells must be >= 1 or None, got {self.warp_cells}", where="texture-transfer",
                              field="warp_cells")
        if self.colour_outlier_k is not None and not self.colour_outlier_k > 0:
            raise ConfigError(f"colour_outlier_k must be > 0 or None, got {self.colour_outlier_k}",
                              where="texture-transfer", field="colour_outlier_k")


@dataclass
class Photo:
    """One input photo: H×W×3 float in [0, 1], and its object mask (H×W, or ``None`` for GrabCut)."""

    image: np.ndarray
    mask: np.ndarray | None = None
    box: tuple[int, int, int, int] | None = None
    name: str = "photo"


@dataclass
class PhotoResult:
    """What one photo gave: alignment, light, albedo image, re-render and its PSNR on the mask."""

    name: str
    alignment: Alignment
    light: LightFit
    mask: np.ndarray
    albedo: np.ndarray
    rerender: np.ndarray
    rerender_psnr: float
    excluded: np.ndarray | None = None
    flow: np.ndarray | None = None


@dataclass
class TransferResult:
    """Part textures in the source model's charts, the observed texels, and the textured collection."""

    source_index: int
    part_textures: dict[int, np.ndarray]
    observed: dict[int, np.ndarray]
    photos: list[PhotoResult]
    textured: list[Mesh]
    densities: list[dict[str, tuple[float, float]]]


def psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    """PSNR in dB of ``a`` against ``b`` (values in [0, 1]) over ``mask`` (all when ``None``)."""
    d = (np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2
    if mask is not None:
        d = d[np.asarray(mask, bool)]
    mse = float(d.mean()) if d.size else 0.0
    return float("inf") if mse == 0 else float(10 * np.log10(1.0 / mse))


def render_textured(mesh: Mesh, camera, light: LightFit | None = None, *, mode: str = "hard") -> np.ndarray:
    """RGB (H×W×3) of a textured mesh in ``camera`` with ``light`` (unlit when ``None``)."""
    out = rasterize(torch.tensor(mesh.vertices, dtype=torch.float64), torch.tensor(mesh.faces), camera, mode=mode,
                    attributes=Attributes.from_mesh(mesh, dtype=torch.float64),
                    lighting=light.lighting() if light is not None else None, settings=RasterSettings())
    return out.rgb[0].permute(1, 2, 0).numpy()


def _photo_mask(photo: Photo, seed: int) -> np.ndarray:
    if photo.mask is not None:
        m = np.asarray(photo.mask, np.float32)
        if m.shape != photo.image.shape[:2]:
            raise DataError(f"mask {m.shape} does not match image {photo.image.shape[:2]}", where=photo.name,
                            field="mask")
        return (m > 0.5).astype(np.float32)
    return grabcut_mask(photo.image, photo.box, seed=seed)


def observe(photo: Photo, collection: list[Mesh], cfg: TransferConfig, *, seed: int = 0) -> PhotoResult:
    """Stages 1–3 for one photo: align a model, render its G-buffer, fit the light, divide it out."""
    img = np.asarray(photo.image, np.float64)
    if img.ndim != 3 or img.shape[2] != 3 or not np.isfinite(img).all():
        raise DataError(f"a photo must be a finite H×W×3 image, got {img.shape}", where=photo.name, field="image")
    mask = _photo_mask(photo, seed)
    return _delight(photo, mask, align(mask, collection, cfg.pose), cfg)


def _delight(photo: Photo, mask: np.ndarray, al: Alignment, cfg: TransferConfig) -> PhotoResult:
    """Stages 2–3 at a given alignment: G-buffer, light fit, albedo."""
    img = np.asarray(photo.image, np.float64)
    H, W = mask.shape
    cam = al.pose.camera(W, H, cfg.pose.fov_y_deg)
    gb = gbuffer(al.mesh, cam)
    seen = mask > 0.5
    # The light is fitted on every model pixel the photo's mask also covers: dropping the unreliable ones
    # (rims, the thin handle) loses the uniform parts and the terminator that pin the light (measured 20°
    # off instead of 5°), but model pixels on the photo's background are not the object at all.
    # Model pixels whose colour is not their part's (part_colour_outliers: the aligned model's part drawn
    # over another part of the photographed object) are no observation of that part: left out of the
    # light fit, filled like the unreliable pixels, and never back-projected into a texel.
    on = gb.mask & seen
    excluded = np.zeros_like(on)
    if cfg.colour_outlier_k is not None:
        excluded = part_colour_outliers(img, gb, on, k=cfg.colour_outlier_k)
    fit = on & ~excluded
    light = fit_lighting(img[fit] @ LUMA, gb.normal[fit], gb.part[fit])
    unreliable = unreliable_pixels(gb, valid=seen) | excluded
    albedo = remove_illumination(img, gb, light, unreliable=unreliable)
    flow = None
    if cfg.warp_cells is not None:  # stage 3b: the photo registered non-rigidly to the model's silhouette
        flow = silhouette_flow(gb.mask, seen, cells=cfg.warp_cells, smooth=cfg.warp_smooth)
    return PhotoResult(photo.name, al, light, mask, albedo, np.zeros_like(img), float("nan"), excluded, flow)


def _own_textures(m: Mesh, src: Mesh, textures: dict[int, np.ndarray], size: int) -> dict[int, np.ndarray]:
    """``m``'s part textures from the source's, by part name (mid grey for a part the source lacks)."""
    fill = np.full((size, size, 3), 0.5, np.float32)
    return {p: textures[src.part_names.index(n)] if n in src.part_names else fill for p, n in enumerate(m.part_names)}


def _photometric_pass(photo: Photo, r: PhotoResult, collection: list[Mesh], src: Mesh,
                      textures: dict[int, np.ndarray], cfg: TransferConfig) -> PhotoResult:
    """Refine ``r``'s pose on the re-render of the current albedo estimate, then redo stages 2–3 there
    (kept only when the photometric loss fell)."""
    base = collection[r.alignment.model_index]
    textured = pack_parts(base, _own_textures(base, src, textures, cfg.texture_size))
    pose, losses = refine_photometric(photo.image, r.mask, base, r.alignment.pose,
                                      Attributes.from_mesh(textured, dtype=torch.float32), r.light.lighting(),
                                      cfg.pose)
    if not losses or losses[-1] >= losses[0]:
        return r
    H, W = r.mask.shape
    scaled = scale_parts(base, pose.scales)
    iou = mask_iou(silhouette(scaled, pose.camera(W, H, cfg.pose.fov_y_deg)), r.mask)
    al = replace(r.alignment, pose=pose, mesh=scaled, iou=iou, photo_losses=losses)
    return _delight(photo, r.mask, al, cfg)


def src_part_id(r: PhotoResult, name: str) -> int:
    """The index of part ``name`` in the model a photo was aligned to (−2, matching no pixel, if absent)."""
    names = r.alignment.mesh.part_names
    return names.index(name) if name in names else -2


def _source(results: list[PhotoResult], collection: list[Mesh]) -> tuple[int, Mesh]:
    """The model most photos retrieved, as aligned (part-scaled) by the first photo that retrieved it."""
    votes = np.bincount([r.alignment.model_index for r in results], minlength=len(collection))
    src_idx = int(np.argmax(votes))
    return src_idx, results[[r.alignment.model_index for r in results].index(src_idx)].alignment.mesh


def _registered(r: PhotoResult, gb) -> tuple[np.ndarray, np.ndarray]:
    """The albedo each model pixel sees and the part map for back-projection: through the silhouette flow
    when there is one (model pixel x reads the albedo at x + d(x)); pixels whose bilinear sample touches an
    excluded pixel, or is at least half the photo's background, are no observation (part −1)."""
    bad = np.zeros(gb.part.shape, bool) if r.excluded is None else r.excluded
    if r.flow is None:
        return r.albedo, np.where(bad, -1, gb.part)
    albedo = warp_image(r.albedo, r.flow)
    bad = (warp_image(bad.astype(np.float64), r.flow) > 1e-6) | (warp_image(r.mask, r.flow) < 0.5)
    return albedo, np.where(bad, -1, gb.part)


def _back_project_all(results: list[PhotoResult], src: Mesh, cfg: TransferConfig, seed: int
                      ) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray]]:
    """Stages 4–5: every photo's albedo into the source's part charts, then completion."""
    S = cfg.texture_size
    textures, observed = {}, {}
    axes = mirror_planes(src) if cfg.symmetry else []
    centre = src.bounds().mean(0)
    rng = np.random.default_rng(seed)
    cams = [r.alignment.pose.camera(r.mask.shape[1], r.mask.shape[0], cfg.pose.fov_y_deg) for r in results]
    gbs = [gbuffer(r.alignment.mesh, c) for r, c in zip(results, cams, strict=True)]
    for p, name in enumerate(src.part_names):
        layers = texel_geometry(src, p, S)
        best = None
        for r, cam, gb in zip(results, cams, gbs, strict=True):
            m = r.alignment.mesh
            if name not in m.part_names:
                continue
            mp = m.part_names.index(name)
            lay = layers if m is src else texel_geometry(m, mp, S)
            albedo, part_map = _registered(r, gb)
            best = back_project(albedo, gb.point, part_map, cam, mp, lay, best, depth_tol=cfg.depth_tol)
        tex, score = best if best is not None else (np.zeros((S, S, 3)), np.zeros((S, S)))
        seen = score > 0
        lu, lv = chart_lengths(src, p)
        if cfg.symmetry:
            tex, seen_sym = complete_by_symmetry(tex, score, layers, axes, centre, 1.5 * max(lu, lv) / S)
        else:
            seen_sym = seen
        # A part seen in no texel: the mean albedo of its pixels, else of all object pixels.
        pix = [r.albedo[gb.part == src_part_id(r, name)] for r, gb in zip(results, gbs, strict=True)]
        pix = np.concatenate(pix) if sum(len(x) for x in pix) else np.concatenate([r.albedo[gb.mask] for r, gb
                                                                                 in zip(results, gbs, strict=True)])
        tex = complete_by_quilting(tex, seen_sym, rng, block=cfg.quilt_block, fallback=pix.mean(0))
        textures[p], observed[p] = tex.astype(np.float32), seen
    return textures, observed


def transfer_texture(photos: list[Photo], collection: list[Mesh], cfg: TransferConfig | None = None, *,
                     seed: int = 0, on_stage=None) -> TransferResult:
    """Run the whole pipeline (see module doc).

    Args:
        photos: photos of objects of the collection's class, each aligned separately. The model most
            photos retrieve is the source; a photo retrieving another model still contributes through
            the shared part names and canonical charts.
        collection: part-labelled models with canonical per-part UV charts.
        cfg: settings.
        seed: completion (quilting) and GrabCut seed.
        on_stage: called with a stage name as the run progresses.

    Returns:
        :class:`TransferResult`; ``textured[i]`` is ``collection[i]`` with a packed atlas texture.
    """
    cfg = cfg or TransferConfig()
    if not photos:
        raise DataError("no photos given", where="texture-transfer", field="photos")
    for m in collection:
        if m.uv is None or m.face_parts is None:
            raise DataError("collection models need UVs and part labels", where=m.name, field="uv")
    note = on_stage or (lambda _s: None)
    results = []
    for k, ph in enumerate(photos):
        note(f"align {ph.name}")
        results.append(observe(ph, collection, cfg, seed=seed + k))
    src_idx, src = _source(results, collection)
    note("back-project")
    textures, observed = _back_project_all(results, src, cfg, seed)
    if cfg.pose.photo_steps > 0:
        note("photometric pose")
        results = [_photometric_pass(ph, r, collection, src, textures, cfg)
                   for ph, r in zip(photos, results, strict=True)]
        src_idx, src = _source(results, collection)
        textures, observed = _back_project_all(results, src, cfg, seed)
    S = cfg.texture_size
    note("transfer")
    textured, densities = [], []
    src_len = {name: chart_lengths(src, p) for p, name in enumerate(src.part_names)}
    for m in collection:
        part_tex, dens = {}, {}
        for p, name in enumerate(m.part_names):
            if name in src.part_names:
                sp = src.part_names.index(name)
                dst = chart_lengths(m, p)
                t = resample_for_density(textures[sp], src_len[name], dst)
            else:  # a part the source lacks: its mean colour
                dst = chart_lengths(m, p)
                t = np.full((S, S, 3), np.mean([v.mean((0, 1)) for v in textures.values()], 0), np.float32)
            part_tex[p] = t
            dens[name] = (t.shape[1] / dst[0], t.shape[0] / dst[1])
        textured.append(pack_parts(m, part_tex))
        densities.append(dens)
    note("re-render")
    for r, ph in zip(results, photos, strict=True):
        m = r.alignment.mesh
        cam = r.alignment.pose.camera(r.mask.shape[1], r.mask.shape[0], cfg.pose.fov_y_deg)
        r.rerender = render_textured(pack_parts(m, _own_textures(m, src, textures, S)), cam, r.light)
        r.rerender_psnr = psnr(r.rerender, ph.image, gbuffer(m, cam).mask & (r.mask > 0.5))
    return TransferResult(src_idx, textures, observed, results, textured, densities)
