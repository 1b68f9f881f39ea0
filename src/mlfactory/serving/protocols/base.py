"""What a serving protocol is, and the little of the server it may use.

A protocol is a ``ServingProtocol`` subclass that registers itself in
``PROTOCOLS`` under its ``name`` with ``@register``. The app builds it with the
server seen through ``Models`` (``Server`` implements it; a protocol never
imports the server) and includes the router ``routes()`` returns. A route that
scores hands ``Models.score`` two functions:

- ``decode(call) -> (rows, context)``: the request (``Call``: its body already
  read within the limits, and the model's host) as rows, plus whatever the
  answer will need (the context);
- ``encode(context, result) -> Response``: the scored rows as the protocol's answer;
- optionally ``explain(context) -> bool``: whether the request asks for each row's
  contributions (``Scored.explanation``; computed for the requests that ask only).

The server does the rest: the model lookup, limits, validation, micro-batching,
the prediction log and metrics. A protocol refuses a request by raising an
``MlfactoryError`` (``ServingError`` with its status, ``V2Error``, ...); the
app's one error handler answers it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar

if TYPE_CHECKING:
    import pandas as pd
    from fastapi import APIRouter, Request, Response

    from mlfactory.serving.frames import Rows
    from mlfactory.serving.host import ModelHost, Scored

__all__ = ["PROTOCOLS", "Call", "Models", "Result", "ServingProtocol", "register"]

Context = TypeVar("Context")
P = TypeVar("P", bound="type[ServingProtocol]")


@dataclass(frozen=True)
class Call:
    """One scoring request as ``decode`` gets it."""

    request: Request  # headers, path and query parameters
    body: bytes  # read by the server within its body limit
    host: ModelHost  # the model the route names, loaded


@dataclass(frozen=True)
class Result:
    """What ``encode`` gets: the request's scored rows, its id and the model's name."""

    scored: Scored
    request_id: str
    model: str


class Models(Protocol):
    """The served models, as a protocol sees the server."""

    @property
    def default_model(self) -> str:
        """The first model served (for protocols whose requests may name none)."""

    @property
    def ready(self) -> bool:
        """Every model is loaded."""

    @property
    def max_rows(self) -> int: ...

    @property
    def max_body_bytes(self) -> int: ...

    def host(self, name: str) -> ModelHost:
        """The model called ``name``; ``ServingError`` 404 when none is served."""

    async def read_body(self, request: Request) -> bytes:
        """The request's body within the body limit (``ServingError`` 413 beyond it), for a
        route that answers without ``score``."""

    def answered(self, request: Request, started: float) -> None:
        """Count a request such a route answered (``perf_counter`` at its start): requests
        and latency, as ``score`` counts its own; refusals are counted by the app."""

    def describe(self, name: str | None = None) -> list[dict[str, Any]]:
        """Name, reference, version, inputs and outputs of one model or all."""

    async def score(
        self,
        request: Request,
        name: str,
        decode: Callable[[Call], tuple[pd.DataFrame | Rows, Context]],
        encode: Callable[[Context, Result], Response],
        *,
        explain: Callable[[Context], bool] | None = None,
    ) -> Response:
        """Answer a scoring request for model ``name`` with ``decode`` and ``encode``.

        ``explain`` says from the decoded context whether to explain the rows too.
        """


class ServingProtocol:
    """A wire format: ``routes()`` for the app, built on ``self.models``."""

    name: ClassVar[str]  # its key in PROTOCOLS and its metric label
    title: ClassVar[str]  # for people: the app's description names it

    def __init__(self, models: Models) -> None:
        self.models = models

    def routes(self) -> APIRouter:
        raise NotImplementedError

    def model_of(self, request: Request) -> str | None:
        """The model a request to one of these routes names, or None (for metric labels)."""
        name = request.path_params.get("name") or request.query_params.get("model")
        return str(name) if name is not None else None


PROTOCOLS: dict[str, type[ServingProtocol]] = {}
"""Every protocol, by name, in the order they registered (the app's default order)."""


def register(cls: P) -> P:
    """Class decorator: put a protocol in ``PROTOCOLS`` under its ``name``."""
    known = PROTOCOLS.get(cls.name)
    if known is not None and (known.__module__, known.__qualname__) != (
        cls.__module__,
        cls.__qualname__,
    ):
        raise ValueError(
            f"protocol {cls.name!r} is already {known.__module__}.{known.__qualname__}; "
            f"give {cls.__module__}.{cls.__qualname__} another name"
        )
    PROTOCOLS[cls.name] = cls
    return cls
