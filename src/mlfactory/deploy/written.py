"""An export's output folder: files mlfactory wrote there, and nobody else's touched.

``write_files`` records what it wrote in ``.mlfactory-export.json`` (each file's
SHA-256). Writing again into the same folder replaces those files, and removes
the ones of the last export that this one no longer writes, as long as nobody
edited them. A folder holding any other file (or one of ours, edited) is
refused unless ``force``; with ``force`` our files are written over and the
others are left as they are: an export never deletes a file it did not write.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from mlfactory.errors import BadInputError
from mlfactory.files import write_atomically

__all__ = ["MARKER", "write_files"]

MARKER = ".mlfactory-export.json"


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _ours(folder: Path) -> dict[str, str]:
    """The files the last export wrote here, by relative path, with their digests."""
    try:
        recorded = json.loads((folder / MARKER).read_text())
        files = recorded["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    return {str(k): str(v) for k, v in files.items()} if isinstance(files, dict) else {}


def _present(folder: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for top, _, names in os.walk(folder):
        for name in names:
            path = Path(top) / name
            found[path.relative_to(folder).as_posix()] = path
    return found


def _unchanged(path: Path, digest: str) -> bool:
    try:
        return _digest(path.read_bytes()) == digest
    except OSError:
        return False


def _writer(data: bytes) -> Callable[[BinaryIO], object]:
    return lambda handle: handle.write(data)


def write_files(folder: Path, files: dict[str, bytes], *, force: bool, command: str) -> list[Path]:
    """Write ``files`` (relative path -> bytes) under ``folder``; return their paths.

    ``command`` is how the user ran the export, to name in a refusal.
    """
    if folder.exists() and not folder.is_dir():
        raise BadInputError(f"--output {str(folder)!r} is a file; give a folder.")
    ours = _ours(folder) if folder.is_dir() else {}
    present = _present(folder) if folder.is_dir() else {}
    others = sorted(
        name
        for name, path in present.items()
        if name != MARKER and not (name in ours and _unchanged(path, ours[name]))
    )
    if others and not force:
        shown = ", ".join(others[:5]) + (f" and {len(others) - 5} more" if len(others) > 5 else "")
        raise BadInputError(
            f"--output {str(folder)!r} holds files this export did not write ({shown}); "
            f"choose an empty folder, or run `{command} --force` to write over the export's own "
            "files and leave the others."
        )
    for name in sorted(set(ours) - set(files)):  # the last export's, unedited: ours to remove
        path = folder / name
        if name in present and _unchanged(path, ours[name]):
            path.unlink()
    written = []
    for name, data in sorted(files.items()):
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, _writer(data))
        written.append(path)
    record = {"command": command, "files": {n: _digest(d) for n, d in sorted(files.items())}}
    marker = json.dumps(record, indent=1).encode()
    write_atomically(folder / MARKER, _writer(marker))
    return written
