"""KITTI object format (writer): ``image_2/``, ``label_2/``, ``calib/`` plus depth and instance planes.

Writing (format ``kitti``): per sample ``OUT/image_2/<key>.png``, ``OUT/label_2/<key>.txt`` and
``OUT/calib/<key>.txt``, and (DESIGN §5) ``OUT/depth/<key>.png`` (uint16 millimetres) and
``OUT/instances/<key>.png`` (uint16 ids) when the sample has them. Each label line holds the 15 fields
of the KITTI devkit: ``type truncated occluded alpha x1 y1 x2 y2 h w l x y z rotation_y`` --
truncation as a fraction in [0, 1], occlusion as the devkit's integer state (0 fully visible, 1 partly,
2 largely occluded), dimensions in metres, location (bottom centre) in the camera frame, angles in
radians. A sample from the renderer carries these in ``meta["kitti"]``; any other sample gets its boxes
with the 3D fields set to the devkit's "unknown" values (-1, -1000, -10). Boxes the renderer's "easy"
filter dropped are written as ``DontCare`` lines.

The calib file follows the devkit's layout (``P0: ... Tr_imu_to_velo: ...``, 12 numbers per 3×4 row).
Our camera frame is KITTI's rectified camera frame, so ``P2 = K [I | 0]`` (projects the label
locations), ``R0_rect = I`` and ``Tr_velo_to_cam = [R | t]`` maps world points into the camera:
``P2 · Tr_velo_to_cam`` is the camera's full ``K [R | t]``.

Example:
    >>> w = open_writer("kitti", "out/kitti", classes=["car", "chair", "mug"])   # doctest: +SKIP

References:
    Geiger, Lenz & Urtasun, "Are we ready for Autonomous Driving? The KITTI Vision Benchmark Suite",
    CVPR 2012; the object development kit's ``readme.txt`` (label and calib layout).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import TargetError
from ..core.sample import Sample
from .coco import CocoWriter
from .shards import WRITERS, PartHasher, temporary_dir, write_file

UNKNOWN_3D = {"alpha": -10.0, "dimensions": [-1.0, -1.0, -1.0], "location": [-1000.0, -1000.0, -1000.0],
              "rotation_y": -10.0}


def _num(x: float) -> str:
    return f"{float(x):.2f}"


def label_line(obj: dict[str, Any]) -> str:
    """One KITTI label line (15 fields) from a dict with type, truncated, occluded, alpha, bbox,
    dimensions, location, rotation_y."""
    typ = str(obj["type"]).replace(" ", "_")
    vals = [typ, _num(obj["truncated"]), str(int(obj["occluded"])), _num(obj["alpha"]),
            *(_num(v) for v in obj["bbox"]), *(_num(v) for v in obj["dimensions"]),
            *(_num(v) for v in obj["location"]), _num(obj["rotation_y"])]
    if len(vals) != 15:
        raise TargetError(f"a KITTI label needs 15 fields, got {len(vals)}", field="kitti")
    return " ".join(vals)


def dontcare_line(box) -> str:
    return label_line({"type": "DontCare", "truncated": -1, "occluded": -1, "bbox": box, **UNKNOWN_3D})


def calib_text(K, R, t) -> str:
    """The devkit's calib file: ``P2 = K[I|0]``, ``R0_rect = I``, ``Tr_velo_to_cam = [R|t]``."""
    K = np.asarray(K, np.float64)
    P = np.hstack([K, np.zeros((3, 1))])
    Rt = np.hstack([np.asarray(R, np.float64), np.asarray(t, np.float64).reshape(3, 1)])
    rows = {"P0": P, "P1": P, "P2": P, "P3": P, "R0_rect": np.eye(3), "Tr_velo_to_cam": Rt,
            "Tr_imu_to_velo": np.hstack([np.eye(3), np.zeros((3, 1))])}
    return "".join(f"{name}: {' '.join(f'{v:.12e}' for v in m.reshape(-1))}\n" for name, m in rows.items())


@WRITERS.register("kitti")
class KittiWriter(CocoWriter):
    """``OUT/image_2``, ``OUT/label_2``, ``OUT/calib`` (see the module docstring)."""

    format = "kitti"

    def _write_part(self, shard_id: int, keyed: list[tuple[str, Sample]]) -> dict[str, Any]:
        hasher = PartHasher()
        with temporary_dir(self.part_dir(shard_id)) as tmp:
            for key, sample in keyed:
                where = f"{self.out_dir}[{key}]"
                ext, data, image = self.encode(sample, where)
                write_file(tmp, f"image_2/{key}{ext}", data, hasher)
                lines, calib = self._labels(sample, image, where)
                write_file(tmp, f"label_2/{key}.txt", "".join(s + "\n" for s in lines).encode(), hasher)
                write_file(tmp, f"calib/{key}.txt", calib.encode(), hasher)
                self.extra_planes(tmp, key, sample, hasher)
        return {"sha256": hasher.hexdigest(), "files": sorted(hasher.files), "rows": []}

    def _labels(self, sample: Sample, image: np.ndarray, where: str) -> tuple[list[str], str]:
        kitti = (sample.meta or {}).get("kitti")
        if kitti is not None:
            lines = [label_line(o) for o in kitti["objects"]] + [dontcare_line(b) for b in kitti.get("dontcare", [])]
            return lines, calib_text(kitti["K"], kitti["R"], kitti["t"])
        row = self.target_row("", sample, where)
        lines = []
        for box, lab in zip(row.get("boxes", []), row.get("box_labels", []), strict=True):
            name = self.classes[lab] if self.classes and 0 <= lab < len(self.classes) else str(lab)
            lines.append(label_line({"type": name, "truncated": 0.0, "occluded": 3, "bbox": box, **UNKNOWN_3D}))
        h, w = image.shape[:2]
        f = float(max(h, w))
        return lines, calib_text([[f, 0, w / 2], [0, f, h / 2], [0, 0, 1]], np.eye(3), np.zeros(3))

    def _collect(self, records: list[dict[str, Any]]) -> dict[str, str]:
        import hashlib

        from .cache import atomic_write_bytes

        self.move_parts(records)
        data = "".join(f"{c}\n" for c in self.classes).encode()
        atomic_write_bytes(self.out_dir / "classes.txt", data)
        return {"classes.txt": hashlib.sha256(data).hexdigest()}


def read_labels(path: str | Path) -> list[dict[str, Any]]:
    """Parse a KITTI label file back into dicts (used by tests and by users checking an output)."""
    out = []
    for line in Path(path).read_text().splitlines():
        f = line.split()
        if not f:
            continue
        if len(f) != 15:
            raise TargetError(f"expected 15 fields, got {len(f)}", where=str(path))
        v = [float(x) for x in f[1:]]
        out.append({"type": f[0], "truncated": v[0], "occluded": int(v[1]), "alpha": v[2], "bbox": v[3:7],
                    "dimensions": v[7:10], "location": v[10:13], "rotation_y": v[13]})
    return out


__all__ = ["KittiWriter", "calib_text", "label_line", "read_labels"]
