"""The content-keyed feature cache and ``evaluate`` (sources -> extractor -> metric, with provenance)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from traingen.core.errors import ConfigError, DataError
from traingen.data import open_source
from traingen.features.base import FeatureExtractor
from traingen.metrics import evaluate, fid, inception_score, kid
from traingen.metrics.cache import FeatureCache, cached_features, data_hash

pytestmark = pytest.mark.filterwarnings("ignore::traingen.metrics.MetricWarning")


class CountingNet(FeatureExtractor):
    """A tiny seeded linear net on 8×8 grey: 6-d ``pool`` and 4 ``logits``; counts extractions."""

    name = "counting-net"
    channels = 1
    default_resize = "torch-bilinear-antialias"
    outputs = ("pool", "logits")

    def __init__(self, *, weights=None, resize=None, seed=0):
        super().__init__(weights=weights, resize=resize)
        self.input_size = (8, 8)
        self.seed = seed
        self.calls = 0

    def weights_id(self):
        return f"test-seed:{self.seed}"

    def build(self):
        g = torch.Generator().manual_seed(self.seed)
        net = torch.nn.Linear(64, 6)
        with torch.no_grad():
            net.weight.copy_(torch.randn(6, 64, generator=g) * 0.2)
            net.bias.zero_()
        return net

    def normalise(self, x):
        return x / 255.0

    def _run(self, x):
        pool = torch.tanh(self.module(x.reshape(x.shape[0], -1)))
        return {"pool": pool, "logits": pool[:, :4] * 3.0}

    def extract(self, images, **kwargs):
        self.calls += 1
        return super().extract(images, **kwargs)


def _write_folder(path, images):
    path.mkdir(parents=True, exist_ok=True)
    for i, img in enumerate(images):
        Image.fromarray(img).save(path / f"{i:03d}.png")


def _images(seed, n=24):
    return np.random.default_rng(seed).integers(0, 256, (n, 8, 8), dtype=np.uint8)


def test_data_hash_sees_pixels_shapes_and_order():
    a = _images(0)
    h = data_hash(a)[0]
    b = a.copy()
    b[3, 2, 1] ^= 1
    assert data_hash(b)[0] != h
    assert data_hash(a.reshape(24, 4, 16))[0] != h
    assert data_hash(list(a))[0] == data_hash(iter(list(a)))[0] != data_hash(list(a[::-1]))[0]


def test_cache_hit_miss_and_key_changes(tmp_path):
    store = FeatureCache(tmp_path / "cache")
    net = CountingNet()
    imgs = _images(1)
    first = cached_features(net, imgs, cache=store, batch_size=10)
    again = cached_features(net, imgs, cache=store, batch_size=10)
    assert (first.provenance["cache"], again.provenance["cache"], net.calls) == ("miss", "hit", 1)
    np.testing.assert_array_equal(first.pool, again.pool)
    np.testing.assert_array_equal(first.logits, again.logits)
    assert again.provenance["weights"] == "test-seed:0"
    # Other weights, another resize, other pixels: each is a new entry.
    other = CountingNet(seed=1)
    assert cached_features(other, imgs, cache=store).provenance["cache"] == "miss"
    assert cached_features(CountingNet(resize="tf1-bilinear"), imgs, cache=store).provenance["cache"] == "miss"
    assert cached_features(net, imgs[:-1], cache=store).provenance["cache"] == "miss"
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 4
    assert not list((tmp_path / "cache").glob("*.tmp"))  # atomic writes leave no temporary files


def test_corrupt_cache_entry_is_recomputed(tmp_path):
    store = FeatureCache(tmp_path)
    net = CountingNet()
    feats = cached_features(net, _images(2), cache=store)
    (entry,) = tmp_path.glob("*.npz")
    entry.write_bytes(b"not a zip")
    again = cached_features(net, _images(2), cache=store)
    assert again.provenance["cache"] == "miss" and net.calls == 2
    np.testing.assert_array_equal(feats.pool, again.pool)


def test_changed_folder_with_the_same_name_gives_new_features(tmp_path):
    folder = tmp_path / "generated"
    store = FeatureCache(tmp_path / "cache")
    _write_folder(folder, _images(3))
    before = cached_features(CountingNet(), open_source(str(folder)), cache=store)
    _write_folder(folder, _images(4))  # regenerated in place: same path, same count, new pixels
    after = cached_features(CountingNet(), open_source(str(folder)), cache=store)
    assert after.provenance["cache"] == "miss"
    assert not np.allclose(before.pool, after.pool)
    fresh = CountingNet().extract(open_source(str(folder)))
    np.testing.assert_allclose(after.pool, fresh.pool)


def test_torch_fidelity_returns_stale_features_for_a_changed_folder(tmp_path):
    """What the content key fixes: torch-fidelity keys its cache by the name only (FACTS)."""
    import torch_fidelity
    from torch_fidelity.feature_extractor_base import FeatureExtractorBase
    from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY, register_feature_extractor

    class MeanNet(FeatureExtractorBase):
        def __init__(self, name, features_list, **kwargs):
            super().__init__(name, features_list)

        @staticmethod
        def get_provided_features_list():
            return ("logits",)

        @staticmethod
        def get_default_feature_layer_for_metric(metric):
            return "logits"

        @staticmethod
        def can_be_compiled():
            return False

        @staticmethod
        def get_dummy_input_for_compile():
            return None

        def forward(self, x):
            x = x.double() / 255.0
            return (torch.stack([x[:, :, :4].mean((1, 2, 3)), x[:, :, 4:].mean((1, 2, 3))], 1) * 8.0,)

    if "traingen-mean" not in FEATURE_EXTRACTORS_REGISTRY:
        register_feature_extractor("traingen-mean", MeanNet)
    folder = tmp_path / "generated"
    kwargs = dict(input1=str(folder), input1_cache_name="generated", isc=True, isc_splits=2, cuda=False,
                  feature_extractor="traingen-mean", cache=True, cache_root=str(tmp_path / "tf-cache"),
                  save_cpu_ram=True, verbose=False)
    _write_folder(folder, _images(5))
    before = torch_fidelity.calculate_metrics(**kwargs)["inception_score_mean"]
    imgs = _images(6)
    imgs[:, :4] //= 4  # a clearly different set
    _write_folder(folder, imgs)
    stale = torch_fidelity.calculate_metrics(**kwargs)["inception_score_mean"]
    fresh = torch_fidelity.calculate_metrics(**{**kwargs, "cache": False})["inception_score_mean"]
    assert stale == before != fresh


def test_evaluate_matches_the_metric_functions_and_records_provenance(tmp_path):
    real, fake = _images(7, 40), np.clip(_images(8, 40).astype(int) + 60, 0, 255).astype(np.uint8)
    net = CountingNet()
    rp, fp = net.extract(real), net.extract(fake)
    store = FeatureCache(tmp_path)
    r = evaluate("fid", fake, real, features=net, cache=store)
    assert r.value == pytest.approx(fid(rp.pool, fp.pool).value, rel=1e-12)
    assert (r.extractor, r.weights, r.resize) == ("counting-net", "test-seed:0", "torch-bilinear-antialias")
    assert r.fake == "<ndarray>" and r.real == "<ndarray>"
    k = evaluate("kid", fake, real, features=net, cache=store, seed=3, subsets=4, subset_size=20)
    assert k.mean == kid(rp.pool, fp.pool, subsets=4, subset_size=20, seed=3).mean and k.seed == 3
    i = evaluate("is", fake, features=net, cache=store, splits=4, limit=20)
    assert i.mean == inception_score(fp.logits[:20], splits=4, seed=0).mean and i.n == 20
    assert i.fake == "<ndarray>[:20]"
    d = json.loads(json.dumps(evaluate("pr", fake, real, features=net, cache=False, k=2).to_dict()))
    assert d["metric"] == "pr" and d["k"] == 2 and d["extractor"] == "counting-net"
    dc = evaluate("dc", fake, real, features=net, cache=False)
    assert 0.0 <= dc.coverage <= 1.0 and dc.k == 5
    # "pr" reports density and coverage beside (traingen eval pr); density_k=0 leaves them out.
    assert (d["density"], d["coverage"], d["density_k"]) == (dc.density, dc.coverage, 5)
    assert evaluate("pr", fake, real, features=net, cache=False, density_k=0).density is None


def test_evaluate_on_sources_with_a_registered_extractor():
    opts = {"min_size": 8, "kernel_sizes": (3, 5), "maps": 4}
    r = evaluate("fid", "builtin:digits@test", "builtin:digits@train", features="random-multiscale",
                 feature_options=opts, limit=30, cache=False)
    assert r.real == "builtin:digits@train[0:30]" and r.fake == "builtin:digits@test[0:30]"
    assert r.extractor == "random-multiscale" and r.weights.startswith("seeded:0:")
    assert r.n_real == r.n_fake == 30 and r.dims == 16 and r.value > 0


def test_evaluate_errors():
    net = CountingNet()
    imgs = _images(9)
    with pytest.raises(ConfigError, match="unknown metric"):
        evaluate("lpips", imgs, imgs, features=net)
    with pytest.raises(ConfigError) as e:
        evaluate("fid", imgs, features=net)
    assert e.value.field == "real"
    with pytest.raises(ConfigError) as e:
        evaluate("kid", imgs, imgs, features=net, subset=3)
    assert e.value.field == "subset" and "subset_size" in str(e.value)
    with pytest.raises(ConfigError, match="needs a classifier"):
        evaluate("is", "builtin:digits@test", features="random-multiscale", limit=10)
    with pytest.raises(DataError, match="no such file"):
        evaluate("fid", "/nonexistent/folder", imgs, features=net)
