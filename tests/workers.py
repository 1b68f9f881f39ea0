"""Functions a spawned worker process can import by name (test modules cannot be)."""

from __future__ import annotations

import os


def pid(_: object) -> int:
    """The process that ran the call."""
    return os.getpid()
