"""Minibatch discrimination: D sees how close each example's features are to the rest of its batch.

A generator that collapses to a few modes produces batches whose members are near copies; a
discriminator that looks at one example at a time cannot see that. Salimans et al. project the
features ``f(x_i)`` (size A) through a tensor ``T`` (A x B x C) to ``M_i`` (B x C), measure for each
of the B kernels the closeness ``c_b(x_i, x_j) = exp(-||M_{i,b} - M_{j,b}||_1)`` to every other
example ``j`` of the batch, and append ``o(x_i)_b = sum_j c_b(x_i, x_j)`` to the features. Real and
generated images are passed through D in separate batches, so ``o`` tells D how "varied" the batch
the example came from is.

As in the authors' code (openai/improved-gan) the sum skips ``j = i``, so an example alone in its
batch gets ``o = 0`` and a batch of exact duplicates gets ``o = n - 1``.

Enable with ``minibatch_discrimination: true`` (sizes ``minibatch_kernels`` = B,
``minibatch_kernel_dim`` = C); every traingen discriminator then applies it to its features before
the output head.

Example:
    >>> mbd = MinibatchDiscrimination(in_features=128, kernels=16, kernel_dim=8)
    >>> h = mbd(features)            # N x (128 + 16)

References:
    Salimans, Goodfellow, Zaremba, Cheung, Radford, Chen. "Improved Techniques for Training GANs",
    NeurIPS 2016, arXiv:1606.03498, section 3.2.
"""

from __future__ import annotations

import torch
from torch import nn

from ...core.errors import DataError


def minibatch_closeness(m: torch.Tensor) -> torch.Tensor:
    """``o[i, b] = sum_{j != i} exp(-||m[i, b] - m[j, b]||_1)`` for projected features ``m``.

    Args:
        m: ``N x B x C`` projected features.

    Returns:
        ``N x B``.
    """
    if m.dim() != 3:
        raise DataError(f"expected N x B x C projected features, got shape {tuple(m.shape)}", field="m")
    n = m.shape[0]
    # N x N x B pairwise L1 distances per kernel; N is a training batch, so N^2 B C stays small.
    dist = (m.unsqueeze(1) - m.unsqueeze(0)).abs().sum(-1)
    closeness = torch.exp(-dist)
    eye = torch.eye(n, dtype=m.dtype, device=m.device).unsqueeze(-1)
    return (closeness * (1.0 - eye)).sum(1)


def minibatch_features(features: torch.Tensor, T: torch.Tensor) -> torch.Tensor:
    """Append the minibatch closeness statistics to ``features``.

    Args:
        features: ``N x A``.
        T: ``A x B x C`` projection tensor.

    Returns:
        ``N x (A + B)``: ``[features, o(features)]``.
    """
    if features.dim() != 2 or features.shape[1] != T.shape[0]:
        raise DataError(f"expected N x {T.shape[0]} features, got shape {tuple(features.shape)}",
                        field="features")
    a, b, c = T.shape
    m = (features @ T.reshape(a, b * c)).reshape(-1, b, c)
    return torch.cat([features, minibatch_closeness(m)], dim=1)


class MinibatchDiscrimination(nn.Module):
    """Module form of :func:`minibatch_features` with a learned ``T``.

    Args:
        in_features: A, the feature size.
        kernels: B, the number of closeness statistics appended.
        kernel_dim: C, the size of each kernel's projection.
        init_std: standard deviation of the initial ``T`` (0.05 in the authors' code).

    Example:
        >>> MinibatchDiscrimination(64, 16, 8)(torch.randn(10, 64)).shape
        torch.Size([10, 80])
    """

    def __init__(self, in_features: int, kernels: int = 16, kernel_dim: int = 8, *, init_std: float = 0.05):
        super().__init__()
        self.in_features = in_features
        self.kernels = kernels
        self.kernel_dim = kernel_dim
        self.init_std = init_std
        self.T = nn.Parameter(torch.zeros(in_features, kernels, kernel_dim))
        self.reset_parameters(torch.Generator().manual_seed(0))

    @property
    def out_features(self) -> int:
        return self.in_features + self.kernels

    def reset_parameters(self, generator: torch.Generator) -> None:
        """Draw ``T`` from ``N(0, init_std^2)`` with ``generator``."""
        with torch.no_grad():
            self.T.copy_(torch.randn(self.T.shape, generator=generator) * self.init_std)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return minibatch_features(features, self.T)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, kernels={self.kernels}, kernel_dim={self.kernel_dim}"
