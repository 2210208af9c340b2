from dataclasses import dataclass
from typing import Literal

import pytest

from traingen.core.config import dump_yaml, from_dict, load_yaml, to_dict
from traingen.core.errors import ConfigError, RegistryError, TraingenError
from traingen.core.registry import REGISTRIES, Registry


@dataclass
class Inner:
    k: int = 3


@dataclass
class Cfg:
    size: int = 4
    std: float = 0.1
    mode: Literal["clip", "drop"] = "clip"
    pair: tuple[float, float] = (0.8, 1.2)
    name: str | None = None
    inner: Inner = None  # type: ignore[assignment]

    def __post_init__(self):
        if self.size < 0:
            raise ValueError("size must be >= 0")


def test_from_dict_types_and_roundtrip():
    cfg = from_dict(Cfg, {"size": 5, "std": 1, "pair": [0.5, 2], "inner": {"k": 9}})
    assert cfg.std == 1.0 and isinstance(cfg.std, float)
    assert cfg.pair == (0.5, 2.0)
    assert cfg.inner.k == 9
    again = from_dict(Cfg, to_dict(cfg))
    assert again == cfg


@pytest.mark.parametrize(
    "data, field",
    [
        ({"sise": 5}, "sise"),
        ({"size": "5"}, "size"),
        ({"size": True}, "size"),
        ({"mode": "wrap"}, "mode"),
        ({"pair": [1, 2, 3]}, "pair"),
        ({"inner": {"q": 1}}, "inner.q"),
    ],
)
def test_from_dict_strict(data, field):
    with pytest.raises(ConfigError) as e:
        from_dict(Cfg, data, where="x.yaml")
    assert e.value.field == field
    assert "x.yaml" in str(e.value)


def test_unknown_key_lists_allowed():
    with pytest.raises(ConfigError, match="allowed: size, std, mode"):
        from_dict(Cfg, {"bogus": 1})


def test_post_init_error_is_config_error():
    with pytest.raises(ConfigError, match="size must be"):
        from_dict(Cfg, {"size": -1})


def test_load_yaml_requires_version(tmp_path):
    p = tmp_path / "a.yaml"
    p.write_text("size: 3\n")
    with pytest.raises(ConfigError, match="version"):
        load_yaml(p)
    p.write_text("version: 1\nsize: 3\n")
    assert load_yaml(p)["size"] == 3
    p.write_text("version: 99\n")
    with pytest.raises(ConfigError, match="unsupported version"):
        load_yaml(p)
    p.write_text("!!python/object:os.system {}\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_yaml(p)
    assert "version: 1" in dump_yaml({"version": 1})


def test_registry_duplicate_and_unknown():
    reg = Registry("test-registry-dup")
    assert REGISTRIES["test-registry-dup"] is reg

    @reg.register("thing-one")
    class A:
        pass

    assert A.registry_name == "thing-one"
    assert reg.get("thing-one") is A
    with pytest.raises(RegistryError, match="already registered"):
        reg.register("thing-one")(type("B", (), {}))
    with pytest.raises(RegistryError, match="unknown name 'nope'; known: thing-one"):
        reg.get("nope")
    with pytest.raises(RegistryError, match="kebab-case"):
        reg.register("Not_Kebab")
    with pytest.raises(RegistryError):
        Registry("test-registry-dup")
    assert issubclass(RegistryError, TraingenError)
