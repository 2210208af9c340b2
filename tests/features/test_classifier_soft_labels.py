"""Soft labels in ``fit_classifier`` (N×K class probabilities, e.g. CutMix/RICAP targets): one-hot rows train
the same model as integer labels, mixed rows train what an independent soft cross-entropy loop trains, the
hard-label path is untouched, and malformed soft labels are clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from traingen.core.errors import DataError
from traingen.core.seeding import torch_generator
from traingen.data import open_source
from traingen.features.classifiers import FitConfig, fit_classifier, predict_logits, small_cnn, to_input


def _digits(n: int = 96) -> tuple[np.ndarray, np.ndarray]:
    src = open_source("builtin:digits@train")
    x = np.stack([np.asarray(src[i].image) for i in range(n)])
    y = np.array([int(src[i].label) for i in range(n)], np.int64)
    return (x[..., 0] if x.ndim == 4 else x), y


CFG = FitConfig(epochs=2, batch_size=32)


def test_one_hot_soft_labels_train_the_same_model_as_integer_labels():
    x, y = _digits()
    hard = fit_classifier(x, y, seed=1, config=CFG)
    soft = fit_classifier(x, np.eye(10, dtype=np.float64)[y], seed=1, config=CFG)
    a, b = hard.state_dict(), soft.state_dict()
    for k in a:
        assert torch.allclose(a[k].double(), b[k].double(), rtol=1e-4, atol=1e-5), k
    np.testing.assert_allclose(predict_logits(hard, x), predict_logits(soft, x), rtol=1e-4, atol=1e-4)


def _reference_soft_fit(x: np.ndarray, p: np.ndarray, seed: int, cfg: FitConfig):
    """The documented training loop written out, with the soft cross-entropy as its formula (float64)."""
    net = small_cnn(x.shape[1], seed=seed)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    n = len(x)
    steps = -(-n // cfg.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.epochs * steps)
    xs, ps = to_input(x), torch.from_numpy(p)
    for epoch in range(cfg.epochs):
        order = torch.randperm(n, generator=torch_generator(seed, "order", epoch))
        net.train()
        for s in range(0, n, cfg.batch_size):
            idx = order[s:s + cfg.batch_size]
            logp = torch.log_softmax(net(xs[idx]).double(), dim=1)
            loss = -(ps[idx] * logp).sum(1).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    return net.eval()


def test_mixed_soft_labels_follow_the_soft_cross_entropy_formula():
    x, y = _digits()
    rng = np.random.default_rng(0)
    lam = rng.uniform(0.2, 0.8, size=len(y))
    partner = rng.permutation(len(y))
    p = lam[:, None] * np.eye(10)[y] + (1 - lam[:, None]) * np.eye(10)[y[partner]]
    ours = fit_classifier(x, p, seed=2, config=CFG)
    ref = _reference_soft_fit(x, p, 2, CFG)
    np.testing.assert_allclose(predict_logits(ours, x), predict_logits(ref, x), rtol=1e-3, atol=1e-3)
    # and the soft targets matter: the same images with the hard labels give another model
    hard = fit_classifier(x, y, seed=2, config=CFG)
    assert np.abs(predict_logits(hard, x) - predict_logits(ours, x)).max() > 0.05


def test_integer_labels_keep_their_exact_path():
    """Hard labels are not converted: int32 and int64 labels give bit-identical weights."""
    x, y = _digits(64)
    cfg = FitConfig(epochs=1, batch_size=32)
    a = fit_classifier(x, y, seed=0, config=cfg).state_dict()
    b = fit_classifier(x, y.astype(np.int32), seed=0, config=cfg).state_dict()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_bad_soft_labels_are_clear_errors():
    x, y = _digits(8)
    p = np.eye(10)[y]
    with pytest.raises(DataError, match="8×10"):
        fit_classifier(x, p[:, :9], num_classes=10)
    with pytest.raises(DataError, match="sum to 1"):
        fit_classifier(x, p * 0.5)
    with pytest.raises(DataError, match=r"\[0, 1\]"):
        fit_classifier(x, np.where(p > 0, 1.5, -0.5))
    with pytest.raises(DataError, match="float"):
        fit_classifier(x, p.astype(np.int64))
    with pytest.raises(DataError, match="finite"):
        fit_classifier(x, np.full((8, 10), np.nan))
