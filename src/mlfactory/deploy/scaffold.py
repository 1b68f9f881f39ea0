"""``mlfactory init``: a project a user commits, from a table or from nothing.

``init_project`` reads the data with mlfactory's own readers (so what init accepts,
training accepts), guesses the spec (``scaffold_infer.py``), writes factory.yaml
(``scaffold_spec.py``) and the project's other files (``scaffold_files.py``), and
records each file's SHA-256 in ``.mlfactory-init.json``.

It writes into a new or empty folder. With ``force`` it updates a folder: a file whose
content is still what init wrote (its hash is in the record) is rewritten, a file
that is new is written, and a file the user edited, or one init never wrote, is left
as it is, with init's version written beside it as ``FILE.new``.

A small data file (``COPY_LIMIT``) is copied into ``data/`` so the project runs anywhere,
its CI included; a larger one, or a folder, is referenced where it is, and factory.yaml
says so; a ``builtin:`` source ships inside a package and is named as is.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from mlfactory.deploy.scaffold_files import project_files
from mlfactory.deploy.scaffold_infer import Guess, guess
from mlfactory.deploy.scaffold_spec import Source, project_name, spec_text, template_text
from mlfactory.errors import BadInputError, DataError, did_you_mean
from mlfactory.files import write_atomically
from mlfactory.versions import __version__

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["COPY_LIMIT", "RECORD", "InitResult", "init_project"]

COPY_LIMIT = 50 * 2**20  # bytes: a data file up to this size is copied into the project
RECORD = ".mlfactory-init.json"
TASK_NAMES = ("classification", "regression", "forecasting", "anomaly")


@dataclass(frozen=True)
class InitResult:
    """What ``init_project`` did, for the command to say."""

    folder: Path
    written: list[str] = field(default_factory=list)  # new or rewritten files
    unchanged: list[str] = field(default_factory=list)  # already what init writes
    kept: list[str] = field(default_factory=list)  # edited by the user: FILE.new beside
    guess: Guess | None = None
    source: str | None = None  # data.source as factory.yaml names it


def init_project(
    folder: str | Path,
    *,
    data: str | None = None,
    target: str | None = None,
    task: str | None = None,
    name: str | None = None,
    force: bool = False,
) -> InitResult:
    """Write a project into ``folder`` (see the module's docstring)."""
    folder = Path(folder)
    _check_arguments(folder, data=data, target=target, task=task, force=force)
    name = name or project_name(folder.resolve().name)
    files: dict[str, bytes] = {}
    found: Guess | None = None
    source: Source | None = None
    if data is None:
        files["factory.yaml"] = template_text(name=name, task=task or "classification").encode()
    else:
        frame, source, copied = _read(data, folder)
        found = guess(frame, target=target, task=task, shown_as=data)
        if copied is not None:
            files[source.value] = copied
        text = spec_text(found, name=name, source=source, shown_as=data)
        files["factory.yaml"] = text.encode()
    files |= {path: text.encode() for path, text in project_files(name=name).items()}
    result = _write(folder, files)
    return InitResult(
        folder=folder,
        written=result.written,
        unchanged=result.unchanged,
        kept=result.kept,
        guess=found,
        source=source.value if source else None,
    )


def _check_arguments(
    folder: Path, *, data: str | None, target: str | None, task: str | None, force: bool
) -> None:
    if task is not None and task not in TASK_NAMES:
        raise BadInputError(
            f"--task {task!r} is not a task{did_you_mean(task, TASK_NAMES)}; choose from "
            f"{', '.join(TASK_NAMES)}."
        )
    if target is not None and data is None:
        raise BadInputError(f"--target {target!r} needs --data, the file it is a column of.")
    if folder.exists() and not folder.is_dir():
        raise BadInputError(f"{str(folder)!r} is a file; give a folder to write the project in.")
    held = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
    if held and not force:
        shown = ", ".join(held[:5]) + (f" and {len(held) - 5} more" if len(held) > 5 else "")
        raise BadInputError(
            f"folder {str(folder)!r} is not empty (it holds {shown}); mlfactory init writes a "
            "new project into a new or empty folder. Use --force to update a project init "
            "wrote: files you edited are kept, init's version is written beside as FILE.new."
        )


def _read(data: str, folder: Path) -> tuple[pd.DataFrame, Source, bytes | None]:
    """The table, where factory.yaml will find it, and the bytes to copy (None: not copied)."""
    from mlfactory.data import read_source
    from mlfactory.data.sources import READERS

    frame = read_source(data)  # DataError naming the file and why it cannot be read
    if len(frame.columns) == 0 or len(frame) == 0:
        raise DataError(f"{data!r} holds no rows; give a table with a header and rows.")
    if any(reader.matches(data) for reader in READERS.values()):
        note = f"{data} ships inside a package mlfactory installs: nothing to copy"
        return frame, Source(data, note), None
    path = Path(data).resolve()
    size = path.stat().st_size if path.is_file() else None
    if size is not None and size <= COPY_LIMIT:
        note = (
            f"copied from {path} ({_size(size)}) into the project, so it trains anywhere, "
            "CI included; replace the file to train on newer rows"
        )
        return frame, Source(f"data/{path.name}", note), path.read_bytes()
    inside = path.is_relative_to(folder.resolve())
    where = path.relative_to(folder.resolve()).as_posix() if inside else str(path)
    what = f"{_size(size)}, over {_size(COPY_LIMIT)}" if size is not None else "a folder"
    note = (
        f"{path} is {what}: not copied, referenced where it is. CI must be able to read "
        "this path too: point source at a location it can reach"
    )
    return frame, Source(where, note), None


def _size(size: int) -> str:
    if size < 1024:
        return f"{size:,} bytes"
    return f"{size / 1024:,.1f} KB" if size < 2**20 else f"{size / 2**20:,.1f} MB"


def _digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


@dataclass
class _Written:
    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)


def _write(folder: Path, files: dict[str, bytes]) -> _Written:
    """Write ``files``, never over a file the record does not show as init's own."""
    record_path = folder / RECORD
    record = _record(record_path)
    done = _Written()
    for relative, content in files.items():
        path = folder / relative
        digest = _digest(content)
        if path.exists():
            current = _digest(path.read_bytes())
            if current == digest:
                done.unchanged.append(relative)
                record[relative] = digest
                continue
            if record.get(relative) != current:  # edited, or never written by init
                _put(path.with_name(path.name + ".new"), content)
                done.kept.append(relative)
                continue
        _put(path, content)
        record[relative] = digest
        done.written.append(relative)
    text = json.dumps({"mlfactory": __version__, "files": dict(sorted(record.items()))}, indent=1)
    _put(record_path, text.encode() + b"\n")
    return done


def _record(path: Path) -> dict[str, str]:
    """The hashes init wrote last time (none when the record is missing or unreadable)."""
    try:
        files = json.loads(path.read_text()).get("files", {})
    except (OSError, ValueError, AttributeError):
        return {}
    return {str(k): str(v) for k, v in files.items()} if isinstance(files, dict) else {}


def _put(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, lambda handle: handle.write(content))
