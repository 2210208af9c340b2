"""The matrix-product convolutions against PyTorch's own layers: outputs and gradients, on and off that path."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from traingen.translate import gemm_conv
from traingen.translate.gemm_conv import Conv2d, ConvTranspose2d


def _pair(ours_cls, ref_cls, *args, **kw):
    torch.manual_seed(0)
    ours = ours_cls(*args, **kw).double()
    ref = ref_cls(*args, **kw).double()
    ref.load_state_dict(ours.state_dict())
    return ours, ref


def _check(ours, ref, x):
    xa, xb = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    ya, yb = ours(xa), ref(xb)
    assert ya.shape == yb.shape
    torch.testing.assert_close(ya, yb, rtol=1e-10, atol=1e-12)
    g = torch.randn_like(ya)
    ya.backward(g)
    yb.backward(g)
    torch.testing.assert_close(xa.grad, xb.grad, rtol=1e-10, atol=1e-12)
    for (name, pa), pb in zip(ours.named_parameters(), ref.parameters(), strict=True):
        torch.testing.assert_close(pa.grad, pb.grad, rtol=1e-10, atol=1e-12, msg=name)


@pytest.mark.parametrize("n,size,kw", [(1, 2, dict(kernel_size=4, stride=2, padding=1)),    # U-Net innermost
                                        (1, 8, dict(kernel_size=4, stride=2, padding=1)),    # 4×4 out: 16 positions
                                        (4, 4, dict(kernel_size=4, stride=2, padding=1, bias=False)),
                                        (1, 5, dict(kernel_size=3, stride=1, padding=1)),     # 25 positions
                                        (1, 5, dict(kernel_size=4, stride=1, padding=1)),    # PatchGAN tail: 16
                                        (1, 16, dict(kernel_size=4, stride=2, padding=1))])  # 64 positions: oneDNN
def test_conv_matches_pytorch(n, size, kw):
    ours, ref = _pair(Conv2d, nn.Conv2d, 6, 5, **kw)
    _check(ours, ref, torch.randn(n, 6, size, size, dtype=torch.float64))


@pytest.mark.parametrize("n,size,kw", [(1, 1, dict(kernel_size=4, stride=2, padding=1)),
                                        (1, 2, dict(kernel_size=4, stride=2, padding=1, bias=False)),
                                        (8, 2, dict(kernel_size=4, stride=2, padding=1)),
                                        (2, 3, dict(kernel_size=3, stride=2, padding=1, output_padding=1)),
                                        (1, 4, dict(kernel_size=3, stride=1, padding=0)),
                                        (4, 4, dict(kernel_size=4, stride=2, padding=1))])  # 64 positions: oneDNN
def test_transposed_conv_matches_pytorch(n, size, kw):
    ours, ref = _pair(ConvTranspose2d, nn.ConvTranspose2d, 6, 5, **kw)
    _check(ours, ref, torch.randn(n, 6, size, size, dtype=torch.float64))


def test_the_matrix_product_path_is_taken_below_the_threshold(monkeypatch):
    """Small maps go through the matrix product, larger ones through PyTorch's convolution."""
    calls = []
    real = gemm_conv.F.linear
    monkeypatch.setattr(gemm_conv.F, "linear", lambda *a: calls.append(1) or real(*a))
    conv = Conv2d(3, 4, 4, stride=2, padding=1)
    conv(torch.zeros(1, 3, 8, 8))          # 16 output positions
    assert len(calls) == 1
    conv(torch.zeros(1, 3, 16, 16))        # 64 > GEMM_MAX_POSITIONS
    assert len(calls) == 1
    ConvTranspose2d(3, 4, 4, stride=2, padding=1)(torch.zeros(2, 3, 4, 4))   # 32 input positions
    assert len(calls) == 2


def test_state_dict_keys_are_pytorchs():
    assert Conv2d(3, 4, 3).state_dict().keys() == nn.Conv2d(3, 4, 3).state_dict().keys()
    assert ConvTranspose2d(3, 4, 3).state_dict().keys() == nn.ConvTranspose2d(3, 4, 3).state_dict().keys()
