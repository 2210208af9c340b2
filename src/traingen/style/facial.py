"""Photo-realistic facial texture transfer: region-wise texture transfer between faces that keeps identity.

Kaur et al. (FaceTex) transfer the fine texture of one face (skin, hair, wrinkles) to another while keeping
the target's identity: Li & Wand's CNN-MRF style transfer plus a *facial semantic regularisation* made of a
face prior (changes smoothly suppressed around the meso-structures: eyes, nose, mouth) and a facial
structure loss; the image starts from the content face. Here:

- texture: per facial region (skin to skin, hair to hair, eyes to eyes, ...), guided by region label maps
  of both faces, either Gram matrices (``texture_loss: gram``, the default,
  :func:`traingen.style.photo.guided_style_loss`) or FaceTex's nearest-neural-patch loss (``mrf``,
  :class:`traingen.style.mrf.MrfLoss`). With the weights-free random filter bank the MRF loss lost the
  identity (structure SSIM 0.49 vs 0.83 for Gram, docs/style.md), so Gram stays the default;
- structure: the content loss at a deep tap (VGG's ``relu4_2``; FaceTex's structure loss reads a face
  network, which cannot be loaded offline) keeps the face's layout;
- face prior: a pixel loss weighted by a smooth map of the meso-structures (Gaussian-blurred eyes, nose
  and mouth masks), so these identity-carrying parts change least;
- initialisation from the content face (``init: content``);
- optional photorealism: the matting-Laplacian term of Luan et al. (``photo_weight``);
- ``crop_to_face``: the transfer runs between the two face boxes at ``size`` and is pasted back, so a face
  that covers a small part of its photo is worked on at full detail. The defaults (session 9) are the
  photo-like settings measured in session 8: ``crop_to_face=True, size=256, evaluations=60, tv_weight=0.1,
  photo_weight=0.02`` (:mod:`.face_metrics`, docs/style.md).

Outside the face (label 0) the content photo is kept: the result is composited with a feathered mask.

Shipped faces with region masks: ``astronaut`` (``builtin:photos/astronaut``) and ``grace_hopper``
(matplotlib's sample photo); their masks are made by ``scripts/face_masks.py``. Address them as
``face:astronaut`` / ``face:grace_hopper`` in the CLI, or pass your own image and HxW label map.

Example:
    >>> img_a, mask_a = load_face("astronaut")
    >>> img_b, mask_b = load_face("grace_hopper")
    >>> out = Facial(FacialConfig())(img_a, img_b, content_mask=mask_a, style_mask=mask_b)  # ~85 CPU s

References:
    Kaur, Zhang, Dana, "Photo-realistic Facial Texture Transfer", arXiv 1706.04306, 2017.
    Li, Wand, "Combining Markov Random Fields and Convolutional Neural Networks for Image Synthesis", CVPR 2016
    (the patch loss of ``texture_loss: mrf``, :mod:`traingen.style.mrf`).
    Gatys, Ecker, Bethge, "Image Style Transfer Using Convolutional Neural Networks", CVPR 2016.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal

import numpy as np

from ..core.config import to_dict
from ..core.errors import DataError
from ..core.seeding import torch_generator
from .base import METHODS, StyleResult, resize_mask, to_uint8
from .gatys import GatysConfig, OptimisationMethod, prepare_pair, stylize_tensor
from .mrf import MrfLoss
from .photo import guided_style_loss, laplacian_to_torch, matting_laplacian, photorealism_loss

#: Region labels of the face masks.
REGIONS = {0: "background", 1: "skin", 2: "hair", 3: "eyes", 4: "nose", 5: "mouth"}
STRUCTURES = (3, 4, 5)
SHIPPED_FACES = ("astronaut", "grace_hopper")
#: Style taps used when the config names none, per backbone. The random filter bank's large kernels (k15..k55)
#: see far beyond a facial region (10–40 px at 128 px), so their region Grams are ill-posed and turned the face
#: into colour noise; VGG19 keeps its usual taps.
DEFAULT_STYLE_TAPS = {"random-multiscale": ("k3", "k5", "k7", "k11")}


def load_face(name: str) -> tuple[np.ndarray, np.ndarray]:
    """A shipped face photo (HxWx3 uint8) and its region label map (HxW uint8, :data:`REGIONS`)."""
    import cv2

    if name not in SHIPPED_FACES:
        raise DataError(f"unknown face {name!r}; shipped: {', '.join(SHIPPED_FACES)}", field="face")
    if name == "astronaut":
        from ..data import open_source

        img = open_source("builtin:photos/astronaut")[0].image
    else:
        import matplotlib.cbook as cbook
        from PIL import Image

        with Image.open(cbook.get_sample_data("grace_hopper.jpg")) as im:
            img = np.asarray(im.convert("RGB"))
    path = resources.files("traingen.style") / "faces" / f"{name}.png"
    mask = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if mask is None or mask.shape != img.shape[:2]:
        raise DataError("face mask missing or of the wrong size; run scripts/face_masks.py", where=str(path))
    return np.ascontiguousarray(img), mask


def face_box(mask: np.ndarray, margin: float) -> tuple[int, int, int, int]:
    """``(y0, y1, x0, x1)`` of the pixels with label > 0, grown by ``margin`` × the longer side, clipped to the image."""
    ys, xs = np.nonzero(np.asarray(mask) > 0)
    if ys.size == 0:
        raise DataError("the face mask has no face pixels (label > 0)", field="content_mask")
    y0, y1, x0, x1 = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
    m = int(round(margin * max(y1 - y0, x1 - x0)))
    h, w = mask.shape[:2]
    return max(0, y0 - m), min(h, y1 + m), max(0, x0 - m), min(w, x1 + m)


def structure_weights(mask: np.ndarray, sigma: float) -> np.ndarray:
    """HxW float in [0, 1]: the eyes/nose/mouth regions blurred with a Gaussian of ``sigma`` pixels."""
    import cv2

    m = np.isin(mask, STRUCTURES).astype(np.float32)
    if sigma > 0:
        m = cv2.GaussianBlur(m, (0, 0), sigma)
    return m / max(float(m.max()), 1e-6)


@dataclass
class FacialConfig(GatysConfig):
    """:class:`~traingen.style.gatys.GatysConfig` plus the face terms.

    Args:
        size / evaluations: 256 px and 60 L-BFGS evaluations (Gatys: 128 / 50): the face boxes are worked on
            at 256 px (session 8: at 128 px the skin kept 7 % of the content's Laplacian variance; 150
            evaluations gave nothing over 60).
        style_weight / tv_weight: 100 / 0.1 (Gatys: 1e3 / 0). Session 5's TV 10 against colour noise on
            whole images at 64–128 px blurred the face; on the face boxes at 256 px TV 0.1 keeps 0.82 of the
            skin's Laplacian variance (docs/style.md).
        prior_weight: weight of the face-prior pixel loss around eyes, nose and mouth.
        prior_sigma: blur of the structure masks, as a fraction of the image's longer side.
        photo_weight: matting-Laplacian weight, 0.02 (0 turns it off; it costs a sparse build per image): it
            removes most of the colour fringes at TV 0.1 (chroma high-pass 1.82 -> 1.22 of the content's) and
            keeps the identity (SSIM over eyes, nose, mouth 0.83).
        keep_background: composite the result over the content outside the face (label 0).
        crop_to_face: transfer between the two faces' bounding boxes (mask label > 0, plus ``crop_margin``)
            resized to ``size``, then paste the result back into the content at its full size (the output
            keeps the content's size). On by default (session 9); off, the whole images are resized to
            ``size``: at 128 px a face filling a quarter of a 512² photo is ~45 px wide and its region Grams
            turned into colour noise (docs/style.md, session 7).
        crop_margin: margin added around each face box, as a fraction of the box's longer side.
        texture_loss: ``gram`` (region-wise Gram matrices) or ``mrf`` (Li & Wand's nearest-neural-patch loss
            per region, :mod:`traingen.style.mrf`, the loss FaceTex builds on; with the weights-free random
            filter bank it lost the identity in session 8's measurements, so it is not the default).
        mrf_patch / mrf_pool: neural patch size and the average-pooling factor of the maps (``mrf`` only).
    """

    size: int = 256
    evaluations: int = 60
    content_weight: float = 5.0
    style_weight: float = 100.0
    tv_weight: float = 0.1
    prior_weight: float = 10.0
    prior_sigma: float = 0.02
    photo_weight: float = 0.02
    keep_background: bool = True
    crop_to_face: bool = True
    crop_margin: float = 0.15
    texture_loss: Literal["gram", "mrf"] = "gram"
    mrf_patch: int = 3
    mrf_pool: int = 2


@METHODS.register("facial")
class Facial(OptimisationMethod):
    """Region-wise facial texture transfer (Kaur et al.); both region masks are required per call."""

    Config = FacialConfig

    def __call__(self, content: Any, style: Any, *, seed: int = 0, content_mask: np.ndarray | None = None,
                 style_mask: np.ndarray | None = None, **_: Any) -> StyleResult:
        import torch

        cfg = self.config
        if not cfg.style_taps and cfg.backbone in DEFAULT_STYLE_TAPS:
            cfg = dataclasses.replace(cfg, style_taps=DEFAULT_STYLE_TAPS[cfg.backbone])
        if content_mask is None or style_mask is None:
            raise DataError("facial transfer needs region masks of both faces (content_mask, style_mask); "
                            f"shipped faces: {', '.join('face:' + n for n in SHIPPED_FACES)}", field="content_mask")
        if cfg.crop_to_face:
            return self._cropped(content, style, seed, np.asarray(content_mask), np.asarray(style_mask))
        t0 = time.perf_counter()
        c, s = prepare_pair(content, style, cfg.size, cfg.style_size, self.device)
        hw = tuple(c.shape[-2:])
        cm = resize_mask(np.asarray(content_mask), hw)
        sm = resize_mask(np.asarray(style_mask), tuple(s.shape[-2:]))
        w = torch.from_numpy(structure_weights(cm, cfg.prior_sigma * max(hw))).to(c.device)[None, None]
        lap = None
        if cfg.photo_weight > 0:
            lap = laplacian_to_torch(matting_laplacian(c[0].permute(1, 2, 0).cpu().numpy()), self.device)

        mrf: list = []

        def style_term(xm, smaps):
            if cfg.texture_loss == "gram":
                return guided_style_loss(xm, smaps, cm, sm)
            if not mrf:  # built once: the style's patches per tap and region
                mrf.append(MrfLoss(smaps, style_mask=sm, content_mask=cm, patch=cfg.mrf_patch, pool=cfg.mrf_pool,
                                   labels=tuple(REGIONS)[1:] if cfg.keep_background else None))
            return mrf[0](xm)

        def extra(x):
            loss = cfg.prior_weight * (w * (x - c) ** 2).mean()
            if lap is not None:
                loss = loss + cfg.photo_weight * photorealism_loss(x, lap)
            return loss

        x, trace = stylize_tensor(c, s, self.backbone, cfg, torch_generator(seed, "style-facial"), extra, style_term)
        if cfg.keep_background:
            import cv2

            face = cv2.GaussianBlur((cm > 0).astype(np.float32), (0, 0), max(1.0, 0.01 * max(hw)))
            a = torch.from_numpy(face).to(x.device)[None, None]
            x = a * x + (1 - a) * c
        return StyleResult(to_uint8(x), trace.losses, time.perf_counter() - t0, "facial",
                           {"backbone": cfg.backbone, "evaluations": trace.evaluations, "config": to_dict(cfg)})

    def _cropped(self, content: Any, style: Any, seed: int, cmask: np.ndarray, smask: np.ndarray) -> StyleResult:
        """``crop_to_face``: transfer between the face boxes, paste back into the full-size content (uint8)."""
        import cv2

        t0 = time.perf_counter()
        c, s = to_uint8_image(content, "content"), to_uint8_image(style, "style")
        for img, m, f in ((c, cmask, "content_mask"), (s, smask, "style_mask")):
            if m.shape != img.shape[:2]:
                raise DataError(f"mask {m.shape} does not match its image {img.shape[:2]} (crop_to_face needs "
                                "full-size masks)", field=f)
        cy0, cy1, cx0, cx1 = face_box(cmask, self.config.crop_margin)
        sy0, sy1, sx0, sx1 = face_box(smask, self.config.crop_margin)
        inner = Facial(dataclasses.replace(self.config, crop_to_face=False), device=self.device)
        res = inner(c[cy0:cy1, cx0:cx1], s[sy0:sy1, sx0:sx1], seed=seed, content_mask=cmask[cy0:cy1, cx0:cx1],
                    style_mask=smask[sy0:sy1, sx0:sx1])
        up = cv2.resize(res.image, (cx1 - cx0, cy1 - cy0), interpolation=cv2.INTER_CUBIC).astype(np.float32)
        out = c.copy()
        box = c[cy0:cy1, cx0:cx1].astype(np.float32)
        if self.config.keep_background:  # feathered face mask at full resolution, so no seam at the box edge
            sigma = max(1.0, 0.01 * max(c.shape[:2]))
            a = cv2.GaussianBlur((cmask > 0).astype(np.float32), (0, 0), sigma)[cy0:cy1, cx0:cx1, None]
            up = a * up + (1 - a) * box
        out[cy0:cy1, cx0:cx1] = np.clip(np.rint(up), 0, 255).astype(np.uint8)
        info = {**res.info, "face_box": [cy0, cy1, cx0, cx1], "style_box": [sy0, sy1, sx0, sx1],
                "config": to_dict(self.config)}  # the caller's settings (crop_to_face true), not the inner call's
        return StyleResult(out, res.losses, time.perf_counter() - t0, "facial", info)


def to_uint8_image(x: Any, field: str) -> np.ndarray:
    """An H×W×3 uint8 array from any image :func:`traingen.texture.base.to_array` reads (grey repeated to RGB)."""
    from ..texture.base import to_array
    from ..texture.base import to_uint8 as array_to_uint8

    a = array_to_uint8(to_array(x, where=field))
    return np.ascontiguousarray(np.repeat(a[..., None], 3, axis=2) if a.ndim == 2 else a)
