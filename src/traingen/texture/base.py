"""Shared pieces of the texture methods: the registry, the result type, image conversion, L-BFGS.

Every method takes one exemplar (numpy H×W / H×W×C uint8 or float in [0, 1], or a torch C×H×W /
N×C×H×W float tensor in [0, 1]) and returns a :class:`TextureResult` whose ``image`` is H×W (grey
exemplar) or H×W×3 uint8. Grey exemplars are synthesised as one channel (the backbone repeats it to
RGB), so grey textures stay grey. Methods are registered in :data:`TEXTURES` as a
:class:`TextureMethod` (its config dataclass and its run function) so that the CLI builds any of
them from the same options.

Example:
    >>> res = synthesize("quilting", exemplar, size=96, seed=0)
    >>> res.image.shape, res.seconds

References:
    Liu & Nocedal, "On the limited memory BFGS method for large scale optimization", Math. Prog. 1989.
    Lewis, "Fast Normalized Cross-Correlation", Vision Interface 1995 (the copy check).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from ..core.errors import ConfigError, DataError
from ..core.registry import Registry

#: Texture synthesis methods by name (``traingen texture --method``).
TEXTURES = Registry("texture", "texture synthesis methods (traingen texture --method)")


@dataclass
class TextureResult:
    """The output of one synthesis.

    Args:
        image: H×W (grey) or H×W×3 uint8 texture.
        losses: loss value per optimiser evaluation or training step (empty for quilting).
        seconds: wall time.
        method: registry key.
        info: resolved config, backbone provenance, method-specific facts (e.g. quilting's copied region).
    """

    image: np.ndarray
    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0
    method: str = ""
    info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TextureMethod:
    """A registered method: its config dataclass and ``run(exemplar, config, seed, device, progress)``."""

    name: str
    config: type
    run: Callable[..., TextureResult]
    summary: str = ""


def register(name: str, config: type, summary: str = "") -> Callable[[Callable[..., TextureResult]], Any]:
    """Decorator: register ``run`` as texture method ``name`` with its config class."""

    def deco(run: Callable[..., TextureResult]) -> Callable[..., TextureResult]:
        TEXTURES.register(name)(TextureMethod(name, config, run, summary))
        return run

    return deco


def get_method(name: str) -> TextureMethod:
    """The registered :class:`TextureMethod` ``name`` (imports every method module first)."""
    from . import expansion, gatys, multiscale, quilting  # noqa: F401  (fill the registry)

    return TEXTURES.get(name)


def build_config(method: str, options: dict[str, Any]):
    """The method's config from ``options``, ignoring None values; unknown keys -> ConfigError."""
    from ..core.config import from_dict

    m = get_method(method)
    known = {f.name for f in fields(m.config)}
    opts = {k: v for k, v in options.items() if v is not None}
    unknown = [k for k in opts if k not in known]
    if unknown:
        raise ConfigError(f"method {method!r} has no option(s) {unknown}; it takes: {', '.join(sorted(known))}",
                          where=f"texture '{method}'", field=unknown[0])
    return from_dict(m.config, opts, where=f"texture '{method}'")


def synthesize(method: str, exemplar: Any, *, seed: int = 0, device: str = "cpu",
               progress: Callable[[int, float], Any] | None = None, **options: Any) -> TextureResult:
    """Synthesise a texture like ``exemplar`` with ``method`` (``gatys``, ``multiscale``, ``expansion``, ``quilting``).

    Args:
        method: registry key.
        exemplar: the example texture (see the module docstring).
        seed: the seed of every random draw.
        device: torch device.
        progress: called ``progress(step, loss)`` after each step.
        **options: fields of the method's config (``size``, ``steps``, ``backbone``, ...).

    Returns:
        :class:`TextureResult`.
    """
    cfg = build_config(method, options)
    return get_method(method).run(exemplar, cfg, seed=seed, device=device, progress=progress)


# -- conversion -----------------------------------------------------------------------------------


def to_array(img: Any, *, where: str = "exemplar") -> np.ndarray:
    """An H×W×C float64 array in [0, 1] (C = 1 or 3) from numpy / torch input; alpha dropped, 2 channels -> grey."""
    if hasattr(img, "detach") and hasattr(img, "numpy"):
        arr = img.detach().cpu().numpy()
        if arr.ndim == 4:
            if arr.shape[0] != 1:
                raise DataError(f"expected one image, got a batch of {arr.shape[0]}", where=where, field="image")
            arr = arr[0]
        if arr.ndim == 3:
            arr = np.moveaxis(arr, 0, -1)
        arr = arr.astype(np.float64)
    else:
        arr = np.asarray(img)
        if arr.dtype == np.uint8:
            arr = arr.astype(np.float64) / 255.0
        elif arr.dtype == np.uint16:
            arr = arr.astype(np.float64) / 65535.0
        elif np.issubdtype(arr.dtype, np.floating):
            arr = arr.astype(np.float64)
        else:
            raise DataError(f"expected uint8, uint16 or float pixels, got {arr.dtype}", where=where, field="image")
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3 or arr.shape[-1] not in (1, 2, 3, 4):
        raise DataError(f"expected an H×W or H×W×C image (C in 1..4), got shape {arr.shape}", where=where,
                        field="image")
    if arr.shape[-1] == 4:
        arr = arr[..., :3]
    if arr.shape[-1] == 2:
        arr = arr[..., :1]
    if arr.shape[-1] == 3 and np.allclose(arr[..., 0], arr[..., 1]) and np.allclose(arr[..., 0], arr[..., 2]):
        arr = arr[..., :1]  # grey stored as RGB
    if not np.isfinite(arr).all():
        raise DataError("the image holds NaN or infinite values", where=where, field="image")
    if min(arr.shape[:2]) < 8:
        raise DataError(f"the image is too small ({arr.shape[0]}×{arr.shape[1]}; at least 8×8)", where=where,
                        field="image")
    return np.clip(arr, 0.0, 1.0)


def to_tensor(img: Any, *, device: str = "cpu", where: str = "exemplar"):
    """1×C×H×W float32 tensor in [0, 1] (C = 1 or 3) from any image :func:`to_array` accepts."""
    import torch

    arr = to_array(img, where=where)
    return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1), dtype=np.float32))[None].to(device)


def to_uint8(x: Any) -> np.ndarray:
    """1×C×H×W tensor or H×W×C array in [0, 1] -> H×W (C = 1) or H×W×3 uint8."""
    if hasattr(x, "detach"):
        arr = x.detach().cpu().double().numpy()[0].transpose(1, 2, 0)
    else:
        arr = np.asarray(x, np.float64)
        if arr.ndim == 2:
            arr = arr[..., None]
    out = np.round(np.clip(arr, 0.0, 1.0) * 255.0).astype(np.uint8)
    return out[..., 0] if out.shape[-1] == 1 else out


def check_size(size: int, where: str, *, minimum: int = 16) -> None:
    """Raise a ConfigError unless ``size`` is an int >= ``minimum``."""
    if not isinstance(size, int) or size < minimum:
        raise ConfigError(f"size must be an integer >= {minimum}, got {size!r}", where=where, field="size")


# -- optimisation ---------------------------------------------------------------------------------


def run_lbfgs(x, loss_fn: Callable[[Any], Any], evaluations: int, *, history: int = 50,
              progress: Callable[[int, float], Any] | None = None, where: str = "texture") -> list[float]:
    """Minimise ``loss_fn(x)`` over the leaf tensor ``x`` (in place) with at most ``evaluations`` calls.

    Args:
        x: leaf tensor with ``requires_grad=True``.
        loss_fn: scalar loss of ``x``.
        evaluations: budget of loss + gradient evaluations (Gatys et al. count these).
        history: L-BFGS memory.
        progress: ``progress(evaluation, loss)`` after each evaluation.
        where: names the caller in errors.

    Returns:
        The loss after each evaluation.
    """
    import torch

    if evaluations < 1:
        raise ConfigError(f"steps must be >= 1, got {evaluations}", where=where, field="steps")
    opt = torch.optim.LBFGS([x], lr=1.0, max_iter=evaluations, max_eval=evaluations, history_size=history,
                            tolerance_grad=0.0, tolerance_change=0.0, line_search_fn="strong_wolfe")
    losses: list[float] = []

    def closure():
        opt.zero_grad()
        loss = loss_fn(x)
        if not torch.isfinite(loss):
            raise DataError(f"the loss became {float(loss)} after {len(losses)} evaluations", where=where,
                            field="loss")
        loss.backward()
        losses.append(float(loss.detach()))
        if progress is not None:
            progress(len(losses), losses[-1])
        return loss

    opt.step(closure)
    return losses


class Timer:
    """``with Timer() as t: ...; t.seconds``."""

    def __enter__(self) -> Timer:
        self.t0 = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc: Any) -> None:
        self.seconds = time.perf_counter() - self.t0


# -- copy check -----------------------------------------------------------------------------------


def max_patch_ncc(output: np.ndarray, exemplar: np.ndarray, *, patch: int = 32, stride: int = 16) -> float:
    """The highest normalised cross-correlation of any output patch with any exemplar position.

    Output patches of ``patch``×``patch`` on a grid of ``stride`` are matched against every position
    of the exemplar (grey, zero-mean NCC via ``cv2.matchTemplate`` TM_CCOEFF_NORMED). 1.0 means some
    patch was copied pixel for pixel; the "not a copy" criterion is < 0.95 for neural methods.

    Args:
        output, exemplar: H×W or H×W×C images (uint8 or float in [0, 1]).
        patch: patch side.
        stride: step between output patches.

    Returns:
        The maximum NCC (flat patches, whose NCC is undefined, are skipped).
    """
    import cv2

    def grey(a: np.ndarray) -> np.ndarray:
        a = to_array(a, where="ncc")
        return a.mean(axis=-1).astype(np.float32)

    out, ex = grey(output), grey(exemplar)
    if min(out.shape) < patch or min(ex.shape) < patch:
        raise DataError(f"images must be at least {patch}×{patch} for the copy check", field="patch")
    best = -1.0
    for i in range(0, out.shape[0] - patch + 1, stride):
        for j in range(0, out.shape[1] - patch + 1, stride):
            p = out[i:i + patch, j:j + patch]
            if p.std() < 1e-3:
                continue
            best = max(best, float(cv2.matchTemplate(ex, p, cv2.TM_CCOEFF_NORMED).max()))
    return best


@dataclass
class CopyCheck:
    """What :func:`copy_check` measured (each ``max_*`` is -1.0 when no patch qualified).

    Args:
        max_ncc: the §9 quantity, the highest NCC of any (non-flat) output patch with any exemplar position
            (:func:`max_patch_ncc`).
        max_ncc_textured: the same, counting only matches where the output patch *and* the exemplar window
            both have a grey std of at least ``min_std``: a smooth gradient matches some smooth stretch of a
            large exemplar by chance, a copied piece of texture does not need to be smooth.
        patches / textured: output patches tested / of those, the ones with std >= ``min_std``.
        over / over_textured: patches whose best match exceeds ``threshold``, counted the two ways.
        threshold, min_std, patch, stride: the settings.
    """

    max_ncc: float
    max_ncc_textured: float
    patches: int
    textured: int
    over: int
    over_textured: int
    threshold: float
    min_std: float
    patch: int
    stride: int


def copy_check(output: np.ndarray, exemplar: np.ndarray, *, patch: int = 32, stride: int = 8,
               min_std: float = 0.05, threshold: float = 0.95) -> CopyCheck:
    """The "not a copy" check, plainly (:func:`max_patch_ncc`) and restricted to textured patches.

    Every ``patch``×``patch`` output patch on a grid of ``stride`` is matched (grey, zero-mean NCC,
    ``cv2.matchTemplate`` TM_CCOEFF_NORMED) against every exemplar position. Run it on an unstylised
    input as well (e.g. the content photo against the style image) to get the chance level of the
    same pair: on photos with smooth regions the plain maximum is often above 0.95 without any copying.

    Args:
        output, exemplar: H×W or H×W×C images (uint8 or float in [0, 1]).
        patch, stride: patch side and grid step over the output.
        min_std: grey std (image in [0, 1]) that makes a patch or exemplar window "textured".
        threshold: the NCC a copy would exceed (0.95 in DESIGN §9).

    Returns:
        A :class:`CopyCheck`.

    Example:
        >>> copy_check(out, style).max_ncc_textured < 0.95
    """
    import cv2

    def grey(a: np.ndarray) -> np.ndarray:
        return to_array(a, where="ncc").mean(axis=-1).astype(np.float32)

    out, ex = grey(output), grey(exemplar)
    if min(out.shape) < patch or min(ex.shape) < patch:
        raise DataError(f"images must be at least {patch}×{patch} for the copy check", field="patch")
    # std of every exemplar window, in float64 (the box sums of a 512² image lose digits in float32)
    ex64 = ex.astype(np.float64)
    k = (patch, patch)
    m1 = cv2.boxFilter(ex64, -1, k, normalize=True, borderType=cv2.BORDER_CONSTANT)
    m2 = cv2.boxFilter(ex64 * ex64, -1, k, normalize=True, borderType=cv2.BORDER_CONSTANT)
    std = np.sqrt(np.maximum(m2 - m1 * m1, 0.0))
    off = patch // 2  # boxFilter centres the window: window at top-left (i, j) is centred at i + off
    win_std = std[off:off + ex.shape[0] - patch + 1, off:off + ex.shape[1] - patch + 1]
    textured_ex = win_std >= min_std
    best = best_t = -1.0
    n = n_t = over = over_t = 0
    for i in range(0, out.shape[0] - patch + 1, stride):
        for j in range(0, out.shape[1] - patch + 1, stride):
            p = out[i:i + patch, j:j + patch]
            if p.std() < 1e-3:
                continue
            r = cv2.matchTemplate(ex, p, cv2.TM_CCOEFF_NORMED)
            v = float(r.max())
            n += 1
            best = max(best, v)
            over += v > threshold
            if p.std() >= min_std and textured_ex.any():
                vt = float(r[textured_ex].max())
                n_t += 1
                best_t = max(best_t, vt)
                over_t += vt > threshold
    return CopyCheck(best, best_t, n, n_t, int(over), int(over_t), threshold, min_std, patch, stride)
