"""The one exception tree of mlfactory.

Every error says what was wrong, the value received, and what to do. Each class
carries how it is reported: ``exit_code`` (the CLI's ``main`` exits with it),
``http_status`` (the model server's one error handler answers with it) and
``kind`` (the label of ``mlfactory_errors_total``). An error the server answers
is a 4xx when the request is at fault and a 5xx only when the server or the
model behind it is; a traceback is a bug.

::

                                   exit  HTTP  kind
    MlfactoryError                 1     500   error              anything we could not do
    ├── BadInputError              2     400   bad_input          the user's input is wrong
    │   ├── SpecError              2     422   spec               factory.yaml does not validate
    │   ├── DataError              2     422   schema             the data cannot be read or
    │   │                                                         fails validation
    │   ├── ModelReferenceError    2     404   unknown_model      NAME@ALIAS or NAME/VERSION
    │   │                                                         names nothing
    │   ├── UnknownSeriesError     2     404   unknown_series     a forecast asked for an id
    │   │                                                         the model has no series of
    │   ├── RegistryLocationError  2     500   registry_location  the registry folder cannot
    │   │                                                         be written
    │   ├── EngineError            2     500   engine             an engine cannot be used: its
    │   │                                                         extra is not installed, its
    │   │                                                         address does not answer
    │   └── V2Error                2     400   bad_input          a malformed V2 request
    │                                                             (serving/v2codec.py)
    ├── RegistryError              1     503   registry           the MLflow store cannot be used
    │   └── TamperedArtifactError  1     503   tampered           an artifact's digest differs
    └── ServingError               2|1   its own status and kind  the server refuses a request
                                                                  (a limit, the token, a model
                                                                  unknown or still loading);
                                                                  exit 2 for a 4xx, 1 for a 5xx

An error listing several problems (a spec, a data set, rows sent for scoring)
is made with ``from_problems``, which writes them one a line under a header
and keeps them in ``problems`` (the server sends them as the JSON ``problems``).

Exit code 3 is not an error: ``train`` and ``retrain`` return it when a gate
held the new model back (it is registered, not promoted), and ``monitor`` when
it finds drift or decay. The command finished and has something to act on.

Every class but ``ServingError`` is built from its message alone, so an error
recorded in one process can be raised again in another (``serving/startup.py``);
every one survives pickling.

``did_you_mean`` ends a message that names a word nobody defined (a key, a column,
a model) with the one likely meant, the same way everywhere.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any, Self

__all__ = [
    "BadInputError",
    "DataError",
    "EngineError",
    "MlfactoryError",
    "ModelReferenceError",
    "RegistryError",
    "RegistryLocationError",
    "ServingError",
    "SpecError",
    "TamperedArtifactError",
    "UnknownSeriesError",
    "did_you_mean",
]


class MlfactoryError(Exception):
    """Base of every error mlfactory raises on purpose.

    ``problems`` holds one line per problem when the error lists several (else empty).
    """

    exit_code: int = 1
    http_status: int = 500
    kind: str = "error"

    def __init__(self, message: str = "", *, problems: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.problems = list(problems)

    @classmethod
    def from_problems(cls, header: str, problems: Sequence[str], *, hint: str = "") -> Self:
        """The error listing ``problems`` one a line under ``header``, then ``hint``.

        ``DataError.from_problems("input does not match the model's schema", ["column
        'k5' is missing"])`` says::

            input does not match the model's schema:
              - column 'k5' is missing
        """
        lines = "\n".join(f"  - {p}" for p in problems)
        return cls(f"{header}:\n{lines}" + (f"\n{hint}" if hint else ""), problems=problems)


class BadInputError(MlfactoryError):
    """The input (spec, data, arguments, a request) is wrong; fixing it fixes the run."""

    exit_code = 2
    http_status = 400
    kind = "bad_input"


class SpecError(BadInputError):
    """``factory.yaml`` does not validate. ``problems`` holds one line per problem."""

    http_status = 422
    kind = "spec"


class DataError(BadInputError):
    """The data cannot be read, or fails validation. ``problems`` lists every problem."""

    http_status = 422
    kind = "schema"


class ModelReferenceError(BadInputError):
    """A model reference (``NAME@ALIAS`` or ``NAME/VERSION``) names nothing."""

    http_status = 404
    kind = "unknown_model"


class UnknownSeriesError(BadInputError):
    """A forecast asked for series ids the model was not trained on (named in the message)."""

    http_status = 404
    kind = "unknown_series"


class RegistryLocationError(BadInputError):
    """The configured registry location cannot be created or written.

    The user's input for a command (exit 2); the server's own configuration for a request (500).
    """

    http_status = 500
    kind = "registry_location"


class EngineError(BadInputError):
    """An engine cannot be used: its library (a pip extra) is missing, or its address is
    silent. The setup the command was given is at fault (exit 2); fixing it fixes the run."""

    http_status = 500
    kind = "engine"


class RegistryError(MlfactoryError):
    """The registry (MLflow store) cannot be read or written (a server answers 503: retry)."""

    http_status = 503
    kind = "registry"


class TamperedArtifactError(RegistryError):
    """An artifact's SHA-256 digest differs from the one recorded at registration."""

    kind = "tampered"


class ServingError(MlfactoryError):
    """The model server refuses a request with ``status``; ``kind`` labels it in the metrics.

    The server decides the status itself: a limit (413), the token (401/403), an
    unknown model (404), a model still loading (503), a body it cannot parse (400).
    """

    def __init__(self, status: int, message: str, *, kind: str = "bad_input") -> None:
        super().__init__(message)
        self.http_status = status
        self.exit_code = 2 if status < 500 else 1
        self.kind = kind

    @property
    def status(self) -> int:
        return self.http_status

    @property
    def message(self) -> str:
        return str(self)

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.http_status, str(self)), self.__dict__


def did_you_mean(word: Any, options: Any) -> str:
    """`` (did you mean 'x'?)`` for the option ``word`` was likely meant as (a different
    case first, then the closest spelling), or ``""``: the end of a message naming it."""
    names = [str(o) for o in options]
    same_case = [n for n in names if n.lower() == str(word).lower()]
    match = same_case or difflib.get_close_matches(str(word), names, n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""
