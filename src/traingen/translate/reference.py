"""Load generator weights saved by the reference implementation (``*_net_G.pth``, ``*_net_G_A.pth``).

junyanz/pytorch-CycleGAN-and-pix2pix saves ``net.state_dict()`` with ``torch.save``. Our
:class:`~traingen.translate.networks.UNetGenerator` and
:class:`~traingen.translate.networks.ResNetGenerator` use the same module layout, so the keys match
one to one. The file is read with ``torch.load(weights_only=True)`` (no code runs); a ``module.``
prefix (DataParallel) is stripped, and InstanceNorm running statistics that old releases stored are
dropped, as the reference's own loader does.

Example:
    >>> G = load_reference_generator("latest_net_G.pth", "unet", in_channels=3, out_channels=3, depth=8)
    >>> G = load_reference_generator("latest_net_G_A.pth", "resnet", n_blocks=9)

References:
    Isola et al., CVPR 2017; Zhu et al., ICCV 2017 (the reference code, models/networks.py).
"""

from __future__ import annotations

import os
from typing import Any

import torch

from ..core.errors import CheckpointError, ConfigError
from .networks import ResNetGenerator, UNetGenerator


def clean_state_dict(state: dict[str, torch.Tensor], net: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Strip ``module.`` and drop entries the reference's loader drops (InstanceNorm statistics)."""
    out = {}
    expected = net.state_dict()
    for k, v in state.items():
        k = k[len("module."):] if k.startswith("module.") else k
        if k not in expected and k.rsplit(".", 1)[-1] in ("running_mean", "running_var", "num_batches_tracked"):
            continue
        out[k] = v
    # BatchNorm layers saved by torch < 0.4.1 lack num_batches_tracked
    for k, v in expected.items():
        if k.endswith("num_batches_tracked") and k not in out:
            out[k] = v
    return out


def load_reference_generator(path: str | os.PathLike, arch: str, **kwargs: Any) -> torch.nn.Module:
    """Build a generator and load a reference state dict into it (strict).

    Args:
        path: the ``.pth`` file.
        arch: ``unet`` (pix2pix, defaults: depth 8, ngf 64, batch norm, dropout) or ``resnet`` (CycleGAN,
            defaults: 9 blocks, ngf 64, instance norm).
        kwargs: constructor arguments of the generator.

    Returns:
        The generator with the file's weights.

    Raises:
        CheckpointError: unreadable file, or keys/shapes that do not match (naming the first ones).
    """
    if arch == "unet":
        net: torch.nn.Module = UNetGenerator(**kwargs)
    elif arch == "resnet":
        net = ResNetGenerator(**kwargs)
    else:
        raise ConfigError(f"expected unet or resnet, got {arch!r}", field="arch")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - torch raises many types for bad files
        raise CheckpointError(f"cannot read a state dict: {e}", where=str(path)) from e
    if not isinstance(state, dict):
        raise CheckpointError(f"expected a state dict, got {type(state).__name__}", where=str(path))
    state = clean_state_dict(state, net)
    expected = net.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise CheckpointError(f"{len(missing)} keys missing (first: {missing[:2]}), {len(unexpected)} unexpected "
                              f"(first: {unexpected[:2]}): do the architecture arguments match the file?",
                              where=str(path))
    bad = [k for k in expected if tuple(expected[k].shape) != tuple(state[k].shape)]
    if bad:
        raise CheckpointError(f"shape mismatch at {bad[0]}: file {tuple(state[bad[0]].shape)}, model "
                              f"{tuple(expected[bad[0]].shape)} (check ngf, depth or n_blocks)", where=str(path))
    net.load_state_dict(state)
    return net
