import json

import pytest
import torch

from traingen.core.checkpoint import (
    flatten,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
    unflatten,
)
from traingen.core.errors import CheckpointError


def _model_and_opt():
    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3), torch.nn.Linear(3, 2))
    opt = torch.optim.Adam(m.parameters(), lr=1e-3, betas=(0.0, 0.9))
    loss = m(torch.randn(8, 4)).pow(2).mean()
    loss.backward()
    opt.step()
    return m, opt


def test_roundtrip_model_optimizer_and_state(tmp_path):
    m, opt = _model_and_opt()
    tree = {"G": m.state_dict(), "optG": opt.state_dict(), "rng": rng_state(), "hist": (1, 2.5, None)}
    js = save_checkpoint(tmp_path / "ckpt-000010", tree, {"step": 10, "loss": 0.5})
    assert js.name == "ckpt-000010.json" and (tmp_path / "ckpt-000010.safetensors").is_file()
    back, state = load_checkpoint(tmp_path / "ckpt-000010")
    assert state == {"step": 10, "loss": 0.5}
    for k, v in m.state_dict().items():
        assert torch.equal(back["G"][k], v), k
    m2, opt2 = _model_and_opt()
    opt2.load_state_dict(back["optG"])
    s1, s2 = opt.state_dict(), opt2.state_dict()
    assert s1["param_groups"] == s2["param_groups"]
    for pid in s1["state"]:
        for name, v in s1["state"][pid].items():
            assert torch.equal(torch.as_tensor(v), torch.as_tensor(s2["state"][pid][name]))
    assert back["hist"] == (1, 2.5, None)
    # RNG state restores the exact stream
    set_rng_state(back["rng"])
    a = torch.rand(3)
    set_rng_state(back["rng"])
    assert torch.equal(a, torch.rand(3))


def test_flatten_unflatten_keeps_int_keys_and_tuples():
    tree = {"state": {0: {"x": torch.ones(2)}, 3: {}}, "t": (torch.zeros(1), [1, "a"])}
    tensors, skel = flatten(tree)
    assert set(tensors) == {"state/0/x", "t/0"}
    json.dumps(skel)
    back = unflatten(skel, tensors)
    assert list(back["state"]) == [0, 3] and isinstance(back["t"], tuple)


def test_truncated_and_altered_files_are_named(tmp_path):
    save_checkpoint(tmp_path / "c", {"w": torch.arange(100.0)}, {"step": 1})
    st = tmp_path / "c.safetensors"
    data = st.read_bytes()
    st.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="c.safetensors.*truncated"):
        load_checkpoint(tmp_path / "c")
    st.write_bytes(data)
    load_checkpoint(tmp_path / "c")
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "missing")
    (tmp_path / "c.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="unreadable"):
        load_checkpoint(tmp_path / "c")


def test_unstorable_value_leaves_nothing(tmp_path):
    with pytest.raises(CheckpointError, match="object"):
        save_checkpoint(tmp_path / "bad", {"w": torch.ones(1), "x": object()})
    assert list(tmp_path.iterdir()) == []
