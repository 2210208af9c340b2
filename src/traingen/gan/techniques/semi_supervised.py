"""Semi-supervised GAN: a (K+1)-class discriminator that is also a K-class classifier.

The discriminator outputs K+1 logits ``l_1 .. l_K, l_{K+1}``: the K real classes and "generated".
With ``Z(x) = sum_{k<=K} exp(l_k)`` the probability that ``x`` is real is
``D(x) = Z(x) / (Z(x) + exp(l_{K+1}))``, and the loss is the sum of

* supervised: ``-log p(y | x, y <= K) = logsumexp(l_1..K) - l_y`` on labelled real data;
* unsupervised: ``-log D(x)`` on unlabelled real data and ``-log(1 - D(G(z)))`` on generated data,
  written with log-sum-exp: ``-log D(x) = softplus(l_{K+1} - logsumexp(l_1..K))`` and
  ``-log(1 - D(x)) = softplus(logsumexp(l_1..K) - l_{K+1})``.

Salimans et al. fix the "generated" logit to 0 (the K+1 parametrisation is over-complete); keeping
it learned, as here, gives the same model class. Unlabelled data then teaches D the shape of the
data manifold, which helps the K-class classifier when labels are few. The generator is trained with
feature matching (``feature_matching: true``, as in the paper) or with ``-log D(G(z))``
(:func:`semi_supervised_g_loss`).

Enable with ``semi_supervised: true`` (``num_classes = K``, ``loss: non-saturating``). D then ignores
the class condition (it must classify, not be told); G may stay conditional.

Example:
    >>> parts = semi_supervised_d_loss(D(x_lab)["logits"], y_lab, D(x_unl)["logits"], D(fake)["logits"])
    >>> parts.total.backward()
    >>> predictions = classify(D, x_test).argmax(1)

References:
    Salimans, Goodfellow, Zaremba, Cheung, Radford, Chen. "Improved Techniques for Training GANs",
    NeurIPS 2016, arXiv:1606.03498, section 5. Reference code: openai/improved-gan (Theano).
    Odena. "Semi-Supervised Learning with Generative Adversarial Networks", arXiv:1606.01583, 2016.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ...core.errors import DataError


@dataclass
class SemiSupervisedLoss:
    """The parts of the (K+1)-class discriminator loss (0-d tensors); ``total`` is what to minimise."""

    total: torch.Tensor
    supervised: torch.Tensor
    unsupervised: torch.Tensor
    real_unlabeled: torch.Tensor
    fake: torch.Tensor


def _split(logits: torch.Tensor, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    if logits.dim() != 2 or logits.shape[1] < 2:
        raise DataError(f"expected N x (K+1) logits, got shape {tuple(logits.shape)}", field=name)
    return torch.logsumexp(logits[:, :-1], dim=1), logits[:, -1]


def semi_supervised_d_loss(labeled_logits: torch.Tensor, labels: torch.Tensor, unlabeled_logits: torch.Tensor,
                           fake_logits: torch.Tensor, *, unsupervised_weight: float = 1.0) -> SemiSupervisedLoss:
    """The (K+1)-class discriminator loss.

    Args:
        labeled_logits: ``N x (K+1)`` on labelled real images.
        labels: ``N`` class indices in ``[0, K)``.
        unlabeled_logits: ``M x (K+1)`` on unlabelled real images.
        fake_logits: ``P x (K+1)`` on generated images.
        unsupervised_weight: weight of the unsupervised part (1 in the paper).

    Returns:
        :class:`SemiSupervisedLoss`.
    """
    k = labeled_logits.shape[1] - 1
    if labels.dim() != 1 or labels.shape[0] != labeled_logits.shape[0]:
        raise DataError(f"expected {labeled_logits.shape[0]} labels, got shape {tuple(labels.shape)}",
                        field="labels")
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= k):
        raise DataError(f"labels must be in [0, {k}), got {int(labels.min())}..{int(labels.max())}",
                        field="labels")
    lse_lab, _ = _split(labeled_logits, "labeled_logits")
    supervised = (lse_lab - labeled_logits.gather(1, labels[:, None]).squeeze(1)).mean()
    lse_u, fake_u = _split(unlabeled_logits, "unlabeled_logits")
    lse_f, fake_f = _split(fake_logits, "fake_logits")
    real_unl = F.softplus(fake_u - lse_u).mean()  # -log D(x)
    fake = F.softplus(lse_f - fake_f).mean()  # -log(1 - D(G(z)))
    unsupervised = real_unl + fake
    return SemiSupervisedLoss(total=supervised + unsupervised_weight * unsupervised, supervised=supervised,
                              unsupervised=unsupervised, real_unlabeled=real_unl, fake=fake)


def semi_supervised_g_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """G's non-saturating loss against a (K+1)-class D: ``-log D(G(z))``, mean over the batch."""
    lse, fake = _split(fake_logits, "fake_logits")
    return F.softplus(fake - lse).mean()


def real_probability(logits: torch.Tensor) -> torch.Tensor:
    """``D(x) = Z(x) / (Z(x) + exp(l_{K+1}))`` from ``N x (K+1)`` logits."""
    lse, fake = _split(logits, "logits")
    return torch.sigmoid(lse - fake)


def classify(D: torch.nn.Module, x: torch.Tensor, *, batch_size: int = 256) -> torch.Tensor:
    """Use a (K+1)-class discriminator as a K-class classifier.

    Runs ``D`` in evaluation mode without gradients, batch by batch, and restores its mode.

    Args:
        D: a discriminator built with ``semi_supervised: true`` (``D(x, None)["logits"]`` is N x (K+1)).
        x: ``N x C x H x W`` images in [-1, 1].
        batch_size: images per forward pass.

    Returns:
        ``N x K`` class logits (the "generated" logit dropped); ``.argmax(1)`` is the prediction and
        ``.softmax(1)`` the class posterior given that the image is real.
    """
    was_training = D.training
    D.eval()
    try:
        with torch.no_grad():
            outs = []
            for i in range(0, x.shape[0], batch_size):
                logits = D(x[i:i + batch_size], None)["logits"]
                _split(logits, "logits")
                outs.append(logits[:, :-1])
        return torch.cat(outs) if outs else x.new_zeros((0, 0))
    finally:
        D.train(was_training)
