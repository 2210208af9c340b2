"""Our metrics against torchmetrics and torch-fidelity with the same custom feature network.

A tiny float64 network (8×8 RGB uint8 -> 32-d ``pool`` and 10 ``logits``) is plugged into both anchors:
torchmetrics through ``feature=nn.Module``, torch-fidelity through a registered ``FeatureExtractorBase``
subclass (``cache=False``). Our functions get the same network's features. DESIGN §9: FID/KID to 1e-6
relative; IS mean against torchmetrics after ``torch.manual_seed`` reproduces its ``torch.randperm``,
IS std against torch-fidelity (torchmetrics uses ddof=1); KID against torchmetrics with ``subsets=1,
subset_size=N`` to 2e-6 absolute.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch_fidelity
import torchmetrics  # noqa: F401  (anchor: a dev dependency)
from torch_fidelity.feature_extractor_base import FeatureExtractorBase
from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY, register_feature_extractor

from traingen.metrics import fid, inception_score, kid, precision_recall

pytestmark = [pytest.mark.filterwarnings("ignore::traingen.metrics.MetricWarning"),
              pytest.mark.filterwarnings("ignore:Metric `.*` will save all extracted features:UserWarning")]

N_REAL, N_FAKE, SEED = 240, 200, 7


class TinyNet(torch.nn.Module):
    """uint8 N×3×8×8 -> (pool N×32, logits N×10), float64, fixed random weights."""

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.w1 = torch.nn.Parameter(torch.randn(192, 32, generator=g, dtype=torch.float64) / math.sqrt(192))
        self.b1 = torch.nn.Parameter(torch.randn(32, generator=g, dtype=torch.float64) * 0.1)
        self.w2 = torch.nn.Parameter(torch.randn(32, 10, generator=g, dtype=torch.float64))

    def both(self, x):
        h = torch.tanh((x.reshape(x.shape[0], -1).double() / 255.0 - 0.5) @ self.w1 * 3.0 + self.b1)
        return h, h @ self.w2 * 2.0


class PoolOnly(torch.nn.Module):
    num_features = 32

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net.both(x)[0]


class LogitsOnly(PoolOnly):
    num_features = 10

    def forward(self, x):
        return self.net.both(x)[1]


class FidelityNet(FeatureExtractorBase):
    def __init__(self, name, features_list, **kwargs):
        super().__init__(name, features_list)
        self.net = TinyNet()

    @staticmethod
    def get_provided_features_list():
        return ("pool", "logits")

    @staticmethod
    def get_default_feature_layer_for_metric(metric):
        return "logits" if metric == "isc" else "pool"

    @staticmethod
    def can_be_compiled():
        return False

    @staticmethod
    def get_dummy_input_for_compile():
        return None

    def forward(self, x):
        pool, logits = self.net.both(x)
        return tuple({"pool": pool, "logits": logits}[name] for name in self.features_list)


if "traingen-tiny" not in FEATURE_EXTRACTORS_REGISTRY:
    register_feature_extractor("traingen-tiny", FidelityNet)


class Images(torch.utils.data.Dataset):
    def __init__(self, x):
        self.x = x

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i]


@pytest.fixture(scope="module")
def data():
    g = torch.Generator().manual_seed(1)
    real = torch.randint(0, 256, (N_REAL, 3, 8, 8), generator=g, dtype=torch.uint8)
    fake = (torch.randint(0, 200, (N_FAKE, 3, 8, 8), generator=g) + 40).to(torch.uint8)  # brighter
    net = TinyNet()
    with torch.no_grad():
        real_pool, _ = net.both(real)
        fake_pool, fake_logits = net.both(fake)
    return {"real": real, "fake": fake, "real_pool": real_pool.numpy(), "fake_pool": fake_pool.numpy(),
            "fake_logits": fake_logits.numpy(), "net": net}


@pytest.fixture(scope="module")
def fidelity(data):
    return torch_fidelity.calculate_metrics(
        input1=Images(data["fake"]), input2=Images(data["real"]), cuda=False, isc=True, fid=True, kid=True,
        prc=True, feature_extractor="traingen-tiny", cache=False, save_cpu_ram=True, verbose=False,
        batch_size=64, isc_splits=10, kid_subsets=5, kid_subset_size=150, rng_seed=SEED,
    )


def test_fid_matches_torch_fidelity_and_torchmetrics(data, fidelity):
    from torchmetrics.image.fid import FrechetInceptionDistance

    ours = fid(data["real_pool"], data["fake_pool"]).value
    assert ours == pytest.approx(fidelity["frechet_inception_distance"], rel=1e-6)
    tm = FrechetInceptionDistance(feature=PoolOnly(data["net"]))
    tm.update(data["real"], real=True)
    tm.update(data["fake"], real=False)
    assert ours == pytest.approx(float(tm.compute()), rel=1e-6)
    assert ours > 0.05  # the two sets really differ: agreement is not 0 == 0


def test_kid_matches_torch_fidelity_subsets(data, fidelity):
    r = kid(data["real_pool"], data["fake_pool"], subsets=5, subset_size=150, seed=SEED)
    assert r.mean == pytest.approx(fidelity["kernel_inception_distance_mean"], rel=1e-6)
    assert r.std == pytest.approx(fidelity["kernel_inception_distance_std"], rel=1e-6)
    assert r.std > 0


def test_kid_matches_torchmetrics_full_set(data):
    from torchmetrics.image.kid import KernelInceptionDistance

    n = N_FAKE  # equal sizes: a subset of N out of N is the whole set whatever torch.randperm draws
    tm = KernelInceptionDistance(feature=PoolOnly(data["net"]), subsets=1, subset_size=n)
    tm.update(data["real"][:n], real=True)
    tm.update(data["fake"], real=False)
    tm_mean, _ = tm.compute()
    ours = kid(data["real_pool"][:n], data["fake_pool"], subsets=1, subset_size=n).mean
    assert ours == pytest.approx(float(tm_mean), abs=2e-6, rel=1e-6)
    assert ours > 1e-3


def test_is_mean_matches_torchmetrics_with_its_permutation(data):
    from torchmetrics.image.inception import InceptionScore

    tm = InceptionScore(feature=LogitsOnly(data["net"]), splits=10)
    tm.update(data["fake"])
    torch.manual_seed(123)
    perm = torch.randperm(N_FAKE)
    torch.manual_seed(123)  # compute() draws the same torch.randperm
    tm_mean, tm_std = tm.compute()
    r = inception_score(data["fake_logits"], splits=10, permutation=perm.numpy())
    assert r.mean == pytest.approx(float(tm_mean), rel=1e-6)
    # torchmetrics reports the ddof=1 std; ours is the original code's ddof=0.
    assert r.std == pytest.approx(float(tm_std) * math.sqrt(9 / 10), rel=1e-6)
    assert r.mean > 1.2


def test_is_matches_torch_fidelity_with_the_same_seed(data, fidelity):
    r = inception_score(data["fake_logits"], splits=10, seed=SEED)
    assert r.mean == pytest.approx(fidelity["inception_score_mean"], rel=1e-6)
    assert r.std == pytest.approx(fidelity["inception_score_std"], rel=1e-6)
    assert r.std > 0


def test_precision_recall_match_torch_fidelity(data, fidelity):
    r = precision_recall(data["real_pool"], data["fake_pool"], k=3)
    # torch-fidelity averages in float32: compare the counts behind the fractions.
    assert round(r.precision * N_FAKE) == round(fidelity["precision"] * N_FAKE)
    assert round(r.recall * N_REAL) == round(fidelity["recall"] * N_REAL)
    assert 0 < r.recall < 1  # not a trivial all-or-nothing case


def test_features_of_the_anchor_path_are_ours(data):
    # The anchors ran the network batch by batch; our arrays came from one pass. Same numbers.
    net = FidelityNet("traingen-tiny", ["pool"])
    with torch.no_grad():
        pool = torch.cat([net(b)[0] for b in data["fake"].split(64)]).numpy()
    np.testing.assert_allclose(pool, data["fake_pool"], rtol=1e-12, atol=1e-12)
