"""The feature-extractor interface: a registry, the :class:`Features` result and :class:`FeatureExtractor`.

A feature extractor is a thin wrapper around a ``torch.nn.Module`` that turns uint8 images into
float64 feature arrays for the metrics (IS, FID, KID, precision/recall) and named feature maps for
texture and style methods. The module is built lazily, on first use, so importing this file (and
``traingen.features``) does not import torch.

Input convention everywhere: a uint8 tensor N×C×H×W in 0..255, or a float tensor N×C×H×W in [0, 1]
(DESIGN §3 batches; float input stays differentiable through :meth:`FeatureExtractor.prepare`,
:meth:`~FeatureExtractor.forward` and :meth:`~FeatureExtractor.maps`). Grey input is repeated to three
channels when the network wants three, RGB is averaged when it wants one, and an alpha channel is
dropped. :meth:`FeatureExtractor.extract` also takes numpy arrays, single images, and any iterable of
:class:`~traingen.core.sample.Sample` (a data Source); float images in [0, 1] are quantised to uint8
there (round half to even), exactly as writing them to PNG would, so features of generated floats equal
features of their saved files.

Example:
    >>> from traingen.features import get_extractor
    >>> ext = get_extractor("random-multiscale")
    >>> feats = ext.extract(np.zeros((4, 28, 28), np.uint8))
    >>> feats.pool.shape, feats.pool.dtype
    ((4, 512), dtype('float64'))

References:
    Heusel et al., "GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash
    Equilibrium", NeurIPS 2017 (features for FID). Parmar, Zhang, Zhu, "On Aliased Resizing and
    Surprising Subtleties in GAN Evaluation", CVPR 2022 (why the resize is part of the provenance).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from ..core.errors import ConfigError, DataError
from ..core.registry import Registry
from ..core.sample import Sample

#: Every feature network, keyed by its kebab-case name (``inception-v3-fid``, ``random-multiscale``, ...).
FEATURES = Registry("features", "feature networks for metrics, texture and style")


@dataclass
class Features:
    """Features of N images.

    Attributes:
        pool: N×D float64 pooled features (FID/KID/precision-recall), or None if the net has none.
        logits: N×K float64 class logits (Inception Score, CAS), or None. For ``inception-v3-fid``
            these are the 1008 logits WITHOUT the final fc bias, as in the original IS code.
        provenance: extractor name, weights id, resize method, input size, channels, N.
    """

    pool: np.ndarray | None
    logits: np.ndarray | None
    provenance: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        arr = self.pool if self.pool is not None else self.logits
        return 0 if arr is None else int(arr.shape[0])


class FeatureExtractor:
    """Base class: uint8 images in, float64 features out.

    Subclasses set the class attributes, implement :meth:`build` (returns the ``nn.Module``, weights
    loaded), :meth:`weights_id`, :meth:`normalise` and :meth:`_run` (prepared tensor -> dict of
    outputs), and optionally :meth:`_maps` for named feature taps.

    Attributes:
        name: the registry key; each subclass sets it to the key it registers under.
        input_size: (H, W) the network is fed, or None to keep the input's size.
        channels: 3 or 1, what the network wants.
        default_resize: the resize method used when the caller names none.
        outputs: which keys :meth:`forward` returns (``"pool"``, ``"logits"``).
        taps: the names :meth:`maps` knows, in network order (empty if it has no taps).
    """

    name: ClassVar[str] = ""
    input_size: tuple[int, int] | None = None
    channels: ClassVar[int] = 3
    default_resize: ClassVar[str] = "tf1-bilinear"
    outputs: ClassVar[tuple[str, ...]] = ("pool",)
    taps: ClassVar[tuple[str, ...]] = ()

    def __init__(self, *, weights: str | None = None, resize: str | None = None):
        from .resize import RESIZE_METHODS

        method = resize or self.default_resize
        if method not in RESIZE_METHODS:
            raise ConfigError(
                f"unknown resize method {method!r}; known: {', '.join(RESIZE_METHODS)}",
                where=self.name or type(self).__name__, field="resize",
            )
        self.resize = method
        self.weights = weights
        self.device = "cpu"
        self._module = None

    # -- the module, built on first use ---------------------------------------------------------

    def build(self):
        """Create the ``torch.nn.Module`` with its weights loaded (called once, lazily)."""
        raise NotImplementedError

    @property
    def module(self):
        """The wrapped ``torch.nn.Module`` in eval mode on :attr:`device`, gradients off."""
        if self._module is None:
            net = self.build()
            net.eval()
            net.requires_grad_(False)
            self._module = net.to(self.device)
        return self._module

    def to(self, device: str) -> FeatureExtractor:
        """Move the network to ``device`` (``cpu``, ``cuda``, ``cuda:1``); returns self."""
        self.device = str(device)
        if self._module is not None:
            self._module = self._module.to(self.device)
        return self

    # -- identity -------------------------------------------------------------------------------

    def weights_id(self) -> str:
        """sha256 of the weight file, ``"seeded:<seed>..."`` for seeded weights, or a shipped file's sha256."""
        raise NotImplementedError

    def provenance(self) -> dict[str, Any]:
        """What decides the features: recorded beside every metric result."""
        return {
            "extractor": self.name,
            "weights": self.weights_id(),
            "resize": self.resize,
            "input_size": list(self.input_size) if self.input_size else None,
            "channels": self.channels,
        }

    # -- tensors in, tensors out ----------------------------------------------------------------

    def normalise(self, x):
        """Map a float tensor in 0..255 (already resized) to what the network expects."""
        raise NotImplementedError

    def prepare(self, x, *, resize: bool = True):
        """uint8 N×C×H×W (0..255) or float N×C×H×W ([0, 1]) -> the network's float32 input.

        Adapts the channel count, resizes to :attr:`input_size` with :attr:`resize` (when ``resize``
        and a size is set), then :meth:`normalise`. Differentiable for float input (except with the
        ``pil-bicubic`` method, which works on uint8-range numpy arrays).
        """
        import torch

        from .resize import resize_images

        if not isinstance(x, torch.Tensor) or x.dim() != 4:
            raise DataError(f"expected a N×C×H×W tensor, got {_describe(x)}", where=self.name, field="images")
        if x.dtype == torch.uint8:
            x = x.to(self.device, torch.float32)
        elif x.is_floating_point():
            x = x.to(self.device, torch.float32) * 255.0
        else:
            raise DataError(f"expected uint8 or float images, got {x.dtype}", where=self.name, field="images")
        x = adapt_channels(x, self.channels, where=self.name)
        if resize:
            size = self.target_size(int(x.shape[-2]), int(x.shape[-1]))
            if size is not None and tuple(x.shape[-2:]) != tuple(size):
                x = resize_images(x, size, self.resize)
        return self.normalise(x)

    def target_size(self, h: int, w: int) -> tuple[int, int] | None:
        """The (H, W) an h×w input is resized to, or None to keep it (default: :attr:`input_size`)."""
        return self.input_size

    def _run(self, x) -> dict[str, Any]:
        """Prepared tensor -> dict with keys from :attr:`outputs`."""
        raise NotImplementedError

    def forward(self, x) -> dict[str, Any]:
        """Images (see :meth:`prepare`) -> ``{"pool": N×D, "logits": N×K}`` float tensors."""
        return self._run(self.prepare(x))

    __call__ = forward

    def vector(self, x):
        """The pooled feature vector N×D of images (what FID/KID use)."""
        return self.forward(x)["pool"]

    def maps(self, x, taps: Iterable[str] | None = None) -> dict[str, Any]:
        """Named feature maps of images (no resize: maps keep the input's resolution).

        Args:
            x: uint8 or float N×C×H×W images (see :meth:`prepare`).
            taps: names from :attr:`taps`; None means all of them.

        Returns:
            dict tap name -> N×C'×H'×W' float tensor, in network order.
        """
        if not self.taps:
            raise ConfigError(f"{self.name} has no named feature taps", where=self.name, field="taps")
        wanted = list(self.taps) if taps is None else list(taps)
        unknown = [t for t in wanted if t not in self.taps]
        if unknown:
            raise ConfigError(
                f"unknown taps {unknown}; known: {', '.join(self.taps)}", where=self.name, field="taps"
            )
        return self._maps(self.prepare(x, resize=False), wanted)

    def _maps(self, x, taps: list[str]) -> dict[str, Any]:
        raise NotImplementedError

    # -- arrays and iterables in, float64 features out ------------------------------------------

    def extract(
        self,
        images: Any,
        *,
        batch_size: int = 64,
        device: str | None = None,
        progress: Callable[[int], Any] | None = None,
    ) -> Features:
        """Features of many images, as float64 numpy arrays.

        Args:
            images: uint8 numpy N×H×W or N×H×W×C, uint8 torch N×C×H×W, or an iterable of single
                images (numpy H×W / H×W×C, torch C×H×W) or of Samples (e.g. a data Source). Float
                images in [0, 1] are quantised to uint8 first. Images of different sizes may mix.
            batch_size: images per forward pass.
            device: where to run (None keeps :attr:`device`).
            progress: called with the number of images after each batch.

        Returns:
            :class:`Features` with ``pool`` / ``logits`` (N×D float64) and provenance (with ``n``).
        """
        import torch

        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size}", where=self.name, field="batch_size")
        if device is not None:
            self.to(device)
        out: dict[str, list[np.ndarray]] = {}
        n = 0
        with torch.inference_mode():
            for batch in iter_batches(images, batch_size, where=self.name):
                for key, value in self._forward_mixed(batch).items():
                    out.setdefault(key, []).append(value)
                n += len(batch)
                if progress is not None:
                    progress(len(batch))
        if n == 0:
            raise DataError("no images to extract features from", where=self.name, field="images")
        arrays = {k: np.concatenate(v) for k, v in out.items()}
        prov = self.provenance()
        prov["n"] = n
        return Features(pool=arrays.get("pool"), logits=arrays.get("logits"), provenance=prov)

    def _forward_mixed(self, batch: list[np.ndarray]) -> dict[str, np.ndarray]:
        """Forward a list of C×H×W uint8 arrays; same-size images share one pass, order is kept."""
        import torch

        groups: dict[tuple[int, ...], list[int]] = {}
        for i, img in enumerate(batch):
            groups.setdefault(img.shape, []).append(i)
        result: dict[str, np.ndarray] = {}
        for idx in groups.values():
            x = torch.from_numpy(np.stack([batch[i] for i in idx]))
            outs = self.forward(x)
            for key in ("pool", "logits"):
                if outs.get(key) is None:
                    continue
                val = outs[key].detach().to("cpu", torch.float64).numpy()
                if key not in result:
                    result[key] = np.empty((len(batch), val.shape[1]), np.float64)
                result[key][idx] = val
        return result


# -- helpers (pure functions) ---------------------------------------------------------------------


def adapt_channels(x, channels: int, *, where: str | None = None):
    """Give a float N×C×H×W tensor ``channels`` channels: grey -> repeated, RGB -> mean, alpha dropped."""
    c = x.shape[1]
    if c == 4:
        x, c = x[:, :3], 3
    if c == 2:
        x, c = x[:, :1], 1  # grey + alpha
    if c == channels:
        return x
    if c == 1 and channels == 3:
        return x.expand(-1, 3, -1, -1)
    if c == 3 and channels == 1:
        return x.mean(dim=1, keepdim=True)
    raise DataError(f"cannot feed {c}-channel images to a {channels}-channel network", where=where,
                    field="images")


IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def imagenet_normalise(x):
    """Float N×3×H×W in 0..255 -> ``(x/255 - mean) / std`` with ImageNet's mean and std."""
    import torch

    mean = torch.tensor(IMAGENET_MEAN, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x / 255.0 - mean) / std


def to_chw_uint8(img: Any, *, where: str | None = None) -> np.ndarray:
    """One image (numpy H×W / H×W×C, torch C×H×W, or a Sample) -> a C×H×W uint8 numpy array."""
    if isinstance(img, Sample):
        img = img.image
    if hasattr(img, "detach") and hasattr(img, "numpy"):  # a torch tensor, CHW
        arr = img.detach().cpu().numpy()
        if arr.ndim == 2:
            arr = arr[None]
        if arr.ndim != 3:
            raise DataError(f"expected a C×H×W tensor, got shape {arr.shape}", where=where, field="images")
    else:
        arr = np.asarray(img)
        if arr.ndim == 2:
            arr = arr[None]
        elif arr.ndim == 3:
            arr = arr.transpose(2, 0, 1)
        else:
            raise DataError(f"expected an H×W or H×W×C image, got shape {arr.shape}", where=where, field="images")
    return as_uint8(arr, where=where)


def as_uint8(arr: np.ndarray, *, where: str | None = None) -> np.ndarray:
    """uint8 stays; float in [0, 1] is quantised (x·255, round half to even); anything else is an error."""
    if arr.dtype == np.uint8:
        return arr
    if np.issubdtype(arr.dtype, np.floating):
        if arr.size and (not np.isfinite(arr).all() or arr.min() < 0.0 or arr.max() > 1.0):
            lo, hi = float(np.nanmin(arr)), float(np.nanmax(arr))
            raise DataError(f"float images must lie in [0, 1], got values in [{lo:g}, {hi:g}]", where=where,
                            field="images")
        return np.rint(arr * 255.0).astype(np.uint8)
    raise DataError(f"expected uint8 or float images, got dtype {arr.dtype}", where=where, field="images")


def iter_batches(images: Any, batch_size: int, *, where: str | None = None):
    """Yield lists of C×H×W uint8 numpy arrays, ``batch_size`` at a time, from any accepted input."""
    if isinstance(images, np.ndarray) and images.ndim in (3, 4):
        arr = images[:, None] if images.ndim == 3 else images.transpose(0, 3, 1, 2)
        for s in range(0, len(arr), batch_size):
            yield list(as_uint8(np.ascontiguousarray(arr[s:s + batch_size]), where=where))
        return
    if hasattr(images, "detach") and getattr(images, "ndim", 0) in (3, 4):  # torch N×C×H×W / N×H×W
        t = images.detach().cpu()
        arr = t.numpy()[:, None] if t.ndim == 3 else t.numpy()
        for s in range(0, len(arr), batch_size):
            yield list(as_uint8(arr[s:s + batch_size], where=where))
        return
    if isinstance(images, (np.ndarray, str, bytes)) or not isinstance(images, Iterable):
        raise DataError(f"expected images (N×H×W[×C] array, N×C×H×W tensor or an iterable of images), "
                        f"got {_describe(images)}", where=where, field="images")
    batch: list[np.ndarray] = []
    for img in images:
        batch.append(to_chw_uint8(img, where=where))
        if len(batch) == batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


def _describe(x: Any) -> str:
    shape = getattr(x, "shape", None)
    return f"{type(x).__name__}{' of shape ' + str(tuple(shape)) if shape is not None else ''}"


def get_extractor(name: str, *, weights: str | None = None, device: str = "cpu", **options: Any) -> FeatureExtractor:
    """Build the registered extractor ``name`` (weights are located now, loaded on first use).

    Args:
        name: registry key (``inception-v3-fid``, ``vgg19``, ``random-multiscale``, ...).
        weights: a weight file for the networks that need one (see :mod:`traingen.features.weights`).
        device: where the network will run.
        **options: the extractor's own options (e.g. ``resize="pil-bicubic"``, ``seed=1``).

    Returns:
        The extractor, on ``device``.

    Example:
        >>> ext = get_extractor("random-multiscale", seed=0)
    """
    cls = FEATURES.get(name)
    allowed = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "weights")]
    unknown = [k for k in options if k not in allowed]
    if unknown:
        raise ConfigError(f"unknown options {unknown}; allowed: {', '.join(allowed) or '(none)'}",
                          where=f"feature extractor '{name}'", field=unknown[0])
    return cls(weights=weights, **options).to(device)
