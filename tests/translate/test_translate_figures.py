"""The docs figures of the translation models: captions, grid layout, the label row of the CycleGAN figure."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from traingen.core.errors import ConfigError
from traingen.data import open_source
from traingen.features.classifiers import SHIPPED, load_weights, predict_logits, shipped_file
from traingen.translate.config import TranslateTrainConfig, resolved
from traingen.translate.figures import RED, cyclegan_figure, main, pix2pix_figure, text_cell
from traingen.translate.fonts2mnist_experiment import translate_array
from traingen.translate.trainer import load_run, train_translation


def _read(path):
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def _cell(grid, row, col, cell, pad=2):
    y, x = pad + row * (cell + pad), pad + col * (cell + pad)
    return grid[y:y + cell, x:x + cell]


def test_text_cell_draws_the_text_in_its_colour():
    blank = text_cell("", cell=40)
    assert (blank == 255).all()
    red = text_cell("7", cell=40, colour=RED)
    inked = (red != 255).any(axis=2)
    assert inked.sum() > 20
    assert (red[inked][:, 0] >= red[inked][:, 1]).all() and red[inked][:, 1].max() < 255  # reddish ink
    long = text_cell("a very long caption", cell=40)  # shrunk to fit: no ink on the outer columns
    assert (long[:, :1] == 255).all() and (long[:, -1:] == 255).all()


@pytest.fixture(scope="module")
def tiny_cyclegan(tmp_path_factory):
    path = tmp_path_factory.mktemp("fig") / "cg"
    mc = {"channels_a": 1, "channels_b": 1, "image_size": 28, "ngf": 4, "ndf": 4, "n_blocks": 1, "n_layers": 1,
          "pool_size": 2}
    train_translation(resolved(TranslateTrainConfig(
        model="cyclegan", model_config=mc, data_a="builtin:fonts2mnist@train", data_b="builtin:mnist5k@train",
        limit_a=16, limit_b=16, steps=2, batch_size=4, checkpoint_every=2, tensorboard=False)), path)
    return path


def test_cyclegan_figure_shows_sources_under_their_labels_and_the_classifier_reading(tiny_cyclegan, tmp_path):
    cell, n = 56, 10
    out = cyclegan_figure(tmp_path / "cg.png", [str(tiny_cyclegan)], names=["plain"], n=n,
                          classifier="mnist5k-classifier", cell=cell)
    grid = _read(out)
    assert grid.shape == (4 * cell + 5 * 2, (n + 1) * cell + (n + 2) * 2, 3)  # label, source, run, read-as rows
    src = open_source("builtin:fonts2mnist@train")
    labels = np.array([src[i].label for i in range(len(src))])
    idx = [int(np.flatnonzero(labels == k)[0]) for k in range(10)]
    for col, i in enumerate(idx):  # each source cell is that digit, scaled up 2x (nearest)
        img = np.asarray(src[i].image).squeeze()
        np.testing.assert_array_equal(_cell(grid, 1, col + 1, cell)[:, :, 0], np.kron(img, np.ones((2, 2), np.uint8)))
        np.testing.assert_array_equal(_cell(grid, 0, col + 1, cell), text_cell(str(k := labels[i]), cell=cell))
        assert k == col
    # the "read as" row: red exactly where the shipped classifier's label of the translation is not the source's
    _, model, _ = load_run(tiny_cyclegan)
    fake = translate_array(model, np.stack([np.asarray(src[i].image).squeeze() for i in idx]))
    pred = predict_logits(load_weights(shipped_file(SHIPPED["mnist5k-classifier"].weights_file)), fake).argmax(1)
    for col in range(n):
        c = _cell(grid, 3, col + 1, cell)
        red = ((c[:, :, 0].astype(int) - c[:, :, 1]) > 60).any()
        assert red == (pred[col] != col)
    with pytest.raises(ConfigError, match="names"):
        cyclegan_figure(tmp_path / "x.png", [str(tiny_cyclegan)], names=["a", "b"])


def test_pix2pix_figure_rows_are_input_output_target_and_seeded(tmp_path, capsys):
    run = tmp_path / "p2p"
    mc = {"in_channels": 3, "out_channels": 3, "image_size": 32, "ngf": 4, "ndf": 4, "n_layers": 1}
    train_translation(resolved(TranslateTrainConfig(
        model="pix2pix", model_config=mc, data_a="builtin:edges2photos@train", limit_a=8, steps=1, batch_size=2,
        checkpoint_every=1, tensorboard=False)), run)
    cell, n = 32, 3
    a = _read(pix2pix_figure(tmp_path / "a.png", str(run), "builtin:edges2photos@test", n=n, cell=cell))
    b = _read(pix2pix_figure(tmp_path / "b.png", str(run), "builtin:edges2photos@test", n=n, cell=cell))
    np.testing.assert_array_equal(a, b)  # train-mode dropout, seeded
    assert a.shape == (3 * cell + 4 * 2, (n + 1) * cell + (n + 2) * 2, 3)
    np.testing.assert_array_equal(_cell(a, 2, 0, cell), text_cell("target", cell=cell))
    assert not np.array_equal(_cell(a, 1, 1, cell), _cell(a, 2, 1, cell))  # a 1-step generator is not the target
    main(["pix2pix", str(tmp_path / "c.png"), str(run), "builtin:edges2photos@test", "--n", "2"])
    assert (tmp_path / "c.png").is_file() and "c.png" in capsys.readouterr().out
