"""Start-up failures of ``mlfactory serve``: the reason alone, and a non-zero exit.

When an app fails to start, uvicorn prints its traceback, and with ``--workers N``
its supervisor stops but exits 0. Around ``uvicorn.run`` the CLI opens
``startup_failures()``: a folder (``MLFACTORY_SERVE_FAILURES``) where each worker's
``ReportStartupFailures`` middleware records the error that stopped its start,
sending uvicorn ``lifespan.startup.failed`` without a traceback; ``log_config``
hides uvicorn's own notes about that failure. Once uvicorn returns,
``raise_first`` raises the recorded error, which the CLI prints as one paragraph.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from pathlib import Path
from typing import Any

from mlfactory import errors

__all__ = ["FAILURES_ENV", "ReportStartupFailures", "log_config", "startup_failures"]

FAILURES_ENV = "MLFACTORY_SERVE_FAILURES"
Message = MutableMapping[str, Any]
ASGIApp = Callable[
    [Message, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]],
    Awaitable[None],
]


def _folder() -> Path | None:
    value = os.environ.get(FAILURES_ENV)
    return Path(value) if value else None


class ReportStartupFailures:
    """ASGI middleware: a failed start is recorded for the CLI, not printed as a traceback.

    Without ``MLFACTORY_SERVE_FAILURES`` (uvicorn started by hand) an mlfactory error
    is sent to uvicorn as its one-line message; any other error keeps its traceback.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(
        self,
        scope: Message,
        receive: Callable[[], Awaitable[Message]],
        send: Callable[[Message], Awaitable[None]],
    ) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        failure: Message | None = None

        async def hold_failure(message: Message) -> None:
            nonlocal failure
            if message["type"] == "lifespan.startup.failed":
                failure = message  # sent below, once the error is known
                return
            await send(message)

        try:
            await self.app(scope, receive, hold_failure)
        except Exception as exc:
            if failure is None:
                raise
            ours = isinstance(exc, errors.MlfactoryError)
            folder = _folder()
            if folder is not None:
                record = {"kind": type(exc).__name__, "message": str(exc), "ours": ours}
                (folder / f"{os.getpid()}.json").write_text(json.dumps(record))
                text = "" if ours else failure.get("message", "")
            else:
                text = f"{type(exc).__name__}: {exc}" if ours else failure.get("message", "")
            await send({"type": "lifespan.startup.failed", "message": text})


class _HideNotesOfRecordedFailures(logging.Filter):
    """Drop uvicorn's notes about a failed start the CLI reports itself."""

    NOTES = ("Application startup failed", "failed to start, stopping the parent process")

    def filter(self, record: logging.LogRecord) -> bool:
        folder = _folder()
        if folder is None or not any(n in record.getMessage() for n in self.NOTES):
            return True
        return not any(folder.glob("*.json"))


def log_config() -> dict[str, Any]:
    """uvicorn's logging configuration, hiding notes of failures the CLI reports.

    It also sends the access log (``serving.access``) to stderr in uvicorn's format.
    """
    from uvicorn.config import LOGGING_CONFIG

    from mlfactory.serving.access import LOGGER

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["recorded_failures"] = {
        "()": f"{__name__}._HideNotesOfRecordedFailures"
    }
    config["loggers"]["uvicorn.error"]["filters"] = ["recorded_failures"]
    config["loggers"][LOGGER] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config


class Failures:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def raise_first(self) -> None:
        """Raise the error that stopped the first worker's start, if one did."""
        recorded = sorted(self.folder.glob("*.json"), key=lambda p: p.stat().st_mtime)
        if not recorded:
            return
        record = json.loads(recorded[0].read_text())
        kind = getattr(errors, str(record["kind"]), None)
        if (
            record.get("ours")
            and isinstance(kind, type)
            and issubclass(kind, errors.MlfactoryError)
            and kind is not errors.ServingError  # the one built from a status and a message
        ):
            raise kind(record["message"])
        raise errors.MlfactoryError(
            f"the server could not start: {record['kind']}: {record['message']}"
        )


@contextlib.contextmanager
def startup_failures() -> Iterator[Failures]:
    """Around ``uvicorn.run``: a folder the workers record a failed start in."""
    folder = Path(tempfile.mkdtemp(prefix="mlfactory-serve-"))
    os.environ[FAILURES_ENV] = str(folder)
    try:
        yield Failures(folder)
    finally:
        os.environ.pop(FAILURES_ENV, None)
        shutil.rmtree(folder, ignore_errors=True)
