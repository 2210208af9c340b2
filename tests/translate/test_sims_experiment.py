"""SIMS usefulness helpers: the FCN-score analogue against scikit-learn, and the segmenter's shapes."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.metrics import accuracy_score, jaccard_score, recall_score

from traingen.translate.sims_experiment import fcn_score, segmenter


class _FromRed(torch.nn.Module):
    """Predicts class round(red / 60) (inputs arrive in [-1, 1])."""

    def forward(self, x):
        cls = ((x[:, 0] + 1.0) * 127.5 / 60.0).round().long().clamp(0, 3)
        return torch.nn.functional.one_hot(cls, 4).permute(0, 3, 1, 2).float()


def test_fcn_score_matches_sklearn():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, (5, 8, 8))
    noisy = np.where(rng.random(labels.shape) < 0.3, rng.integers(0, 4, labels.shape), labels)
    images = np.zeros((5, 8, 8, 3), np.uint8)
    images[..., 0] = noisy * 60
    got = fcn_score(_FromRed(), images, labels, 4)
    y, p = labels.ravel(), noisy.ravel()
    assert np.isclose(got["pixel_acc"], accuracy_score(y, p))
    assert np.isclose(got["class_acc"], recall_score(y, p, average="macro"))
    assert np.isclose(got["miou"], jaccard_score(y, p, average="macro"))


def test_segmenter_shape():
    out = segmenter(4, width=4)(torch.zeros(2, 3, 16, 16))
    assert out.shape == (2, 4, 16, 16)
