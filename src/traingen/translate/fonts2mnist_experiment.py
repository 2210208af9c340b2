"""The fonts -> MNIST usefulness experiment: do CycleGAN translations make font digits useful training data?

For a trained CycleGAN run (``recipes/translate-cyclegan-fonts2mnist.yaml``, with or without the
semantic-consistency loss), this measures, on the 1,000 held-out ``builtin:mnist5k@test`` digits:

* **translated**: a fresh small CNN (:func:`traingen.features.classifiers.fit_classifier`, fixed epochs
  and seed) trained only on ``G_A(x)`` for the 2,000 ``builtin:fonts2mnist@train`` digits, with their
  source labels;
* **source-only**: the same CNN trained on the untranslated font digits;
* **real**: the same CNN trained on the 4,000 ``builtin:mnist5k@train`` digits;
* **label kept**: the accuracy of the shipped real-trained ``mnist5k-classifier`` on the translated digits
  against their source labels (how often translation keeps the digit);
* **domain FID** between translated digits and ``mnist5k@train`` (and untranslated fonts for
  comparison), on the ``mnist5k-classifier`` pool features.

Example:
    >>> res = run_fonts2mnist_eval("runs/cg-fonts", epochs=8)
    >>> res["acc_translated"], res["acc_source_only"], res["acc_real"], res["label_kept"]
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np
import torch

from ..core.seeding import derive_seed
from .data import to_tensor, to_uint8


def translate_array(model: Any, images: np.ndarray, *, batch: int = 256) -> np.ndarray:
    """``G_A`` (eval mode) over N×28×28 uint8 grey images -> N×28×28 uint8."""
    G = model.generator("AtoB")
    G.eval()
    out = []
    with torch.no_grad():
        for s in range(0, len(images), batch):
            x = to_tensor(list(images[s:s + batch]), size=model.config.image_size, channels=1, where="fonts")
            out.append(to_uint8(G(x)))
    return np.concatenate(out)


def _fid(a: np.ndarray, b: np.ndarray, net: Any) -> float:
    from ..features.classifiers import to_input
    from ..metrics.fid import feature_stats, fid_from_stats

    def feats(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return np.concatenate([net.features(to_input(x[s:s + 500])).double().numpy()
                                   for s in range(0, len(x), 500)])

    return float(fid_from_stats(feature_stats(feats(a)), feature_stats(feats(b))).fid)


def run_fonts2mnist_eval(run: str | os.PathLike, *, epochs: int = 8, seed: int = 0,
                         baselines: bool = True) -> dict[str, Any]:
    """Evaluate one run (module docstring). Returns the accuracies, label-kept rate, FIDs and seconds.

    ``baselines=False`` skips the two arms that do not depend on the run (source-only and real).
    """
    from ..data.builtin import load_builtin
    from ..features.classifiers import (
        SHIPPED,
        FitConfig,
        accuracy,
        fit_classifier,
        load_weights,
        shipped_file,
    )
    from .trainer import load_run

    t0 = time.perf_counter()
    _, model, ckpt = load_run(run)
    fonts, mnist = load_builtin("fonts2mnist"), load_builtin("mnist5k")
    f_idx, tr_idx, te_idx = fonts.splits["train"], mnist.splits["train"], mnist.splits["test"]
    xf, yf = fonts.images[f_idx], fonts.labels[f_idx]
    xt, yt = mnist.images[te_idx], mnist.labels[te_idx]
    translated = translate_array(model, xf)
    cfg = FitConfig(epochs=epochs)
    s = derive_seed(seed, "fonts2mnist-eval")
    res: dict[str, Any] = {"run": str(run), "checkpoint": ckpt.name, "epochs": epochs}
    res["acc_translated"] = accuracy(fit_classifier(translated, yf, seed=s, config=cfg), xt, yt)
    if baselines:
        res["acc_source_only"] = accuracy(fit_classifier(xf, yf, seed=s, config=cfg), xt, yt)
        res["acc_real"] = accuracy(fit_classifier(mnist.images[tr_idx], mnist.labels[tr_idx], seed=s, config=cfg),
                                   xt, yt)
    real_net = load_weights(shipped_file(SHIPPED["mnist5k-classifier"].weights_file))
    res["label_kept"] = accuracy(real_net, translated, yf)
    res["label_kept_untranslated"] = accuracy(real_net, xf, yf)
    res["fid_translated_vs_mnist"] = _fid(translated, mnist.images[tr_idx], real_net)
    res["fid_fonts_vs_mnist"] = _fid(xf, mnist.images[tr_idx], real_net)
    res["seconds"] = round(time.perf_counter() - t0, 1)
    res["loadavg"] = [round(x, 2) for x in os.getloadavg()]
    res["_translated"] = translated
    return res


if __name__ == "__main__":  # python -m traingen.translate.fonts2mnist_experiment RUN [RUN ...]
    import json
    import sys

    for k, r in enumerate(sys.argv[1:]):
        out = run_fonts2mnist_eval(r, epochs=int(os.environ.get("EVAL_EPOCHS", "5")), baselines=k == 0)
        out.pop("_translated")
        print(json.dumps(out))
