"""FCN-score experiment helpers: the score against scikit-learn, class weights against their formula, the
segmenter learning a toy task, seeded determinism, the arms' configs, pix2pix outputs of a tiny run and the
render ranges continuing the renderer's image sequence."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, jaccard_score, recall_score

from traingen.core.seeding import torch_generator
from traingen.translate.fcn_experiment import (
    SegConfig,
    SegUNet,
    arm_config,
    arm_images,
    class_weights,
    fcn_score,
    gaussian_blur,
    predict,
    random_blur,
    train_segmenter,
)


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
    assert np.allclose(got["iou"], jaccard_score(y, p, average=None), atol=1e-4)


def test_fcn_score_ignores_absent_classes():
    labels = np.zeros((2, 4, 4), np.int64)
    labels[:, :2] = 2                                  # classes 1 and 3 never occur
    images = np.zeros((2, 4, 4, 3), np.uint8)
    images[..., 0][labels == 2] = 120                  # _FromRed predicts the labels exactly
    got = fcn_score(_FromRed(), images, labels, 4)
    assert got["pixel_acc"] == got["class_acc"] == got["miou"] == 1.0


def test_class_weights_formula():
    labels = np.array([0] * 80 + [1] * 5 + [2] * 15)   # class 3 absent
    freq = np.array([0.80, 0.05, 0.15])
    want = (np.median(freq) / freq) ** 0.5
    got = class_weights(labels, 4, 0.5).numpy()
    assert np.allclose(got[:3], want, rtol=1e-6) and got[3] == 0.0
    assert np.allclose(class_weights(labels, 4, 0.0).numpy(), [1, 1, 1, 0])


def test_segunet_shape():
    net = SegUNet(4, width=4, levels=2)
    assert net(torch.zeros(2, 3, 16, 16)).shape == (2, 4, 16, 16)
    assert SegUNet(5, width=4, levels=3)(torch.zeros(1, 3, 32, 32)).shape == (1, 5, 32, 32)


def _toy(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """16×16 scenes: up to three rectangles whose colour is their class, on a noisy grey background."""
    rng = np.random.default_rng(seed)
    colours = np.array([[128, 128, 128], [220, 40, 40], [40, 200, 40], [40, 60, 220]], np.float64)
    labels = np.zeros((n, 16, 16), np.int64)
    for i in range(n):
        for c in rng.permutation([1, 2, 3])[: rng.integers(1, 4)]:
            y, x = rng.integers(0, 11, 2)
            h, w = rng.integers(3, 6, 2)
            labels[i, y:y + h, x:x + w] = c
    images = colours[labels] + rng.normal(0, 20, labels.shape + (3,))
    return images.clip(0, 255).astype(np.uint8), labels


def test_segmenter_learns_toy_task_and_beats_all_background():
    images, labels = _toy(48, 0)
    test_images, test_labels = _toy(16, 1)
    net = train_segmenter(images, labels, SegConfig(width=8, levels=1, steps=80, batch=8, lr=3e-3))
    got = fcn_score(net, test_images, test_labels, 4)   # measured: 0.97 / 0.98 / 0.83
    assert got["pixel_acc"] > 0.9 and got["class_acc"] > 0.9 and got["miou"] > 0.6, got
    assert (predict(net, test_images) > 0).any()


def test_segmenter_seeded_and_leaves_global_rng_alone():
    images, labels = _toy(8, 2)
    cfg = SegConfig(width=4, levels=2, steps=3, batch=4)
    state = torch.get_rng_state()
    a = train_segmenter(images, labels, cfg).state_dict()
    assert torch.equal(torch.get_rng_state(), state)
    b = train_segmenter(images, labels, cfg).state_dict()
    c = train_segmenter(images, labels, SegConfig(width=4, levels=2, steps=3, batch=4, seed=1)).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["head.weight"], c["head.weight"])


@pytest.mark.parametrize("sigma", [0.6, 1.5])
def test_gaussian_blur_matches_opencv(sigma):
    import cv2

    img = torch.rand(1, 3, 20, 17, generator=torch_generator(0, "blur"), dtype=torch.float64)
    r = int(np.ceil(3 * sigma))
    ref = cv2.GaussianBlur(img[0].permute(1, 2, 0).numpy(), (2 * r + 1, 2 * r + 1), sigma,
                           borderType=cv2.BORDER_REFLECT_101)
    got = gaussian_blur(img, sigma)[0].permute(1, 2, 0).numpy()
    assert got.shape == ref.shape and np.abs(got - ref).max() < 1e-9


def test_random_blur_blurs_about_half_and_is_seeded():
    x = torch.rand(400, 1, 8, 8, generator=torch_generator(1, "x"))
    out = random_blur(x, 1.5, torch_generator(2, "b"))
    changed = (out != x).flatten(1).any(1)
    assert 0.38 < changed.float().mean() < 0.55      # p = 0.5, minus draws with sigma < 0.1 (1/15 of them)
    assert torch.equal(out, random_blur(x, 1.5, torch_generator(2, "b")))
    assert out[changed].std() < x[changed].std()     # blurred images are smoother


def test_blur_off_leaves_the_segmenter_as_before():
    images, labels = _toy(8, 2)
    a = train_segmenter(images, labels, SegConfig(width=4, levels=2, steps=3, batch=4)).state_dict()
    b = train_segmenter(images, labels, SegConfig(width=4, levels=2, steps=3, batch=4, blur=0.0)).state_dict()
    c = train_segmenter(images, labels, SegConfig(width=4, levels=2, steps=3, batch=4, blur=1.5)).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a) and not torch.equal(a["head.weight"], c["head.weight"])


def test_train_segmenter_rejects_mismatched_inputs():
    from traingen.core.errors import DataError

    images, labels = _toy(4, 3)
    with pytest.raises(DataError, match="equal"):
        train_segmenter(images, labels[:3], SegConfig(width=4, levels=2, steps=1))


def test_arm_configs():
    p2p, l1, sims = arm_config("p2p", 7), arm_config("l1", 7), arm_config("sims", 7)
    assert p2p.model == l1.model == "pix2pix" and sims.model == "sims"
    assert p2p.model_config["use_gan"] is True and l1.model_config["use_gan"] is False
    assert {k: v for k, v in p2p.model_config.items() if k != "use_gan"} == \
        {k: v for k, v in l1.model_config.items() if k != "use_gan"}
    assert p2p.steps == l1.steps == sims.steps == 7 and p2p.threads == sims.threads == 1
    assert p2p.checkpoint_every == 1 and arm_config("p2p", 1000).checkpoint_every == 250   # quarters, all kept
    assert p2p.keep_checkpoints == sims.keep_checkpoints == 0
    assert p2p.seed == 0 and arm_config("l1", 7, seed=3).seed == 3   # `train --seed`
    with pytest.raises(Exception, match="unknown arm"):
        arm_config("cyclegan", 7)


def test_arm_config_batch_and_rate_overrides():
    """`train --batch-size 1 --lr 2e-4` (the paper's batch 1): both arms change, the rest is the recipe's."""
    base = arm_config("p2p", 7)
    p2p, l1 = (arm_config(arm, 7, batch_size=1, lr=2e-4) for arm in ("p2p", "l1"))
    assert base.batch_size == 4 and base.model_config["lr"] == 8e-4   # the recipe's
    assert p2p.batch_size == l1.batch_size == 1 and p2p.model_config["lr"] == l1.model_config["lr"] == 2e-4
    assert {k: v for k, v in p2p.model_config.items() if k != "lr"} == \
        {k: v for k, v in base.model_config.items() if k != "lr"}
    assert l1.model_config["use_gan"] is False and p2p.jitter == base.jitter


def test_arm_images_of_a_tiny_pix2pix_run(tmp_path):
    from traingen.translate import load_translate_config, train_translation
    from traingen.translate.data import TranslationData

    g = torch_generator(0, "toy")
    a = torch.rand(6, 3, 32, 32, generator=g) * 2 - 1
    cfg = load_translate_config("recipes/translate-pix2pix-render.yaml", steps=2, threads=1, tensorboard=False,
                                model_config={"image_size": 32, "ngf": 4, "ndf": 4, "n_layers": 1})
    train_translation(cfg, tmp_path / "run", data=TranslationData(a, -a, True))
    a_u8 = ((a.permute(0, 2, 3, 1).numpy() + 1) * 127.5).round().astype(np.uint8)
    state = torch.get_rng_state()
    out = arm_images(tmp_path / "run", a_u8, np.zeros((6, 32, 32), np.int64))
    assert torch.equal(torch.get_rng_state(), state)
    assert out.shape == (6, 32, 32, 3) and out.dtype == np.uint8 and out.std() > 0
    assert np.array_equal(out, arm_images(tmp_path / "run", a_u8, np.zeros((6, 32, 32), np.int64)))


def test_canvas_fill_counts_filled_object_pixels():
    from traingen.translate.fcn_experiment import NUM_CLASSES, canvas_fill

    labels = np.zeros((2, 4, 4), np.int64)
    labels[:, :2, :2] = 1                      # 8 pixels of class 1; class 2 on one row of image 1
    labels[1, 3] = 2
    canv = np.full((2, 4, 4, 3), 128, np.uint8)  # grey = empty
    canv[0, 0, 0] = (10, 128, 128)             # one of the class-1 pixels filled
    canv[1, 3, :2] = 200                       # half of the class-2 pixels filled
    fill = canvas_fill(canv, labels)
    assert len(fill) == NUM_CLASSES - 1 and fill[:2] == [0.125, 0.5] and np.isnan(fill[2])


def test_render_range_continues_the_image_sequence():
    pytest.importorskip("moderngl", reason="rendering needs the [render] extra")
    from traingen.data.cache import cache_dir
    from traingen.data.render_mask2rgb import render_range

    three = render_range(2, 3)
    two = render_range(3, 2)
    assert three.shape == (3, 64, 128, 3) and three.dtype == np.uint8
    assert np.array_equal(three[1:], two)              # image i does not depend on where the range starts
    assert (cache_dir() / "datasets" / "render-mask2rgb-range-3-2-v1.npz").is_file()
    assert np.array_equal(render_range(3, 2), two)     # the cached copy


def test_render_cache_made_by_an_older_renderer_is_rendered_again():
    """The cache names do not follow renderer changes (session 7: a cached copy differed from fresh renders in
    26 % of its pixels): a cache whose first image no longer matches the renderer is replaced."""
    pytest.importorskip("moderngl", reason="rendering needs the [render] extra")
    from traingen.data.cache import cache_dir, load_npz, save_npz_atomic
    from traingen.data.render_mask2rgb import cache_is_current, render_range

    fresh = render_range(7, 2)
    path = cache_dir() / "datasets" / "render-mask2rgb-range-7-2-v1.npz"
    assert cache_is_current(load_npz(path)["images"], 7)
    stale = fresh.copy()
    stale[0, :, 64:] = 255 - stale[0, :, 64:]          # "rendered by an older renderer"
    save_npz_atomic(path, images=stale)
    assert not cache_is_current(stale, 7)
    assert np.array_equal(render_range(7, 2), fresh)  # re-rendered ...
    assert np.array_equal(load_npz(path)["images"], fresh)  # ... and the cache replaced


def test_score_and_augment_commands_end_to_end(tmp_path, monkeypatch):
    """``score`` and ``augment`` on a tiny pix2pix run and segmenter, the render ranges replaced by toys."""
    import json

    from traingen.translate import fcn_experiment as fx
    from traingen.translate import load_translate_config, train_translation
    from traingen.translate.data import TranslationData

    def toy_range(start, count, variant="default"):
        images, labels = _toy(count, start)
        images = np.pad(images, ((0, 0), (8, 8), (8, 8), (0, 0)), constant_values=128)
        labels = np.pad(labels, ((0, 0), (8, 8), (8, 8)))
        a = np.repeat((labels * (255 // 4)).astype(np.uint8)[..., None], 3, -1)
        return labels, a, images

    monkeypatch.setattr(fx, "range_pairs", toy_range)
    monkeypatch.setattr(fx, "SEG_TRAIN", (0, 12))
    monkeypatch.setattr(fx, "HELD_OUT", (100, 8))
    monkeypatch.setattr(fx, "NEW_LAYOUTS", (200, 12))
    seg = SegConfig(width=4, levels=1, steps=3, batch=4)
    ticks = []
    rec = fx.run_segmenter(tmp_path, seg, on_step=ticks.append)
    assert ticks == [1, 1, 1]                            # a progress bar's advance, once per step
    assert rec["all_background"]["class_acc"] == 0.25 and 0 <= rec["held_out_real"]["miou"] <= 1
    lab, a, img = toy_range(0, 12)
    data = TranslationData(fx.to_input(a), fx.to_input(img), True)
    cfg = load_translate_config("recipes/translate-pix2pix-render.yaml", steps=2, threads=1, tensorboard=False,
                                checkpoint_every=1, keep_checkpoints=0,
                                model_config={"image_size": 32, "ngf": 4, "ndf": 4, "n_layers": 1})
    train_translation(cfg, tmp_path / "p2p", data=data)
    (tmp_path / "p2p" / "budget.json").write_text(json.dumps({"name": "pix2pix L1 + cGAN", "steps": 2, "cpu_s": 1}))
    res = fx.run_score(tmp_path, figure=str(tmp_path / "fig.png"), n_fig=4)
    assert set(res["rows"]) == {"real held-out renders", "pix2pix L1 + cGAN"}
    assert res["rows"]["pix2pix L1 + cGAN"]["domain_fid"] > 0 and (tmp_path / "fig.png").stat().st_size > 0
    curve = fx.run_curve(tmp_path, "p2p")               # one row per checkpoint; the last is the score's
    assert [r["step"] for r in curve["rows"]] == [1, 2] and curve["rows"][1]["train_cpu_s"] == 1
    assert curve["rows"][1]["miou"] == res["rows"]["pix2pix L1 + cGAN"]["miou"]
    # eval mode (no dropout, running BatchNorm statistics) makes other images than the paper's train-mode inference
    held_lab, held_a, _ = toy_range(*fx.HELD_OUT)
    train_mode = fx.arm_images(tmp_path / "p2p", held_a, held_lab)
    eval_mode = fx.arm_images(tmp_path / "p2p", held_a, held_lab, eval_mode=True)
    assert eval_mode.shape == train_mode.shape and not np.array_equal(eval_mode, train_mode)
    assert np.array_equal(eval_mode, fx.arm_images(tmp_path / "p2p", held_a, held_lab, eval_mode=True, seed=5))
    assert fx.run_score(tmp_path, eval_mode=True)["eval_mode"] is True
    ticks.clear()
    aug = fx.run_augment(tmp_path, seg, gen_only=True, on_step=ticks.append)
    assert len(ticks) == 2 * seg.steps                   # the real + generated and the generated-only segmenters
    assert len([k for k in aug if k not in ("train_cpu_s", "variant", "sims_clip")]) == 3
    assert aug["variant"] == "default" and aug["sims_clip"] is None
    assert aug["real only (1,000)"] == rec["held_out_real"]
