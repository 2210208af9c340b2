"""The render writers' PNG row filter and compact shard records (the speed options of the render output).

References: OpenCV ``imencode``/``imdecode`` are the independent encoder/decoder here.
"""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from traingen.core.errors import DataError
from traingen.data.imageio import encode_png


def _images():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (24, 20, 3), dtype=np.uint8)
    ids = rng.integers(0, 700, (24, 20)).astype(np.uint16)
    return rgb, ids


@pytest.mark.parametrize("flt", ["none", "sub", "up", "avg", "paeth"])
def test_filtered_png_decodes_to_the_same_pixels(flt):
    rgb, ids = _images()
    back = cv2.imdecode(np.frombuffer(encode_png(rgb, png_filter=flt), np.uint8), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(back[..., ::-1], rgb)
    back = cv2.imdecode(np.frombuffer(encode_png(ids, png_filter=flt), np.uint8), cv2.IMREAD_UNCHANGED)
    assert back.dtype == np.uint16
    np.testing.assert_array_equal(back, ids)


def test_default_bytes_unchanged_and_up_differs():
    rgb, _ = _images()
    ok, ref = cv2.imencode(".png", np.ascontiguousarray(rgb[..., ::-1]), [cv2.IMWRITE_PNG_COMPRESSION, 1])
    assert ok and encode_png(rgb) == ref.tobytes()  # other writers keep their bytes
    assert encode_png(rgb, png_filter="up") != ref.tobytes()


def test_unknown_filter_is_a_clear_error():
    rgb, _ = _images()
    with pytest.raises(DataError, match="unknown PNG filter 'fast'"):
        encode_png(rgb, png_filter="fast")


def test_render_output_uses_the_filter_and_compact_records(tmp_path):
    from traingen.render.job import WRITER_OPTIONS, SceneRenderer, run_render
    from traingen.render.scene import scene_from_dict

    scene = {"version": 1, "width": 32, "height": 32, "objects": {"count": [1, 2]}, "distractors": {"count": [0, 1]}}
    run_render(tmp_path / "a", n=2, scene=scene_from_dict(scene), seed=3, fmt="coco", workers=1, shard_size=2)
    out = tmp_path / "a"
    ident = json.loads((out / ".traingen" / "identity.json").read_text())
    assert ident["options"]["png_filter"] == WRITER_OPTIONS["png_filter"] == "up"
    record = next((out / ".traingen" / "shards").glob("shard-*.json")).read_text()
    assert "\n" not in record.strip() and json.loads(record)["count"] == 2
    r = SceneRenderer(scene_from_dict(scene), seed=3)
    try:
        s = r.sample(1)
    finally:
        r.close()
    rgb = cv2.imread(str(out / "images" / "00000001.png"), cv2.IMREAD_UNCHANGED)[..., ::-1]
    np.testing.assert_array_equal(rgb, np.asarray(s.image))
    inst = cv2.imread(str(out / "instances" / "00000001.png"), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(inst, np.asarray(s.instance_mask))
    ok, ref = cv2.imencode(".png", np.ascontiguousarray(rgb[..., ::-1]),
                           [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_UP])
    assert (out / "images" / "00000001.png").read_bytes() == ref.tobytes()


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("channels", [3, 4])
def test_channel_swap_gives_the_bytes_of_the_numpy_swap(dtype, channels):
    # encode_png swaps RGB(A) -> BGR(A) with cv2.cvtColor; the reference is numpy's reversed view, copied.
    rng = np.random.default_rng(channels)
    img = rng.integers(0, np.iinfo(dtype).max, (19, 23, channels), dtype=np.int64).astype(dtype)
    order = [2, 1, 0] if channels == 3 else [2, 1, 0, 3]
    for image in (img, img[:, ::2], img[::-1]):  # contiguous and strided views
        ok, ref = cv2.imencode(".png", np.ascontiguousarray(image[..., order]), [cv2.IMWRITE_PNG_COMPRESSION, 1])
        assert ok and encode_png(image, level=1) == ref.tobytes()


def _reference_jsonable(obj):
    """The general walk without the fast path for plain leaves (the behaviour before it)."""
    from pathlib import Path

    if isinstance(obj, dict):
        return {str(k): _reference_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_reference_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _reference_jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    return obj


def test_jsonable_fast_path_matches_the_general_walk():
    from pathlib import Path

    from traingen.data.cache import canonical_json, jsonable

    class Name(str):
        pass

    odd = {"a": (1, np.float32(0.1), np.int64(3), np.arange(3), {"b": [np.bool_(True), Path("x"), None, 2.5]}),
           3: np.float64(0.2), "n": [Name("s"), True, [[1.5, 2], (np.uint8(7),)]], "m": np.eye(2)}
    want = _reference_jsonable(odd)
    got = jsonable(odd)
    assert got == want
    assert json.dumps(got, sort_keys=True) == json.dumps(want, sort_keys=True)
    assert canonical_json(odd) == json.dumps(want, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    assert type(got["a"][1]) is float and type(got["a"][2]) is int and type(got["3"]) is float
