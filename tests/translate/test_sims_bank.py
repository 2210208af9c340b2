"""SIMS memory bank and retrieval: components, exact IoU top-k against a brute-force reference, context IoU."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from traingen.core.errors import ConfigError
from traingen.translate.sims_bank import SegmentBank, connected_segments, retrieve


def _rect(h, w, y0, y1, x0, x1):
    m = np.zeros((h, w), bool)
    m[y0:y1, x0:x1] = True
    return m


def _hand_made_bank():
    """Three 12×12 label maps with rectangles of classes 1 and 2 (and background 0)."""
    lms = np.zeros((3, 12, 12), np.int64)
    lms[0, 1:5, 1:5] = 1           # class 1, 4×4 top-left
    lms[0, 7:11, 6:11] = 2         # class 2
    lms[1, 2:6, 2:6] = 1           # class 1, shifted by one
    lms[1, 8:10, 0:3] = 1          # a second class-1 component in the same image
    lms[2, 1:7, 1:7] = 1           # class 1, larger
    lms[2, 6:11, 6:11] = 2
    images = torch.linspace(-1, 1, 3 * 3 * 12 * 12).reshape(3, 3, 12, 12)
    return lms, SegmentBank.from_label_maps(lms, images, min_pixels=1)


def _brute_iou(a: np.ndarray, b: np.ndarray) -> float:
    inter = sum(1 for y in range(a.shape[0]) for x in range(a.shape[1]) if a[y, x] and b[y, x])
    union = sum(1 for y in range(a.shape[0]) for x in range(a.shape[1]) if a[y, x] or b[y, x])
    return inter / union


def test_connected_segments_match_scipy_labels():
    from scipy import ndimage

    rng = np.random.default_rng(0)
    lm = rng.integers(0, 3, (16, 16))
    segs = connected_segments(lm)
    expected = 0
    for c in range(3):
        _, n = ndimage.label(lm == c, structure=np.ones((3, 3)))
        expected += n
    assert len(segs) == expected
    cover = np.zeros_like(lm)
    for c, m in segs:
        assert (lm[m] == c).all()
        cover += m
    assert (cover == 1).all()  # a partition of the image


def test_bank_holds_every_component():
    lms, bank = _hand_made_bank()
    # image 0: bg, 1, 2; image 1: bg, 1, 1; image 2: bg, 1, 2  -> 9 segments
    assert len(bank) == 9
    assert bank.classes.tolist().count(1) == 4
    assert torch.equal(bank.masks[bank.classes == 2].sum((1, 2)), torch.tensor([20, 25]))


@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_retrieve_is_the_exact_iou_top_k(k):
    lms, bank = _hand_made_bank()
    queries = np.stack([_rect(12, 12, 2, 5, 2, 5), _rect(12, 12, 7, 11, 7, 11), _rect(12, 12, 8, 10, 0, 2)])
    classes = torch.tensor([1, 2, 1])
    res = retrieve(bank, torch.from_numpy(queries), classes, k=k)
    for q in range(len(queries)):
        scored = [(_brute_iou(queries[q], bank.masks[m].numpy()), m) for m in range(len(bank))
                  if int(bank.classes[m]) == int(classes[q])]
        scored.sort(key=lambda t: (-t[0], t[1]))
        want = scored[:k]
        got = [i for i in res.indices[q].tolist() if i >= 0]
        assert got == [m for _, m in want]
        assert np.allclose(res.scores[q, :len(want)].numpy(), [s for s, _ in want], atol=1e-6)
        assert (res.indices[q, len(want):] == -1).all()


def test_exclude_image_and_missing_class():
    lms, bank = _hand_made_bank()
    q = torch.from_numpy(lms[0] == 1)[None]
    best = retrieve(bank, q, torch.tensor([1]), k=1)
    assert int(bank.image_index[best.indices[0, 0]]) == 0  # its own segment, IoU 1
    assert float(best.scores[0, 0]) == pytest.approx(1.0)
    other = retrieve(bank, q, torch.tensor([1]), k=1, exclude_image=torch.tensor([0]))
    assert int(bank.image_index[other.indices[0, 0]]) != 0
    none = retrieve(bank, q, torch.tensor([7]), k=2)
    assert (none.indices == -1).all()


def test_context_iou_prefers_matching_neighbours():
    # Two candidates with identical class-1 masks; only the second has class 2 around it, as the query.
    lms = np.zeros((2, 10, 10), np.int64)
    lms[:, 3:7, 3:7] = 1
    lms[1][(lms[1] == 0)] = 2
    bank = SegmentBank.from_label_maps(lms, torch.zeros(2, 3, 10, 10), min_pixels=1)
    query_lm = torch.from_numpy(lms[1])
    qm = (query_lm == 1)[None]
    plain = retrieve(bank, qm, torch.tensor([1]), k=2)
    assert plain.scores[0, 0] == plain.scores[0, 1]  # tie on mask IoU: bank order
    ctx = retrieve(bank, qm, torch.tensor([1]), k=2, query_labels=query_lm[None], context_weight=1.0, ring=2)
    assert int(bank.image_index[ctx.indices[0, 0]]) == 1
    assert float(ctx.scores[0, 0]) == pytest.approx(2.0) and float(ctx.scores[0, 1]) == pytest.approx(1.0)


def test_retrieve_errors_are_clear():
    _, bank = _hand_made_bank()
    with pytest.raises(ConfigError, match="query masks"):
        retrieve(bank, torch.zeros(1, 8, 8, dtype=torch.bool), torch.tensor([1]))
    with pytest.raises(ConfigError, match="query_labels"):
        retrieve(bank, torch.zeros(1, 12, 12, dtype=torch.bool), torch.tensor([1]), context_weight=0.5)
