"""COCO: ``annotations.json`` plus an image folder, read and written.

Reading: categories sorted by id become contiguous labels ``0..K-1`` (names kept in ``classes``);
boxes ``[x, y, w, h]`` become xyxy; segmentations (polygons, uncompressed or compressed RLE) become
one ``instance_mask`` through pycocotools, where object ``i`` (``boxes[i]``) has value ``i + 1`` (a
later annotation wins where two overlap). Images are looked up in ``images/`` beside the json when
that folder exists, else beside the json (or in ``image_root``). A ``file_name`` that is absolute or
climbs out of that folder (``../x.png``) is refused with a :class:`DataError` when the source opens.

Writing (format ``coco``): ``OUT/images/<key>.png`` and ``OUT/annotations.json`` with image ids equal
to the global index, annotation ids 1.. in key order, category id = label + 1, xywh boxes, and RLE
masks (pycocotools) from ``instance_mask`` when the sample has one. An integer or soft image label is
kept in the image entry's ``label`` field (ignored by COCO tools, read back by this reader). Beside the
images (DESIGN §5): ``OUT/instances/<key>.png`` (uint16 ids) when the sample has an instance mask and
``OUT/depth/<key>.png`` (uint16 millimetres) when its meta holds a ``depth`` map in metres; per-box
``meta["annotation_fields"]`` (e.g. the renderer's truncation and occlusion) join the annotations.

Example:
    >>> src = CocoSource("coco/annotations.json")
    >>> s = src[0]; s.boxes, s.box_labels, src.classes
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import DataError, TargetError
from ..core.sample import Sample, check_boxes
from .cache import atomic_write_bytes, canonical_json
from .imagefolder import ImageFolderWriter
from .imageio import read_image, safe_join
from .shards import WRITERS, PartHasher, box_labels, temporary_dir, write_file
from .sources import READERS, Source


@READERS.register("coco")
class CocoSource(Source):
    """A COCO detection/segmentation json and its images.

    Args:
        path: the json file, or a folder holding ``annotations.json``.
        image_root: folder the ``file_name`` values are relative to (default: ``images/`` beside the
            json if it exists, else the json's folder).
        keep_uint16, alpha: image reading options (see :mod:`traingen.data.imageio`).
    """

    def __init__(self, path: str | os.PathLike, *, image_root: str | os.PathLike | None = None,
                 keep_uint16: bool = False, alpha: str = "drop"):
        path = Path(path)
        if path.is_dir():
            path = path / "annotations.json"
        self.path = path
        self.name = str(path)
        self.read_options = {"keep_uint16": keep_uint16, "alpha": alpha}
        data = _load_json(path)
        if image_root is None:
            image_root = path.parent / "images" if (path.parent / "images").is_dir() else path.parent
        self.image_root = Path(image_root)
        cats = sorted(data["categories"], key=lambda c: c["id"])
        self.classes = [str(c.get("name", c["id"])) for c in cats]
        self._cat_to_label = {c["id"]: i for i, c in enumerate(cats)}
        self.images = data["images"]
        self._anns: dict[Any, list[dict]] = {img["id"]: [] for img in self.images}
        for n, ann in enumerate(data["annotations"]):
            if ann.get("image_id") not in self._anns:
                raise DataError(f"annotation {ann.get('id', n)} refers to unknown image_id {ann.get('image_id')!r}",
                                where=self.name, field="annotations")
            if ann.get("category_id") not in self._cat_to_label:
                raise DataError(f"annotation {ann.get('id', n)} has unknown category_id {ann.get('category_id')!r}",
                                where=self.name, field="annotations")
            self._anns[ann["image_id"]].append(ann)
        for anns in self._anns.values():
            anns.sort(key=lambda a: a.get("id", 0))
        for img in self.images:  # refuse escaping names before anything is read
            safe_join(self.image_root, img.get("file_name"), where=self.name, field="images.file_name")

    def __len__(self) -> int:
        return len(self.images)

    def _get(self, i: int) -> Sample:
        img = self.images[i]
        where = f"{self.name}[image {img['id']}]"
        image = read_image(safe_join(self.image_root, img["file_name"], where=where), **self.read_options)
        h, w = image.shape[:2]
        anns = self._anns[img["id"]]
        boxes = np.zeros((len(anns), 4), np.float32)
        for k, a in enumerate(anns):
            x, y, bw, bh = (float(v) for v in a["bbox"])
            boxes[k] = (x, y, x + bw, y + bh)
        boxes = check_boxes(boxes, where=where, field="bbox")
        labels = np.array([self._cat_to_label[a["category_id"]] for a in anns], np.int64)
        label = img.get("label")
        if isinstance(label, list):
            label = np.asarray(label, np.float32)
        sample = Sample(image=image, boxes=boxes, box_labels=labels, label=label,
                        meta={"source": self.name, "key": img["file_name"], "image_id": img["id"],
                              "iscrowd": [int(a.get("iscrowd", 0)) for a in anns]})
        if any(a.get("segmentation") for a in anns):
            sample.instance_mask = instance_mask(anns, h, w, where=where)
        return sample


def _load_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except OSError as e:
        raise DataError(f"cannot read: {e.strerror or e}", where=str(path)) from e
    except ValueError as e:
        raise DataError(f"invalid JSON: {e}", where=str(path)) from e
    if not isinstance(data, dict):
        raise DataError("expected a COCO object with images, annotations, categories", where=str(path))
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key, [] if key == "annotations" else None), list):
            raise DataError(f"expected a list under '{key}'", where=str(path), field=key)
    data.setdefault("annotations", [])
    return data


def instance_mask(anns: list[dict], h: int, w: int, *, where: str) -> np.ndarray:
    """HxW int32 map: 0 background, ``k + 1`` where annotation ``k``'s segmentation covers."""
    from pycocotools import mask as mask_utils

    out = np.zeros((h, w), np.int32)
    for k, a in enumerate(anns):
        seg = a.get("segmentation")
        if not seg:
            continue
        try:
            if isinstance(seg, list):  # polygons
                rle = mask_utils.merge(mask_utils.frPyObjects(seg, h, w))
            elif isinstance(seg.get("counts"), list):  # uncompressed RLE
                rle = mask_utils.frPyObjects(seg, h, w)
            else:
                rle = seg
            with warnings.catch_warnings():  # pycocotools 2.0.x trips numpy 2's copy= deprecation
                warnings.simplefilter("ignore", DeprecationWarning)
                m = mask_utils.decode(rle)
        except (TypeError, ValueError, AttributeError, KeyError) as e:
            raise TargetError(f"annotation {a.get('id')} has a malformed segmentation ({e})", where=where,
                              field="segmentation") from e
        if m.shape[:2] != (h, w):
            raise TargetError(f"segmentation size {m.shape[:2]} does not match the image {(h, w)}", where=where,
                              field="segmentation")
        out[m.reshape(h, w) > 0] = k + 1
    return out


def encode_rle(binary: np.ndarray) -> dict[str, Any]:
    """Compressed COCO RLE of a binary HxW mask (``counts`` as a str, JSON-ready)."""
    from pycocotools import mask as mask_utils

    rle = mask_utils.encode(np.asfortranarray(binary.astype(np.uint8)))
    return {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")}


def boxes_from_instances(inst: np.ndarray) -> np.ndarray:
    """xyxy boxes (pixel edges) of ids ``1..max`` of an instance map; an absent id gets a zero box."""
    n = int(inst.max()) if inst.size else 0
    boxes = np.zeros((n, 4), np.float32)
    for k in range(n):
        ys, xs = np.nonzero(inst == k + 1)
        if len(xs):
            boxes[k] = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    return boxes


@WRITERS.register("coco")
class CocoWriter(ImageFolderWriter):
    """``OUT/images/<key>.png`` + ``OUT/annotations.json`` (see the module docstring)."""

    format = "coco"

    def _write_part(self, shard_id: int, keyed: list[tuple[str, Sample]]) -> dict[str, Any]:
        hasher = PartHasher()
        rows = []
        with temporary_dir(self.part_dir(shard_id)) as tmp:
            for key, sample in keyed:
                where = f"{self.out_dir}[{key}]"
                ext, data, image = self.encode(sample, where)
                rel = f"images/{key}{ext}"
                write_file(tmp, rel, data, hasher)
                rows.append(self._image_row(key, ext, sample, image, where))
                self.extra_planes(tmp, key, sample, hasher)
            hasher.add("rows.jsonl", "".join(canonical_json(r, indent=None) + "\n" for r in rows).encode())
        return {"sha256": hasher.hexdigest(), "files": sorted(hasher.files.keys() - {"rows.jsonl"}), "rows": rows}

    def _image_row(self, key: str, ext: str, sample: Sample, image: np.ndarray, where: str) -> dict[str, Any]:
        h, w = image.shape[:2]
        row = self.target_row(key, sample, where)
        inst = None if sample.instance_mask is None else np.asarray(sample.instance_mask)
        if inst is not None and inst.shape != (h, w):
            raise TargetError(f"instance_mask shape {inst.shape} does not match the image {(h, w)}", where=where,
                              field="instance_mask")
        boxes = np.asarray(row.get("boxes", np.zeros((0, 4))), np.float64).reshape(-1, 4)
        labels = row.get("box_labels", [])
        if "boxes" not in row and inst is not None:  # boxes follow from the instance map
            boxes = boxes_from_instances(inst).astype(np.float64)
            labels = box_labels(sample, len(boxes), where)
        anns = []
        extra = list((sample.meta or {}).get("annotation_fields") or [])
        for k, (box, lab) in enumerate(zip(boxes, labels, strict=True)):
            if self.classes and not 0 <= lab < len(self.classes):
                raise TargetError(f"box label {lab} outside the {len(self.classes)} classes", where=where,
                                  field="box_labels")
            x0, y0, x1, y1 = (float(np.float32(v)) for v in box)
            ann = {"category_id": int(lab) + 1, "bbox": [x0, y0, x1 - x0, y1 - y0], "iscrowd": 0,
                   "area": (x1 - x0) * (y1 - y0)}
            if inst is not None:
                binary = inst == k + 1
                ann["segmentation"] = encode_rle(binary)
                ann["area"] = float(binary.sum())
            if k < len(extra):  # per-box fields a generator adds (render: truncation, occlusion)
                ann.update({f: v for f, v in extra[k].items() if f not in ann})
            anns.append(ann)
        image_entry = {"id": int(key), "file_name": f"{key}{ext}", "width": int(w), "height": int(h),
                       "label": row["label"],
                       "traingen": {k: row[k] for k in ("source", "source_key", "seed", "technique", "params")}}
        return {"key": key, "image": image_entry, "annotations": anns}

    def extra_planes(self, folder: Path, key: str, sample: Sample, hasher: PartHasher) -> None:
        """DESIGN §5 planes beside the image: ``depth/<key>.png`` (uint16 millimetres, from a float depth
        map in metres at ``meta["depth"]``) and ``instances/<key>.png`` (uint16 ids)."""
        from .imageio import encode_png

        where = f"{self.out_dir}[{key}]"
        depth = (sample.meta or {}).get("depth")
        if depth is not None:
            mm = np.clip(np.rint(np.asarray(depth, np.float64) * 1000.0), 0, 65535).astype(np.uint16)
            write_file(folder, f"depth/{key}.png", encode_png(mm, level=self.png_level, where=where,
                                                                  png_filter=self.png_filter), hasher)
        if sample.instance_mask is not None:
            inst = np.asarray(sample.instance_mask)
            if inst.size and (inst.min() < 0 or inst.max() > 65535):
                raise TargetError("instance ids must lie in 0..65535", where=where, field="instance_mask")
            write_file(folder, f"instances/{key}.png",
                       encode_png(inst.astype(np.uint16), level=self.png_level, where=where,
                                  png_filter=self.png_filter), hasher)

    def _collect(self, records: list[dict[str, Any]]) -> dict[str, str]:
        import hashlib

        self.move_parts(records)
        rows = [row for rec in records for row in rec["rows"]]
        rows.sort(key=lambda r: r["key"])
        images, annotations = [], []
        for row in rows:
            images.append(row["image"])
            for ann in row["annotations"]:
                annotations.append({"id": len(annotations) + 1, "image_id": row["image"]["id"], **ann})
        n_cat = len(self.classes) or (max((a["category_id"] for a in annotations), default=0))
        categories = [{"id": i + 1, "name": self.classes[i] if self.classes else str(i), "supercategory": ""}
                      for i in range(n_cat)]
        doc = {"info": {"description": "written by traingen", "version": "1"}, "licenses": [],
               "images": images, "annotations": annotations, "categories": categories}
        data = canonical_json(doc, indent=None).encode()
        atomic_write_bytes(self.out_dir / "annotations.json", data)
        return {"annotations.json": hashlib.sha256(data).hexdigest()}
