"""Image reading and writing: EXIF orientation, 16-bit, grey, palette and alpha handled the same everywhere.

Reading (:func:`read_image`, :func:`decode_image`) returns a numpy array in traingen's convention:
``HxW`` for grey, ``HxWx3`` RGB for colour, uint8 unless asked otherwise.

- EXIF orientation is applied (the pixels come back as a viewer shows them).
- 16-bit images (grey ``I;16`` PNG/TIFF, 16-bit RGB/RGBA PNG) become uint8 by ``round(v / 257)``
  (the exact linear map of 0..65535 onto 0..255), or stay uint16 with ``keep_uint16=True``.
- Palette images are expanded to RGB (RGBA when the palette has transparency, then the alpha rule).
- Alpha (RGBA, LA, palette transparency) is dropped by default: the stored colour is returned as is,
  which is what training code expects of e.g. icons saved with transparency. ``alpha="composite"``
  composites over a background colour (white by default) instead; ``alpha="keep"`` returns HxWx4.
- A corrupt, truncated or unreadable file raises :class:`DataError` naming the file.

Writing (:func:`encode_png`, :func:`encode_image`) uses OpenCV's PNG encoder at a low compression
level (fast, and deterministic: the same pixels always give the same bytes). RGB is swapped to
OpenCV's BGR here, once. Images PNG cannot hold (float, more than 4 channels) are stored as ``.npy``.

Example:
    >>> img = read_image("photo.jpg")            # HxWx3 uint8 RGB, EXIF-rotated
    >>> png = encode_png(img)                    # bytes
    >>> assert (decode_image(png) == img).all()
"""

from __future__ import annotations

import io
import os
import struct
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, Literal

import numpy as np

from ..core.errors import DataError

Alpha = Literal["drop", "composite", "keep"]

#: File extensions the folder readers treat as images.
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".npy")

#: Default PNG compression level: 1 encoded a 256x256 photo in 6.1 ms vs 11.1 ms at OpenCV's default 3,
#: for 1.6% more bytes (one thread, this project's CPU machine).
PNG_LEVEL = 1

#: PNG row filters :func:`encode_png` accepts by name (None keeps OpenCV's default, adaptive filtering).
#: "up" encoded a 256x256 render (RGB + uint16 instance and depth planes) in 4.9 ms vs 10.4 ms, with
#: about as many bytes; the render writers use it, the other writers keep the default bytes.
PNG_FILTERS = ("none", "sub", "up", "avg", "paeth")

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_NPY_MAGIC = b"\x93NUMPY"


def read_image(path: str | os.PathLike, *, keep_uint16: bool = False, alpha: Alpha = "drop",
               background: tuple[int, int, int] = (255, 255, 255)) -> np.ndarray:
    """Read an image file into a numpy array (see the module docstring for the rules).

    Args:
        path: the image file (PNG, JPEG, BMP, GIF, TIFF, WebP, PNM, or ``.npy``).
        keep_uint16: return 16-bit images as uint16 instead of converting them to uint8.
        alpha: ``"drop"`` (default), ``"composite"`` over ``background``, or ``"keep"``.
        background: RGB colour used by ``alpha="composite"``.

    Returns:
        HxW (grey) or HxWx3 (RGB) array; HxWx4 with ``alpha="keep"``.

    Raises:
        DataError: the file is missing, corrupt, truncated or of an unsupported kind (names the file).
    """
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise DataError(f"cannot read image: {e.strerror or e}", where=str(path)) from e
    return decode_image(data, where=str(path), keep_uint16=keep_uint16, alpha=alpha, background=background)


def decode_image(data: bytes, *, where: str | None = None, keep_uint16: bool = False, alpha: Alpha = "drop",
                 background: tuple[int, int, int] = (255, 255, 255)) -> np.ndarray:
    """Decode encoded image bytes (same rules and errors as :func:`read_image`)."""
    if alpha not in ("drop", "composite", "keep"):
        raise DataError(f"alpha must be drop, composite or keep, got {alpha!r}", where=where, field="alpha")
    if not data:
        raise DataError("empty image file", where=where)
    if data[:6] == _NPY_MAGIC:
        return _decode_npy(data, where)
    if data[:8] == _PNG_MAGIC and _png_is_16bit_colour(data):
        arr = _decode_png16_colour(data, where)
    else:
        arr = _decode_pil(data, where)
    return _finish(arr, where=where, keep_uint16=keep_uint16, alpha=alpha, background=background)


def _decode_npy(data: bytes, where: str | None) -> np.ndarray:
    try:
        arr = np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise DataError(f"corrupt .npy image: {e}", where=where) from e
    if arr.ndim not in (2, 3) or arr.size == 0:
        raise DataError(f".npy image must be HxW or HxWxC, got shape {arr.shape}", where=where)
    return arr


def _png_is_16bit_colour(data: bytes) -> bool:
    # IHDR is always the first chunk: bit depth at byte 24, colour type at byte 25.
    if len(data) < 26 or data[12:16] != b"IHDR":
        return False
    depth, colour = struct.unpack(">BB", data[24:26])
    return depth == 16 and colour in (2, 6)


def _decode_png16_colour(data: bytes, where: str | None) -> np.ndarray:
    # Pillow reduces 16-bit RGB(A) PNGs to 8 bits on load; OpenCV keeps all 16.
    import cv2

    arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if arr is None:
        raise DataError("corrupt or truncated PNG (16-bit colour)", where=where)
    if arr.ndim == 3 and arr.shape[2] == 3:
        return arr[..., ::-1].copy()
    if arr.ndim == 3 and arr.shape[2] == 4:
        return arr[..., [2, 1, 0, 3]].copy()
    return arr


def _decode_pil(data: bytes, where: str | None) -> np.ndarray:
    from PIL import Image, ImageOps

    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            im = ImageOps.exif_transpose(im)
            return _pil_to_array(im, where)
    except DataError:
        raise
    except Image.DecompressionBombError as e:
        raise DataError(f"image too large to decode safely: {e}", where=where) from e
    except (OSError, SyntaxError, ValueError, EOFError, struct.error) as e:
        # Pillow reports truncation as OSError("image file is truncated ...") and unknown formats as
        # UnidentifiedImageError (an OSError): both mean the file is not a usable image.
        raise DataError(f"corrupt, truncated or unsupported image ({e})", where=where) from e


def _pil_to_array(im: Any, where: str | None) -> np.ndarray:
    mode = im.mode
    if mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    elif mode == "PA":
        im = im.convert("RGBA")
    elif mode in ("1",):
        im = im.convert("L")
    elif mode in ("CMYK", "YCbCr", "LAB", "HSV"):
        im = im.convert("RGB")
    elif mode == "La":
        im = im.convert("LA")
    elif mode == "RGBa":
        im = im.convert("RGBA")
    mode = im.mode
    if mode in ("L", "RGB", "RGBA", "LA"):
        return np.asarray(im).copy()
    if mode.startswith("I;16"):
        return np.asarray(im).astype(np.uint16)
    if mode == "I":
        arr = np.asarray(im)
        if arr.size and (arr.min() < 0 or arr.max() > 65535):
            raise DataError(f"32-bit integer image with values outside 0..65535 (mode {mode})", where=where)
        return arr.astype(np.uint16)
    raise DataError(f"unsupported image mode {mode!r}; expected grey, RGB, RGBA, palette or 16-bit", where=where)


def _finish(arr: np.ndarray, *, where: str | None, keep_uint16: bool, alpha: Alpha,
            background: tuple[int, int, int]) -> np.ndarray:
    if arr.ndim == 3 and arr.shape[2] in (2, 4):
        colour, a = arr[..., :-1], arr[..., -1]
        if alpha == "keep":
            if arr.shape[2] == 2:  # grey + alpha: make it RGBA so "keep" has one layout
                arr = np.concatenate([np.repeat(colour, 3, axis=2), a[..., None]], axis=2)
        elif alpha == "drop":
            arr = colour[..., 0] if arr.shape[2] == 2 else colour
        else:
            arr = _composite(colour, a, background)
    if arr.dtype == np.uint16 and not keep_uint16:
        arr = uint16_to_uint8(arr)
    return np.ascontiguousarray(arr)


def _composite(colour: np.ndarray, a: np.ndarray, background: tuple[int, int, int]) -> np.ndarray:
    top = 65535.0 if colour.dtype == np.uint16 else 255.0
    if colour.shape[2] == 1:
        colour = np.repeat(colour, 3, axis=2)
    w = a.astype(np.float64)[..., None] / top
    bg = np.asarray(background, np.float64) * (top / 255.0)
    out = colour.astype(np.float64) * w + bg * (1.0 - w)
    return np.clip(np.rint(out), 0, top).astype(colour.dtype)


def uint16_to_uint8(arr: np.ndarray) -> np.ndarray:
    """Map 0..65535 linearly onto 0..255 with rounding: ``round(v / 257)``, exact for ``v = 257 * k``."""
    return ((arr.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)


def png_can_hold(image: np.ndarray) -> bool:
    """True for uint8/uint16 images with 1, 3 or 4 channels (or 2-D)."""
    if image.dtype not in (np.uint8, np.uint16):
        return False
    return image.ndim == 2 or (image.ndim == 3 and image.shape[2] in (1, 3, 4))


def encode_png(image: np.ndarray, *, level: int = PNG_LEVEL, where: str | None = None,
               png_filter: str | None = None) -> bytes:
    """Encode an RGB(A)/grey uint8 or uint16 image as PNG bytes (deterministic).

    Args:
        image: HxW, HxWx1, HxWx3 (RGB) or HxWx4 (RGBA), uint8 or uint16.
        level: zlib compression level 0-9 (default :data:`PNG_LEVEL`).
        png_filter: one row filter of :data:`PNG_FILTERS` for every row, or None for OpenCV's default
            (the bytes of the default never change).

    Returns:
        The PNG file's bytes.
    """
    import cv2

    if not png_can_hold(image):
        raise DataError(f"PNG cannot hold a {image.dtype} image of shape {image.shape}; use encode_image",
                        where=where, field="image")
    # OpenCV's channel swap: the same bytes as numpy's reversed view plus a copy, ~30x faster (0.65 -> 0.02 ms
    # for a 256² RGB image).
    if image.ndim == 3 and image.shape[2] == 3:
        image = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR)
    elif image.ndim == 3 and image.shape[2] == 4:
        image = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGBA2BGRA)
    elif image.ndim == 3:
        image = image[..., 0]
    params = [cv2.IMWRITE_PNG_COMPRESSION, int(level)]
    if png_filter is not None:
        if png_filter not in PNG_FILTERS:
            raise DataError(f"unknown PNG filter {png_filter!r}; choose one of {list(PNG_FILTERS)}", where=where,
                            field="png_filter")
        if not hasattr(cv2, "IMWRITE_PNG_FILTER"):
            # Dropping the filter would silently change the bytes a seed gives; say what to install instead.
            raise DataError(f"png_filter={png_filter!r} needs an OpenCV build with IMWRITE_PNG_FILTER "
                            f"(this is {cv2.__version__}); install opencv-python-headless>=4.12",
                            where=where, field="png_filter")
        params += [cv2.IMWRITE_PNG_FILTER, getattr(cv2, f"IMWRITE_PNG_FILTER_{png_filter.upper()}")]
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(image), params)
    if not ok:
        raise DataError("OpenCV could not encode the image as PNG", where=where, field="image")
    return buf.tobytes()


def encode_npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
    return buf.getvalue()


def encode_image(image: np.ndarray, *, level: int = PNG_LEVEL, where: str | None = None,
                 png_filter: str | None = None) -> tuple[str, bytes]:
    """Encode as PNG when PNG can hold the image, else as ``.npy``; returns ``(extension, bytes)``."""
    if png_can_hold(image):
        return ".png", encode_png(image, level=level, where=where, png_filter=png_filter)
    return ".npy", encode_npy(image)


def to_numpy_image(image: Any) -> np.ndarray:
    """A numpy HxW/HxWxC view of a numpy image or a CHW torch tensor (dtype kept)."""
    if isinstance(image, np.ndarray):
        return image
    if hasattr(image, "detach"):  # torch tensor, CHW or HW; no torch import needed
        arr = image.detach().cpu().numpy()
        return arr.transpose(1, 2, 0) if arr.ndim == 3 else arr
    return np.asarray(image)


def safe_join(root: str | os.PathLike, name: str, *, where: str | None = None, field: str = "file_name") -> Path:
    """``root / name``, refusing names that are absolute or climb out of ``root`` (``..``, symlinks).

    Raises:
        DataError: naming ``where`` and the offending name.
    """
    if not isinstance(name, str) or not name:
        raise DataError(f"expected a relative file name, got {name!r}", where=where, field=field)
    posix, win = PurePosixPath(name), PureWindowsPath(name)
    if posix.is_absolute() or win.is_absolute() or win.drive or ".." in posix.parts or ".." in win.parts:
        raise DataError(f"file name {name!r} escapes its folder (absolute or '..')", where=where, field=field)
    root_path = Path(root).resolve()
    path = (root_path / posix).resolve()
    if not path.is_relative_to(root_path):
        raise DataError(f"file name {name!r} resolves outside {root_path}", where=where, field=field)
    return path
