"""``builtin:fonts2mnist`` and ``builtin:digits2mnist``: synthetic and small digits made MNIST-like.

``fonts2mnist``: 2,500 digits (250 per class) rendered from the TrueType fonts matplotlib ships
(DejaVu, STIX, Computer Modern; 19 faces) with a random size, stroke width, rotation in ±15° and shear
in ±0.3, then put through the MNIST normalisation (:func:`mnist_normalise`): the ink's bounding box is
scaled to fit 20×20 keeping its aspect ratio, and the result is placed in a 28×28 canvas with its centre
of mass at the centre, as LeCun et al. describe for MNIST. With the fixed 80/20 split rule, 2,000 are
``@train``, the source domain of the CycleGAN fonts → ``mnist5k`` task.

``digits2mnist``: scikit-learn's 1,797 8×8 digits upsampled (bicubic) and normalised the same way.

Every random choice of digit ``i`` comes from ``numpy_rng(SEED, "fonts2mnist", i)``, so the data does not
change between runs or machines (up to FreeType's rasterisation).

References:
    LeCun, Bottou, Bengio & Haffner. "Gradient-based learning applied to document recognition", 1998
    (the MNIST normalisation; yann.lecun.com/exdb/mnist).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core.seeding import numpy_rng
from .builtin import DATASETS, DIGIT_CLASSES, DatasetInfo

SEED = 20_240_801
PER_CLASS = 250
FONTS = ("DejaVuSans", "DejaVuSans-Bold", "DejaVuSans-Oblique", "DejaVuSans-BoldOblique", "DejaVuSerif",
         "DejaVuSerif-Bold", "DejaVuSerif-Italic", "DejaVuSerif-BoldItalic", "DejaVuSansMono",
         "DejaVuSansMono-Bold", "DejaVuSansMono-Oblique", "STIXGeneral", "STIXGeneralBol", "STIXGeneralItalic",
         "STIXGeneralBolIta", "cmr10", "cmb10", "cmss10", "cmtt10")


def mnist_normalise(ink: np.ndarray, *, box: int = 20, size: int = 28) -> np.ndarray:
    """MNIST's normalisation of a grey image with white ink on black (any size).

    Args:
        ink: H×W uint8 or float, ink bright.
        box: the side the ink's bounding box is scaled to fit (aspect kept).
        size: the output side.

    Returns:
        ``size``×``size`` uint8 with the ink's centre of mass at the centre (``size / 2`` in the pixel
        convention where pixel i covers [i, i + 1)).
    """
    import cv2
    from scipy import ndimage

    img = np.asarray(ink, np.float32)
    ys, xs = np.nonzero(img > 0.05 * max(float(img.max()), 1e-6))
    if len(ys) == 0:
        return np.zeros((size, size), np.uint8)
    crop = img[ys.min(): ys.max() + 1, xs.min(): xs.max() + 1]
    h, w = crop.shape
    s = box / max(h, w)
    nh, nw = max(1, round(h * s)), max(1, round(w * s))
    small = cv2.resize(crop, (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC)
    small = np.clip(small, 0, None)
    canvas = np.zeros((size, size), np.float32)
    y0, x0 = (size - nh) // 2, (size - nw) // 2
    canvas[y0:y0 + nh, x0:x0 + nw] = small
    cy, cx = ndimage.center_of_mass(canvas)
    # centre of mass of pixel centres (i + 0.5) must land on size / 2
    shift = (size / 2 - (cy + 0.5), size / 2 - (cx + 0.5))
    moved = ndimage.shift(canvas, shift, order=1, mode="constant", cval=0.0)
    top = float(moved.max()) or 1.0
    return np.clip(np.rint(moved * (255.0 / top)), 0, 255).astype(np.uint8)


def font_paths() -> list[Path]:
    import matplotlib

    root = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    return [root / f"{name}.ttf" for name in FONTS if (root / f"{name}.ttf").is_file()]


def render_digit(digit: int, font: Path, rng: np.random.Generator) -> np.ndarray:
    """One digit: random size (40–72 px), stroke (0–2 px), rotation (±15°), shear (±0.3), normalised."""
    import cv2
    from PIL import Image, ImageDraw, ImageFont

    pt = int(rng.integers(40, 73))
    stroke = int(rng.integers(0, 3))
    f = ImageFont.truetype(str(font), pt)
    canvas = Image.new("L", (160, 160), 0)
    ImageDraw.Draw(canvas).text((80, 80), str(digit), fill=255, font=f, anchor="mm", stroke_width=stroke,
                                stroke_fill=255)
    img = np.asarray(canvas, np.float32)
    angle, shear = float(rng.uniform(-15, 15)), float(rng.uniform(-0.3, 0.3))
    rot = cv2.getRotationMatrix2D((80.0, 80.0), angle, 1.0)
    sh = np.array([[1.0, shear, -shear * 80.0], [0.0, 1.0, 0.0]])
    m = np.vstack([rot, [0, 0, 1]]) @ np.vstack([sh, [0, 0, 1]])
    # the 0.5 conjugation of DESIGN §3 is irrelevant here: the result is re-centred by mnist_normalise
    warped = cv2.warpAffine(img, m[:2], (160, 160), flags=cv2.INTER_LINEAR, borderValue=0)
    return mnist_normalise(warped)


def _load_fonts2mnist() -> dict[str, np.ndarray]:
    fonts = font_paths()
    if not fonts:
        raise OSError("matplotlib ships no TrueType fonts here")
    images, labels = [], []
    for i in range(PER_CLASS * 10):
        digit = i % 10
        rng = numpy_rng(SEED, "fonts2mnist", i)
        images.append(render_digit(digit, fonts[int(rng.integers(len(fonts)))], rng))
        labels.append(digit)
    return {"images": np.stack(images), "labels": np.asarray(labels, np.int64)}


def _load_digits2mnist() -> dict[str, np.ndarray]:
    import cv2
    from sklearn.datasets import load_digits

    d = load_digits()
    up = [cv2.resize(img.astype(np.float32), (40, 40), interpolation=cv2.INTER_CUBIC) for img in d.images]
    return {"images": np.stack([mnist_normalise(np.clip(u, 0, None)) for u in up]),
            "labels": d.target.astype(np.int64)}


DATASETS.register("fonts2mnist")(DatasetInfo(
    "fonts2mnist", "2,500 font-rendered digits, MNIST-normalised (source domain for fonts -> mnist5k)",
    "matplotlib's TrueType fonts (DejaVu, STIX, Computer Modern) rendered by traingen",
    "fonts: DejaVu (Bitstream Vera licence), STIX (OFL 1.1), BaKoMa CM (free); images generated", PER_CLASS * 10,
    "28x28 grey", DIGIT_CLASSES, {"train": 2000, "test": 500}, loader=_load_fonts2mnist))
DATASETS.register("digits2mnist")(DatasetInfo(
    "digits2mnist", "scikit-learn digits upsampled to 28x28, MNIST-normalised", "scikit-learn load_digits()",
    "CC BY 4.0 (UCI ML repository; E. Alpaydin, C. Kaynak)", 1797, "28x28 grey", DIGIT_CLASSES,
    {"train": 1438, "test": 359}, loader=_load_digits2mnist))
