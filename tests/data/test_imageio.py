"""Image reading and writing: EXIF, 16-bit, grey, palette, alpha, corrupt files, PNG bytes, safe names."""

from __future__ import annotations

import io
import os

import cv2
import numpy as np
import pytest
from PIL import Image

from traingen.core.errors import DataError
from traingen.data.imageio import (
    decode_image,
    encode_image,
    encode_png,
    read_image,
    safe_join,
    uint16_to_uint8,
)


def _quadrants(h: int = 48, w: int = 64) -> np.ndarray:
    """Four flat colours, so an orientation mistake moves a whole block (robust to JPEG loss)."""
    img = np.zeros((h, w, 3), np.uint8)
    img[: h // 2, : w // 2] = (250, 10, 10)
    img[: h // 2, w // 2:] = (10, 250, 10)
    img[h // 2:, : w // 2] = (10, 10, 250)
    img[h // 2:, w // 2:] = (250, 250, 10)
    return img


@pytest.mark.parametrize("orientation, expect", [(3, lambda a: a[::-1, ::-1]), (6, lambda a: np.rot90(a, -1)),
                                                 (8, lambda a: np.rot90(a, 1))])
def test_exif_orientation_is_applied(tmp_path, orientation, expect):
    img = _quadrants()
    path = tmp_path / f"o{orientation}.jpg"
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(img).save(path, quality=100, exif=exif.tobytes())
    got = read_image(path)
    want = expect(img)
    assert got.shape == want.shape
    assert np.abs(got.astype(int) - want.astype(int)).mean() < 4
    # OpenCV applies EXIF orientation in imread by default: an independent implementation.
    ref = cv2.imread(str(path), cv2.IMREAD_COLOR)[..., ::-1]
    assert ref.shape == got.shape
    assert np.abs(got.astype(int) - ref.astype(int)).max() <= 3


def test_16bit_grey_png(tmp_path):
    g = (np.arange(12 * 10).reshape(12, 10) * 541).astype(np.uint16)
    path = tmp_path / "g16.png"
    cv2.imwrite(str(path), g)
    assert np.array_equal(read_image(path, keep_uint16=True), g)
    got = read_image(path)
    assert got.dtype == np.uint8 and got.shape == g.shape
    assert np.array_equal(got, np.round(g / 257.0).astype(np.uint8))


def test_16bit_rgb_png_keeps_all_bits(tmp_path):
    rgb = (np.random.default_rng(0).integers(0, 65536, (9, 7, 3))).astype(np.uint16)
    path = tmp_path / "rgb16.png"
    cv2.imwrite(str(path), rgb[..., ::-1])  # OpenCV writes BGR
    assert np.array_equal(read_image(path, keep_uint16=True), rgb)
    assert np.array_equal(read_image(path), np.round(rgb / 257.0).astype(np.uint8))


def test_uint16_to_uint8_is_exact_on_multiples_of_257():
    k = np.arange(256, dtype=np.uint16)
    assert np.array_equal(uint16_to_uint8(k * 257), k.astype(np.uint8))


def test_grey_and_rgb_png(tmp_path, structured_image):
    grey = structured_image[..., 1]
    Image.fromarray(grey).save(tmp_path / "g.png")
    Image.fromarray(structured_image).save(tmp_path / "c.png")
    assert np.array_equal(read_image(tmp_path / "g.png"), grey)
    assert np.array_equal(read_image(tmp_path / "c.png"), structured_image)


def test_rgba_drop_composite_keep(tmp_path):
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., :3] = (200, 100, 50)
    rgba[0, :, 3] = 0
    rgba[1, :, 3] = 255
    rgba[2:, :, 3] = 128
    path = tmp_path / "a.png"
    Image.fromarray(rgba, "RGBA").save(path)
    assert np.array_equal(read_image(path), rgba[..., :3])
    assert np.array_equal(read_image(path, alpha="keep"), rgba)
    comp = read_image(path, alpha="composite", background=(0, 0, 0))
    assert comp[0, 0].tolist() == [0, 0, 0]
    assert comp[1, 0].tolist() == [200, 100, 50]
    # 50% over black: round(c * 128 / 255)
    assert comp[2, 0].tolist() == [100, 50, 25]
    white = read_image(path, alpha="composite")
    assert white[0, 0].tolist() == [255, 255, 255]


def test_palette_png_with_transparency(tmp_path):
    idx = np.array([[0, 1], [1, 0]], np.uint8)
    p = Image.fromarray(idx, "P")
    p.putpalette([10, 20, 30, 40, 50, 60] + [0] * 762)
    p.save(tmp_path / "p.png", transparency=0)
    got = read_image(tmp_path / "p.png")
    assert got.shape == (2, 2, 3)
    assert got[0, 0].tolist() == [10, 20, 30] and got[0, 1].tolist() == [40, 50, 60]


def test_corrupt_and_truncated_files_name_the_file(tmp_path, structured_image):
    bad = tmp_path / "noise.png"
    bad.write_bytes(np.random.default_rng(1).integers(0, 256, 300, dtype=np.uint8).tobytes())
    with pytest.raises(DataError, match="noise.png"):
        read_image(bad)
    png = encode_png(np.random.default_rng(2).integers(0, 256, (64, 64, 3), dtype=np.uint8))
    trunc = tmp_path / "trunc.png"
    trunc.write_bytes(png[: len(png) // 2])
    with pytest.raises(DataError, match="trunc.png"):
        read_image(trunc)
    buf = io.BytesIO()
    Image.fromarray(structured_image).save(buf, "JPEG")
    tj = tmp_path / "trunc.jpg"
    tj.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(DataError, match="trunc.jpg"):
        read_image(tj)
    png16 = encode_png((np.arange(300).reshape(10, 10, 3) * 200).astype(np.uint16))
    t16 = tmp_path / "t16.png"
    t16.write_bytes(png16[:60])
    with pytest.raises(DataError, match="t16.png"):
        read_image(t16)
    with pytest.raises(DataError, match="missing.png"):
        read_image(tmp_path / "missing.png")
    with pytest.raises(DataError, match="empty"):
        decode_image(b"", where="x")


def test_encode_png_roundtrip_against_opencv_and_deterministic(structured_image):
    data = encode_png(structured_image)
    assert data == encode_png(structured_image.copy())
    ref = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(ref[..., ::-1], structured_image)  # stored as BGR, i.e. correct colours on disk
    pil = np.asarray(Image.open(io.BytesIO(data)))
    assert np.array_equal(pil, structured_image)
    rgba = np.dstack([structured_image, structured_image[..., :1]])
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(encode_png(rgba)))), rgba)
    g16 = (structured_image[..., 0].astype(np.uint16) * 257)
    assert np.array_equal(cv2.imdecode(np.frombuffer(encode_png(g16), np.uint8), cv2.IMREAD_UNCHANGED), g16)


def test_encode_image_falls_back_to_npy(tmp_path):
    f = np.random.default_rng(3).random((5, 6, 3)).astype(np.float32)
    ext, data = encode_image(f)
    assert ext == ".npy"
    assert np.array_equal(np.load(io.BytesIO(data)), f)
    assert np.array_equal(decode_image(data), f)
    many = np.zeros((4, 4, 6), np.uint8)
    assert encode_image(many)[0] == ".npy"
    assert encode_image(many[..., :3])[0] == ".png"
    with pytest.raises(DataError, match="PNG cannot hold"):
        encode_png(f)


@pytest.mark.parametrize("name", ["../x.png", "a/../../x.png", "/etc/passwd", "C:\\x.png", "..\\x.png", ""])
def test_safe_join_refuses_escapes(tmp_path, name):
    with pytest.raises(DataError):
        safe_join(tmp_path, name, where="ann.json")


def test_safe_join_accepts_inside_and_refuses_symlink_out(tmp_path):
    (tmp_path / "root" / "a").mkdir(parents=True)
    assert safe_join(tmp_path / "root", "a/b.png") == (tmp_path / "root" / "a" / "b.png").resolve()
    os.symlink(tmp_path, tmp_path / "root" / "up")
    with pytest.raises(DataError, match="outside"):
        safe_join(tmp_path / "root", "up/secret.png")


def test_png_filter_on_an_opencv_without_it_is_a_clear_error(monkeypatch):
    # OpenCV < 4.12 (what pip picks beside numpy < 2, e.g. in a bpy venv) has no IMWRITE_PNG_FILTER;
    # silently dropping the filter would change the bytes a seed gives, so it must refuse instead.
    import traingen.data.imageio as imageio_mod

    img = np.zeros((4, 4, 3), np.uint8)
    assert imageio_mod.encode_png(img, png_filter="up")[:4] == b"\x89PNG"
    monkeypatch.delattr(cv2, "IMWRITE_PNG_FILTER")
    with pytest.raises(DataError, match="IMWRITE_PNG_FILTER") as err:
        imageio_mod.encode_png(img, png_filter="up", where="x.png")
    assert err.value.field == "png_filter"
    assert imageio_mod.encode_png(img)[:4] == b"\x89PNG"
