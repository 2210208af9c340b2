"""Finding, identifying and loading the weight files of pretrained feature networks.

Pretrained weights are never downloaded. A network that needs a file looks for it, in this order:

1. the path the caller gives (``weights=`` / ``--weights PATH``): a file of any name, or a folder;
2. ``$TRAINGEN_WEIGHTS``: a file or a folder (several separated by ``os.pathsep``);
3. the torch hub cache, ``torch.hub.get_dir()/checkpoints`` (``$TORCH_HOME/hub/checkpoints``, by
   default ``~/.cache/torch/hub/checkpoints``), where torch and torchvision keep what they download.

In a folder (and for a file in ``$TRAINGEN_WEIGHTS``) only the file names the network accepts count
(e.g. ``pt_inception-2015-12-05-6726825d.pth``). A name that carries a hash (``-6726825d.``) follows
the torch hub convention: those hex digits are the start of the file's sha256, and a file whose
sha256 does not start with them is refused (truncated download, or another file under that name). A
file given by path under another name is accepted and identified by its full sha256, which goes into
every result's provenance. A missing file is a :class:`~traingen.core.errors.CheckpointError` that
names the files, the places searched, and the offline alternatives; never a silent switch.

Checkpoints are read with ``torch.load(..., weights_only=True)`` (no pickled code) or safetensors.

Example:
    >>> spec = WeightSpec("vgg19", ("vgg19-dcbb9e9d.pth",), "torchvision VGG19 ImageNet weights")
    >>> path = locate(spec, None)          # CheckpointError when absent
    >>> sha256_file(path)[:8]
    'dcbb9e9d'
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.errors import CheckpointError

#: torch hub's convention: ``name-<sha256 prefix>.ext``.
HASH_IN_NAME = re.compile(r"-([a-f0-9]{8,64})\.[A-Za-z0-9]+$")

OFFLINE_ALTERNATIVES = (
    "offline alternatives that need no download: 'random-multiscale' (seeded random filters, any images) "
    "and the digit classifiers 'mnist5k-classifier' / 'digits-classifier' (weights shipped)"
)


@dataclass(frozen=True)
class WeightSpec:
    """What file a network needs.

    Attributes:
        extractor: the registry key of the network.
        filenames: accepted file names (the first is the preferred one).
        description: one line for messages and ``traingen weights check``.
        source: where a user can get the file (shown in the error).
    """

    extractor: str
    filenames: tuple[str, ...]
    description: str
    source: str = ""


def hub_dir() -> Path:
    """``torch.hub.get_dir()`` computed without importing torch (``$TORCH_HOME`` / ``$XDG_CACHE_HOME``)."""
    torch_home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or "~/.cache", "torch"
    )
    return Path(os.path.expanduser(torch_home)) / "hub"


def search_places(explicit: str | os.PathLike | None = None) -> list[tuple[str, Path]]:
    """The places searched, in order, as ``(label, path)``."""
    places: list[tuple[str, Path]] = []
    if explicit is not None:
        places.append(("--weights", Path(explicit).expanduser()))
    env = os.environ.get("TRAINGEN_WEIGHTS", "")
    for part in env.split(os.pathsep):
        if part.strip():
            places.append(("$TRAINGEN_WEIGHTS", Path(part.strip()).expanduser()))
    places.append(("torch hub cache", hub_dir() / "checkpoints"))
    return places


_SHA_CACHE: dict[tuple[str, int, int], str] = {}


def sha256_file(path: str | os.PathLike) -> str:
    """Full hex sha256 of a file (memoised by path, size and mtime)."""
    p = Path(path)
    st = p.stat()
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _SHA_CACHE:
        h = hashlib.sha256()
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        _SHA_CACHE[key] = h.hexdigest()
    return _SHA_CACHE[key]


def expected_prefix(path: str | os.PathLike) -> str | None:
    """The sha256 prefix a hub-style file name promises (``...-6726825d.pth`` -> ``6726825d``), or None."""
    m = HASH_IN_NAME.search(Path(path).name)
    return m.group(1) if m else None


def verify(path: Path, spec: WeightSpec) -> dict[str, Any]:
    """Identify a file: ``{"path", "sha256", "status"}``, status ``ok``, ``mismatch`` or ``unverified``.

    ``ok``: an accepted name whose hash prefix matches; ``unverified``: a name without a hash (a file
    given by path), identified by its sha256 only; ``mismatch``: the name's prefix is not the sha256's.
    """
    sha = sha256_file(path)
    prefix = expected_prefix(path)
    if prefix is None:
        status = "unverified"
    else:
        status = "ok" if sha.startswith(prefix) else "mismatch"
    return {"path": str(path), "sha256": sha, "status": status}


def candidates(spec: WeightSpec, explicit: str | os.PathLike | None = None) -> list[tuple[str, Path]]:
    """Existing files that could serve ``spec``, in search order, as ``(label, path)``."""
    found: list[tuple[str, Path]] = []
    for label, place in search_places(explicit):
        if place.is_dir():
            found.extend((label, place / n) for n in spec.filenames if (place / n).is_file())
        elif place.is_file() and (label == "--weights" or place.name in spec.filenames):
            found.append((label, place))
    return found


def missing_message(spec: WeightSpec, explicit: str | os.PathLike | None = None) -> str:
    places = "; ".join(f"{label}: {p}" for label, p in search_places(explicit))
    names = " or ".join(spec.filenames)
    where = f" (get it from {spec.source})" if spec.source else ""
    return (
        f"'{spec.extractor}' needs {spec.description}: a file named {names}{where}. Searched {places}. "
        f"Put the file in {hub_dir() / 'checkpoints'} or in a folder named by $TRAINGEN_WEIGHTS, or pass "
        f"--weights PATH. Pretrained weights are never downloaded; {OFFLINE_ALTERNATIVES}."
    )


def locate(spec: WeightSpec, explicit: str | os.PathLike | None = None) -> Path:
    """The weight file for ``spec``: the first candidate in search order, its hash prefix checked.

    Raises:
        CheckpointError: no file found (the message names the files, the places and the alternatives),
            the explicit path does not exist, or a hub-style name's sha256 prefix does not match.
    """
    if explicit is not None and not Path(explicit).expanduser().exists():
        raise CheckpointError(f"weight file not found. {missing_message(spec, explicit)}",
                              where=str(explicit), field="weights")
    found = candidates(spec, explicit)
    if not found:
        raise CheckpointError(missing_message(spec, explicit), where=spec.extractor, field="weights")
    _, path = found[0]
    info = verify(path, spec)
    if info["status"] == "mismatch":
        raise CheckpointError(
            f"sha256 {info['sha256'][:16]}... does not start with {expected_prefix(path)}, the prefix its name "
            f"promises (torch hub convention): the file is truncated or not the expected one. Download it "
            f"again{' from ' + spec.source if spec.source else ''}, or rename it if it is a different file "
            f"on purpose and pass it with --weights.",
            where=str(path), field="weights",
        )
    return path


def load_state_dict(path: str | os.PathLike) -> dict[str, Any]:
    """Read a state dict: safetensors, or ``torch.load(weights_only=True)``; wrappers and ``module.`` removed.

    Raises:
        CheckpointError: the file cannot be read or holds no tensor mapping.
    """
    import torch

    p = Path(path)
    try:
        if p.suffix == ".safetensors":
            from safetensors.torch import load_file

            obj: Any = load_file(str(p), device="cpu")
        else:
            obj = torch.load(str(p), map_location="cpu", weights_only=True)
    except Exception as e:  # corrupt, truncated, pickled code, not a checkpoint at all
        raise CheckpointError(f"cannot read the weight file ({type(e).__name__}: {e})", where=str(p),
                              field="weights") from None
    for wrapper in ("state_dict", "model", "model_state_dict"):
        if isinstance(obj, dict) and isinstance(obj.get(wrapper), dict):
            obj = obj[wrapper]
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError("expected a state dict (a mapping of names to tensors)", where=str(p), field="weights")
    if all(k.startswith("module.") for k in obj):
        obj = {k[len("module."):]: v for k, v in obj.items()}
    return dict(obj)


def load_into(module: Any, state: dict[str, Any], *, where: str) -> Any:
    """Strictly load ``state`` into ``module`` (which may live on the meta device) and return it.

    The tensors are assigned, cast to the module's dtypes, so a network built on ``torch.device("meta")``
    (no memory, no random init: VGG19's 143M parameters would take seconds to initialise only to be
    overwritten) gets real storage. BatchNorm counters, absent from files saved by old torch versions,
    are filled with zeros; they do not affect eval.

    Raises:
        CheckpointError: missing or unexpected keys or a shape mismatch (the message names some).
    """
    import torch

    own = module.state_dict()
    state = dict(state)
    for k in own:
        if k.endswith("num_batches_tracked") and k not in state:
            state[k] = torch.zeros((), dtype=torch.long)
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [k for k in own if k in state and tuple(own[k].shape) != tuple(state[k].shape)]
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing keys (e.g. {missing[:3]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected keys (e.g. {unexpected[:3]})")
        if wrong:
            k = wrong[0]
            parts.append(f"{len(wrong)} shape mismatches (e.g. {k}: file {tuple(state[k].shape)}, "
                         f"network {tuple(own[k].shape)})")
        raise CheckpointError("not a state dict of this network: " + "; ".join(parts), where=where,
                              field="weights")
    state = {k: state[k].to(own[k].dtype).contiguous() for k in own}
    module.load_state_dict(state, strict=True, assign=True)
    return module


def check_all(explicit: str | os.PathLike | None = None) -> list[dict[str, Any]]:
    """One row per registered extractor: accepted names, places searched, files found and their status.

    Rows of networks that need a file have ``needs_file: True``, ``accepts``, ``looked_in``, ``found``
    (each with path, sha256, status) and ``selected`` (the file :func:`locate` would use, or None).
    Weights-free and shipped networks have ``needs_file: False`` and their ``weights`` id.
    """
    from .base import FEATURES

    rows: list[dict[str, Any]] = []
    for name, cls in FEATURES.items():
        spec: WeightSpec | None = getattr(cls, "weight_spec", None)
        if spec is None:
            row: dict[str, Any] = {"extractor": name, "needs_file": False}
            try:
                row["weights"] = cls().weights_id()
                row["status"] = "ok"
                row["kind"] = "seeded" if row["weights"].startswith("seeded:") else "shipped"
            except Exception as e:  # a shipped file missing from a broken install
                row.update(weights=None, status="error", kind="shipped", error=str(e))
            rows.append(row)
            continue
        found = []
        for label, path in candidates(spec, explicit):
            info = verify(path, spec)
            info["place"] = label
            found.append(info)
        first = found[0] if found else None
        rows.append({
            "extractor": name,
            "needs_file": True,
            "description": spec.description,
            "accepts": list(spec.filenames),
            "looked_in": [f"{label}: {p}" for label, p in search_places(explicit)],
            "found": found,
            # what locate() would do: the first candidate, refused on a hash mismatch
            "selected": first["path"] if first and first["status"] != "mismatch" else None,
            "status": "missing" if first is None else ("mismatch" if first["status"] == "mismatch" else "ok"),
        })
    return rows
