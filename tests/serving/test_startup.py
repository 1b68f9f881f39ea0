"""A server that cannot start says why in one paragraph, and the CLI exits non-zero."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from mlfactory.errors import MlfactoryError, RegistryError
from mlfactory.serving.startup import (
    FAILURES_ENV,
    ReportStartupFailures,
    log_config,
    startup_failures,
)


def _failing_app(error: Exception) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        raise error
        yield

    app = FastAPI(lifespan=lifespan)
    app.add_middleware(ReportStartupFailures)
    return app


def _start(app: FastAPI) -> list[dict[str, Any]]:
    """What the app sends to its server for a lifespan start-up (the ASGI protocol)."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "lifespan.startup"}

    async def send(message: Any) -> None:
        sent.append(dict(message))

    async def run() -> None:
        with contextlib.suppress(Exception):
            await app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, receive, send)

    asyncio.run(run())
    return sent


def test_a_failed_start_is_recorded_for_the_cli_without_a_traceback() -> None:
    with startup_failures() as failures:
        sent = _start(_failing_app(RegistryError("cannot serve: m@champion: refused")))
        assert sent == [{"type": "lifespan.startup.failed", "message": ""}]
        with pytest.raises(RegistryError, match=r"^cannot serve: m@champion: refused$"):
            failures.raise_first()
        folder = Path(failures.folder)
    assert not folder.exists()


def test_started_by_hand_the_message_is_one_line() -> None:
    sent = _start(_failing_app(RegistryError("cannot serve: m@champion: refused")))
    assert sent == [
        {
            "type": "lifespan.startup.failed",
            "message": "RegistryError: cannot serve: m@champion: refused",
        }
    ]


def test_a_bug_keeps_its_traceback_and_still_fails_the_command() -> None:
    with startup_failures() as failures:
        (message,) = _start(_failing_app(KeyError("oops")))
        assert "Traceback" in message["message"]
        with pytest.raises(MlfactoryError, match=r"the server could not start: KeyError: 'oops'"):
            failures.raise_first()


def test_uvicorn_notes_are_hidden_only_when_the_failure_is_recorded(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import importlib

    config = log_config()
    (name,) = config["loggers"]["uvicorn.error"]["filters"]
    module, _, cls = config["filters"][name]["()"].rpartition(".")
    hide = getattr(importlib.import_module(module), cls)()

    def shown(message: str) -> bool:
        record = logging.LogRecord("uvicorn.error", logging.ERROR, "", 0, message, None, None)
        return bool(hide.filter(record))

    monkeypatch.setenv(FAILURES_ENV, str(tmp_path))
    assert shown("Application startup failed. Exiting.")  # nothing recorded: keep it
    (tmp_path / "123.json").write_text("{}")
    assert not shown("Application startup failed. Exiting.")
    assert not shown("Child process [9] failed to start, stopping the parent process.")
    assert shown("Exception in ASGI application")
