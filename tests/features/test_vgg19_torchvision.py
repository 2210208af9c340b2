"""vgg19 and inception-v3-torchvision with random weights saved in torchvision's layout.

The references are torchvision's own modules built with ``weights=None`` and fed the same input,
normalised by a float64 numpy formula written here.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch

from traingen.core.errors import ConfigError
from traingen.features import get_extractor
from traingen.features.vgg import VGG19_TAPS, vgg_layer_names

MEAN = np.array([0.485, 0.456, 0.406])
STD = np.array([0.229, 0.224, 0.225])


def imagenet_input(images_nhwc: np.ndarray) -> torch.Tensor:
    x = (images_nhwc.astype(np.float64) / 255.0 - MEAN) / STD
    return torch.from_numpy(x.transpose(0, 3, 1, 2)).float()


def save_state(state, folder, stem):
    path = folder / "tmp.pth"
    torch.save(state, path)
    prefix = hashlib.sha256(path.read_bytes()).hexdigest()[:8]
    final = folder / f"{stem}-{prefix}.pth"
    path.rename(final)
    return str(final)


def cheap_state(net, seed: int) -> dict[str, torch.Tensor]:
    """Random weights for every entry of ``net``'s state dict, each a Hankel view of a small storage.

    ``w[i, j, ...] = s[i + j + ...]`` keeps the file small (VGG19's fc6 alone is 103M floats) while
    every weight still differs from its neighbours.
    """
    g = torch.Generator().manual_seed(seed)
    state = {}
    for k, v in net.state_dict().items():
        n = sum(v.shape) - v.dim() + 1
        fan_in = v[0].numel() if v.dim() > 1 else 1
        base = torch.randn(n, generator=g) * (2.0 / fan_in) ** 0.5
        state[k] = base.as_strided(tuple(v.shape), (1,) * v.dim())
    return state


@pytest.fixture(scope="module")
def vgg_ref_and_file(tmp_path_factory):
    from torchvision.models import vgg19

    with torch.device("meta"):
        ref = vgg19(weights=None)
    state = cheap_state(ref, 0)
    ref.load_state_dict(state, assign=True)
    folder = tmp_path_factory.mktemp("vgg")
    return ref.eval(), save_state(state, folder, "vgg19")


@pytest.fixture(scope="module")
def vgg(vgg_ref_and_file):
    return get_extractor("vgg19", weights=vgg_ref_and_file[1])


def test_vgg_tap_names():
    assert len(VGG19_TAPS) == 37
    assert VGG19_TAPS[:5] == ("conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1")
    assert VGG19_TAPS[VGG19_TAPS.index("relu5_4")] == "relu5_4" and VGG19_TAPS[-1] == "pool5"
    assert VGG19_TAPS.index("conv4_1") == 19 and VGG19_TAPS.index("relu3_4") == 17
    assert vgg_layer_names((1,)) == ("conv1_1", "relu1_1", "pool1")


def test_vgg_maps_equal_sliced_torchvision_features(vgg_ref_and_file, vgg, structured_image):
    ref, _ = vgg_ref_and_file
    img = structured_image[:32, :48]
    taps = ["conv1_1", "relu1_1", "pool1", "conv3_1", "relu3_1", "relu4_4", "relu5_4", "pool5"]
    maps = vgg.maps(torch.from_numpy(img).permute(2, 0, 1)[None], taps)
    assert list(maps) == taps
    x = imagenet_input(img[None])
    with torch.no_grad():
        for tap in taps:
            want = ref.features[: VGG19_TAPS.index(tap) + 1](x.clone())
            assert maps[tap].shape == want.shape, tap
            torch.testing.assert_close(maps[tap], want, rtol=1e-4, atol=1e-5 * float(want.abs().max()))
    assert maps["pool5"].shape == (1, 512, 1, 1)
    assert (maps["conv1_1"] < 0).any()  # a conv tap is taken before its ReLU


def test_vgg_maps_are_differentiable_for_float_input(vgg, structured_image):
    x = torch.from_numpy(structured_image[:16, :16]).permute(2, 0, 1)[None].float().div(255).requires_grad_(True)
    vgg.maps(x, ["relu2_1"])["relu2_1"].square().mean().backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0


def test_vgg_unknown_tap(vgg):
    with pytest.raises(ConfigError, match="relu1_1"):
        vgg.maps(torch.zeros(1, 3, 8, 8, dtype=torch.uint8), ["relu9_9"])


def test_vgg_extract_fc7_and_logits(vgg_ref_and_file, vgg):
    ref, path = vgg_ref_and_file
    img = np.random.default_rng(1).integers(0, 256, (1, 224, 224, 3), dtype=np.uint8)
    feats = vgg.extract(img)
    with torch.no_grad():
        logits = ref(imagenet_input(img)).double().numpy()
        fc7 = ref.classifier[:5](torch.flatten(ref.avgpool(ref.features(imagenet_input(img))), 1)).double().numpy()
    assert feats.pool.shape == (1, 4096) and feats.logits.shape == (1, 1000)
    np.testing.assert_allclose(feats.logits, logits, rtol=1e-4, atol=1e-4 * np.abs(logits).max())
    np.testing.assert_allclose(feats.pool, fc7, rtol=1e-4, atol=1e-4 * np.abs(fc7).max())
    assert feats.provenance["weights"] == hashlib.sha256(open(path, "rb").read()).hexdigest()


def test_inception_torchvision_pool_and_logits(tmp_path):
    from torchvision.models import inception_v3

    torch.manual_seed(0)
    ref = inception_v3(weights=None, aux_logits=True, transform_input=True, init_weights=True).eval()
    path = save_state(ref.state_dict(), tmp_path, "inception_v3_random")
    ext = get_extractor("inception-v3-torchvision", weights=path)
    img = np.random.default_rng(2).integers(0, 256, (1, 299, 299, 3), dtype=np.uint8)  # no resize involved
    feats = ext.extract(img)
    captured = {}
    ref.avgpool.register_forward_hook(lambda m, i, o: captured.setdefault("pool", o))
    with torch.no_grad():
        logits = ref(imagenet_input(img)).double().numpy()
    pool = captured["pool"].flatten(1).double().numpy()
    assert feats.pool.shape == (1, 2048) and feats.logits.shape == (1, 1000)
    np.testing.assert_allclose(feats.pool, pool, rtol=1e-4, atol=1e-4 * np.abs(pool).max())
    np.testing.assert_allclose(feats.logits, logits, rtol=1e-4, atol=1e-4 * np.abs(logits).max())
    assert feats.provenance["resize"] == "torch-bilinear-antialias"
