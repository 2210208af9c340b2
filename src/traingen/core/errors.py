"""One family of errors: each names the file, the field and what was expected.

Every error traingen raises on purpose is a :class:`TraingenError`, so callers can catch one type,
and the CLI can print it as one line without a traceback.
"""

from __future__ import annotations


class TraingenError(Exception):
    """Base class. ``where`` is the file or object at fault, ``field`` the key or argument."""

    def __init__(self, message: str, *, where: str | None = None, field: str | None = None):
        self.where = where
        self.field = field
        self.message = message
        parts = []
        if where:
            parts.append(str(where))
        if field:
            parts.append(f"field '{field}'")
        prefix = ": ".join(parts)
        super().__init__(f"{prefix}: {message}" if prefix else message)

    def __reduce__(self):
        # Keep where/field when an error crosses a process boundary (worker -> main).
        return (_rebuild, (type(self), self.message, self.where, self.field))


def _rebuild(cls: type, message: str, where: str | None, field: str | None) -> TraingenError:
    return cls(message, where=where, field=field)


class ConfigError(TraingenError, ValueError):
    """A config, recipe or pipeline YAML is wrong: unknown key, wrong type, bad value."""


class RegistryError(TraingenError, KeyError):
    """An unknown or duplicate registry name."""

    def __str__(self) -> str:  # KeyError would quote the message
        return Exception.__str__(self)


class DataError(TraingenError, ValueError):
    """Input data is wrong: a corrupt image, a wrong dtype or shape, a bad box."""


class TargetError(DataError):
    """A target (mask, boxes, keypoints, label) does not match the image or is malformed."""


class CheckpointError(TraingenError, ValueError):
    """A checkpoint or weight file is missing, truncated or of the wrong kind."""


class OutputError(TraingenError, OSError):
    """An output folder cannot be written or holds a different, incompatible run."""
