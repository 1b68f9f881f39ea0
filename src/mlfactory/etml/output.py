"""The ETML job's load step: ``OUTPUT/date=YYYY-MM-DD/``, one folder a day, whole or absent.

``open_output`` claims the folder for one job: ``OUTPUT/_job.json`` names the job and
a hash of its spec's path. A folder holding another job's marker, or anything without
a marker (date folders someone else wrote, unrelated files), is refused, naming the
folder and the other job: nothing of it is deleted. Inside a claimed folder, a name
that starts with ``date=`` but is not exactly ``date=YYYY-MM-DD`` is not ours either:
refused, never deleted.

``write_day`` replaces one date's folder as a whole. It writes every file under a hidden
name in ``OUTPUT`` and syncs them, then swaps the folders::

    1. write  .date=D.partial/...   files written and fsynced, then the folder
    2. commit .date=D.partial -> .date=D.new          (the new day is complete)
    3. aside  date=D          -> .date=D.old          (when there is an old day)
    4. swap   .date=D.new     -> date=D
    5. drop   .date=D.old                             (removed file by file)

Each arrow is one ``os.replace`` of a folder, and ``OUTPUT`` is fsynced after each.
The window: between 3 and 4 (two renames, microseconds) a reader listing ``OUTPUT``
finds no folder for ``D``; it never finds a torn file, a half-written folder, or two
folders for one date, and the hidden names are not ``date=`` folders to a reader.

A ``kill -9`` at any point leaves a state ``recover`` finishes or undoes; it runs when
the folder is opened and before each write of a day:

- ``.partial`` alone, or beside ``date=D``: the write never committed; removed (old day kept);
- ``.new`` (committed): rolled forward, steps 3 to 5 (the new day wins);
- ``.old`` with ``date=D``: step 5; ``.old`` alone (never left by these steps): restored.

One writer per output folder: two runs of one job writing the same date at once are
not supported (the job runs one date at a time).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import BinaryIO

from mlfactory.errors import BadInputError
from mlfactory.files import temporary_name, write_atomically

__all__ = [
    "MARKER",
    "JobMarker",
    "days",
    "open_output",
    "read_day",
    "recover",
    "spec_path_hash",
    "write_day",
]

MARKER = "_job.json"
_DAY = re.compile(r"date=(\d{4}-\d{2}-\d{2})")
_STAGE = re.compile(r"\.date=(\d{4}-\d{2}-\d{2})\.(partial|new|old)")
_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")

FileContent = bytes | Callable[[BinaryIO], object]


@dataclass(frozen=True)
class JobMarker:
    """What ``_job.json`` holds: the job's name, its spec's path and that path's hash."""

    job: str
    spec: str
    spec_hash: str

    def same_job(self, other: JobMarker) -> bool:
        return (self.job, self.spec_hash) == (other.job, other.spec_hash)

    def said(self) -> str:
        return f"job {self.job!r} (spec {self.spec})"


def spec_path_hash(spec_path: str | Path) -> str:
    """The first 16 hex digits of the SHA-256 of the spec's absolute path."""
    return hashlib.sha256(str(Path(spec_path).resolve()).encode()).hexdigest()[:16]


def _day_of(name: str) -> date | None:
    """The date a ``date=YYYY-MM-DD`` folder name holds; None for any other name."""
    found = _DAY.fullmatch(name)
    if found is None:
        return None
    try:
        return date.fromisoformat(found.group(1))
    except ValueError:
        return None


def _folder(root: Path, day: date) -> Path:
    return root / f"date={day.isoformat()}"


def _stage(root: Path, day: date, stage: str) -> Path:
    return root / f".date={day.isoformat()}.{stage}"


def _sync_folder(path: Path) -> None:
    handle = os.open(path, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def _read_marker(root: Path) -> JobMarker | None:
    path = root / MARKER
    try:
        raw = json.loads(path.read_text())
        return JobMarker(job=raw["job"], spec=raw["spec"], spec_hash=raw["spec_hash"])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BadInputError(
            f"output folder '{root}' has an unreadable {MARKER} ({type(exc).__name__}: {exc}); "
            "it may be another program's data. Give the job another output folder."
        ) from None


def open_output(root: str | Path, *, job: str, spec_path: str | Path) -> Path:
    """Claim ``root`` for ``job`` (creating it), finish any half-done swap, return it.

    Refused with a BadInputError naming the folder and what it holds: another job's
    marker, anything in a folder without a marker, a ``date=`` name that is not a date.
    """
    root = Path(root)
    ours = JobMarker(
        job=job, spec=str(Path(spec_path).resolve()), spec_hash=spec_path_hash(spec_path)
    )
    if root.exists() and not root.is_dir():
        raise BadInputError(f"output '{root}' is a file, not a folder; give a folder.")
    root.mkdir(parents=True, exist_ok=True)
    marker = _read_marker(root)
    if marker is None:
        leftover = temporary_name(root / MARKER).name  # a claim killed halfway
        present = sorted(p.name for p in root.iterdir() if p.name != leftover)
        if present:
            shown = ", ".join(present[:5]) + (", ..." if len(present) > 5 else "")
            raise BadInputError(
                f"output folder '{root}' is not empty ({shown}) and has no {MARKER}: it holds "
                f"data no ETML job claimed. Give {ours.said()} an empty or new output folder."
            )
        payload = json.dumps(ours.__dict__, indent=2).encode()
        write_atomically(root / MARKER, lambda handle: handle.write(payload))
        _sync_folder(root)
    elif not marker.same_job(ours):
        raise BadInputError(
            f"output folder '{root}' holds the output of {marker.said()}, not of {ours.said()}. "
            "Give this job its own output folder, or remove that one if its data is no "
            "longer wanted."
        )
    strange = sorted(
        p.name for p in root.iterdir() if p.name.startswith("date=") and _day_of(p.name) is None
    )
    if strange:
        raise BadInputError(
            f"output folder '{root}' holds {', '.join(strange)}: named like a day's folder but "
            "not date=YYYY-MM-DD, so not this job's. Move it out of the output folder."
        )
    recover(root)
    return root


def recover(root: str | Path) -> list[str]:
    """Finish or undo every half-done swap in ``root`` (see the module); what was done."""
    root = Path(root)
    staged = {found.group(1) for p in root.iterdir() if (found := _STAGE.fullmatch(p.name))}
    done: list[str] = []
    for text in sorted(staged):
        with contextlib.suppress(ValueError):
            done += _recover_day(root, date.fromisoformat(text))
    return done


def _recover_day(root: Path, day: date) -> list[str]:
    final, partial = _folder(root, day), _stage(root, day, "partial")
    new, old = _stage(root, day, "new"), _stage(root, day, "old")
    done = []
    if partial.exists():
        shutil.rmtree(partial)
        done.append(f"removed {partial.name}: a write of {day} that never completed")
    if new.exists():
        _swap_in(root, new, final, old)
        done.append(f"finished the swap of {final.name}: its new folder was complete")
    elif old.exists():
        if final.exists():
            shutil.rmtree(old)
            done.append(f"removed {old.name}: {final.name} was already replaced")
        else:
            os.replace(old, final)
            _sync_folder(root)
            done.append(f"restored {final.name} from {old.name}")
    return done


def _swap_in(root: Path, new: Path, final: Path, old: Path) -> None:
    """Steps 3 to 5: the old folder aside, the new one in, the old one removed."""
    if final.exists():
        if old.exists():  # an earlier swap's leftover, older than final: not wanted
            shutil.rmtree(old)
        os.replace(final, old)
        _sync_folder(root)
    os.replace(new, final)
    _sync_folder(root)
    if old.exists():
        shutil.rmtree(old)
        _sync_folder(root)


def write_day(root: str | Path, day: date, files: Mapping[str, FileContent]) -> Path:
    """Replace ``OUTPUT/date=DAY/`` with exactly ``files`` (name -> bytes, or a writer).

    A writer is called with the open binary file. The day's folder is swapped in only
    once every file is written and synced (see the module for the steps and the window).
    """
    root = Path(root)
    for name in files:
        if not _FILE_NAME.fullmatch(name):
            raise ValueError(f"output file name {name!r} must be a plain, visible file name")
    _recover_day(root, day)
    partial, new = _stage(root, day, "partial"), _stage(root, day, "new")
    partial.mkdir()
    for name, content in files.items():
        with open(partial / name, "wb") as handle:
            if isinstance(content, bytes):
                handle.write(content)
            else:
                content(handle)
            handle.flush()
            os.fsync(handle.fileno())
    _sync_folder(partial)
    os.replace(partial, new)  # step 2: from here on the new day wins
    _sync_folder(root)
    final = _folder(root, day)
    _swap_in(root, new, final, _stage(root, day, "old"))
    return final


def read_day(root: str | Path, day: date) -> dict[str, bytes] | None:
    """The files of ``OUTPUT/date=DAY/`` by name, or None when the day has no folder."""
    folder = _folder(Path(root), day)
    if not folder.is_dir():
        return None
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def days(root: str | Path) -> list[date]:
    """The dates ``root`` holds a folder of, in order."""
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted(d for p in root.iterdir() if p.is_dir() and (d := _day_of(p.name)) is not None)
