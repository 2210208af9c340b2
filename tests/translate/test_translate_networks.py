"""Architecture tests: parameter counts, PatchGAN geometry, reference key layout, bad sizes."""

from __future__ import annotations

import pytest
import torch

from traingen.core.errors import CheckpointError, ConfigError
from traingen.core.seeding import torch_generator
from traingen.translate.networks import (
    PatchDiscriminator,
    ResNetGenerator,
    UNetGenerator,
    count_parameters,
    init_weights,
    patchgan_receptive_field,
    unet_depth,
)
from traingen.translate.pix2pix import Pix2PixConfig
from traingen.translate.reference import load_reference_generator


def test_parameter_counts_equal_the_reference_architectures():
    # Numbers from the issue (counted on junyanz/pytorch-CycleGAN-and-pix2pix at 9f8f61e).
    assert count_parameters(UNetGenerator(3, 3, depth=8, ngf=64, norm="batch")) == 54_413_955
    assert count_parameters(PatchDiscriminator(6, ndf=64, n_layers=3, norm="batch")) == 2_768_705
    assert count_parameters(ResNetGenerator(3, 3, ngf=64, n_blocks=9, norm="instance")) == 11_378_179


def test_patchgan_output_size_and_receptive_field():
    D = PatchDiscriminator(6, ndf=8, n_layers=3)
    assert D(torch.zeros(1, 6, 256, 256)).shape == (1, 1, 30, 30)
    assert [patchgan_receptive_field(n) for n in (1, 2, 3, 4, 5)] == [16, 34, 70, 142, 286]
    # Measured receptive field: the input pixels that influence one output unit (gradient support).
    for n_layers in (1, 2, 3):
        D = PatchDiscriminator(3, ndf=4, n_layers=n_layers, norm="none")
        init_weights(D, generator=torch_generator(0, "rf"))
        with torch.no_grad():
            for m in D.modules():
                if isinstance(m, torch.nn.Conv2d):
                    m.weight.abs_()  # all-positive weights: no accidental cancellation
        x = torch.zeros(1, 3, 320, 320, requires_grad=True)
        y = D(x)
        y[0, 0, y.shape[2] // 2, y.shape[3] // 2].backward()
        rows = torch.nonzero(x.grad[0].abs().sum(0).sum(1)).flatten()
        assert int(rows.max() - rows.min() + 1) == patchgan_receptive_field(n_layers)


def _unet_reference_keys(cin: int, cout: int, ngf: int, depth: int) -> dict[str, tuple[int, ...]]:
    """The reference's state-dict names and shapes, written from its description (UnetSkipConnectionBlock:
    outermost [downconv, submodule, relu, upconv, tanh]; middle [lrelu, downconv, downnorm, submodule, relu,
    upconv, upnorm(, dropout)]; innermost [lrelu, downconv, relu, upconv, upnorm]; BatchNorm, so no conv
    biases except the outermost upconv)."""
    keys: dict[str, tuple[int, ...]] = {}

    def bn(prefix: str, c: int) -> None:
        keys.update({f"{prefix}.weight": (c,), f"{prefix}.bias": (c,), f"{prefix}.running_mean": (c,),
                     f"{prefix}.running_var": (c,), f"{prefix}.num_batches_tracked": ()})

    levels = [(ngf, ngf * 2), (ngf * 2, ngf * 4), (ngf * 4, ngf * 8)] + [(ngf * 8, ngf * 8)] * (depth - 5)
    p = "model.model"
    keys[f"{p}.0.weight"] = (ngf, cin, 4, 4)
    keys[f"{p}.3.weight"] = (ngf * 2, cout, 4, 4)
    keys[f"{p}.3.bias"] = (cout,)
    p = f"{p}.1.model"
    for outer, inner in levels:
        keys[f"{p}.1.weight"] = (inner, outer, 4, 4)
        bn(f"{p}.2", inner)
        keys[f"{p}.5.weight"] = (inner * 2, outer, 4, 4)
        bn(f"{p}.6", outer)
        p = f"{p}.3.model"
    keys[f"{p}.1.weight"] = (ngf * 8, ngf * 8, 4, 4)
    keys[f"{p}.3.weight"] = (ngf * 8, ngf * 8, 4, 4)
    bn(f"{p}.4", ngf * 8)
    return keys


def _resnet_reference_keys(cin: int, cout: int, ngf: int, n_blocks: int) -> dict[str, tuple[int, ...]]:
    """ResnetGenerator with InstanceNorm (no affine, no statistics): only conv weights and biases."""
    keys = {"model.1.weight": (ngf, cin, 7, 7), "model.1.bias": (ngf,),
            "model.4.weight": (ngf * 2, ngf, 3, 3), "model.4.bias": (ngf * 2,),
            "model.7.weight": (ngf * 4, ngf * 2, 3, 3), "model.7.bias": (ngf * 4,)}
    for b in range(n_blocks):
        for j in (1, 5):
            keys[f"model.{10 + b}.conv_block.{j}.weight"] = (ngf * 4, ngf * 4, 3, 3)
            keys[f"model.{10 + b}.conv_block.{j}.bias"] = (ngf * 4,)
    i = 10 + n_blocks
    keys.update({f"model.{i}.weight": (ngf * 4, ngf * 2, 3, 3), f"model.{i}.bias": (ngf * 2,),
                 f"model.{i + 3}.weight": (ngf * 2, ngf, 3, 3), f"model.{i + 3}.bias": (ngf,),
                 f"model.{i + 7}.weight": (cout, ngf, 7, 7), f"model.{i + 7}.bias": (cout,)})
    return keys


@pytest.mark.parametrize("depth", [5, 6, 8])
def test_unet_key_layout_matches_the_reference(depth):
    ours = {k: tuple(v.shape) for k, v in UNetGenerator(3, 2, depth=depth, ngf=4).state_dict().items()}
    assert ours == _unet_reference_keys(3, 2, 4, depth)


def test_resnet_key_layout_matches_the_reference():
    ours = {k: tuple(v.shape) for k, v in ResNetGenerator(1, 3, ngf=4, n_blocks=3).state_dict().items()}
    assert ours == _resnet_reference_keys(1, 3, 4, 3)


def test_reference_state_dict_loads(tmp_path):
    g = torch.Generator().manual_seed(0)
    keys = _unet_reference_keys(3, 3, 4, 6)
    state = {k: (torch.randn(s, generator=g) if s else torch.tensor(3)) for k, s in keys.items()}
    for k in state:
        if k.endswith("running_var"):
            state[k] = state[k].abs() + 0.5
    torch.save({f"module.{k}": v for k, v in state.items()}, tmp_path / "latest_net_G.pth")
    G = load_reference_generator(tmp_path / "latest_net_G.pth", "unet", in_channels=3, out_channels=3, depth=6,
                                 ngf=4)
    for k, v in G.state_dict().items():
        assert torch.equal(v, state[k]), k
    rkeys = _resnet_reference_keys(3, 3, 4, 2)
    torch.save({k: torch.randn(s, generator=g) for k, s in rkeys.items()}, tmp_path / "latest_net_G_A.pth")
    R = load_reference_generator(tmp_path / "latest_net_G_A.pth", "resnet", ngf=4, n_blocks=2)
    assert R(torch.zeros(1, 3, 16, 16)).shape == (1, 3, 16, 16)
    with pytest.raises(CheckpointError, match="missing|unexpected"):
        load_reference_generator(tmp_path / "latest_net_G_A.pth", "resnet", ngf=4, n_blocks=3)
    with pytest.raises(CheckpointError, match="shape mismatch"):
        load_reference_generator(tmp_path / "latest_net_G_A.pth", "resnet", ngf=8, n_blocks=2)


def test_bad_unet_sizes_give_clear_errors():
    with pytest.raises(ConfigError, match="power-of-two"):
        unet_depth(100)
    with pytest.raises(ConfigError, match="image_size"):
        Pix2PixConfig(image_size=96)
    with pytest.raises(ConfigError, match="multiples of 64"):
        UNetGenerator(3, 3, depth=6, ngf=4)(torch.zeros(1, 3, 96, 96))
    with pytest.raises(ConfigError, match="depth >= 5"):
        UNetGenerator(3, 3, depth=4)
    with pytest.raises(ConfigError, match="multiples of 4"):
        ResNetGenerator(1, 1, ngf=4, n_blocks=1)(torch.zeros(1, 1, 30, 30))


def test_init_is_the_reference_normal_and_seeded():
    a = init_weights(UNetGenerator(3, 3, depth=5, ngf=8), generator=torch_generator(1, "x"))
    b = init_weights(UNetGenerator(3, 3, depth=5, ngf=8), generator=torch_generator(1, "x"))
    for (k, v), w in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(v, w), k
    w = torch.cat([m.weight.detach().flatten() for m in a.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))])
    assert abs(float(w.std()) - 0.02) < 0.001 and abs(float(w.mean())) < 0.001
    bnw = torch.cat([m.weight.detach() for m in a.modules() if isinstance(m, torch.nn.BatchNorm2d)])
    assert abs(float(bnw.mean()) - 1.0) < 0.01
