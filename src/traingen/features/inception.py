"""Inception v3 feature extractors: the FID/IS reference network and torchvision's ImageNet model.

``inception-v3-fid`` is the network every published FID, KID and Inception Score was computed with: the
TensorFlow ``inception-2015-12-05`` graph (layers in :mod:`traingen.features.inception_blocks`),
fed 299² images resized from uint8 with TF1's bilinear resize (by default) and scaled to [-1, 1] as
``(x - 128) / 128``. It returns the 2048-d average-pool features (FID, KID, precision/recall) and the
1008 logits WITHOUT the fc bias, as the original IS code computes them. The weights are the converted
TF weights of pytorch-fid (``pt_inception-2015-12-05-6726825d.pth``) or torch-fidelity
(``weights-inception-2015-12-05-6726825d.pth``); both use torchvision's module names, and a state dict
saved from pytorch-fid's ``InceptionV3`` wrapper (``blocks.*``, no classifier, pool features only) is
mapped too.

``inception-v3-torchvision`` is torchvision's Inception v3 (``inception_v3_google-0cc3c7bd.pth``), with
ImageNet normalisation (torchvision's ``transform_input`` then maps it to the [-1, 1] the Google
weights expect): 2048-d pool and 1000 logits (with bias). Its IS on CIFAR-10 is 9.74 against 11.24
with the TF weights (Barratt & Sharma 2018): never compare numbers across the two.

Example:
    >>> ext = get_extractor("inception-v3-fid", weights="~/w/pt_inception-2015-12-05-6726825d.pth")
    >>> f = ext.extract(images)          # f.pool N×2048, f.logits N×1008, float64
    >>> f.provenance["resize"]
    'tf1-bilinear'

References:
    Szegedy et al., "Rethinking the Inception Architecture for Computer Vision", CVPR 2016.
    Salimans et al., "Improved Techniques for Training GANs", NeurIPS 2016 (Inception Score).
    Heusel et al., "GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash
    Equilibrium", NeurIPS 2017 (FID). Barratt & Sharma, "A Note on the Inception Score", 2018.
"""

from __future__ import annotations

from typing import Any, ClassVar

from .base import FEATURES, FeatureExtractor, imagenet_normalise
from .weights import WeightSpec, load_into, load_state_dict, locate, sha256_file


class FileWeightsExtractor(FeatureExtractor):
    """An extractor whose weights come from a user's file, located at construction (errors early)."""

    weight_spec: ClassVar[WeightSpec]

    def __init__(self, *, weights: str | None = None, resize: str | None = None):
        super().__init__(weights=weights, resize=resize)
        self.weights_path = locate(self.weight_spec, weights)

    def weights_id(self) -> str:
        return sha256_file(self.weights_path)

    def provenance(self) -> dict[str, Any]:
        prov = super().provenance()
        prov["weights_file"] = self.weights_path.name
        return prov


@FEATURES.register("inception-v3-fid")
class InceptionV3FID(FileWeightsExtractor):
    """The TF Inception v3 of the FID/IS reference code: 2048-d pool, 1008 unbiased logits.

    Args:
        weights: the weight file or a folder holding it (else ``$TRAINGEN_WEIGHTS``, the torch hub cache).
        resize: ``tf1-bilinear`` (default, the reference), ``pil-bicubic`` or ``torch-bilinear-antialias``.

    Raises:
        CheckpointError: the file is missing (the message says where to put it), its sha256 does not
            match its name, or it is not a state dict of this network.
    """

    name = "inception-v3-fid"
    input_size = (299, 299)
    channels = 3
    default_resize = "tf1-bilinear"
    outputs = ("pool", "logits")
    weight_spec = WeightSpec(
        "inception-v3-fid",
        ("pt_inception-2015-12-05-6726825d.pth", "weights-inception-2015-12-05-6726825d.pth"),
        "the FID Inception v3 weights (TF inception-2015-12-05 converted to PyTorch)",
        "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
        "pt_inception-2015-12-05-6726825d.pth or torch-fidelity's release "
        "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/"
        "weights-inception-2015-12-05-6726825d.pth",
    )

    def build(self):
        import torch

        from .inception_blocks import FIDInceptionV3, to_torchvision_names

        with torch.device("meta"):
            net = FIDInceptionV3()
        state = to_torchvision_names(load_state_dict(self.weights_path))
        if "fc.weight" not in state:  # pytorch-fid's wrapper layout has no classifier
            net.fc = None
            self.outputs = ("pool",)
        load_into(net, state, where=str(self.weights_path))
        return net

    def normalise(self, x):
        # The TF graph computes (x - 128) * 0.0078125; dividing by 128 is bit-identical.
        return (x - 128.0) / 128.0

    def _run(self, x) -> dict[str, Any]:
        return self.module(x)


@FEATURES.register("inception-v3-torchvision")
class InceptionV3Torchvision(FileWeightsExtractor):
    """torchvision's Inception v3 (ImageNet weights from a local file): 2048-d pool, 1000 logits.

    Args:
        weights: the weight file or a folder holding it (else ``$TRAINGEN_WEIGHTS``, the torch hub cache).
        resize: ``torch-bilinear-antialias`` (default), ``tf1-bilinear`` or ``pil-bicubic``.
    """

    name = "inception-v3-torchvision"
    input_size = (299, 299)
    channels = 3
    default_resize = "torch-bilinear-antialias"
    outputs = ("pool", "logits")
    weight_spec = WeightSpec(
        "inception-v3-torchvision",
        ("inception_v3_google-0cc3c7bd.pth",),
        "torchvision's Inception v3 ImageNet weights",
        "https://download.pytorch.org/models/inception_v3_google-0cc3c7bd.pth",
    )

    def build(self):
        import torch
        from torchvision.models import inception_v3

        with torch.device("meta"):
            net = inception_v3(weights=None, aux_logits=True, transform_input=True, init_weights=False)
        load_into(net, load_state_dict(self.weights_path), where=str(self.weights_path))
        return net

    def normalise(self, x):
        return imagenet_normalise(x)

    def _run(self, x) -> dict[str, Any]:
        net = self.module
        captured: dict[str, Any] = {}
        hook = net.avgpool.register_forward_hook(lambda _m, _i, out: captured.__setitem__("pool", out))
        try:
            logits = net(x)
        finally:
            hook.remove()
        return {"pool": captured["pool"].flatten(1), "logits": logits}
