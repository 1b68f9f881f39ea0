"""The one exception tree of mlfactory.

Every error says what was wrong, the value received, and what to do. The CLI
maps each class to an exit code (``exit_code``); a traceback is a bug.

::

    MlfactoryError                 exit 1   anything we could not do
    ├── BadInputError              exit 2   the user's input is wrong
    │   ├── SpecError                       factory.yaml does not validate
    │   ├── DataError                       the data cannot be read or fails validation
    │   ├── ModelReferenceError             NAME@ALIAS or NAME/VERSION names nothing
    │   └── RegistryLocationError           the registry folder cannot be written
    ├── RegistryError              exit 1   the MLflow store cannot be used
    │   └── TamperedArtifactError           an artifact's digest does not match
    └── GateFailed                 exit 3   a trained model was held back by a gate

``GateFailed`` is not raised by the Python API (``train`` returns the decision);
the CLI uses its exit code when a model was registered but not promoted.
"""

from __future__ import annotations

__all__ = [
    "BadInputError",
    "DataError",
    "GateFailed",
    "MlfactoryError",
    "ModelReferenceError",
    "RegistryError",
    "RegistryLocationError",
    "SpecError",
    "TamperedArtifactError",
]


class MlfactoryError(Exception):
    """Base of every error mlfactory raises on purpose."""

    exit_code = 1


class BadInputError(MlfactoryError):
    """The input (spec, data, arguments) is wrong; fixing it fixes the run."""

    exit_code = 2


class SpecError(BadInputError):
    """``factory.yaml`` does not validate. ``problems`` holds one line per problem."""

    def __init__(self, message: str, *, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


class DataError(BadInputError):
    """The data cannot be read, or fails validation. ``problems`` lists every problem."""

    def __init__(self, message: str, *, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


class ModelReferenceError(BadInputError):
    """A model reference (``NAME@ALIAS`` or ``NAME/VERSION``) names nothing."""


class RegistryLocationError(BadInputError):
    """The configured registry location cannot be created or written."""


class RegistryError(MlfactoryError):
    """The registry (MLflow store) cannot be read or written."""


class TamperedArtifactError(RegistryError):
    """An artifact's SHA-256 digest differs from the one recorded at registration."""


class GateFailed(MlfactoryError):
    """A trained model was registered but held back by a gate (CLI exit code 3)."""

    exit_code = 3
