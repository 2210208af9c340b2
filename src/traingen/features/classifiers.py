"""Small digit classifiers: the offline stand-ins for Inception on digits (IS, FID, CAS).

One fixed small CNN: four ``conv 3×3 → BN → ReLU`` stages of widths 32, 64, 128, 128, a 2×2 max-pool
after a stage while the map is at least 6 px wide (:func:`pool_after`), a global average pool that gives
the 128-d penultimate feature (``pool``), and a linear layer to the 10 class logits (``logits``);
about 240k parameters, under 1 MB as float32. GAN papers on MNIST report IS/FID through such a
classifier because Inception's ImageNet classes say nothing about digits; traingen ships two, trained
by ``scripts/train_classifiers.py`` on the fixed train splits of the embedded data:

======================  ========  ==============================================================
key                     input     maps
======================  ========  ==============================================================
``mnist5k-classifier``  28×28     28 → 14 → 7 → 3: the last stage sees the whole digit
``digits-classifier``   8×8       8 → 4, the later stages at 4×4 (no upsampling: an upsampled
                                  8×8 digit holds no more information, it only costs time)
======================  ========  ==============================================================

Input: grey images in 0..255 mapped to ``(x / 255 - 0.5) / 0.5``. Weights are float32 safetensors in
``traingen/features/weights/`` (loaded through ``importlib.resources``); their sha256 is the
``weights_id`` recorded in every metric result, and ``docs/models.md`` holds their model cards.

The same network (a fresh one, seeded) is what :mod:`traingen.metrics.cas` trains on generated data,
through :func:`fit_classifier`, the training loop the script uses too.

Example:
    >>> from traingen.features import get_extractor
    >>> ext = get_extractor("mnist5k-classifier")
    >>> f = ext.extract(open_source("builtin:mnist5k@test"))
    >>> f.pool.shape, f.logits.shape
    ((1000, 128), (1000, 10))

References:
    LeCun, Bottou, Bengio, Haffner. "Gradient-Based Learning Applied to Document Recognition",
    Proc. IEEE 1998 (CNNs on MNIST). Ioffe, Szegedy. "Batch Normalization", ICML 2015. Salimans et al.
    "Improved Techniques for Training GANs", NeurIPS 2016 (a digit classifier in place of Inception for
    scores on MNIST). Ravuri, Vinyals. "Classification Accuracy Score for Conditional Generative
    Models", NeurIPS 2019 (a fixed classifier trained on generated data).
"""

from __future__ import annotations

import hashlib
import importlib.resources
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ..core.errors import CheckpointError, ConfigError, DataError
from ..core.seeding import derive_seed, torch_generator
from .base import FEATURES, FeatureExtractor

#: Channel widths of the conv stages; the last one is the width of the ``pool`` feature.
WIDTHS = (32, 64, 128, 128)
#: Name written into every weight file's metadata; a file without it is refused.
ARCHITECTURE = "traingen-small-cnn-v1"
#: The folder of shipped files inside ``traingen.features``. Not a package (no ``__init__``), so it does not
#: shadow the ``traingen.features.weights`` module; reached through the parent package's resources.
WEIGHTS_DIR = "weights"


@dataclass(frozen=True)
class ClassifierSpec:
    """A shipped classifier: its dataset, input size and files inside ``traingen/features/weights``."""

    key: str
    dataset: str
    image_size: int
    weights_file: str
    card_file: str


SHIPPED = {
    "mnist5k-classifier": ClassifierSpec("mnist5k-classifier", "mnist5k", 28, "mnist5k-classifier.safetensors",
                                         "mnist5k-classifier.json"),
    "digits-classifier": ClassifierSpec("digits-classifier", "digits", 8, "digits-classifier.safetensors",
                                        "digits-classifier.json"),
}


# -- the network -----------------------------------------------------------------------------------


def pool_after(image_size: int) -> tuple[bool, ...]:
    """Which conv stages are followed by a 2×2 max-pool: halve the map while it is at least 6 px.

    28 px: after stages 0, 1, 2 (28 → 14 → 7 → 3, the last stage at 3×3); 8 px: after stage 0 only
    (8 → 4, the other stages at 4×4); 16 px: 16 → 8 → 4.
    """
    if image_size < 4:
        raise ConfigError(f"image_size must be at least 4, got {image_size}", where="small_cnn",
                          field="image_size")
    out, size = [], image_size
    for _ in WIDTHS[:-1]:
        out.append(size >= 6)
        size = size // 2 if size >= 6 else size
    return (*out, False)


def small_cnn(image_size: int = 28, *, in_channels: int = 1, num_classes: int = 10, seed: int = 0):
    """Build the fixed small CNN, initialised from ``seed`` (no global RNG).

    Args:
        image_size: the (square) input size; decides the pools (:func:`pool_after`).
        in_channels: 1 (grey) or 3.
        num_classes: width of the logits.
        seed: initial weights (He normal for convs, PyTorch's default uniform for the linear layer,
            drawn from ``torch_generator(seed, "small-cnn")``).

    Returns:
        ``nn.Sequential(features=..., fc=...)``: ``net.features(x)`` is the N×128 pool feature,
        ``net(x)`` the N×``num_classes`` logits.

    Example:
        >>> net = small_cnn(8, seed=0)
        >>> net(torch.zeros(2, 1, 8, 8)).shape
        torch.Size([2, 10])
    """
    import math
    from collections import OrderedDict

    import torch
    from torch import nn

    layers: OrderedDict[str, Any] = OrderedDict()
    c = in_channels
    for i, (w, pool) in enumerate(zip(WIDTHS, pool_after(image_size), strict=True)):
        layers[f"conv{i}"] = nn.Conv2d(c, w, 3, padding=1, bias=False)
        layers[f"bn{i}"] = nn.BatchNorm2d(w)
        layers[f"relu{i}"] = nn.ReLU(inplace=True)
        if pool:
            layers[f"pool{i}"] = nn.MaxPool2d(2)
        c = w
    layers["gap"] = nn.AdaptiveAvgPool2d(1)
    layers["flatten"] = nn.Flatten()
    net = nn.Sequential(OrderedDict(features=nn.Sequential(layers), fc=nn.Linear(c, num_classes)))
    g = torch_generator(seed, "small-cnn")
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu", generator=g)
            elif isinstance(m, nn.Linear):
                bound = 1.0 / math.sqrt(m.in_features)
                nn.init.uniform_(m.weight, -bound, bound, generator=g)
                nn.init.uniform_(m.bias, -bound, bound, generator=g)
    return net


def to_input(images: np.ndarray, *, where: str = "images"):
    """uint8 N×H×W or N×H×W×C images -> float32 N×C×H×W tensor in [-1, 1] (the network's input)."""
    import torch

    arr = np.asarray(images)
    if arr.dtype != np.uint8 or arr.ndim not in (3, 4):
        raise DataError(f"expected uint8 N×H×W[×C] images, got {arr.dtype} of shape {arr.shape}", field=where)
    x = torch.from_numpy(np.ascontiguousarray(arr[:, None] if arr.ndim == 3 else arr.transpose(0, 3, 1, 2)))
    return x.float().div_(127.5).sub_(1.0)


# -- training and evaluation -----------------------------------------------------------------------


@dataclass
class FitConfig:
    """Training settings of :func:`fit_classifier`. The shipped classifiers use these with 20 (mnist5k) and
    40 (digits) epochs (``scripts/train_classifiers.py``); CAS uses them with its own fixed epochs."""

    epochs: int = 15
    batch_size: int = 64
    lr: float = 3e-3  # peak of the one-cycle schedule
    weight_decay: float = 5e-4

    def check(self, where: str) -> None:
        for name in ("epochs", "batch_size"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"expected an integer >= 1, got {v!r}", where=where, field=name)
        for name in ("lr", "weight_decay"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v) or v < 0:
                raise ConfigError(f"expected a number >= 0, got {v!r}", where=where, field=name)


def fit_classifier(images: np.ndarray, labels: np.ndarray, *, num_classes: int = 10, seed: int = 0,
                   config: FitConfig | None = None, augment: Callable[..., Any] | None = None,
                   device: str = "cpu", progress: Callable[[int], Any] | None = None):
    """Train a fresh :func:`small_cnn` on uint8 images (AdamW, one-cycle schedule, cross-entropy).

    Every random choice derives from ``seed``: initial weights, the batch order of each epoch
    (``torch_generator(seed, "order", epoch)``) and the augmentation of image ``i`` in epoch ``e``
    (``derive_seed(seed, "augment", e, i)``). On the CPU with one thread the result is bit-identical
    from run to run.

    Args:
        images: uint8 N×H×W (or N×H×W×C) images; ``min(H, W)`` decides the pools (:func:`pool_after`).
        labels: N ints in ``[0, num_classes)``, or an N×``num_classes`` float array of class
            probabilities (soft labels, e.g. from CutMix or RICAP; rows sum to 1), trained with the soft
            cross-entropy ``-sum_k p_k log softmax(z)_k``. Integer labels take the hard-label path, unchanged.
        num_classes: logits width.
        seed: the run seed.
        config: :class:`FitConfig` (epochs, batch size, learning rate, weight decay).
        augment: None, or a callable with :class:`traingen.augment.Compose`'s keyword interface,
            ``augment(image=img, seed=s) -> {"image": img2}`` (same size and dtype).
        device: where to train.
        progress: called with 1 after every epoch.

    Returns:
        The trained network in eval mode, on the CPU.

    Example:
        >>> net = fit_classifier(x_train, y_train, seed=0, config=FitConfig(epochs=2))
        >>> accuracy(net, x_test, y_test)
    """
    import torch
    from torch.nn import functional as F

    cfg = config or FitConfig()
    cfg.check("fit_classifier")
    images, labels = _check_training_set(images, labels, num_classes)
    if labels.ndim == 2:  # soft labels: F.cross_entropy takes class probabilities as N×K float targets
        labels = labels.astype(np.float32)
    n, size = len(images), min(images.shape[1:3])
    channels = 1 if images.ndim == 3 else images.shape[3]
    net = small_cnn(size, in_channels=channels, num_classes=num_classes, seed=seed).to(device)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = -(-n // cfg.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.epochs * steps_per_epoch)
    y_all = torch.from_numpy(labels).to(device)
    x_fixed = None if augment is not None else to_input(images).to(device)
    for epoch in range(cfg.epochs):
        x_all = x_fixed if x_fixed is not None else to_input(_augment_all(images, augment, seed, epoch)).to(device)
        order = torch.randperm(n, generator=torch_generator(seed, "order", epoch)).to(device)
        net.train()
        for start in range(0, n, cfg.batch_size):
            idx = order[start:start + cfg.batch_size]
            if len(idx) < 2:  # BatchNorm cannot train on one image
                continue
            loss = F.cross_entropy(net(x_all[idx]), y_all[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        if progress is not None:
            progress(1)
    return net.eval().cpu()


def _augment_all(images: np.ndarray, augment: Callable[..., Any], seed: int, epoch: int) -> np.ndarray:
    out = np.empty_like(images)
    for i, img in enumerate(images):
        res = augment(image=img, seed=derive_seed(seed, "augment", epoch, i))["image"]
        if res.shape != img.shape or res.dtype != img.dtype:
            raise ConfigError(f"augmentation must keep size and dtype: {img.shape} {img.dtype} became "
                              f"{res.shape} {res.dtype}", where="fit_classifier", field="augment")
        out[i] = res
    return out


def _check_training_set(images: np.ndarray, labels: np.ndarray, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    images = np.asarray(images)
    labels = np.asarray(labels)
    if images.dtype != np.uint8 or images.ndim not in (3, 4):
        raise DataError(f"expected uint8 N×H×W[×C] images, got {images.dtype} {images.shape}", field="images")
    if len(images) < 2:
        raise DataError(f"needs at least 2 images to train, got {len(images)}", field="images")
    if labels.ndim == 2:
        return images, _check_soft_labels(labels, len(images), num_classes)
    if labels.shape != (len(images),) or not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"expected {len(images)} integer labels or {len(images)}×{num_classes} class "
                        f"probabilities, got {labels.dtype} {labels.shape}", field="labels")
    if labels.min() < 0 or labels.max() >= num_classes:
        raise DataError(f"labels must lie in [0, {num_classes}), got [{labels.min()}, {labels.max()}]",
                        field="labels")
    return images, labels.astype(np.int64)


def _check_soft_labels(labels: np.ndarray, n: int, num_classes: int) -> np.ndarray:
    """N×K class probabilities: float, finite, in [0, 1], each row summing to 1 (within 1e-4)."""
    if labels.shape != (n, num_classes) or not np.issubdtype(labels.dtype, np.floating):
        raise DataError(f"soft labels must be a float {n}×{num_classes} array, got {labels.dtype} {labels.shape}",
                        field="labels")
    if not np.all(np.isfinite(labels)) or labels.min() < 0 or labels.max() > 1:
        raise DataError("soft labels must be finite probabilities in [0, 1]", field="labels")
    worst = float(np.abs(labels.sum(1, dtype=np.float64) - 1.0).max())
    if worst > 1e-4:
        raise DataError(f"each soft-label row must sum to 1, one is off by {worst:.3g}", field="labels")
    return labels


def predict_logits(net, images: np.ndarray, *, batch_size: int = 500, device: str = "cpu") -> np.ndarray:
    """N×K float64 logits of uint8 images through a trained network (eval mode)."""
    import torch

    net = net.eval().to(device)
    out = []
    with torch.inference_mode():
        for s in range(0, len(images), batch_size):
            out.append(net(to_input(images[s:s + batch_size]).to(device)).double().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, 0))


def accuracy(net, images: np.ndarray, labels: np.ndarray, *, device: str = "cpu") -> float:
    """Top-1 accuracy of ``net`` on uint8 images with integer labels."""
    return float(np.mean(predict_logits(net, images, device=device).argmax(1) == np.asarray(labels)))


# -- weight files ----------------------------------------------------------------------------------


def file_sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def shipped_file(name: str) -> Path:
    """The path of a file shipped in ``traingen/features/weights`` (CheckpointError if absent)."""
    path = Path(str(importlib.resources.files("traingen.features").joinpath(WEIGHTS_DIR, name)))
    if not path.is_file():
        raise CheckpointError("the shipped weight file is missing from the installed package; reinstall "
                              "traingen or recreate it with scripts/train_classifiers.py", where=str(path))
    return path


def save_weights(net, path: str | os.PathLike, *, image_size: int, metadata: dict[str, Any] | None = None) -> str:
    """Write ``net``'s state dict as float32 safetensors, atomically; returns the file's sha256.

    The metadata goes in ONE header entry (``"traingen"``: canonical JSON) because safetensors writes a
    metadata map in hash order, which would change the file's bytes (and sha256) from run to run.
    """
    from safetensors.torch import save as st_save

    from ..data.cache import atomic_write_bytes, canonical_json

    tensors = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    meta = {"architecture": ARCHITECTURE, "image_size": image_size, "widths": list(WIDTHS), **(metadata or {})}
    data = st_save(tensors, metadata={"traingen": canonical_json(meta, indent=None).strip()})
    atomic_write_bytes(path, data)
    return hashlib.sha256(data).hexdigest()


def load_weights(path: str | os.PathLike, *, image_size: int | None = None):
    """Build :func:`small_cnn` from a weight file written by :func:`save_weights`.

    Raises:
        CheckpointError: the file is missing, not safetensors, of another architecture or size, or
            its tensors do not fit the network.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load as st_load

    where = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise CheckpointError(f"cannot read the weight file: {e.strerror or e}", where=where) from e
    meta = _header_metadata(data, where)
    if meta.get("architecture") != ARCHITECTURE:
        raise CheckpointError(f"not a {ARCHITECTURE} weight file (metadata architecture = "
                              f"{meta.get('architecture')!r})", where=where, field="architecture")
    size = meta.get("image_size")
    if isinstance(size, bool) or not isinstance(size, int):
        raise CheckpointError(f"metadata image_size must be an integer, got {size!r}", where=where,
                              field="image_size")
    if image_size is not None and size != image_size:
        raise CheckpointError(f"the weights are for {size}×{size} input, expected {image_size}×{image_size}",
                              where=where, field="image_size")
    try:
        tensors = st_load(data)
    except (SafetensorError, ValueError) as e:
        raise CheckpointError(f"not a readable safetensors file: {e}", where=where) from e
    fc = tensors.get("fc.weight")
    conv0 = tensors.get("features.conv0.weight")
    if fc is None or conv0 is None:
        raise CheckpointError("missing tensors fc.weight / features.conv0.weight", where=where)
    net = small_cnn(size, in_channels=int(conv0.shape[1]), num_classes=int(fc.shape[0]))
    try:
        net.load_state_dict(tensors, strict=True)
    except RuntimeError as e:
        raise CheckpointError(f"tensors do not fit the network: {e}", where=where) from e
    return net.eval()


def _header_metadata(data: bytes, where: str) -> dict[str, Any]:
    """The ``"traingen"`` metadata entry of a safetensors header (``{}`` when there is none)."""
    import json

    try:
        n = int.from_bytes(data[:8], "little")
        header = json.loads(data[8:8 + n]) if 0 < n <= len(data) - 8 else None
    except (ValueError, UnicodeDecodeError):
        header = None
    if not isinstance(header, dict):
        raise CheckpointError("not a safetensors file (bad header)", where=where)
    try:
        meta = json.loads((header.get("__metadata__") or {}).get("traingen", "{}"))
    except (ValueError, AttributeError):
        meta = None
    if not isinstance(meta, dict):
        raise CheckpointError("the 'traingen' metadata entry is not a JSON object", where=where, field="traingen")
    return meta


# -- the registered extractors ---------------------------------------------------------------------


class DigitClassifier(FeatureExtractor):
    """A shipped small digit CNN: ``pool`` = the 128-d penultimate feature, ``logits`` = the 10 fc outputs.

    Args:
        weights: None for the shipped file, or the path of another :func:`save_weights` file of the same
            input size (its sha256 becomes the ``weights_id``).
        resize: how images of another size reach the input size (default ``torch-bilinear-antialias``).
    """

    spec: ClassVar[ClassifierSpec]
    channels: ClassVar[int] = 1
    default_resize: ClassVar[str] = "torch-bilinear-antialias"
    outputs: ClassVar[tuple[str, ...]] = ("pool", "logits")

    def __init__(self, *, weights: str | None = None, resize: str | None = None):
        super().__init__(weights=weights, resize=resize)
        self.input_size = (self.spec.image_size, self.spec.image_size)
        self._path = Path(weights) if weights is not None else None
        self._sha: str | None = None

    def weights_path(self) -> Path:
        if self._path is None:
            self._path = shipped_file(self.spec.weights_file)
        if not self._path.is_file():
            raise CheckpointError(f"weight file not found; leave weights=None for the shipped "
                                  f"{self.spec.key} weights", where=str(self._path), field="weights")
        return self._path

    def weights_id(self) -> str:
        if self._sha is None:
            self._sha = file_sha256(self.weights_path())
        return self._sha

    def build(self):
        return load_weights(self.weights_path(), image_size=self.spec.image_size)

    def normalise(self, x):
        return x / 127.5 - 1.0

    def _run(self, x) -> dict[str, Any]:
        pool = self.module.features(x)
        return {"pool": pool, "logits": self.module.fc(pool)}


@FEATURES.register("mnist5k-classifier")
class Mnist5kClassifier(DigitClassifier):
    """The small CNN trained on ``builtin:mnist5k@train`` (28×28 grey); see ``docs/models.md``."""

    name: ClassVar[str] = "mnist5k-classifier"
    spec: ClassVar[ClassifierSpec] = SHIPPED["mnist5k-classifier"]


@FEATURES.register("digits-classifier")
class DigitsClassifier(DigitClassifier):
    """The small CNN trained on ``builtin:digits@train`` (8×8 grey, one pool); see ``docs/models.md``."""

    name: ClassVar[str] = "digits-classifier"
    spec: ClassVar[ClassifierSpec] = SHIPPED["digits-classifier"]
