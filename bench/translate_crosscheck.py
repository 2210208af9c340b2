"""Numerical cross-check of our pix2pix and CycleGAN training steps against the reference implementation.

    python bench/translate_crosscheck.py --reference /work/refs/pix2pix [--steps 6]
    python bench/translate_crosscheck.py --reference /work/refs/pix2pix --write-fixture tests/translate/fixtures/reference_steps.json
    python bench/translate_crosscheck.py --reference /work/refs/pix2pix --data [--pairs 100]

The reference is junyanz/pytorch-CycleGAN-and-pix2pix at commit 9f8f61e (e.g. ``git archive 9f8f61e models util
options data`` from the fork uxfion/pytorch-CycleGAN-and-pix2pix, kept outside this repository). Both sides start from
the same weights (ours, drawn by our seeded init and loaded into the reference's networks: the module layouts and
state-dict keys are the same), see the same seeded batches and the same dropout masks (``torch.manual_seed`` before
each step; the U-Net's dropout layers run in the same order on both sides), and take ``--steps`` steps with their own
code: the reference's ``set_input`` + ``optimize_parameters`` (its Adam, its loss classes, its D-then-G order for
pix2pix and G-then-D for CycleGAN) against our ``train_step`` (fused Adam), in float64. The cases are
:data:`traingen.translate.reference_steps.CASES`. The CycleGAN image pool is off on both sides (the reference draws
from Python's ``random``; our pool has its own tests).

Printed per case: the largest relative difference of each logged loss over the steps, and the largest difference of
any parameter or BatchNorm statistic at the end relative to the largest magnitude in that network. (Per-tensor
relative differences mislead for conv biases in front of InstanceNorm: their gradient is rounding noise, so they
stay near 0 with last-bit differences.)

``--data`` checks the data pipeline instead: our paired training batches (random jitter 286/256, horizontal flips;
``make_batch``) against the reference's ``AlignedDataset.__getitem__`` on the same pairs written as A|B PNG files.
Our crop offsets and flips come from our own seeded streams and the reference's from Python's ``random``, so each of
our batch images is matched to the closest of the reference's outputs over every crop position and flip it can draw;
printed: the matched difference (in 8-bit levels), the gap to the second-best candidate (the match is unambiguous
when it is large) and how often each flip and offset came up, for ``jitter_resize: pil`` and ``torch``.

``--write-fixture`` stores the reference's losses with the cases in a JSON file that
``tests/translate/test_reference_steps.py`` replays our side against, without the reference.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings

from translate import _ref_opt  # bench/translate.py: the reference's options namespace


def run_reference(name, case, steps):
    """The reference from our initial weights: per-step ``get_current_losses()`` and its networks."""
    import torch
    from models import networks
    from models.cycle_gan_model import CycleGANModel
    from models.pix2pix_model import Pix2PixModel

    from traingen.translate import reference_steps as rs

    ours = rs.build(name, case)  # for the initial weights
    opt = _ref_opt(**case["ref"])
    if case["model"] == "pix2pix":
        ref = Pix2PixModel(opt)  # define_G knows U-Net depths 7 and 8 only: give it one of our depth
        ref.netG = networks.UnetGenerator(3, 3, ours.config.unet_depth, opt.ngf,
                                          norm_layer=networks.get_norm_layer(opt.norm), use_dropout=True)
        ref.optimizer_G = torch.optim.Adam(ref.netG.parameters(), lr=opt.lr, betas=(opt.beta1, 0.999))
        ref.optimizers = [ref.optimizer_G, ref.optimizer_D]
        nets = {"G": ref.netG, "D": ref.netD}
    else:
        ref = CycleGANModel(opt)
        nets = {"G_A": ref.netG_A, "G_B": ref.netG_B, "D_A": ref.netD_A, "D_B": ref.netD_B}
    for key, net in nets.items():
        net.to(rs.DTYPE)  # in place: the reference's optimizers keep their parameters
        net.load_state_dict(ours.nets[key].state_dict())
    losses = []
    for k, batch in enumerate(rs.batches(case, steps)):
        torch.manual_seed(rs.step_seed(k))
        ref.set_input({**batch, "A_paths": [""], "B_paths": [""]})
        ref.optimize_parameters()
        losses.append({key: float(v) for key, v in ref.get_current_losses().items()})
    return losses, nets


def differences(ref_losses, our_losses, ref_nets, our_nets):
    """(largest relative loss difference per term, largest net-relative tensor difference per network)."""
    loss_rel = {key: max(abs(o[key] - r[key]) / max(abs(r[key]), 1e-12) for o, r in zip(our_losses, ref_losses, strict=True))
                for key in ref_losses[0]}
    tensor_rel = {}
    for name, ref_net in ref_nets.items():
        ours = our_nets[name].state_dict()
        state = ref_net.state_dict()
        scale = max(float(v.abs().max()) for v in state.values() if v.is_floating_point())
        worst = 0.0
        for k, v in state.items():
            if v.is_floating_point():
                worst = max(worst, float((ours[k] - v).abs().max()) / scale)
            elif not bool((ours[k] == v).all()):
                worst = float("inf")  # e.g. BatchNorm's num_batches_tracked
        tensor_rel[name] = worst
    return loss_rel, tensor_rel


def data_check(pairs, *, resize, seed=0, source="builtin:render-mask2rgb-classfam@train", n_images=16):
    """(worst matched diff, mean matched diff, smallest runner-up gap (levels), flip rate, offsets seen, offsets possible)."""
    import tempfile
    from types import SimpleNamespace

    import numpy as np
    import torch
    from PIL import Image

    from data import aligned_dataset
    from traingen.translate.config import TranslateTrainConfig
    from traingen.translate.data import load_translation_data
    from traingen.translate.trainer import batch_indices, make_batch

    cfg = TranslateTrainConfig(model="pix2pix", data_a=source, limit_a=n_images, flip=True, jitter=286 / 256,
                               jitter_resize=resize, model_config={"image_size": 64})
    data = load_translation_data(cfg)
    n, size = len(data.A), data.A.shape[-1]
    big = round(size * cfg.jitter)
    u8 = lambda t: ((t + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()  # noqa: E731
    worst = mean = 0.0
    runner_up = float("inf")
    flips, offsets = 0, set()
    with tempfile.TemporaryDirectory() as tmp:
        root = os.path.join(tmp, "train")
        os.makedirs(root)
        for i in range(n):  # the reference's aligned layout: A|B side by side
            Image.fromarray(np.concatenate([u8(data.A[i]), u8(data.B[i])], 1)).save(os.path.join(root, f"{i:04d}.png"))
        opt = SimpleNamespace(dataroot=tmp, phase="train", max_dataset_size=float("inf"), load_size=big,
                              crop_size=size, preprocess="resize_and_crop", no_flip=False, direction="AtoB",
                              input_nc=3, output_nc=3)
        ds = aligned_dataset.AlignedDataset(opt)
        get_params = aligned_dataset.get_params
        try:
            for step in range(pairs):
                batch = make_batch(data, step, 1, seed=seed, flip=True, jitter=cfg.jitter, jitter_resize=resize)
                idx = int(batch_indices(n, step, 1, seed=seed)[0])
                scores = []
                for y in range(big - size + 1):
                    for x in range(big - size + 1):
                        for flip in (False, True):
                            aligned_dataset.get_params = lambda o, sz, p={"crop_pos": (x, y), "flip": flip}: p
                            ref = ds[idx]
                            diff = torch.stack([(ref[k] - batch[k][0]).abs() for k in ("A", "B")])
                            scores.append((float(diff.amax()) * 127.5, float(diff.mean()) * 127.5, (y, x, flip)))
                scores.sort(key=lambda r: r[1])
                best, second = scores[0], scores[1]
                worst, mean = max(worst, best[0]), mean + best[1] / pairs
                runner_up = min(runner_up, second[1] - best[1])
                flips += best[2][2]
                offsets.add(best[2][:2])
        finally:
            aligned_dataset.get_params = get_params
    return worst, mean, runner_up, flips / pairs, len(offsets), (big - size + 1) ** 2


def main(argv=None):
    import torch

    from traingen.translate import reference_steps as rs

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reference", required=True, help="checkout of the reference at 9f8f61e (outside this repository)")
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--write-fixture", help="store the cases and the reference's losses here (JSON)")
    ap.add_argument("--data", action="store_true", help="check the data pipeline (jitter, flips) instead")
    ap.add_argument("--pairs", type=int, default=100, help="--data: training batches compared")
    args = ap.parse_args(argv)
    sys.path.insert(0, os.path.abspath(args.reference))
    warnings.filterwarnings("ignore", message="Converting a tensor with requires_grad")  # the reference's logging
    torch.set_num_threads(1)
    if args.data:
        print("| jitter_resize | batches | worst diff, matched (levels) | mean diff, matched | smallest gap to runner-up "
              "(mean, levels) | flip rate | crop offsets seen / possible |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        for resize in ("pil", "torch"):
            w, m, gap, fr, seen, possible = data_check(args.pairs, resize=resize)
            print(f"| {resize} | {args.pairs} | {w:.2f} | {m:.3f} | {gap:.2f} | {fr:.2f} | {seen} / {possible} |", flush=True)
        return
    fixture = {"reference": "junyanz/pytorch-CycleGAN-and-pix2pix@9f8f61e", "steps": args.steps, "cases": {}}
    print("| case | steps | worst loss rel. diff (term) | worst final tensor diff / net scale (net) |")
    print("| --- | ---: | ---: | ---: |")
    for name, case in rs.CASES.items():
        ref_losses, ref_nets = run_reference(name, case, args.steps)
        our_losses, our_nets, digest = rs.replay(name, case, args.steps)
        loss_rel, tensor_rel = differences(ref_losses, our_losses, ref_nets, our_nets)
        lk, tk = max(loss_rel, key=loss_rel.get), max(tensor_rel, key=tensor_rel.get)
        print(f"| {name} | {args.steps} | {loss_rel[lk]:.1e} ({lk}) | {tensor_rel[tk]:.1e} ({tk}) |", flush=True)
        fixture["cases"][name] = {**case, "initial_weights_sha256_16": digest, "losses": ref_losses}
    if args.write_fixture:
        with open(args.write_fixture, "w") as f:
            json.dump(fixture, f, indent=1)
            f.write("\n")
        print(f"wrote {args.write_fixture}")


if __name__ == "__main__":
    main()
