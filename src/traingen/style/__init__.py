"""Style transfer: restyle images (and whole labelled datasets) with a new appearance.

==============  ==========================================================  ===========================
key             method                                                      paper
==============  ==========================================================  ===========================
``gatys``       image optimisation (L-BFGS): content relu4_2 + style Grams,  Gatys et al. 2015/2016
                optional colour preservation
``photo``       Gatys + matting-Laplacian photorealism + mask-guided Grams   Luan et al. 2017
``facial``      region-wise Gram transfer between faces, face prior          Kaur et al. 2017
``adain``       encoder, adaptive instance norm, trained decoder             Huang & Belongie 2017
``arbitrary``   style prediction net -> conditional IN of a transformer      Ghiasi et al. 2017
``sanet``       style-attentional modules on relu4_1 and relu5_1             Park & Lee 2019
==============  ==========================================================  ===========================

The optimisation methods use the feature backbones of :mod:`traingen.texture.gram` (``vgg19`` from a
weight file, or the weights-free ``random-multiscale``); the feed-forward ones a frozen VGG19-shaped
encoder (:mod:`traingen.style.encoder`) and a checkpoint trained by :func:`traingen.style.train.train_style`.
:func:`traingen.style.restyle.run_restyle` restyles a dataset keeping its labels, masks and boxes.
``import traingen.style`` does not import torch. See ``docs/style.md``.
"""

from __future__ import annotations

from ..core.lazy import lazy_attributes

__getattr__, __dir__ = lazy_attributes(
    __name__, globals(),
    {"METHODS": ".base", "StyleResult": ".base", "get_method": ".base", "Gatys": ".gatys",
     "GatysConfig": ".gatys", "Photo": ".photo", "PhotoConfig": ".photo", "Facial": ".facial",
     "FacialConfig": ".facial", "load_face": ".facial", "adain": ".adain", "AdaINNet": ".adain",
     "SANetNet": ".sanet", "ArbitraryNet": ".arbitrary", "train_style": ".train", "TrainConfig": ".train",
     "load_model": ".train", "method_runner": ".train", "run_restyle": ".restyle"},
    submodules=("base", "gatys", "photo", "facial", "adain", "sanet", "arbitrary", "encoder", "train", "restyle"),
)
