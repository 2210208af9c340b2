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
