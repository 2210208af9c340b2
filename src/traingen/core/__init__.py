"""Core: the Sample, registries, typed configs, seeding, errors."""

from .config import ConfigError, from_dict, load_yaml, to_dict
from .errors import CheckpointError, DataError, OutputError, RegistryError, TargetError, TraingenError
from .registry import REGISTRIES, Registry
from .sample import TARGET_KEYS, Sample
from .seeding import Rng, derive_seed, numpy_rng, torch_generator

__all__ = [
    "REGISTRIES",
    "TARGET_KEYS",
    "CheckpointError",
    "ConfigError",
    "DataError",
    "OutputError",
    "Registry",
    "RegistryError",
    "Rng",
    "Sample",
    "TargetError",
    "TraingenError",
    "derive_seed",
    "from_dict",
    "load_yaml",
    "numpy_rng",
    "to_dict",
    "torch_generator",
]
