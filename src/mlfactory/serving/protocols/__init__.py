"""Serving protocols: ``PROTOCOLS``, the table the app is built from.

Each protocol is a module with a ``ServingProtocol`` subclass that registers
itself (``@register``, see ``base``). The built-in ones are imported here, in the
order the app lists them; a protocol defined anywhere else is served once its
module has been imported, with nothing else to edit.
"""

# isort: off
from mlfactory.serving.protocols.base import (
    PROTOCOLS,
    Call,
    Models,
    Result,
    ServingProtocol,
    register,
)
from mlfactory.serving.protocols import native  # noqa: F401  (each registers itself)
from mlfactory.serving.protocols import mlflow  # noqa: F401
from mlfactory.serving.protocols import v2  # noqa: F401
from mlfactory.serving.protocols import forecast  # noqa: F401

# isort: on

__all__ = ["PROTOCOLS", "Call", "Models", "Result", "ServingProtocol", "register"]
