"""The VGG-shaped encoder and the mirrored decoder shared by AdaIN, SANet and Ghiasi's style network.

The encoder has torchvision's ``vgg19.features`` layout up to ``relu5_1`` (layer ``i`` of torchvision
is layer ``i`` here), so the user's VGG19 ImageNet weight file loads into it unchanged
(``weights="path/vgg19-dcbb9e9d.pth"``). Without a file it is a seeded random network (zero-mean
kernels after conv1_1, all at Kaiming scale, from a ``torch.Generator``; the same seed gives the same
weights on every machine) or a network trained by the project (``weights="run/encoder.safetensors"``, the keys of this module). Its
``width`` scales the channel counts (1.0 = VGG's 64/128/256/512) so that tests run tiny models; only
width 1.0 accepts VGG19 weights. The encoder is frozen: methods train only what sits after it.

The decoder mirrors the encoder from a tap (``relu4_1`` as in Huang & Belongie's AdaIN code, or a
shallower one such as ``relu3_1``) back to RGB with nearest upsampling and reflection padding.

Example:
    >>> enc = Encoder(width=0.125, seed=0)                 # 8/16/32/64 channels
    >>> feats = enc(img, ["relu1_1", "relu4_1"])           # img: N×3×H×W in [0, 1]
    >>> Decoder(width=0.125)(feats["relu4_1"]).shape       # N×3×H×W

References:
    Simonyan & Zisserman, "Very Deep Convolutional Networks for Large-Scale Image Recognition", ICLR 2015.
    Huang & Belongie, "Arbitrary Style Transfer in Real-time with Adaptive Instance Normalization", ICCV 2017.
"""

from __future__ import annotations

import math
from typing import Any

from ..core.errors import CheckpointError, ConfigError
from ..core.seeding import torch_generator

#: Random initialisations of the encoder (see ``_init_random``).
ENCODER_INITS = ("zero-mean", "plain")
#: Taps the encoder-decoder methods read, in depth order.
ENCODER_TAPS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
_STAGES = (2, 2, 4, 4, 1)  # VGG19 up to conv5_1


def _layer_plan(width: float) -> list[tuple[str, int, int]]:
    """(name, in, out) per layer of torchvision's vgg19.features up to relu5_1 (pools have in = out = 0)."""
    plan: list[tuple[str, int, int]] = []
    cin = 3
    for s, n in enumerate(_STAGES, start=1):
        cout = max(1, round(64 * 2 ** min(s - 1, 3) * width))
        for c in range(1, n + 1):
            plan += [(f"conv{s}_{c}", cin, cout), (f"relu{s}_{c}", 0, 0)]
            cin = cout
        if s < 5:
            plan.append((f"pool{s}", 0, 0))
    return plan


def _build_encoder_class():
    import torch
    from torch import nn

    from ..features.base import imagenet_normalise

    class _Encoder(nn.Module):
        def __init__(self, width: float = 1.0, seed: int = 0, weights: str | None = None,
                     init: str = "zero-mean"):
            super().__init__()
            if width <= 0:
                raise ConfigError(f"encoder width must be > 0, got {width}", field="width")
            if init not in ENCODER_INITS:
                raise ConfigError(f"encoder init must be one of {', '.join(ENCODER_INITS)}, got {init!r}",
                                  field="encoder_init")
            self.width = width
            self.names = [n for n, _, _ in _layer_plan(width)]
            layers: list[nn.Module] = []
            for name, cin, cout in _layer_plan(width):
                if name.startswith("conv"):
                    layers.append(nn.Conv2d(cin, cout, 3, padding=1))
                elif name.startswith("relu"):
                    layers.append(nn.ReLU())
                else:
                    layers.append(nn.MaxPool2d(2, 2))
            self.features = nn.Sequential(*layers)
            self.channels = {n: cout for n, _, cout in _layer_plan(width) if cout}
            self.channels.update({n.replace("conv", "relu"): c for n, c in list(self.channels.items())})
            self.source = "random"
            self.seed = seed
            self.init = init
            self._init_random(seed, init)
            if weights is not None:
                self.load(weights)
            self.requires_grad_(False)
            self.eval()

        @torch.no_grad()
        def _init_random(self, seed: int, init: str) -> None:
            g = torch_generator(seed, "style-encoder")
            for i, m in enumerate(self.features):
                if isinstance(m, nn.Conv2d):
                    w = torch.rand(m.weight.shape, generator=g) * 2 - 1
                    # "zero-mean": kernels after conv1_1 sum to 0 over space, so a flat patch gives 0 and the
                    # maps encode structure, not brightness; but then flat colour never reaches relu2_1 and
                    # deeper, and no decoder can put it back. "plain" keeps the random kernels as drawn
                    # (colour survives to every tap). conv1_1 is never zero-mean: that would make the whole
                    # encoder blind to flat colour.
                    if i > 0 and init == "zero-mean":
                        w = w - w.mean(dim=(2, 3), keepdim=True)
                    w = w * math.sqrt(2.0 / (m.in_channels * 9)) / w.std().clamp_min(1e-12)  # Kaiming std
                    m.weight.copy_(w)
                    m.bias.zero_()

        def load(self, path: str) -> None:
            """Load a VGG19 ImageNet file (torchvision keys) or an encoder saved by this module."""
            from ..features.weights import load_state_dict

            state = load_state_dict(path)
            own = self.state_dict()
            picked = {k: v for k, v in state.items() if k in own}
            missing = [k for k in own if k not in picked]
            if missing:
                raise CheckpointError(f"not a VGG19 / encoder state dict: missing {missing[:3]}", where=str(path),
                                      field="weights")
            wrong = [k for k in own if tuple(own[k].shape) != tuple(picked[k].shape)]
            if wrong:
                raise CheckpointError(
                    f"shape mismatch at {wrong[0]}: file {tuple(picked[wrong[0]].shape)}, encoder of width "
                    f"{self.width} {tuple(own[wrong[0]].shape)} (VGG19 files need width 1.0)",
                    where=str(path), field="weights")
            self.load_state_dict(picked)
            self.source = f"file:{path}"

        def forward(self, x, taps=("relu4_1",)) -> dict[str, Any]:
            wanted = set(taps)
            unknown = wanted - set(self.names)
            if unknown:
                raise ConfigError(f"unknown encoder tap {sorted(unknown)[0]!r}; known: {', '.join(ENCODER_TAPS)}",
                                  field="taps")
            last = max(self.names.index(t) for t in wanted)
            h = imagenet_normalise(x * 255.0)  # the helper takes 0..255; our images are in [0, 1]
            out = {}
            for i, layer in enumerate(self.features[: last + 1]):
                h = layer(h)
                if self.names[i] in wanted:
                    out[self.names[i]] = h
            return out

    return _Encoder


def _decoder_plan(tap: str) -> list[tuple[int, int, bool, bool]]:
    """(in, out, relu, upsample-after) per conv of the decoder mirroring the encoder up to ``tap``.

    Channel counts are VGG's (scaled later); the last conv gives 3 channels (RGB) without a ReLU.
    """
    if tap not in ENCODER_TAPS:
        raise ConfigError(f"decoder tap must be one of {', '.join(ENCODER_TAPS)}, got {tap!r}", field="tap")
    top = ENCODER_TAPS.index(tap) + 1
    if top == 1:
        return [(64, 3, False, False)]

    def ch(s: int) -> int:
        return 64 * 2 ** min(s - 1, 3)

    plan = [(ch(top), ch(top - 1), True, True)]  # relu{top}_1 -> the stage below, then upsample
    for s in range(top - 1, 0, -1):
        plan += [(ch(s), ch(s), True, False)] * (_STAGES[s - 1] - 1)
        plan.append((ch(s), ch(s - 1) if s > 1 else 3, s > 1, s > 1))
    return plan


def _build_decoder_class():
    from torch import nn

    class _Decoder(nn.Module):
        def __init__(self, width: float = 1.0, tap: str = "relu4_1"):
            super().__init__()

            def ch(c: int) -> int:
                return c if c == 3 else max(1, round(c * width))

            layers: list[nn.Module] = []
            for cin, cout, relu, up in _decoder_plan(tap):
                layers += [nn.ReflectionPad2d(1), nn.Conv2d(ch(cin), ch(cout), 3)]
                if relu:
                    layers.append(nn.ReLU())
                if up:
                    layers.append(nn.Upsample(scale_factor=2, mode="nearest"))
            self.tap = tap
            self.net = nn.Sequential(*layers)

        def forward(self, f):
            return self.net(f)

    return _Decoder


_CLASSES: dict[str, Any] = {}


def _cls(name: str):
    if name not in _CLASSES:
        _CLASSES["Encoder"] = _build_encoder_class()
        _CLASSES["Decoder"] = _build_decoder_class()
    return _CLASSES[name]


def Encoder(width: float = 1.0, seed: int = 0, weights: str | None = None,  # noqa: N802 (class factory)
            init: str = "zero-mean"):
    """The frozen VGG19-shaped encoder (see the module docstring); torch is imported on first use.

    ``init`` (random encoders only): ``zero-mean`` or ``plain`` kernels after conv1_1 (:data:`ENCODER_INITS`).
    """
    return _cls("Encoder")(width=width, seed=seed, weights=weights, init=init)


def Decoder(width: float = 1.0, tap: str = "relu4_1"):  # noqa: N802
    """The decoder mirroring the encoder from ``tap`` (relu4_1: C×H/8×W/8; relu3_1: C×H/4×W/4) to RGB (3×H×W)."""
    return _cls("Decoder")(width=width, tap=tap)


def mean_std(f, eps: float = 1e-5):
    """Per-sample, per-channel mean and std over space of an N×C×H×W map (each N×C×1×1)."""
    n, c = f.shape[:2]
    v = f.reshape(n, c, -1)
    return v.mean(2).reshape(n, c, 1, 1), (v.var(2, unbiased=False) + eps).sqrt().reshape(n, c, 1, 1)
