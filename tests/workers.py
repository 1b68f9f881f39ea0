"""Functions a spawned worker process can import by name (test modules cannot be)."""

from __future__ import annotations

import os


def pid(_: object) -> int:
    """The process that ran the call."""
    return os.getpid()


def threads(_: object) -> str | None:
    """The native thread count a worker was given."""
    return os.environ.get("OMP_NUM_THREADS")
