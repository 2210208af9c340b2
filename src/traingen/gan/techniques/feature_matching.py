"""Feature matching: G matches the mean intermediate features of D on real data.

Instead of maximising D's output, the generator minimises

    ``|| E_x f(x) - E_z f(G(z)) ||_2^2``

where ``f`` is an intermediate layer of the discriminator (here: the ``"features"`` that every
traingen discriminator returns, the layer before its output head). D is trained as usual, so it picks
the features worth matching. The objective is a moving target but does not let G over-train on the
current D, which stabilises training; it is the G objective Salimans et al. use for their
semi-supervised results.

Enable with ``feature_matching: true``; the trainer then passes the real batch to ``g_loss``.

Example:
    >>> f_real = D(real, y)["features"].detach()
    >>> loss_g = feature_matching_loss(f_real, D(G(z, y), y)["features"])

References:
    Salimans, Goodfellow, Zaremba, Cheung, Radford, Chen. "Improved Techniques for Training GANs",
    NeurIPS 2016, arXiv:1606.03498, section 3.1.
"""

from __future__ import annotations

import torch

from ...core.errors import DataError


def feature_matching_loss(real_features: torch.Tensor, fake_features: torch.Tensor) -> torch.Tensor:
    """Squared L2 distance between the batch means of real and fake features.

    Args:
        real_features: ``N x F`` (or ``N x ...``, flattened) features of real images; usually detached.
        fake_features: ``M x F`` features of generated images (the batch sizes may differ).

    Returns:
        A 0-d tensor ``sum_f (mean_i real[i, f] - mean_j fake[j, f])^2``.

    Raises:
        DataError: when the feature sizes differ.
    """
    r = real_features.flatten(1)
    f = fake_features.flatten(1)
    if r.shape[1] != f.shape[1]:
        raise DataError(f"feature sizes differ: real {tuple(r.shape)} vs fake {tuple(f.shape)}",
                        field="features")
    diff = r.mean(0) - f.mean(0)
    return (diff * diff).sum()


class FeatureMatchingLoss(torch.nn.Module):
    """Module form of :func:`feature_matching_loss` (no parameters).

    Example:
        >>> loss = FeatureMatchingLoss()(f_real, f_fake)
    """

    def forward(self, real_features: torch.Tensor, fake_features: torch.Tensor) -> torch.Tensor:
        return feature_matching_loss(real_features, fake_features)
