"""Checkpoint I/O shared by every trainer (GANs, texture, style, translation).

A checkpoint is two files written atomically side by side: ``NAME.safetensors`` holds every tensor
(model weights, optimizer moments, RNG states) under flat ``/``-joined keys, and ``NAME.json`` holds
everything else (the nested structure with tensor placeholders, step counters, config, the sha256 of
the tensor file). Nothing is unpickled on load: safetensors and JSON only, so a checkpoint from an
untrusted source cannot run code.

Example:
    >>> save_checkpoint("run/ckpt-000100", {"G": g.state_dict(), "optG": opt.state_dict()}, {"step": 100})
    >>> tree, state = load_checkpoint("run/ckpt-000100")
    >>> g.load_state_dict(tree["G"])
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from .atomic import atomic_write_bytes
from .errors import CheckpointError

FORMAT = "traingen-checkpoint"
FORMAT_VERSION = 1
_TENSOR = "__tensor__"


def _is_tensor(x: Any) -> bool:
    import torch

    return isinstance(x, torch.Tensor)


def flatten(tree: Any, prefix: str = "") -> tuple[dict[str, Any], Any]:
    """Split a nested structure of dicts, lists and tuples into flat tensors and a JSON skeleton.

    Returns:
        ``(tensors, skeleton)``: ``tensors`` maps ``"a/b/0"`` keys to tensors; ``skeleton`` is the same
        structure with each tensor replaced by ``{"__tensor__": key}``.
    """
    tensors: dict[str, Any] = {}

    def walk(node: Any, path: str) -> Any:
        if _is_tensor(node):
            key = path or "tensor"
            tensors[key] = node.detach().cpu().contiguous()
            return {_TENSOR: key}
        if isinstance(node, dict):
            out = {}
            for k, v in node.items():
                if not isinstance(k, (str, int)):
                    raise CheckpointError(f"keys must be str or int, got {type(k).__name__}", field=path or "/")
                if isinstance(k, str) and "/" in k:
                    raise CheckpointError(f"key {k!r} contains '/'", field=path or "/")
                # int keys (optimizer state ids) survive JSON as tagged strings
                jk = k if isinstance(k, str) else f"__int__{k}"
                out[jk] = walk(v, f"{path}/{k}" if path else str(k))
            return out
        if isinstance(node, (list, tuple)):
            items = [walk(v, f"{path}/{i}" if path else str(i)) for i, v in enumerate(node)]
            return {"__tuple__": items} if isinstance(node, tuple) else items
        if node is None or isinstance(node, (bool, int, float, str)):
            if isinstance(node, float) and node != node:  # NaN is not JSON
                return {"__float__": "nan"}
            return node
        raise CheckpointError(f"cannot store a {type(node).__name__} in a checkpoint", field=path or "/")

    skeleton = walk(tree, prefix)
    return tensors, skeleton


def unflatten(skeleton: Any, tensors: dict[str, Any]) -> Any:
    """Inverse of :func:`flatten`."""
    if isinstance(skeleton, dict):
        if _TENSOR in skeleton and len(skeleton) == 1:
            key = skeleton[_TENSOR]
            if key not in tensors:
                raise CheckpointError(f"tensor {key!r} named in the JSON is missing from the tensor file", field=key)
            return tensors[key]
        if "__tuple__" in skeleton and len(skeleton) == 1:
            return tuple(unflatten(v, tensors) for v in skeleton["__tuple__"])
        if "__float__" in skeleton and len(skeleton) == 1:
            return float(skeleton["__float__"])
        return {
            (int(k[7:]) if k.startswith("__int__") else k): unflatten(v, tensors) for k, v in skeleton.items()
        }
    if isinstance(skeleton, list):
        return [unflatten(v, tensors) for v in skeleton]
    return skeleton


def _paths(path: str | os.PathLike) -> tuple[Path, Path]:
    p = Path(path)
    if p.suffix in (".safetensors", ".json"):
        p = p.with_suffix("")
    return p.with_name(p.name + ".safetensors"), p.with_name(p.name + ".json")


def save_checkpoint(path: str | os.PathLike, tree: Any, state: dict[str, Any] | None = None) -> Path:
    """Write ``tree`` (nested dicts/lists of tensors and plain values) and ``state`` (JSON-able).

    Args:
        path: checkpoint name without suffix (``run/ckpt-000100``); ``.safetensors`` and ``.json`` are added.
        tree: model and optimizer state dicts, RNG states, ... (tensors anywhere inside).
        state: plain JSON values (step, config, metrics).

    Returns:
        The path of the JSON file. The tensor file is written first, the JSON (which names the tensor
        file's sha256) last, so a checkpoint whose JSON exists is complete.
    """
    from safetensors.torch import save

    st_path, js_path = _paths(path)
    st_path.parent.mkdir(parents=True, exist_ok=True)
    tensors, skeleton = flatten(tree)
    # safetensors refuses tensors that share memory; checkpoints never rely on sharing.
    data = save({k: v.clone() if v.numel() else v for k, v in tensors.items()})
    atomic_write_bytes(st_path, data)
    doc = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "tensors": st_path.name,
        "sha256": hashlib.sha256(data).hexdigest(),
        "tree": skeleton,
        "state": state or {},
    }
    try:
        text = json.dumps(doc, indent=1, sort_keys=True, allow_nan=False)
    except ValueError as e:
        raise CheckpointError(f"state is not JSON-serializable: {e}", where=str(js_path), field="state") from e
    atomic_write_bytes(js_path, text.encode())
    return js_path


def load_checkpoint(path: str | os.PathLike, *, device: str = "cpu") -> tuple[Any, dict[str, Any]]:
    """Read a checkpoint written by :func:`save_checkpoint`; verify the tensor file's sha256.

    Raises:
        CheckpointError: a missing, truncated or altered file, naming it.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load

    st_path, js_path = _paths(path)
    if not js_path.is_file():
        raise CheckpointError("checkpoint JSON not found (an interrupted save leaves none)", where=str(js_path))
    try:
        doc = json.loads(js_path.read_text())
    except (OSError, ValueError) as e:
        raise CheckpointError(f"unreadable checkpoint JSON: {e}", where=str(js_path)) from e
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise CheckpointError(f"not a traingen checkpoint (format {doc.get('format')!r})", where=str(js_path),
                              field="format")
    if doc.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"unsupported checkpoint version {doc.get('format_version')!r}", where=str(js_path),
                              field="format_version")
    try:
        data = st_path.read_bytes()
    except OSError as e:
        raise CheckpointError(f"tensor file missing: {e.strerror or e}", where=str(st_path)) from e
    digest = hashlib.sha256(data).hexdigest()
    if digest != doc.get("sha256"):
        raise CheckpointError(
            f"sha256 {digest[:12]}… does not match the JSON's {str(doc.get('sha256'))[:12]}… "
            "(truncated or altered file)", where=str(st_path), field="sha256")
    try:
        tensors = load(data)
    except (SafetensorError, ValueError) as e:  # pragma: no cover - the sha256 check catches truncation first
        raise CheckpointError(f"corrupt tensor file: {e}", where=str(st_path)) from e
    if device != "cpu":
        tensors = {k: v.to(device) for k, v in tensors.items()}
    return unflatten(doc["tree"], tensors), doc.get("state", {})


def rng_state() -> dict[str, Any]:
    """The torch CPU (and CUDA, if initialised) RNG states, for exact resume."""
    import torch

    out: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        out["cuda"] = list(torch.cuda.get_rng_state_all())
    return out


def set_rng_state(state: dict[str, Any]) -> None:
    import torch

    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(list(state["cuda"]))
