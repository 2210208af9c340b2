"""Our pix2pix and CycleGAN training steps against the reference implementation's own, step by step.

The fixture holds the losses that junyanz/pytorch-CycleGAN-and-pix2pix (commit 9f8f61e) logged over six
``optimize_parameters`` calls from our initial weights, batches and dropout masks, in float64
(``bench/translate_crosscheck.py --write-fixture``, which needs a checkout of the reference). Our ``train_step``
replays the same six steps here; every loss must agree to 1e-6 relative. That covers the networks' forward passes,
the loss terms and their weights, the update order (D then G for pix2pix, G then D for CycleGAN) and the Adam
updates in between (each step's losses depend on all earlier updates).
"""

import json
from pathlib import Path

import pytest

from traingen.translate import reference_steps as rs

FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "reference_steps.json").read_text())


@pytest.mark.parametrize("name", sorted(FIXTURE["cases"]))
def test_training_steps_match_the_reference(name):
    case = FIXTURE["cases"][name]
    assert {k: case[k] for k in ("model", "batch", "config", "ref")} == rs.CASES[name], \
        "the cases changed: rerun bench/translate_crosscheck.py --write-fixture"
    ours, _, digest = rs.replay(name, case, FIXTURE["steps"])
    assert digest == case["initial_weights_sha256_16"], \
        "our seeded init changed: rerun bench/translate_crosscheck.py --write-fixture against the reference"
    for k, (o, r) in enumerate(zip(ours, case["losses"], strict=True)):
        assert set(o) == set(r)
        for term in r:
            assert o[term] == pytest.approx(r[term], rel=1e-6, abs=1e-12), f"step {k} {term}"


def test_a_wrong_loss_weight_is_caught():
    """The comparison can fail: λ_L1 of 99 instead of 100 moves G_L1 at step 0 by 1 %."""
    name = "pix2pix"
    case = {**FIXTURE["cases"][name], "config": {**FIXTURE["cases"][name]["config"], "lambda_l1": 99.0}}
    ours, _, _ = rs.replay(name, case, 2)
    ref = FIXTURE["cases"][name]["losses"]
    assert ours[0]["G_L1"] != pytest.approx(ref[0]["G_L1"], rel=1e-6)
    assert ours[1]["D_fake"] != pytest.approx(ref[1]["D_fake"], rel=1e-6)  # D sees the other G's output
