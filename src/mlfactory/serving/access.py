"""The access log: one line per request, in uvicorn's style, with the time and the model version.

::

    INFO:     127.0.0.1:52814 - "POST /v1/models/mroz/predict HTTP/1.1" 200 OK 3.1 ms mroz/4

The client, the request line and the status are uvicorn's own access line; then
the milliseconds from the request's arrival to its last byte sent, and the model
version that answered (``NAME/VERSION``; for a refused request, the version
serving when it arrived; ``-`` on routes that name no model). ``AccessLog`` is
an ASGI middleware that ``create_app`` adds unless ``ServingConfig.access_log``
is off (``mlfactory serve --no-access-log``): then no request pays for it. The
lines go to the ``mlfactory.access`` logger at INFO; ``mlfactory serve`` sends
that logger to stderr (``startup.log_config``), since uvicorn's own access log is
off at its ``warning`` level.
"""

from __future__ import annotations

import http
import logging
import time
import urllib.parse
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

__all__ = ["LOGGER", "MODEL_KEY", "AccessLog"]

LOGGER = "mlfactory.access"
MODEL_KEY = "access_model"  # the request state's key for "NAME/VERSION" (Server.score sets it)
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Message, Receive, Send], Awaitable[None]]

log = logging.getLogger(LOGGER)
_PHRASES = {status.value: f"{status.value} {status.phrase}" for status in http.HTTPStatus}


class AccessLog:
    """ASGI middleware: logs each HTTP request once it is answered (or has failed)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Message, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # unless a response starts: an error that escaped every handler

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            if log.isEnabledFor(logging.INFO):
                log.info(
                    '%s - "%s %s HTTP/%s" %s %.1f ms %s',
                    _client(scope),
                    scope["method"],
                    _path(scope),
                    scope.get("http_version", "1.1"),
                    _PHRASES.get(status, str(status)),
                    (time.perf_counter() - started) * 1000,
                    scope.get("state", {}).get(MODEL_KEY, "-"),
                )


def _client(scope: Message) -> str:
    client = scope.get("client")
    return f"{client[0]}:{client[1]}" if client else "-"


def _path(scope: Message) -> str:
    """The path and query as uvicorn shows them (quoted: no space or newline in a line)."""
    path = urllib.parse.quote(scope["path"])
    query = scope.get("query_string", b"")
    return f"{path}?{urllib.parse.quote(query, safe='&=%+;,/:@')}" if query else path
