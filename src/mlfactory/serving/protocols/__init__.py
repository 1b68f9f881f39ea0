"""Serving protocols: each module turns its wire format into frames and back.

``PROTOCOLS`` is the table the app is built from; a protocol is a function
``routes(server) -> APIRouter``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import APIRouter

    from mlfactory.serving.server import Server

__all__ = ["PROTOCOLS"]


def _native(server: Server) -> APIRouter:
    from mlfactory.serving.protocols import native

    return native.routes(server)


def _mlflow(server: Server) -> APIRouter:
    from mlfactory.serving.protocols import mlflow

    return mlflow.routes(server)


def _v2(server: Server) -> APIRouter:
    from mlfactory.serving.protocols import v2

    return v2.routes(server)


PROTOCOLS: dict[str, Callable[[Server], APIRouter]] = {
    "mlfactory": _native,
    "mlflow": _mlflow,
    "v2": _v2,
}
