"""Numbers for a facial texture transfer: sharpness, identity (structure) kept, texture moved towards the style.

Kaur et al. judge their transfers by eye (and a user study); to say whether a change to
:mod:`traingen.style.facial` made the output sharper, kept the identity and moved the skin towards the style
face, this module measures three things on uint8 RGB images with the face region maps of
:data:`traingen.style.facial.REGIONS`:

- **sharpness**: the variance of the Laplacian of the luma (Pech-Pacheco et al.'s focus measure) over the
  skin, as a ratio output / content photo (1 = as sharp as the photo, blur pushes it towards 0);
- **colour fringes**: the standard deviation of the high-pass (minus a Gaussian blur, σ 1.5 px) of the YCrCb
  chroma over the face, as a ratio output / content (session 7's colour-noise measure; > 1: coloured
  fringes or blotches the photo does not have);
- **structure**: the mean SSIM (Wang et al. 2004; scikit-image's implementation, Gaussian window σ 1.5)
  between output and content luma over the eyes, nose and mouth (the identity-carrying meso-structures)
  and over the whole face;
- **texture**: statistics of the skin of each face normalised to the same scale (the face box resized to
  ``size`` px on its longer side): CIELAB mean colour, the standard deviation of the luma's high-pass
  (image minus its Gaussian blur, σ 1 px) and the histogram of uniform rotation-invariant local binary
  patterns (Ojala et al. 2002, P 8, R 1). For each, ``moved`` = 1 − d(output, style) / d(content, style):
  0 = still the content's statistic, 1 = the style's (negative: further away than before).

Example:
    >>> rep = transfer_report(out, content, style, content_mask, style_mask)
    >>> rep["sharpness_ratio"], rep["structure_ssim"], rep["texture"]["colour_lab"]["moved"]

References:
    Pech-Pacheco, Cristobal, Chamorro-Martinez, Fernandez-Valdivia, "Diatom autofocusing in brightfield
    microscopy: a comparative study", ICPR 2000 (variance of the Laplacian).
    Wang, Bovik, Sheikh, Simoncelli, "Image quality assessment: from error visibility to structural
    similarity", IEEE TIP 2004.
    Ojala, Pietikainen, Maenpaa, "Multiresolution gray-scale and rotation invariant texture classification
    with local binary patterns", TPAMI 2002.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core.errors import DataError

SKIN = 1
STRUCTURES = (3, 4, 5)
LBP_POINTS = 8


def luma(img: np.ndarray) -> np.ndarray:
    """HxW float64 BT.601 luma in [0, 255] of an HxWx3 uint8 RGB image."""
    a = np.asarray(img)
    if a.ndim != 3 or a.shape[2] != 3:
        raise DataError(f"expected an HxWx3 RGB image, got shape {a.shape}", field="image")
    return a.astype(np.float64) @ np.array([0.299, 0.587, 0.114])


def _region(mask: np.ndarray, labels: tuple[int, ...], shape: tuple[int, ...], field: str) -> np.ndarray:
    m = np.isin(np.asarray(mask), labels)
    if m.shape != tuple(shape[:2]):
        raise DataError(f"mask {m.shape} does not match its image {tuple(shape[:2])}", field=field)
    if not m.any():
        raise DataError(f"the mask has no pixel with label in {labels}", field=field)
    return m


def laplacian_variance(img: np.ndarray, region: np.ndarray) -> float:
    """Variance of the 3×3 Laplacian of the luma (OpenCV's kernel, reflected border) over the True pixels."""
    import cv2

    lap = cv2.Laplacian(luma(img), cv2.CV_64F, ksize=1, borderType=cv2.BORDER_REFLECT_101)
    return float(lap[region].var())


def sharpness_ratio(out: np.ndarray, content: np.ndarray, mask: np.ndarray, labels: tuple[int, ...] = (SKIN,)) -> float:
    """Laplacian variance of ``out`` / that of ``content`` over the pixels of ``mask`` with a label in ``labels``."""
    region = _region(mask, labels, np.shape(content), "content_mask")
    return laplacian_variance(out, region) / max(laplacian_variance(content, region), 1e-12)


def chroma_noise(img: np.ndarray, region: np.ndarray) -> float:
    """Std of the high-pass (image − Gaussian blur σ 1.5 px) of the YCrCb chroma (Cr and Cb) over ``region``."""
    import cv2

    y = cv2.cvtColor(np.asarray(img, np.uint8), cv2.COLOR_RGB2YCrCb).astype(np.float64)
    hp = y - cv2.GaussianBlur(y, (0, 0), 1.5)
    return float(hp[..., 1:][region].std())


def chroma_noise_ratio(out: np.ndarray, content: np.ndarray, mask: np.ndarray,
                       labels: tuple[int, ...] = (1, 2, 3, 4, 5)) -> float:
    """:func:`chroma_noise` of ``out`` / that of ``content`` over the pixels labelled ``labels`` (the face)."""
    region = _region(mask, labels, np.shape(content), "content_mask")
    return chroma_noise(out, region) / max(chroma_noise(content, region), 1e-12)


def structure_ssim(out: np.ndarray, content: np.ndarray, mask: np.ndarray,
                   labels: tuple[int, ...] = STRUCTURES) -> float:
    """Mean of the SSIM map (luma, data range 255, Gaussian window σ 1.5) over the pixels labelled ``labels``."""
    from skimage.metrics import structural_similarity

    region = _region(mask, labels, np.shape(content), "content_mask")
    _, smap = structural_similarity(luma(out), luma(content), data_range=255.0, gaussian_weights=True, sigma=1.5,
                                    use_sample_covariance=False, full=True)
    return float(smap[region].mean())


def normalise_face(img: np.ndarray, mask: np.ndarray, size: int, margin: float = 0.15):
    """The face box (labels > 0 plus ``margin``) of ``img`` and ``mask`` resized to ``size`` px on the longer side."""
    import cv2

    from .facial import face_box

    y0, y1, x0, x1 = face_box(mask, margin)
    s = size / max(y1 - y0, x1 - x0)
    wh = (max(1, round((x1 - x0) * s)), max(1, round((y1 - y0) * s)))
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC
    crop = cv2.resize(np.ascontiguousarray(img[y0:y1, x0:x1]), wh, interpolation=interp)
    return crop, cv2.resize(np.ascontiguousarray(mask[y0:y1, x0:x1]), wh, interpolation=cv2.INTER_NEAREST)


def texture_statistics(img: np.ndarray, region: np.ndarray) -> dict[str, np.ndarray]:
    """CIELAB mean, luma high-pass std (σ 1 px) and the uniform LBP histogram (P 8, R 1) over ``region``."""
    import cv2
    from skimage.feature import local_binary_pattern

    lab = cv2.cvtColor(np.asarray(img, np.float32) / 255.0, cv2.COLOR_RGB2LAB).astype(np.float64)
    y = luma(img)
    hp = y - cv2.GaussianBlur(y, (0, 0), 1.0)
    y8 = np.clip(np.rint(y), 0, 255).astype(np.uint8)  # integer luma: LBP's comparisons are exact
    codes = local_binary_pattern(y8, LBP_POINTS, 1, method="uniform")[region].astype(np.int64)
    hist = np.bincount(codes, minlength=LBP_POINTS + 2).astype(np.float64)
    return {"colour_lab": lab[region].mean(0), "highpass_std": np.array([hp[region].std()]),
            "lbp": hist / max(hist.sum(), 1.0)}


def _distance(key: str, a: np.ndarray, b: np.ndarray) -> float:
    if key == "lbp":  # chi-square distance between histograms
        return float(0.5 * np.sum((a - b) ** 2 / np.maximum(a + b, 1e-12)))
    return float(np.linalg.norm(a - b))


def texture_shift(out: np.ndarray, content: np.ndarray, style: np.ndarray, content_mask: np.ndarray,
                  style_mask: np.ndarray, size: int = 256) -> dict[str, dict[str, Any]]:
    """Per skin statistic: the value for content, style and output, both distances to the style, and ``moved``."""
    c, cm = normalise_face(content, content_mask, size)
    o, _ = normalise_face(out, content_mask, size)
    s, sm = normalise_face(style, style_mask, size)
    sc, so = texture_statistics(c, cm == SKIN), texture_statistics(o, cm == SKIN)
    ss = texture_statistics(s, sm == SKIN)
    res = {}
    for k in sc:
        d0, d1 = _distance(k, sc[k], ss[k]), _distance(k, so[k], ss[k])
        res[k] = {"content": sc[k].round(4).tolist(), "style": ss[k].round(4).tolist(), "out": so[k].round(4).tolist(),
                  "dist_content_style": round(d0, 4), "dist_out_style": round(d1, 4),
                  "moved": round(1.0 - d1 / max(d0, 1e-12), 3)}
    return res


def transfer_report(out: np.ndarray, content: np.ndarray, style: np.ndarray, content_mask: np.ndarray,
                    style_mask: np.ndarray, size: int = 256) -> dict[str, Any]:
    """Sharpness ratio (skin), chroma noise ratio (face), structure SSIM (eyes/nose/mouth, whole face), texture shift.

    Args:
        out, content: HxWx3 uint8 at the same size (the transfer's output keeps the content's size).
        style: the style face, any size; ``content_mask`` / ``style_mask``: HxW region maps of content / style.
        size: the face scale (px, longer side of the face box) of the texture statistics.

    Returns:
        ``{"sharpness_ratio", "chroma_noise_ratio", "structure_ssim", "face_ssim", "texture": {...}}`` (plain
        floats and lists).
    """
    if np.shape(out) != np.shape(content):
        raise DataError(f"output {np.shape(out)} and content {np.shape(content)} differ in size", field="image")
    return {"sharpness_ratio": round(sharpness_ratio(out, content, content_mask), 4),
            "chroma_noise_ratio": round(chroma_noise_ratio(out, content, content_mask), 4),
            "structure_ssim": round(structure_ssim(out, content, content_mask), 4),
            "face_ssim": round(structure_ssim(out, content, content_mask, (1, 2, 3, 4, 5)), 4),
            "texture": texture_shift(out, content, style, content_mask, style_mask, size)}
