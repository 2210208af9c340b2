"""Gram matrices, texture/style losses and backbones (traingen.texture.gram).

References are float64 numpy formulas written here, torch's gradcheck, and torchvision's own VGG19
fed the same input.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from traingen.core.errors import ConfigError, DataError
from traingen.texture.gram import (
    content_loss,
    get_backbone,
    gram_matrix,
    style_loss,
    style_targets,
    total_variation,
)


def rand64(*shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(*shape, generator=g, dtype=torch.float64)


def test_gram_matches_numpy_formula():
    f = rand64(2, 3, 4, 5)
    a = f.numpy().reshape(2, 3, 20)
    ref = np.einsum("nip,njp->nij", a, a) / 20.0
    np.testing.assert_allclose(gram_matrix(f).numpy(), ref, rtol=1e-12)
    np.testing.assert_allclose(gram_matrix(f, normalize=False).numpy(), ref * 20, rtol=1e-12)


def test_masked_gram_is_weighted_average():
    f = rand64(1, 2, 4, 4)
    m = rand64(1, 1, 4, 4, seed=1)
    a, w = f.numpy().reshape(2, 16), m.numpy().reshape(16)
    ref = (a * w) @ a.T / w.sum()
    np.testing.assert_allclose(gram_matrix(f, m).numpy()[0], ref, rtol=1e-12)
    # a binary mask equals the Gram of the selected positions only
    mb = torch.zeros(1, 1, 4, 4, dtype=torch.float64)
    mb[..., :2, :] = 1
    sel = f[..., :2, :]
    np.testing.assert_allclose(gram_matrix(f, mb).numpy(), gram_matrix(sel).numpy(), rtol=1e-12)


def test_style_loss_formula_and_default_weights():
    maps = {"a": rand64(1, 2, 3, 3), "b": rand64(1, 4, 2, 2, seed=1)}
    tgt = {"a": rand64(1, 2, 2, seed=2), "b": rand64(1, 4, 4, seed=3)}
    ref = 0.0
    for k, c in (("a", 2), ("b", 4)):
        x = maps[k].numpy().reshape(c, -1)
        g = x @ x.T / x.shape[1]
        ref += 0.5 * ((g - tgt[k].numpy()[0]) ** 2).sum() / c**2
    assert float(style_loss(maps, tgt)) == pytest.approx(ref, rel=1e-12)
    only_b = float(style_loss(maps, tgt, {"b": 2.0}))
    x = maps["b"].numpy().reshape(4, -1)
    assert only_b == pytest.approx(2.0 * ((x @ x.T / 4 - tgt["b"].numpy()[0]) ** 2).sum() / 16, rel=1e-12)


def test_content_and_tv_formulas():
    a, b = rand64(1, 2, 3, 4), rand64(1, 2, 3, 4, seed=1)
    assert float(content_loss({"t": a}, {"t": b})) == pytest.approx(float(((a - b) ** 2).mean()), rel=1e-12)
    x = rand64(1, 1, 3, 4).numpy()[0, 0]
    ref = np.mean((x[1:] - x[:-1]) ** 2) + np.mean((x[:, 1:] - x[:, :-1]) ** 2)
    assert float(total_variation(torch.from_numpy(x)[None, None])) == pytest.approx(ref, rel=1e-12)


def test_gradcheck_losses():
    f = rand64(1, 2, 3, 3).requires_grad_(True)
    m = rand64(1, 1, 3, 3, seed=5)
    tgt = {"a": rand64(1, 2, 2, seed=2)}
    cont = {"a": rand64(1, 2, 3, 3, seed=3)}
    assert torch.autograd.gradcheck(lambda x: gram_matrix(x), (f,))
    assert torch.autograd.gradcheck(lambda x: gram_matrix(x, m), (f,))
    assert torch.autograd.gradcheck(lambda x: style_loss({"a": x}, tgt), (f,))
    assert torch.autograd.gradcheck(lambda x: content_loss({"a": x}, cont), (f,))
    assert torch.autograd.gradcheck(total_variation, (f,))


def test_gram_invariant_to_circular_shift_with_circular_padding():
    bb = get_backbone("random-multiscale", padding="circular", kernel_sizes=(3, 7, 23), maps=8)
    x = torch.rand(1, 3, 24, 24, generator=torch.Generator().manual_seed(0))
    a = style_targets(bb.maps(x))
    b = style_targets(bb.maps(torch.roll(x, (5, 9), (2, 3))))
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-6)
    # with zero padding the borders differ: the same check fails (so the test above can fail)
    z = get_backbone("random-multiscale", kernel_sizes=(3, 7, 23), maps=8)
    a, b = style_targets(z.maps(x)), style_targets(z.maps(torch.roll(x, (5, 9), (2, 3))))
    assert max(float((a[k] - b[k]).abs().max() / a[k].abs().max()) for k in a) > 1e-3


def test_circular_maps_equal_maps_of_tiled_image_centre():
    """Wrap-around padding == ordinary convolution of the 5×5 tiled image, read in the centre tile."""
    bb = get_backbone("random-multiscale", padding="circular", kernel_sizes=(5, 37), maps=4)
    z = get_backbone("random-multiscale", kernel_sizes=(5, 37), maps=4)
    x = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    tiled = x.repeat(1, 1, 5, 5)  # the 37-tap kernel reaches 18 px: two tiles of 16
    got, ref = bb.maps(x), z.maps(tiled)
    for k in got:
        torch.testing.assert_close(got[k], ref[k][..., 32:48, 32:48], rtol=1e-4, atol=1e-5)


def test_grey_input_equals_repeated_rgb():
    bb = get_backbone("random-multiscale", kernel_sizes=(3, 5), maps=4)
    g = torch.rand(1, 1, 16, 16, generator=torch.Generator().manual_seed(2))
    a, b = bb.maps(g), bb.maps(g.repeat(1, 3, 1, 1))
    for k in a:
        torch.testing.assert_close(a[k], b[k])


def test_default_taps():
    bb = get_backbone()
    assert bb.default_style_taps == ("k3", "k5", "k7", "k11", "k15", "k23", "k37", "k55")
    assert bb.default_content_taps == ("k11",)
    assert bb.provenance()["weights"].startswith("seeded:0:")


def _cheap_vgg_state(net, seed):
    g = torch.Generator().manual_seed(seed)
    state = {}
    for k, v in net.state_dict().items():
        n = sum(v.shape) - v.dim() + 1  # a Hankel view keeps the file small (fc6 has 103M entries)
        fan_in = v[0].numel() if v.dim() > 1 else 1
        state[k] = (torch.randn(n, generator=g) * (2.0 / fan_in) ** 0.5).as_strided(tuple(v.shape), (1,) * v.dim())
    return state


def test_vgg19_state_dict_written_here_loads_and_runs(tmp_path):
    from torchvision.models import vgg19

    with torch.device("meta"):
        ref = vgg19(weights=None)
    state = _cheap_vgg_state(ref, 0)
    ref.load_state_dict(state, assign=True)
    ref.eval()
    path = tmp_path / "my-vgg.pth"
    torch.save(state, path)
    bb = get_backbone("vgg19", weights=str(path))
    assert bb.default_style_taps == ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
    assert bb.default_content_taps == ("relu4_2",)
    x = torch.rand(1, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    maps = bb.maps(x, ["relu1_1", "relu3_1", "relu4_2"])
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    inp = (x.repeat(1, 3, 1, 1) - mean) / std
    with torch.no_grad():
        r11 = ref.features[:2](inp)
        r42 = ref.features[:23](inp)  # index 22 is relu4_2
    torch.testing.assert_close(maps["relu1_1"], r11, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(maps["relu4_2"], r42, rtol=1e-3, atol=1e-3)
    assert maps["relu3_1"].shape == (1, 256, 8, 8)
    # gradient reaches the pixels
    xg = x.clone().requires_grad_(True)
    style_loss(bb.maps(xg, ["relu2_1"]), style_targets(bb.maps(torch.rand(1, 3, 32, 32), ["relu2_1"]))).backward()
    assert xg.grad.abs().sum() > 0


def test_bad_inputs_raise_clear_errors(tmp_path):
    with pytest.raises(ConfigError, match="unknown backbone"):
        get_backbone("resnet")
    with pytest.raises(ConfigError, match="padding"):
        get_backbone(padding="reflect")
    with pytest.raises(ConfigError, match="weight file"):
        get_backbone("random-multiscale", weights="x.pth")
    bb = get_backbone(kernel_sizes=(3,), maps=2)
    with pytest.raises(ConfigError, match="unknown taps"):
        bb.maps(torch.rand(1, 3, 8, 8), ["relu1_1"])
    with pytest.raises(DataError, match="N×C×H×W"):
        gram_matrix(torch.rand(3, 4))
    with pytest.raises(DataError, match="mask"):
        gram_matrix(torch.rand(2, 3, 4, 4), torch.rand(3, 1, 4, 4))
    with pytest.raises(DataError, match="no style target"):
        style_loss({"a": torch.rand(1, 2, 3, 3)}, {})
    with pytest.raises(ConfigError, match="not in the maps"):
        style_loss({"a": torch.rand(1, 2, 3, 3)}, {"a": torch.rand(1, 2, 2)}, {"b": 1.0})
    with pytest.raises(Exception, match="vgg19"):
        get_backbone("vgg19", weights=str(tmp_path / "missing.pth")).maps(torch.rand(1, 3, 8, 8))
