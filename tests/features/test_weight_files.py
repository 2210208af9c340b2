"""Locating, identifying and reading weight files (traingen.features.weights)."""

from __future__ import annotations

import hashlib
import os

import pytest
import torch

from traingen.core.errors import CheckpointError
from traingen.features.weights import (
    WeightSpec,
    check_all,
    expected_prefix,
    hub_dir,
    load_state_dict,
    locate,
    sha256_file,
)


def write_hub_file(folder, stem: str, payload: bytes = b"weights") -> str:
    prefix = hashlib.sha256(payload).hexdigest()[:8]
    path = os.path.join(folder, f"{stem}-{prefix}.pth")
    with open(path, "wb") as f:
        f.write(payload)
    return path


@pytest.fixture
def clean_env(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.delenv("TRAINGEN_WEIGHTS", raising=False)
    return tmp_path


def spec_for(path: str) -> WeightSpec:
    return WeightSpec("test-net", (os.path.basename(path),), "test weights")


def test_hub_dir_matches_torch(monkeypatch, tmp_path):
    import torch.hub

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    assert hub_dir() == type(hub_dir())(torch.hub.get_dir())
    monkeypatch.delenv("TORCH_HOME")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert str(hub_dir()) == torch.hub.get_dir()


def test_sha256_and_name_prefix(tmp_path):
    path = write_hub_file(tmp_path, "net", b"abc")
    assert sha256_file(path) == hashlib.sha256(b"abc").hexdigest()
    assert expected_prefix(path) == hashlib.sha256(b"abc").hexdigest()[:8]
    assert expected_prefix("pt_inception-2015-12-05-6726825d.pth") == "6726825d"
    assert expected_prefix("my_weights.pth") is None


def test_search_order_explicit_then_env_then_hub(clean_env):
    tmp = clean_env
    for d in ("a", "b", "torch-home/hub/checkpoints"):
        (tmp / d).mkdir(parents=True)
    hub_file = write_hub_file(tmp / "torch-home/hub/checkpoints", "net")
    spec = spec_for(hub_file)
    assert locate(spec) == type(locate(spec))(hub_file)
    env_file = write_hub_file(tmp / "a", "net")
    os.environ["TRAINGEN_WEIGHTS"] = f"{tmp / 'b'}{os.pathsep}{tmp / 'a'}"
    assert str(locate(spec)) == env_file
    explicit = tmp / "b" / "anything.bin"
    explicit.write_bytes(b"other")
    assert str(locate(spec, explicit)) == str(explicit)  # an explicit file may have any name


def test_env_file_counts_only_under_an_accepted_name(clean_env):
    path = write_hub_file(clean_env, "net")
    os.environ["TRAINGEN_WEIGHTS"] = path
    assert str(locate(spec_for(path))) == path
    with pytest.raises(CheckpointError, match="needs test weights"):
        locate(WeightSpec("test-net", ("other-0000aaaa.pth",), "test weights"))


def test_hash_mismatch_is_refused_and_reported(clean_env):
    folder = clean_env / "w"
    folder.mkdir()
    bad = folder / "net-00000000.pth"
    bad.write_bytes(b"not matching")
    os.environ["TRAINGEN_WEIGHTS"] = str(folder)
    with pytest.raises(CheckpointError, match="does not start with 00000000") as e:
        locate(WeightSpec("test-net", (bad.name,), "test weights"))
    assert str(bad) in str(e.value)


def test_missing_explicit_path(clean_env):
    with pytest.raises(CheckpointError, match="not found") as e:
        locate(WeightSpec("test-net", ("x-12345678.pth",), "test weights"), clean_env / "nope.pth")
    assert "nope.pth" in str(e.value) and "x-12345678.pth" in str(e.value)


def test_load_state_dict_unwraps_and_strips_module_prefix(tmp_path):
    t = torch.arange(6.0).view(2, 3)
    torch.save({"state_dict": {"module.a.weight": t}}, tmp_path / "w.pth")
    out = load_state_dict(tmp_path / "w.pth")
    assert list(out) == ["a.weight"] and torch.equal(out["a.weight"], t)


def test_load_state_dict_safetensors(tmp_path):
    from safetensors.torch import save_file

    save_file({"b": torch.ones(2)}, str(tmp_path / "w.safetensors"))
    assert torch.equal(load_state_dict(tmp_path / "w.safetensors")["b"], torch.ones(2))


def test_truncated_and_pickled_code_files_are_refused(tmp_path):
    torch.save({"a": torch.zeros(100)}, tmp_path / "full.pth")
    data = (tmp_path / "full.pth").read_bytes()
    (tmp_path / "cut.pth").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="cannot read") as e:
        load_state_dict(tmp_path / "cut.pth")
    assert "cut.pth" in str(e.value)
    torch.save({"a": torch.zeros(1), "f": os.getcwd}, tmp_path / "code.pth")  # weights_only refuses it
    with pytest.raises(CheckpointError, match="cannot read"):
        load_state_dict(tmp_path / "code.pth")
    torch.save([1, 2], tmp_path / "list.pth")
    with pytest.raises(CheckpointError, match="state dict"):
        load_state_dict(tmp_path / "list.pth")


def test_check_all_lists_every_extractor(clean_env):
    folder = clean_env / "w"
    folder.mkdir()
    (folder / "vgg19-dcbb9e9d.pth").write_bytes(b"not vgg")
    os.environ["TRAINGEN_WEIGHTS"] = str(folder)
    rows = {r["extractor"]: r for r in check_all()}
    assert {"inception-v3-fid", "inception-v3-torchvision", "vgg19", "random-multiscale"} <= set(rows)
    assert rows["inception-v3-fid"]["status"] == "missing" and rows["inception-v3-fid"]["found"] == []
    assert "pt_inception-2015-12-05-6726825d.pth" in rows["inception-v3-fid"]["accepts"]
    vgg = rows["vgg19"]
    assert vgg["status"] == "mismatch" and vgg["selected"] is None
    assert vgg["found"][0]["sha256"] == hashlib.sha256(b"not vgg").hexdigest()
    assert any(str(folder) in p for p in vgg["looked_in"])
    rm = rows["random-multiscale"]
    assert rm["needs_file"] is False and rm["weights"].startswith("seeded:0:") and rm["kind"] == "seeded"
