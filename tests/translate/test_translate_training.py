"""Training: pix2pix overfits one pair, exact resume, seeded determinism, NaN stop."""

from __future__ import annotations

import json

import pytest
import torch

from traingen.core.checkpoint import load_checkpoint
from traingen.core.errors import ConfigError, OutputError
from traingen.core.seeding import torch_generator
from traingen.data import open_source
from traingen.data.paired import split_pair
from traingen.translate.config import TranslateTrainConfig, resolved
from traingen.translate.data import TranslationData, to_tensor
from traingen.translate.pix2pix import Pix2Pix, Pix2PixConfig
from traingen.translate.trainer import DivergenceError, latest_checkpoint, train_translation


def test_pix2pix_overfits_one_edges_to_photo_pair():
    # One 32 px pair of builtin:edges2photos, ngf 16, Adam 1e-3, no dropout (dropout exists to stop exactly
    # this memorisation). Stated budget: 200 steps; L1 measured on [0, 1] images.
    a, b = split_pair(open_source("builtin:edges2photos@train")[0].image)
    A = to_tensor([a], size=32, channels=3, where="a")
    B = to_tensor([b], size=32, channels=3, where="b")
    start = float((A - B).abs().mean()) / 2
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        m = Pix2Pix(Pix2PixConfig(image_size=32, ngf=16, ndf=8, lr=1e-3, dropout=False),
                    generator=torch_generator(0, "init"))
        for s in range(200):
            m.train_step({"A": A, "B": B}, step=s, seed=0)
        l1 = float((m.translate(A) - B).abs().mean()) / 2
    assert start > 0.2
    assert l1 < 0.02


def _data(paired: bool, n: int = 6, size: int = 32, c: int = 3) -> TranslationData:
    g = torch.Generator().manual_seed(5)
    A = torch.rand(n, c, size, size, generator=g) * 2 - 1
    B = (-A if paired else torch.rand(n + 3, c, size, size, generator=g) * 2 - 1)
    return TranslationData(A, B, paired, torch.arange(n) % 2)


def _cfg(model: str, **kw) -> TranslateTrainConfig:
    mc = ({"image_size": 32, "ngf": 4, "ndf": 4, "n_layers": 2} if model == "pix2pix" else
          {"image_size": 8, "ngf": 4, "ndf": 4, "n_blocks": 1, "n_layers": 1, "pool_size": 3})
    base = {"model": model, "model_config": mc, "steps": 6, "batch_size": 2, "checkpoint_every": 3,
            "keep_checkpoints": 0, "log_every": 1, "tensorboard": False, "flip": True, "schedule_every": 2}
    base.update(kw)
    return resolved(TranslateTrainConfig(**base))


def _weights(run):
    tree, state = load_checkpoint(latest_checkpoint(run))
    return tree, state


@pytest.mark.parametrize("model", ["pix2pix", "cyclegan"])
def test_resume_is_exact_and_runs_are_seeded(tmp_path, model):
    paired = model == "pix2pix"
    data = _data(paired, size=32 if paired else 8)
    train_translation(_cfg(model), tmp_path / "full", data=data)
    half = train_translation(_cfg(model), tmp_path / "half", data=data, until=3)  # an interrupted run
    assert half.step == 3
    resumed = train_translation(_cfg(model), tmp_path / "half", resume=True, data=data)
    assert resumed.steps_run == 3
    t_full, _ = _weights(tmp_path / "full")
    t_res, s_res = _weights(tmp_path / "half")
    assert s_res["step"] == 6
    for name, sd in t_full["nets"].items():
        for k, v in sd.items():
            assert torch.equal(v, t_res["nets"][name][k]), f"{name}.{k}"
    for k, v in t_full["extra"].items():
        assert torch.equal(v["images"], t_res["extra"][k]["images"])
    rows = [json.loads(x) for x in (tmp_path / "full" / "metrics.jsonl").read_text().splitlines()]
    rows_r = [json.loads(x) for x in (tmp_path / "half" / "metrics.jsonl").read_text().splitlines()]
    assert [r["g_loss"] for r in rows] == [r["g_loss"] for r in rows_r]
    assert all("loadavg_1m" in r for r in rows)
    # another seed changes the weights (the comparison above can fail)
    train_translation(_cfg(model, seed=1), tmp_path / "other", data=data)
    t_other, _ = _weights(tmp_path / "other")
    name = next(iter(t_full["nets"]))
    assert any(not torch.equal(v, t_other["nets"][name][k]) for k, v in t_full["nets"][name].items())


def test_lr_follows_the_schedule_and_resume_checks_config(tmp_path):
    data = _data(True)
    res = train_translation(_cfg("pix2pix"), tmp_path / "r", data=data)
    factors = [json.loads(x)["lr_factor"] for x in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    assert factors == [1.0, 1.0, 0.5, 0.5, 0.0, 0.0]  # 3 scheduler epochs of 2 steps: 2 + 1
    assert res.model.opt_G.param_groups[0]["lr"] == 0.0
    with pytest.raises(ConfigError, match="differs"):
        train_translation(_cfg("pix2pix", batch_size=3), tmp_path / "r", resume=True, data=data)
    with pytest.raises(OutputError, match="--resume"):
        train_translation(_cfg("pix2pix"), tmp_path / "r", data=data)


def test_nan_stops_training_and_keeps_the_last_good_checkpoint(tmp_path):
    data = _data(True)
    train_translation(_cfg("pix2pix"), tmp_path / "r", data=data, until=3)
    bad = TranslationData(data.A.clone(), data.B.clone(), True)
    bad.B[:] = float("nan")
    with pytest.raises(DivergenceError, match="g_loss|d_loss"):
        train_translation(_cfg("pix2pix"), tmp_path / "r", resume=True, data=bad)
    assert latest_checkpoint(tmp_path / "r").name == "step-00000003"


def test_semantic_loss_needs_labels(tmp_path):
    data = _data(False, size=8, c=1)
    data.labels_A = None
    cfg = _cfg("cyclegan", model_config={"channels_a": 1, "channels_b": 1, "image_size": 8, "ngf": 4, "ndf": 4,
                                         "n_blocks": 1, "n_layers": 1, "semantic_weight": 1.0})
    with pytest.raises(ConfigError, match="labelled"):
        train_translation(cfg, tmp_path / "r", data=data)


def test_l1_only_baseline_leaves_the_discriminator_untouched():
    data = _data(True)
    m = Pix2Pix(Pix2PixConfig(image_size=32, ngf=4, ndf=4, use_gan=False), generator=torch_generator(0, "init"))
    before = {k: v.clone() for k, v in m.D.state_dict().items()}
    logs = m.train_step({"A": data.A[:2], "B": data.B[:2]}, step=0, seed=0)
    assert "d_loss" not in logs and logs["g_gan"] == 0.0
    assert logs["g_loss"] == pytest.approx(100 * logs["g_l1"])
    assert all(torch.equal(v, m.D.state_dict()[k]) for k, v in before.items())


def test_random_jitter_crops_the_bicubic_upsample_with_one_offset_for_a_pair():
    import torch.nn.functional as F

    from traingen.translate.trainer import make_batch, random_jitter

    g = torch.Generator().manual_seed(0)
    a = torch.rand(5, 3, 32, 32, generator=g) * 2 - 1
    big = F.interpolate(a, size=(36, 36), mode="bicubic", align_corners=False).clamp(-1, 1)  # 32 * 1.125
    ja, jb = random_jitter(a, -a, scale=1.125, paired=True, generator=torch.Generator().manual_seed(1),
                           resize="torch")
    offsets = []
    for i in range(5):  # each output is a 32 px window of the upsampled image; B (= -A) has the same window
        hits = [(y, x) for y in range(5) for x in range(5) if torch.equal(ja[i], big[i, :, y:y + 32, x:x + 32])]
        assert len(hits) == 1, hits
        y, x = hits[0]
        big_b = F.interpolate(-a, size=(36, 36), mode="bicubic", align_corners=False).clamp(-1, 1)
        assert torch.equal(jb[i], big_b[i, :, y:y + 32, x:x + 32])
        offsets.append(hits[0])
    assert len(set(offsets)) > 1  # the offsets are drawn, not fixed
    # unpaired: independent offsets for B; scale 1 leaves the batch alone
    ua, ub = random_jitter(a, a, scale=1.125, paired=False, generator=torch.Generator().manual_seed(1))
    # the default resize is the reference's (PIL), so the same draw gives the same windows of another upsample
    pa, _ = random_jitter(a, -a, scale=1.125, paired=True, generator=torch.Generator().manual_seed(1))
    assert not torch.equal(pa, ja) and (pa - ja).abs().mean() < 0.05
    assert not torch.equal(ua, ub)
    same = random_jitter(a, a, scale=1.0, paired=True, generator=torch.Generator().manual_seed(1))
    assert same[0] is a and same[1] is a
    # in the trainer's batches: seeded by step, and off by default (the batch equals the un-jittered one)
    data = _data(True)
    b1 = make_batch(data, 3, 2, seed=0, flip=False, jitter=1.125)
    b2 = make_batch(data, 3, 2, seed=0, flip=False, jitter=1.125)
    b0 = make_batch(data, 3, 2, seed=0, flip=False)
    assert torch.equal(b1["A"], b2["A"]) and not torch.equal(b1["A"], b0["A"])
    # B = -A stays paired through the jitter: the same windows (up to the 8-bit rounding of the PIL-like resize)
    assert torch.allclose(b1["B"], -b1["A"], atol=2 / 127.5 + 1e-6)
    t1 = make_batch(data, 3, 2, seed=0, flip=False, jitter=1.125, jitter_resize="torch")
    assert torch.allclose(t1["B"], -t1["A"], atol=1e-6)


def test_jitter_resizes_as_the_references_pil_pipeline():
    # the reference (junyanz/pytorch-CycleGAN-and-pix2pix, data/base_dataset.py) resizes 8-bit PIL images with
    # Image.BICUBIC, then ToTensor and Normalize(0.5, 0.5); PIL is the independent reference here
    import numpy as np
    from PIL import Image

    from traingen.translate.trainer import resize_like_pil

    rng = np.random.default_rng(0)
    smooth = np.linspace(0, 255, 40)[None, :, None] * np.ones((40, 1, 3))
    blocks = np.kron(rng.integers(0, 256, (5, 5, 3)), np.ones((8, 8, 1)))  # hard class-map edges: ringing
    noise = rng.integers(0, 256, (40, 40, 3))
    worst = 0.0
    for img in (smooth, blocks, noise, np.flip(blocks, 0)):
        u8 = np.ascontiguousarray(img).round().clip(0, 255).astype(np.uint8)
        for size in ((45, 45), (45, 52), (80, 64)):
            ref = np.asarray(Image.fromarray(u8).resize(size[::-1], Image.BICUBIC), dtype=np.float64)
            x = torch.from_numpy(u8).permute(2, 0, 1)[None].float() / 127.5 - 1
            ours = (resize_like_pil(x, size)[0].permute(1, 2, 0).double().numpy() + 1) * 127.5
            assert ours.shape == ref.shape
            diff = np.abs(ours - ref)
            assert diff.mean() < 0.05, (size, diff.mean())
            worst = max(worst, float(diff.max()))
    assert worst <= 2.0 + 1e-6, worst  # PIL's fixed-point weights round a few half levels the other way


def test_resume_is_exact_with_random_jitter(tmp_path):
    data = _data(True)
    train_translation(_cfg("pix2pix", jitter=1.125), tmp_path / "full", data=data)
    train_translation(_cfg("pix2pix", jitter=1.125), tmp_path / "half", data=data, until=3)
    train_translation(_cfg("pix2pix", jitter=1.125), tmp_path / "half", resume=True, data=data)
    t_full, _ = _weights(tmp_path / "full")
    t_res, _ = _weights(tmp_path / "half")
    for k, v in t_full["nets"]["G"].items():
        assert torch.equal(v, t_res["nets"]["G"][k]), k
    with pytest.raises(ConfigError, match="jitter"):
        TranslateTrainConfig(jitter=3.0)
    with pytest.raises(ConfigError, match="jitter_resize"):
        TranslateTrainConfig(jitter_resize="nearest")
