"""The Improved Techniques for Training GANs (Salimans et al. 2016), one module each.

====================================  ==============================  =====================================
config switch                         module                          what it changes
====================================  ==============================  =====================================
``feature_matching: true``            ``feature_matching``            G's loss: match mean D features
``minibatch_discrimination: true``    ``minibatch_discrimination``    D's head sees batch closeness stats
``historical_averaging: w``           ``historical_averaging``        both losses: ``w ||theta - avg||^2``
``label_smoothing: s``                ``label_smoothing``             D's real target ``1 - s``
``virtual_batch_norm: true``          ``virtual_batch_norm``          G's batch norms use a reference batch
``semi_supervised: true``             ``semi_supervised``             D has K+1 outputs, is a classifier
====================================  ==============================  =====================================

Every function here is pure (no module state, randomness only through ``generator=``); the classes
are thin wrappers. :class:`traingen.gan.GANModel` wires them in from its config, so they work with
every model. This subpackage imports torch.

References:
    Salimans, Goodfellow, Zaremba, Cheung, Radford, Chen. "Improved Techniques for Training GANs",
    NeurIPS 2016, arXiv:1606.03498.
"""

from __future__ import annotations

from .feature_matching import FeatureMatchingLoss, feature_matching_loss
from .historical_averaging import HistoricalAverage, historical_penalty, update_running_mean
from .label_smoothing import fake_target, one_sided_smoothed_loss, real_target
from .minibatch_discrimination import MinibatchDiscrimination, minibatch_closeness, minibatch_features
from .semi_supervised import (
    SemiSupervisedLoss,
    classify,
    real_probability,
    semi_supervised_d_loss,
    semi_supervised_g_loss,
)
from .virtual_batch_norm import (
    VirtualBatchNorm,
    reference_statistics,
    set_reference_batch,
    vbn_forward,
    virtual_batch_norm,
)

__all__ = [
    "FeatureMatchingLoss",
    "HistoricalAverage",
    "MinibatchDiscrimination",
    "SemiSupervisedLoss",
    "VirtualBatchNorm",
    "classify",
    "fake_target",
    "feature_matching_loss",
    "historical_penalty",
    "minibatch_closeness",
    "minibatch_features",
    "one_sided_smoothed_loss",
    "real_probability",
    "real_target",
    "reference_statistics",
    "semi_supervised_d_loss",
    "semi_supervised_g_loss",
    "set_reference_batch",
    "update_running_mean",
    "vbn_forward",
    "virtual_batch_norm",
]
