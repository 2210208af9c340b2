"""Per-pixel geometry of an aligned model and illumination removal, for texture transfer.

Step 2 and 3 of Wang et al.'s pipeline, with their learned predictors replaced by exact renders of the
aligned model and a least-squares light fit:

- :func:`gbuffer`: a hard render of the aligned model gives, per pixel, the face, its part label, the
  face normal (flipped toward the camera, as the rasterizer lights faces double-sided), the linear
  depth and the 3D point.
- :func:`fit_lighting`: the photo's luminance ``L`` is modelled as ``c_part · s(n)`` with an albedo
  constant per part and the ambient + directional shading ``s(n) = a + (1 − a)·max(0, n·ℓ)`` (the
  rasterizer's :class:`~traingen.mesh.raster_common.Lighting` with ``ambient = a``, ``directional =
  1 − a``). The scale ambiguity between albedo and light is fixed by that convention: a face turned
  to the light has shading 1. The fit scans ~2,000 light directions on the sphere; for each, the
  part albedos and ``a`` have closed forms (alternated 3 times); the best direction is then refined
  with all parameters by robust (soft-L1) least squares (SciPy), and that refinement is iteratively
  reweighted: each part by the inverse of its robust residual variance (nearly uniform parts, whose
  luminance is shading alone, set the light), and each pixel by Tukey's biweight of its residual (pixels
  where the aligned model's normal is not the photographed surface's — rims and inner edges moved by a
  small pose error — otherwise flatten the fitted shading, as noise in a regressor does).
- :func:`unreliable_pixels`: pixels near a crease, rim or inner occluding edge of the aligned model (a
  normal jump within a few pixels), or where the model covers the photo's background. A pose error of
  a few degrees moves these edges, so there the model's shading belongs to the wrong surface.
- :func:`part_colour_outliers`: model pixels whose chromaticity (independent of a white light's shading)
  is far from their part's: another part of the photographed object under the aligned model's part (a
  held-out shape's handle differs from the nearest model's). They are not observations of that part.
- :func:`remove_illumination`: ``albedo = image / s(n)`` per channel on the object; unreliable pixels
  take instead the albedo of the reliable pixels of their part around them (:func:`fill_from_neighbours`:
  the intrinsic-image prior that albedo is smooth or constant within a part, shading unknown there).
- :func:`grabcut_mask`: a mask from OpenCV's GrabCut initialised with a box, when no mask is given.

Example:
    >>> n = sphere_directions(200)
    >>> lum = 0.8 * (0.3 + 0.7 * np.maximum(n[:, 2], 0))
    >>> light = fit_lighting(lum, n, np.zeros(200, int))
    >>> round(light.ambient, 3), round(light.part_albedo[0], 3)
    (0.3, 0.8)

References:
    Wang, Su, Huang, Huang, Guibas & Mitra, "Unsupervised Texture Transfer from Images to Model
    Collections", SIGGRAPH Asia 2016 (intrinsic decomposition with per-part constant albedo). Land &
    McCann, "Lightness and Retinex Theory", JOSA 1971 (shading smooth, albedo piecewise constant).
    Holland & Welsch, "Robust regression using iteratively reweighted least-squares", 1977. Beaton &
    Tukey, "The fitting of power series ... band-spectroscopic data", Technometrics 1974 (the biweight). Knutsson &
    Westin, "Normalized and Differential Convolution", CVPR 1993 (the fill). Gevers & Smeulders, "Color-based
    object recognition", Pattern Recognition 32(3), 1999 (normalised rgb does not depend on surface
    orientation or light direction). Rother, Kolmogorov & Blake,
    "GrabCut", SIGGRAPH 2004.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ..core.errors import DataError
from ..render.camera import Camera
from .mesh import Mesh
from .raster import Lighting, rasterize

LUMA = np.array([0.299, 0.587, 0.114])


@dataclass
class GBuffer:
    """Per-pixel maps of an aligned model (H×W): ``face`` (−1 off the model), ``part`` (−1 off),
    ``normal`` (H×W×3, toward the camera), ``depth`` (0 off), ``point`` (H×W×3 world)."""

    face: np.ndarray
    part: np.ndarray
    normal: np.ndarray
    depth: np.ndarray
    point: np.ndarray

    @property
    def mask(self) -> np.ndarray:
        return self.face >= 0


@dataclass
class LightFit:
    """Fitted light: ambient ``a``, unit vector ``to_light`` (ℓ), part albedos, the RMS residual and the
    fraction of pixels the robust fit kept."""

    ambient: float
    to_light: tuple[float, float, float]
    part_albedo: dict[int, float]
    rmse: float
    inliers: float = 1.0

    def shading(self, normals: np.ndarray) -> np.ndarray:
        """``a + (1 − a)·max(0, n·ℓ)`` for N×3 (or H×W×3) normals."""
        return self.ambient + (1 - self.ambient) * np.maximum(normals @ np.asarray(self.to_light), 0.0)

    def lighting(self) -> Lighting:
        """The same light as the rasterizer's :class:`Lighting` (direction = −ℓ)."""
        return Lighting(ambient=self.ambient, directional=1 - self.ambient,
                        direction=tuple(-float(x) for x in self.to_light))

    def to_dict(self) -> dict:
        return {"ambient": self.ambient, "to_light": list(self.to_light),
                "part_albedo": {str(k): v for k, v in self.part_albedo.items()}, "rmse": self.rmse,
                "inliers": self.inliers}


def face_normals_toward(mesh: Mesh, camera: Camera) -> np.ndarray:
    """Unit face normals (F×3) flipped to face ``camera`` (as the rasterizer's double-sided lighting)."""
    n = mesh.face_normals()
    centre = mesh.vertices[mesh.faces].mean(1)
    flip = ((camera.eye - centre) * n).sum(1) < 0
    return np.where(flip[:, None], -n, n)


def gbuffer(mesh: Mesh, camera: Camera) -> GBuffer:
    """Hard-render ``mesh`` from ``camera`` into a :class:`GBuffer`."""
    out = rasterize(torch.tensor(mesh.vertices, dtype=torch.float64), torch.tensor(mesh.faces), camera, mode="hard")
    face = out.face_id[0].numpy()
    bary = out.bary[0].numpy()
    on = face >= 0
    fidx = np.where(on, face, 0)
    parts = mesh.face_parts if mesh.face_parts is not None else np.zeros(mesh.n_faces, np.int64)
    part = np.where(on, parts[fidx], -1)
    normal = face_normals_toward(mesh, camera)[fidx] * on[..., None]
    point = (mesh.vertices[mesh.faces[fidx]] * bary[..., None]).sum(-2) * on[..., None]
    return GBuffer(face, part, normal, out.depth[0].numpy(), point)


def _closed_form(L: np.ndarray, r: np.ndarray, parts: np.ndarray, n_parts: int, w: np.ndarray, iters: int = 3):
    """For fixed ``r = max(0, n·ℓ)`` (N×D candidates): part albedos and ambient by weighted alternation."""
    a = np.full(r.shape[1], 0.5)
    wl = (w * L)[:, None]
    for _ in range(iters):
        s = a + (1 - a) * r
        num = np.zeros((n_parts, r.shape[1]))
        den = np.zeros((n_parts, r.shape[1]))
        np.add.at(num, parts, wl * s)
        np.add.at(den, parts, w[:, None] * s * s)
        c = num / np.maximum(den, 1e-12)
        cp = c[parts]
        # L ≈ cp·(r + a(1 − r))  ->  a = Σ w cp(1−r)(L − cp r) / Σ w (cp(1−r))²
        g = cp * (1 - r)
        a = np.clip((w[:, None] * g * (L[:, None] - cp * r)).sum(0)
                    / np.maximum((w[:, None] * g * g).sum(0), 1e-12), 0.0, 1.0)
    s = a + (1 - a) * r
    res = L[:, None] - c[parts] * s
    return a, c, np.sqrt((w[:, None] * res ** 2).sum(0) / w.sum())


def sphere_directions(n: int) -> np.ndarray:
    """``n`` near-uniform unit vectors (Fibonacci sphere)."""
    k = np.arange(n) + 0.5
    z = 1 - 2 * k / n
    phi = k * math.pi * (3 - math.sqrt(5))
    r = np.sqrt(1 - z * z)
    return np.stack([r * np.cos(phi), r * np.sin(phi), z], 1)


def _refine(L, normals, pidx, w, a, d, c):
    """Local weighted robust (soft-L1) least squares on ambient, light direction and part albedos."""
    from scipy.optimize import least_squares

    sw = np.sqrt(w / w.mean())

    def unpack(x):
        th, ph = x[1], x[2]
        return x[0], np.array([np.sin(th) * np.cos(ph), np.sin(th) * np.sin(ph), np.cos(th)]), x[3:]

    def resid(x):
        a_, d_, c_ = unpack(x)
        return L - c_[pidx] * (a_ + (1 - a_) * np.maximum(normals @ d_, 0.0))

    x0 = np.concatenate([[a, float(np.arccos(np.clip(d[2], -1, 1))), float(np.arctan2(d[1], d[0]))], c])
    lo = np.concatenate([[0.0, -np.inf, -np.inf], np.zeros(len(c))])
    hi = np.concatenate([[1.0, np.inf, np.inf], np.full(len(c), np.inf)])
    sol = least_squares(lambda x: sw * resid(x), np.clip(x0, lo + 1e-9, hi - 1e-9), bounds=(lo, hi),
                        loss="soft_l1", f_scale=0.05, max_nfev=200)
    a2, d2, c2 = unpack(sol.x)
    res = resid(sol.x)
    return res, float(a2), d2, c2


def _scan(L, normals, pidx, n_parts, w, dirs):
    best = None
    for lo in range(0, len(dirs), 250):
        d = dirs[lo:lo + 250]
        r = np.maximum(normals @ d.T, 0.0)
        a, c, err = _closed_form(L, r, pidx, n_parts, w)
        j = int(np.argmin(err))
        if best is None or err[j] < best[0]:
            best = (float(err[j]), float(a[j]), d[j], c[:, j])
    return best[1:]


def _robust_scale(res: np.ndarray, pidx: np.ndarray, n_parts: int) -> np.ndarray:
    """Per-part MAD scale of the residuals, inflated for the part's own free albedo (one parameter)."""
    sig = np.zeros(n_parts)
    for p in range(n_parts):
        rp = res[pidx == p]
        sig[p] = 1.4826 * np.median(np.abs(rp - np.median(rp))) * math.sqrt(len(rp) / max(len(rp) - 1, 1))
    return sig


def tukey_weights(u: np.ndarray) -> np.ndarray:
    """Tukey's biweight ``(1 − u²)²`` for ``|u| < 1``, else 0 (``u`` = residual / (c·scale))."""
    return np.where(np.abs(u) < 1, (1 - u * u) ** 2, 0.0)


def fit_lighting(luminance: np.ndarray, normals: np.ndarray, parts: np.ndarray, *,
                 directions: int = 2000, rounds: int = 8, noise_floor: float = 0.01,
                 tukey_c: float | None = 4.685, balance_parts: bool = True, tukey_from: int = 3) -> LightFit:
    """Fit ambient + directional light to per-pixel ``luminance`` (N) given ``normals`` (N×3) and
    part labels (N), with one constant albedo per part (see module doc).

    Two kinds of pixel break the model and, weighted like the others, pull the light toward explaining
    them: a textured part (its albedo is not constant), and pixels where the aligned model's normal is not
    the photographed surface's — a pose error of a degree or two moves rims and inner occluding edges by a
    pixel or two, and there the model's normal can be tens of degrees off. The second kind acts as noise in
    the regressor (errors-in-variables), which flattens the fitted shading: the ambient comes out too high
    and the albedo keeps part of the shading. So after an initial direction scan the fit is iteratively
    reweighted (``rounds`` weighted robust refinements): each part's pixels get weight
    ``1 / (n_p · (σ_p² + noise_floor²))``, ``σ_p`` the robust (MAD) scale of that part's residual under
    the previous fit and ``n_p`` its pixel count, so that nearly uniform parts set the light. A part's
    residual is mostly its texture, spatially correlated and sometimes shading-like, so its evidence does
    not grow with its pixel count: each part weighs as one observation (``balance_parts``; without it the
    large textured body outweighs a small uniform handle). From round ``tukey_from`` on, each pixel also gets
    Tukey's biweight of its residual over ``tukey_c · σ_p`` (``None``: off), so that pixels the model
    cannot explain at all — mostly misregistered rims — drop out. The biweight starts late because it
    rejects whatever the current fit explains worst: from the plain fit, biased by a textured part, that
    would be the uniform part's pixels that correct it (measured: 12° off instead of 0.3°).

    Args:
        luminance: N luminances in [0, 1].
        normals: N×3 unit normals (toward the camera).
        parts: N part labels.
        directions: light directions scanned for the initial fit.
        rounds: weighted refinements (1 = the plain, unweighted fit).
        noise_floor: added to the part scales so that an exactly uniform part gets a finite weight.
        tukey_c: the biweight's cut-off in robust scales (4.685: 95 % efficiency under Gaussian noise).
        balance_parts: weigh each part as one observation (see above).
        tukey_from: the first round whose fit uses the biweight.

    Returns:
        :class:`LightFit`; ``inliers`` is the fraction of pixels with a non-zero final weight.
    """
    L = np.asarray(luminance, np.float64).reshape(-1)
    if len(L) < 4:
        raise DataError("too few object pixels to fit the lighting", where="texture-transfer", field="mask")
    labels, pidx = np.unique(parts, return_inverse=True)
    counts = np.bincount(pidx, minlength=len(labels))
    dirs = sphere_directions(directions)
    w = np.ones(len(L))
    wpix = np.ones(len(L))
    # One scan for the basin; the reweighted rounds only move the light locally (re-scanning every round
    # gave the same light, measured, at 5× the cost).
    a, d, c = _scan(L, normals, pidx, len(labels), w, dirs)
    for k in range(max(1, rounds)):
        res, a, d, c = _refine(L, normals, pidx, w, a, d, c)
        if k == rounds - 1:
            break
        sig = np.maximum(_robust_scale(res, pidx, len(labels)), 1e-12)
        if tukey_c is not None and k + 1 >= tukey_from:
            wpix = tukey_weights(res / (tukey_c * np.maximum(sig[pidx], noise_floor)))
        w = wpix / ((sig[pidx] ** 2 + noise_floor ** 2) * (counts[pidx] if balance_parts else 1))
        if not (w > 0).any():  # cannot happen with a MAD scale, kept as a guard against a degenerate input
            w = np.ones(len(L))
    err = float(np.sqrt((res ** 2).mean()))
    return LightFit(a, tuple(float(x) for x in d), {int(p): float(v) for p, v in zip(labels, c, strict=True)}, err,
                    float((wpix > 0).mean()))


def unreliable_pixels(gb: GBuffer, *, radius: int = 2, max_angle_deg: float = 30.0,
                      valid: np.ndarray | None = None, valid_radius: int = 0) -> np.ndarray:
    """Model pixels (H×W bool) whose shading a small pose error could change abruptly.

    A pixel is unreliable when a model pixel within ``radius`` pixels has a normal more than
    ``max_angle_deg`` away from its own (a crease, a rim, an occluding edge inside the silhouette: a pose
    error of a few pixels moves these, and dividing by the wrong side's shading leaves a wrong albedo),
    or when it lies within ``valid_radius`` of a pixel outside ``valid`` (e.g. the photo's mask: there the
    model covers background).
    """
    import cv2

    n, on = gb.normal, gb.mask
    H, W = on.shape
    pad = radius
    n_p = np.pad(n, ((pad, pad), (pad, pad), (0, 0)))
    on_p = np.pad(on, pad)
    cos_min = math.cos(math.radians(max_angle_deg))
    bad = np.zeros((H, W), bool)
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            if dx * dx + dy * dy > radius * radius or (dx == 0 and dy == 0):
                continue
            sn = n_p[pad + dy:pad + dy + H, pad + dx:pad + dx + W]
            so = on_p[pad + dy:pad + dy + H, pad + dx:pad + dx + W]
            bad |= so & ((n * sn).sum(-1) < cos_min)
    if valid is not None and valid_radius >= 0:
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * valid_radius + 1, 2 * valid_radius + 1))
        bad |= cv2.dilate((~np.asarray(valid, bool)).astype(np.uint8), k) > 0
    return bad & on


def part_colour_outliers(image: np.ndarray, gb: GBuffer, valid: np.ndarray | None = None, *, k: float = 5.0,
                         floor: float = 0.015, dark: float = 0.05) -> np.ndarray:
    """Model pixels (H×W bool) whose photo colour does not belong to the part the model puts there.

    Under a white light the chromaticity ``rgb / (r + g + b)`` does not depend on the shading, so within a
    part it varies only with that part's texture. A pixel whose chromaticity lies more than ``k`` robust
    scales (per channel: 1.4826 · MAD over the part's pixels, at least ``floor``) from its part's median
    is not an observation of that part: typically the aligned model's thin part (a cup's handle) drawn over
    another part of the photographed object whose shape differs (a held-out model), or a pixel mixing two
    parts. Such pixels are what the luminance residual cannot see when the two parts are about as bright.
    A textured part has a wide spread and flags little; a uniform part flags anything of another colour.
    Pixels darker than ``dark`` (sum of channels / 3) have no reliable chromaticity and are never flagged.

    Args:
        image: H×W×3 photo in [0, 1].
        gb: the aligned model's :class:`GBuffer`.
        valid: H×W bool, the pixels to consider (e.g. the photo's mask); all model pixels when ``None``.
        k: the cut-off in robust scales.
        floor: the least scale per chromaticity channel (photo noise; 0.015 ≈ 2 % of a grey's 1/3).
        dark: luminance below which a pixel is not tested.

    Returns:
        The flagged pixels.
    """
    img = np.asarray(image, np.float64)
    tot = img.sum(-1)
    test = gb.mask & (tot / 3 >= dark)
    if valid is not None:
        test &= np.asarray(valid, bool)
    chroma = img / np.maximum(tot, 1e-12)[..., None]
    out = np.zeros(gb.mask.shape, bool)
    for p in np.unique(gb.part[test]):
        sel = test & (gb.part == p)
        c = chroma[sel]
        med = np.median(c, axis=0)
        scale = np.maximum(1.4826 * np.median(np.abs(c - med), axis=0), floor)
        out[sel] = (np.abs(c - med) / scale).max(-1) > k
    return out


def fill_from_neighbours(values: np.ndarray, known: np.ndarray, target: np.ndarray, labels: np.ndarray,
                         sigmas: tuple[float, ...] = (1.5, 3.0, 6.0, 12.0, 24.0)) -> np.ndarray:
    """Fill ``target`` pixels of ``values`` (H×W×C) by normalised Gaussian convolution of the ``known``
    pixels with the same label, widening the kernel until every target has support (a label with no
    known pixel takes the median of its pixels)."""
    import cv2

    out = values.copy()
    for lab in np.unique(labels[target]):
        k = (known & (labels == lab)).astype(np.float64)
        todo = target & (labels == lab)
        if not k.any():  # no reliable pixel on this part: its median value (albedo constant per part)
            out[todo] = np.median(values[labels == lab], axis=0)
            continue
        for sig in sigmas:
            num = cv2.GaussianBlur(values * k[..., None], (0, 0), sig)
            den = cv2.GaussianBlur(k, (0, 0), sig)
            hit = todo & (den > 1e-4)
            out[hit] = num[hit] / den[hit][:, None]
            todo &= ~hit
            if not todo.any():
                break
    return out


def remove_illumination(image: np.ndarray, gb: GBuffer, light: LightFit, *, floor: float = 0.05,
                        unreliable: np.ndarray | None = None) -> np.ndarray:
    """Albedo (H×W×3 float) = image / shading on the model's pixels, 0 elsewhere.

    Pixels flagged ``unreliable`` (see :func:`unreliable_pixels`) take instead the albedo of their reliable
    neighbours on the same part (the intrinsic-image prior: albedo varies smoothly or is constant within
    a part, while the shading there is unknown).
    """
    s = np.maximum(light.shading(gb.normal), floor)
    albedo = np.clip(image / s[..., None], 0.0, 1.0) * gb.mask[..., None]
    if unreliable is not None and unreliable.any():
        albedo = fill_from_neighbours(albedo, gb.mask & ~unreliable, unreliable & gb.mask, gb.part)
    return albedo


def grabcut_mask(image: np.ndarray, box: tuple[int, int, int, int] | None = None, *, iters: int = 5,
                 seed: int = 0) -> np.ndarray:
    """Foreground mask (H×W float32 {0, 1}) by GrabCut inside ``box = (x0, y0, x1, y1)`` (default: the
    image less a 5 % border). OpenCV's GMM initialisation draws from its global RNG, so it is seeded."""
    import cv2

    img = (np.clip(image, 0, 1) * 255).astype(np.uint8) if image.dtype != np.uint8 else image
    H, W = img.shape[:2]
    if box is None:
        box = (round(0.05 * W), round(0.05 * H), round(0.95 * W), round(0.95 * H))
    x0, y0, x1, y1 = box
    if not (0 <= x0 < x1 <= W and 0 <= y0 < y1 <= H):
        raise DataError(f"box {box} is outside the {W}×{H} image", where="texture-transfer", field="box")
    cv2.setRNGSeed(seed)
    mask = np.zeros((H, W), np.uint8)
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.grabCut(np.ascontiguousarray(img[..., ::-1]), mask, (x0, y0, x1 - x0, y1 - y0), bgd, fgd, iters,
                cv2.GC_INIT_WITH_RECT)
    fg = ((mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)).astype(np.uint8)
    n, lab, stats, _ = cv2.connectedComponentsWithStats(fg)
    if n > 1:  # keep the largest component
        fg = (lab == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))).astype(np.uint8)
    return fg.astype(np.float32)
