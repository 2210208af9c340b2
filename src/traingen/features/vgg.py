"""VGG19 (torchvision layout, ImageNet weights from a local file) with VGG's named feature taps.

The texture and style methods (Gatys et al.) read VGG19's activations by their layer names:
``conv1_1``, ``relu1_1``, ..., ``relu5_4`` and ``pool1`` .. ``pool5``. :meth:`VGG19.maps` returns
those taps for any input size (no resize: style transfer works at the image's own resolution), and is
differentiable for float input. The ReLUs run out of place, so a ``conv`` tap is the value before its
ReLU. For metrics, :meth:`~traingen.features.base.FeatureExtractor.extract` feeds 224² images and
returns ``pool``: the 4096-d output of the second fully connected layer after its ReLU (``fc7``, the
layer torch-fidelity's VGG16 offers for metrics), and ``logits``: the 1000 ImageNet logits.

Input: ImageNet normalisation (``(x/255 - mean) / std``), as torchvision's weights expect.

Example:
    >>> vgg = get_extractor("vgg19", weights="~/w/vgg19-dcbb9e9d.pth")
    >>> taps = vgg.maps(img, ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"])
    >>> taps["relu3_1"].shape            # N×256×H/4×W/4

References:
    Simonyan & Zisserman, "Very Deep Convolutional Networks for Large-Scale Image Recognition",
    ICLR 2015. Gatys, Ecker, Bethge, "Image Style Transfer Using Convolutional Neural Networks",
    CVPR 2016 (the layer names used by style and texture methods).
"""

from __future__ import annotations

from typing import Any

from .base import FEATURES, imagenet_normalise
from .inception import FileWeightsExtractor
from .weights import WeightSpec, load_into, load_state_dict

#: convolutions per stage of VGG19 (configuration "E").
VGG19_STAGES = (2, 2, 4, 4, 4)


def vgg_layer_names(stages: tuple[int, ...] = VGG19_STAGES) -> tuple[str, ...]:
    """Names of the layers of torchvision's ``vgg.features``, in order (index i -> name).

    Example:
        >>> vgg_layer_names()[:5]
        ('conv1_1', 'relu1_1', 'conv1_2', 'relu1_2', 'pool1')
    """
    names: list[str] = []
    for s, n_conv in enumerate(stages, start=1):
        for c in range(1, n_conv + 1):
            names += [f"conv{s}_{c}", f"relu{s}_{c}"]
        names.append(f"pool{s}")
    return tuple(names)


VGG19_TAPS = vgg_layer_names()


@FEATURES.register("vgg19")
class VGG19(FileWeightsExtractor):
    """torchvision's VGG19 from a local state dict: named taps for style/texture, fc7 + logits for metrics.

    Args:
        weights: the weight file or a folder holding it (else ``$TRAINGEN_WEIGHTS``, the torch hub cache).
        resize: how :meth:`extract` brings images to 224²: ``torch-bilinear-antialias`` (default),
            ``tf1-bilinear`` or ``pil-bicubic``. :meth:`maps` never resizes.
    """

    name = "vgg19"
    input_size = (224, 224)
    channels = 3
    default_resize = "torch-bilinear-antialias"
    outputs = ("pool", "logits")
    taps = VGG19_TAPS
    weight_spec = WeightSpec(
        "vgg19",
        ("vgg19-dcbb9e9d.pth",),
        "torchvision's VGG19 ImageNet weights",
        "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth",
    )

    def build(self):
        import torch
        from torch import nn
        from torchvision.models import vgg19

        with torch.device("meta"):
            net = vgg19(weights=None)
        load_into(net, load_state_dict(self.weights_path), where=str(self.weights_path))
        for m in net.modules():
            if isinstance(m, nn.ReLU):
                m.inplace = False  # a conv tap must keep its pre-ReLU value
        return net

    def normalise(self, x):
        return imagenet_normalise(x)

    def _run(self, x) -> dict[str, Any]:
        net = self.module
        h = net.avgpool(net.features(x)).flatten(1)
        fc7 = net.classifier[:5](h)  # Linear, ReLU, Dropout (identity in eval), Linear, ReLU
        return {"pool": fc7, "logits": net.classifier[5:](fc7)}

    def _maps(self, x, taps: list[str]) -> dict[str, Any]:
        wanted = set(taps)
        last = max(VGG19_TAPS.index(t) for t in taps)
        out: dict[str, Any] = {}
        for i, layer in enumerate(self.module.features[: last + 1]):
            x = layer(x)
            if VGG19_TAPS[i] in wanted:
                out[VGG19_TAPS[i]] = x
        return {t: out[t] for t in VGG19_TAPS if t in out}
