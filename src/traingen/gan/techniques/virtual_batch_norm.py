"""Virtual batch normalisation: normalise each example with the statistics of a fixed reference batch.

Batch normalisation makes the output for one input depend on the other inputs of its minibatch,
which in a generator couples the samples of a batch. Salimans et al. instead fix a reference batch
once, at the start of training, and normalise each example ``x`` with the statistics of the
reference batch *together with ``x`` itself*:

    ``mu(x) = (n mu_ref + mean(x)) / (n + 1)``, ``E[x^2](x) = (n E_ref[x^2] + mean(x^2)) / (n + 1)``

per channel, where ``mean(x)`` is over the spatial positions of ``x`` and ``n`` the reference size.
The reference batch's own activations are normalised with its own statistics. Its forward pass is
part of every forward of the generator (its statistics depend on the current weights, and gradients
flow through them), so VBN costs one extra forward of ``n`` examples: the paper uses it in the
generator only, and so does traingen (``virtual_batch_norm: true`` replaces every batch norm of G).

The output for an example does not depend on the rest of its batch, in training and evaluation
alike.

Example:
    >>> set_reference_batch(G, z_ref, y_ref)       # once, at construction (GANModel does it)
    >>> images = vbn_forward(G, G.generate, z, y)  # inside G.forward

References:
    Salimans, Goodfellow, Zaremba, Cheung, Radford, Chen. "Improved Techniques for Training GANs",
    NeurIPS 2016, arXiv:1606.03498, section 3.5.
    Ioffe, Szegedy. "Batch Normalization", ICML 2015.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ...core.errors import DataError


def _reduce_dims(x: torch.Tensor) -> tuple[int, ...]:
    return tuple(range(2, x.dim()))


def reference_statistics(ref: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel ``(mean, mean of squares)`` of a reference batch ``N x C [x H x W]``."""
    dims = (0, *_reduce_dims(ref))
    return ref.mean(dims), ref.pow(2).mean(dims)


def virtual_batch_norm(x: torch.Tensor, ref_mean: torch.Tensor, ref_meansq: torch.Tensor, ref_size: int,
                       eps: float = 1e-5) -> torch.Tensor:
    """Normalise each example of ``x`` with the reference statistics combined with its own.

    Args:
        x: ``N x C [x H x W]``.
        ref_mean, ref_meansq: ``C`` statistics of the reference batch (:func:`reference_statistics`).
        ref_size: ``n``, the reference batch size (its weight in the combination is ``n / (n + 1)``).
        eps: added to the variance.

    Returns:
        ``x`` normalised per example and channel (no affine transform).
    """
    if x.shape[1] != ref_mean.shape[0]:
        raise DataError(f"x has {x.shape[1]} channels, the reference {ref_mean.shape[0]}", field="x")
    new = 1.0 / (ref_size + 1)
    dims = _reduce_dims(x)
    own_mean = x.mean(dims) if dims else x
    own_meansq = x.pow(2).mean(dims) if dims else x.pow(2)
    mean = new * own_mean + (1.0 - new) * ref_mean
    meansq = new * own_meansq + (1.0 - new) * ref_meansq
    var = (meansq - mean * mean).clamp_min(0.0)
    shape = (*mean.shape, *([1] * len(dims)))
    return (x - mean.reshape(shape)) * torch.rsqrt(var.reshape(shape) + eps)


class VirtualBatchNorm(nn.Module):
    """VBN for ``N x C`` or ``N x C x H x W`` activations.

    While :attr:`recording` is set (during the reference pass of :func:`vbn_forward`) the module
    normalises with the batch's own statistics and keeps them; otherwise it applies
    :func:`virtual_batch_norm` with the kept statistics.

    Args:
        num_features: C.
        affine: learn a per-channel gain (init 1) and bias (init 0).
        eps: added to the variance.
    """

    def __init__(self, num_features: int, *, affine: bool = True, eps: float = 1e-5):
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.recording = False
        self._ref: tuple[torch.Tensor, torch.Tensor, int] | None = None
        if affine:
            self.weight = nn.Parameter(torch.ones(num_features))
            self.bias = nn.Parameter(torch.zeros(num_features))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.recording:
            mean, meansq = reference_statistics(x)
            self._ref = (mean, meansq, x.shape[0])
            shape = (1, -1, *([1] * (x.dim() - 2)))
            var = (meansq - mean * mean).clamp_min(0.0)
            out = (x - mean.reshape(shape)) * torch.rsqrt(var.reshape(shape) + self.eps)
        else:
            if self._ref is None:
                raise DataError("no reference statistics: VBN layers must run inside vbn_forward "
                                "(the generator's reference batch is missing)", field="virtual_batch_norm")
            mean, meansq, n = self._ref
            out = virtual_batch_norm(x, mean, meansq, n, self.eps)
        if self.weight is not None:
            shape = (1, -1, *([1] * (x.dim() - 2)))
            out = out * self.weight.reshape(shape) + self.bias.reshape(shape)
        return out

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, affine={self.weight is not None}"


def set_reference_batch(G: nn.Module, z_ref: torch.Tensor, y_ref: torch.Tensor | None) -> None:
    """Store the fixed reference inputs on ``G`` as buffers (saved with its state dict)."""
    for name, value in (("vbn_ref_z", z_ref), ("vbn_ref_y", y_ref)):
        if name in G._buffers:
            G._buffers[name] = value
        else:
            G.register_buffer(name, value)


def vbn_forward(G: nn.Module, forward: Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor],
                z: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
    """Run ``forward(z, y)`` with every VBN layer of ``G`` normalising against the reference batch.

    The reference pass ``forward(G.vbn_ref_z, G.vbn_ref_y)`` runs first (recording the statistics
    at each VBN layer), then the real pass. Without VBN layers this is just ``forward(z, y)``.
    """
    layers = [m for m in G.modules() if isinstance(m, VirtualBatchNorm)]
    if not layers:
        return forward(z, y)
    if getattr(G, "vbn_ref_z", None) is None:
        raise DataError("the generator has VBN layers but no reference batch (set_reference_batch)",
                        field="virtual_batch_norm")
    for m in layers:
        m.recording = True
    try:
        forward(G.vbn_ref_z, G.vbn_ref_y)
    finally:
        for m in layers:
            m.recording = False
    try:
        return forward(z, y)
    finally:
        for m in layers:
            m._ref = None
