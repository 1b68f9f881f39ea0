"""Files a reader may open at any moment: written whole or not at all.

``write_atomically`` writes under a hidden name next to the target (``.NAME.tmp``,
on the same file system), syncs it, then moves it into place with
``os.replace``: a reader, or a process killed with ``-9`` halfway, sees the old
file or the whole new one, never part of one. The prediction log, batch parts
and their manifest, and ``models split`` all write this way.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

__all__ = ["temporary_name", "write_atomically"]


def temporary_name(path: Path) -> Path:
    """Where ``write_atomically`` writes ``path`` before moving it into place."""
    return path.with_name(f".{path.name}.tmp")


def write_atomically(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Call ``write`` with the open hidden file, sync it, then move it to ``path``."""
    temporary = temporary_name(path)
    try:
        with open(temporary, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise
