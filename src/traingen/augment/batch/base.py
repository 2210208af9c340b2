"""Shared parts of the batch mixers: the result type, input checks, soft labels and box clipping.

Every mixer takes a torch NCHW float batch in [0, 1] and returns a :class:`MixResult`. Random
parameters are drawn on the CPU from a numpy generator seeded by one draw of the caller's
``torch.Generator``: the same generator seed gives the same parameters on every device, and the
arrays are then applied on the images' device.

torch is imported inside functions so that ``import traingen.augment.batch`` (and ``traingen list``)
does not load it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...core.errors import ConfigError, DataError, TargetError


@dataclass
class MixResult:
    """What a batch mixer returns.

    Attributes:
        images: N x C x H x W, same dtype and device as the input.
        labels: N x K soft labels (float, the images' dtype); each row sums to 1. None when the
            call had no labels (a detection or segmentation batch).
        masks: N x H x W hard class maps (RICAP, CutMix, Cutout) or N x K x H x W soft per-class masks
            (MixUp), or None.
        boxes: list of N tensors (Mi x 4, xyxy pixels), or None.
        box_labels: list of N int64 tensors, or None.
        box_weights: list of N float tensors (the weight of each box: MixUp's lambda of its image,
            1 elsewhere), or None.
        keypoints: list of N tensors (Ki x 2), or None.
        keypoint_visible: list of N bool tensors, or None (a point keeps its slot and turns
            invisible when its pixel no longer comes from its image).
        params: the parameters drawn (a dataclass with ``to_dict()``), so a draw can be replayed.
    """

    images: Any
    labels: Any
    masks: Any = None
    boxes: list | None = None
    box_labels: list | None = None
    box_weights: list | None = None
    keypoints: list | None = None
    keypoint_visible: list | None = None
    params: Any = None


@dataclass
class Targets:
    """Validated inputs of a mixer call (internal)."""

    images: Any
    labels: Any  # N x K soft, images' dtype, or None
    masks: Any = None
    boxes: list | None = None
    box_labels: list | None = None
    keypoints: list | None = None
    keypoint_visible: list | None = None
    extra: dict = field(default_factory=dict)

    @property
    def n(self) -> int:
        return int(self.images.shape[0])

    @property
    def hw(self) -> tuple[int, int]:
        return int(self.images.shape[2]), int(self.images.shape[3])


def params_dict(obj: Any) -> dict[str, Any]:
    """A JSON-able dict of a params dataclass (numpy arrays become lists)."""
    out = {}
    for f in dataclasses.fields(obj):
        v = getattr(obj, f.name)
        out[f.name] = v.tolist() if isinstance(v, np.ndarray) else v
    return out


def np_rng(generator: Any, where: str) -> np.random.Generator:
    """A numpy generator seeded by one 63-bit draw of ``generator`` (a ``torch.Generator``)."""
    import torch

    if not isinstance(generator, torch.Generator):
        raise ConfigError(
            f"expected generator=torch.Generator (traingen never uses the global RNG), got "
            f"{type(generator).__name__}",
            where=where,
            field="generator",
        )
    seed = torch.randint(0, 2**62, (1,), generator=generator, device=generator.device)
    return np.random.Generator(np.random.PCG64(int(seed.item())))


def check_positive(value: float, name: str, where: str) -> None:
    if not (isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0):
        raise ConfigError(f"expected a number > 0, got {value!r}", where=where, field=name)


def soft_labels(labels: Any, n: int, num_classes: int | None, dtype: Any, device: Any, where: str) -> Any:
    """N int class indices or N x K soft vectors -> N x K float of ``dtype`` on ``device`` (None stays None)."""
    import torch

    if labels is None:
        return None
    labels = torch.as_tensor(labels, device=device)
    if labels.ndim == 1:
        if labels.dtype.is_floating_point or labels.dtype == torch.bool:
            raise TargetError(f"expected integer class indices, got {labels.dtype}", where=where, field="labels")
        if labels.shape[0] != n:
            raise TargetError(f"expected {n} labels (one per image), got {labels.shape[0]}", where=where,
                              field="labels")
        if num_classes is None:
            raise ConfigError("num_classes is required with integer labels", where=where, field="num_classes")
        if n and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
            raise TargetError(
                f"labels must lie in [0, {num_classes}), got values in [{int(labels.min())}, {int(labels.max())}]",
                where=where,
                field="labels",
            )
        return torch.nn.functional.one_hot(labels.long(), num_classes).to(dtype)
    if labels.ndim == 2:
        if labels.shape[0] != n:
            raise TargetError(f"expected {n} label rows (one per image), got {labels.shape[0]}", where=where,
                              field="labels")
        if num_classes is not None and labels.shape[1] != num_classes:
            raise TargetError(f"expected {num_classes} columns (num_classes), got {labels.shape[1]}", where=where,
                              field="labels")
        if not labels.dtype.is_floating_point:
            raise TargetError(f"soft labels must be floating point, got {labels.dtype}", where=where, field="labels")
        return labels.to(dtype)
    raise TargetError(f"expected N or N x K labels, got shape {tuple(labels.shape)}", where=where, field="labels")


def _per_image_list(value: Any, n: int, cols: int | None, name: str, where: str, dtype: Any, device: Any) -> list:
    import torch

    if isinstance(value, torch.Tensor) and value.ndim >= 1 and cols is not None and value.ndim == 3:
        value = list(value.unbind(0))
    if not isinstance(value, (list, tuple)):
        raise TargetError(f"expected a list of {n} tensors (one per image), got {type(value).__name__}", where=where,
                          field=name)
    if len(value) != n:
        raise TargetError(f"expected {n} entries (one per image), got {len(value)}", where=where, field=name)
    out = []
    for i, v in enumerate(value):
        t = torch.as_tensor(v, device=device)
        t = t.to(dtype) if dtype is not None else t
        if cols is not None:
            if t.numel() == 0:
                t = t.reshape(0, cols)
            if t.ndim != 2 or t.shape[1] != cols:
                raise TargetError(f"entry {i}: expected M x {cols}, got shape {tuple(t.shape)}", where=where,
                                  field=name)
            if not torch.isfinite(t).all():
                raise TargetError(f"entry {i} holds NaN or infinity", where=where, field=name)
        else:
            t = t.reshape(-1)
        out.append(t)
    return out


def check_inputs(
    images: Any,
    labels: Any,
    *,
    num_classes: int | None,
    masks: Any = None,
    boxes: Any = None,
    box_labels: Any = None,
    keypoints: Any = None,
    keypoint_visible: Any = None,
    where: str,
    allow_uint8: bool = False,
) -> Targets:
    """Validate a mixer's inputs; raise DataError / TargetError naming the argument."""
    import torch

    if not isinstance(images, torch.Tensor):
        raise DataError(f"expected a torch tensor, got {type(images).__name__}", where=where, field="images")
    if images.ndim != 4:
        raise DataError(f"expected N x C x H x W, got shape {tuple(images.shape)}", where=where, field="images")
    if not images.dtype.is_floating_point and not (allow_uint8 and images.dtype == torch.uint8):
        raise DataError(f"expected a float tensor in [0, 1], got {images.dtype} (convert with x.float() / 255)",
                        where=where, field="images")
    n, _, h, w = images.shape
    if n == 0 or h == 0 or w == 0:
        raise DataError(f"empty batch of shape {tuple(images.shape)}", where=where, field="images")
    if num_classes is not None and (isinstance(num_classes, bool) or not isinstance(num_classes, int)
                                    or num_classes < 1):
        raise ConfigError(f"expected a positive integer, got {num_classes!r}", where=where, field="num_classes")
    dev = images.device
    fdt = images.dtype if images.dtype.is_floating_point else torch.float32
    t = Targets(images=images, labels=soft_labels(labels, n, num_classes, fdt, dev, where))
    if masks is not None:
        masks = torch.as_tensor(masks, device=dev)
        if masks.ndim != 3 or tuple(masks.shape) != (n, h, w):
            raise TargetError(f"expected N x H x W = {(n, h, w)} class maps, got shape {tuple(masks.shape)}",
                              where=where, field="masks")
        if masks.dtype.is_floating_point:
            raise TargetError(f"masks must hold integer classes, got {masks.dtype}", where=where, field="masks")
        t.masks = masks
    if (boxes is None) != (box_labels is None):
        missing = "box_labels" if box_labels is None else "boxes"
        raise TargetError("boxes and box_labels go together", where=where, field=missing)
    if boxes is not None:
        t.boxes = _per_image_list(boxes, n, 4, "boxes", where, fdt, dev)
        t.box_labels = _per_image_list(box_labels, n, None, "box_labels", where, torch.int64, dev)
        for i, (b, lab) in enumerate(zip(t.boxes, t.box_labels, strict=True)):
            if lab.shape[0] != b.shape[0]:
                raise TargetError(f"entry {i}: {b.shape[0]} boxes but {lab.shape[0]} labels", where=where,
                                  field="box_labels")
            if b.shape[0] and bool(((b[:, 2] < b[:, 0]) | (b[:, 3] < b[:, 1])).any()):
                raise TargetError(f"entry {i}: a box has x1 < x0 or y1 < y0", where=where, field="boxes")
    if keypoints is not None:
        t.keypoints = _per_image_list(keypoints, n, 2, "keypoints", where, fdt, dev)
        if keypoint_visible is None:
            t.keypoint_visible = [torch.ones(k.shape[0], dtype=torch.bool, device=dev) for k in t.keypoints]
        else:
            t.keypoint_visible = _per_image_list(keypoint_visible, n, None, "keypoint_visible", where,
                                                 torch.bool, dev)
            for i, (k, v) in enumerate(zip(t.keypoints, t.keypoint_visible, strict=True)):
                if v.shape[0] != k.shape[0]:
                    raise TargetError(f"entry {i}: {k.shape[0]} keypoints but {v.shape[0]} flags", where=where,
                                      field="keypoint_visible")
    elif keypoint_visible is not None:
        raise TargetError("keypoint_visible given without keypoints", where=where, field="keypoint_visible")
    return t


def clip_boxes_to_rect(boxes: Any, rect: tuple[float, float, float, float]) -> tuple[Any, Any]:
    """Intersect xyxy ``boxes`` with ``rect``; return (clipped boxes, keep flags of non-empty ones)."""
    import torch

    x0, y0, x1, y1 = rect
    out = torch.stack(
        [boxes[:, 0].clamp(x0, x1), boxes[:, 1].clamp(y0, y1), boxes[:, 2].clamp(x0, x1), boxes[:, 3].clamp(y0, y1)],
        dim=1,
    )
    keep = (out[:, 2] > out[:, 0]) & (out[:, 3] > out[:, 1])
    return out, keep


def subtract_rect_bbox(boxes: Any, rect: tuple[float, float, float, float]) -> tuple[Any, Any]:
    """The bounding box of ``box minus rect`` for each box, and keep flags for non-empty remainders.

    The remainder of a box after cutting out a rectangle is an L, a frame or a smaller rectangle. Its
    bounding box shrinks only where the cut spans the box's whole height (then the box shrinks in x)
    or whole width (then in y); otherwise some full row and some full column of the box survive and
    the bounding box is the box itself.
    """
    import torch

    rx0, ry0, rx1, ry1 = rect
    bx0, by0, bx1, by1 = boxes.unbind(1)
    spans_h = (ry0 <= by0) & (ry1 >= by1)
    spans_w = (rx0 <= bx0) & (rx1 >= bx1)
    left = torch.minimum(bx1, torch.full_like(bx1, rx0)) > bx0  # a piece survives left of the cut
    right = torch.maximum(bx0, torch.full_like(bx0, rx1)) < bx1
    top = torch.minimum(by1, torch.full_like(by1, ry0)) > by0
    bottom = torch.maximum(by0, torch.full_like(by0, ry1)) < by1
    nx0 = torch.where(spans_h & ~left, bx0.clamp(min=rx1), bx0)
    nx1 = torch.where(spans_h & ~right, bx1.clamp(max=rx0), bx1)
    ny0 = torch.where(spans_w & ~top, by0.clamp(min=ry1), by0)
    ny1 = torch.where(spans_w & ~bottom, by1.clamp(max=ry0), by1)
    # A cut that misses the box leaves it whole; one that covers it leaves nothing.
    disjoint = (bx1 <= rx0) | (bx0 >= rx1) | (by1 <= ry0) | (by0 >= ry1)
    out = torch.where(disjoint[:, None], boxes, torch.stack([nx0, ny0, nx1, ny1], 1))
    keep = disjoint | ((out[:, 2] > out[:, 0]) & (out[:, 3] > out[:, 1]) & ~(spans_h & spans_w))
    return out, keep & (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])


def inside_rect(points: Any, rect: tuple[float, float, float, float]) -> Any:
    """Bool per point: inside ``[x0, x1) x [y0, y1)`` (pixel ``i`` covers ``[i, i + 1)``)."""
    x0, y0, x1, y1 = rect
    return (points[:, 0] >= x0) & (points[:, 0] < x1) & (points[:, 1] >= y0) & (points[:, 1] < y1)


def one_hot_masks(masks: Any, num_classes: int, dtype: Any, where: str) -> Any:
    """N x H x W class maps -> N x K x H x W float one-hot."""
    import torch

    if int(masks.min()) < 0 or int(masks.max()) >= num_classes:
        raise TargetError(
            f"soft masks need classes in [0, {num_classes}) (num_classes), got values in "
            f"[{int(masks.min())}, {int(masks.max())}]",
            where=where,
            field="masks",
        )
    return torch.nn.functional.one_hot(masks.long(), num_classes).permute(0, 3, 1, 2).to(dtype)


class BatchMixer:
    """Common call path: check inputs, draw parameters, apply them.

    Subclasses are dataclasses (their fields are the typed config) and implement
    ``make_params(n, h, w, generator)`` and ``_apply(targets, params, **options)``.
    """

    #: extra keyword options a subclass's ``_apply`` accepts (besides the targets)
    apply_options: tuple[str, ...] = ()

    def make_params(self, n: int, h: int, w: int, generator: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def _apply(self, t: Targets, params: Any, **options: Any) -> MixResult:  # pragma: no cover - abstract
        raise NotImplementedError

    def _check_options(self, options: dict[str, Any]) -> None:
        unknown = [k for k in options if k not in self.apply_options]
        if unknown:
            allowed = ", ".join(self.apply_options) or "(none)"
            raise ConfigError(f"unknown option '{unknown[0]}'; allowed: {allowed}", where=type(self).__name__,
                              field=unknown[0])

    def apply(
        self,
        images: Any,
        labels: Any = None,
        *,
        params: Any,
        num_classes: int | None = None,
        masks: Any = None,
        boxes: Any = None,
        box_labels: Any = None,
        keypoints: Any = None,
        keypoint_visible: Any = None,
        **options: Any,
    ) -> MixResult:
        """Apply given ``params`` (from :meth:`make_params` or a replayed result) to a batch."""
        self._check_options(options)
        t = check_inputs(images, labels, num_classes=num_classes, masks=masks, boxes=boxes, box_labels=box_labels,
                         keypoints=keypoints, keypoint_visible=keypoint_visible, where=type(self).__name__)
        return self._apply(t, params, **options)

    def __call__(
        self,
        images: Any,
        labels: Any = None,
        *,
        num_classes: int | None = None,
        generator: Any = None,
        masks: Any = None,
        boxes: Any = None,
        box_labels: Any = None,
        keypoints: Any = None,
        keypoint_visible: Any = None,
        **options: Any,
    ) -> MixResult:
        self._check_options(options)
        t = check_inputs(images, labels, num_classes=num_classes, masks=masks, boxes=boxes, box_labels=box_labels,
                         keypoints=keypoints, keypoint_visible=keypoint_visible, where=type(self).__name__)
        params = self.make_params(t.n, *t.hw, generator)
        return self._apply(t, params, **options)
