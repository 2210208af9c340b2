"""The ``augment.batch`` registry: batch-level mixers and batched ops, keyed by kebab-case name."""

from __future__ import annotations

from ...core.registry import Registry

MIXERS = Registry("augment.batch", "batch-level mixers and batched ops")
