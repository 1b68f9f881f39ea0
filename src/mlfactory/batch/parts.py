"""The output folder: parts committed atomically, and the manifest naming them.

Layout, the prediction log's (``serving/predlog.py``), so ``mlfactory monitor
NAME@ALIAS --current DIR`` (or ``--prediction-log DIR``) reads the scores, and only
them (``scored_by`` names the model whose parts to read)::

    DIR/_batch.json                       the manifest
    DIR/model=<name>/part-<key>.parquet   scored rows of one chunk
    DIR/rejects/part-<key>.parquet        its refused rows, with _reason
    DIR/.query-<hash>.parquet             with --sql: the query's result (``query.py``)

A part is written under a hidden temporary name in its folder, synced, and
moved into place with ``os.replace``; then the manifest, rewritten the same way,
records the chunk (file, chunk index, rows, scored, rejected). A part's name
depends on its chunk alone, so a chunk scored again after a kill replaces its
own part: no row is ever written twice, and no reader sees a torn file.
Temporary files a kill left behind are removed when the job starts.
"""

from __future__ import annotations

import contextlib
import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlfactory.errors import BadInputError
from mlfactory.files import write_atomically

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["FORMAT", "MANIFEST", "BatchManifest", "PartRecord", "scored_by", "write_part"]

FORMAT = "mlfactory.batch/1"
MANIFEST = "_batch.json"
REJECTS = "rejects"
QUERY_RESULTS = ".query-*.parquet"


@dataclass(frozen=True)
class PartRecord:
    """One committed chunk."""

    key: str
    source: str
    chunk: int
    rows: int
    scored: int
    rejected: int


@dataclass
class BatchManifest:
    """What an output folder holds: whose scores, of what input, which chunks are done."""

    model: str
    version: str
    input: str | None  # None: a query that reads files itself
    parts: dict[str, PartRecord] = field(default_factory=dict)
    format: str = FORMAT
    query: str | None = None  # --sql

    @classmethod
    def open(
        cls,
        folder: Path,
        *,
        model: str,
        version: str,
        input: str | None,
        overwrite: bool,
        query: str | None = None,
    ) -> BatchManifest:
        """The folder's manifest for this job: resumed, started, or refused.

        A folder holding another model's, version's, input's or query's results is
        refused unless ``overwrite``, which removes those results (and nothing else).
        """
        fresh = cls(model=model, version=version, input=input, query=query)
        _make(folder)
        path = folder / MANIFEST
        if path.exists():
            found = _read(path)
            job = (found.model, found.version, found.input, found.query)
            if job == (model, version, input, query) and not overwrite:
                _remove_temporary(folder)
                return found
            if not overwrite:
                raise BadInputError(
                    f"--output {str(folder)!r} holds the scores of {found.model} version "
                    f"{found.version} for {_job(found.input, found.query)}, not of {model} "
                    f"version {version} for {_job(input, query)}; choose another folder, or "
                    "pass --overwrite to replace them"
                )
            clear(folder, found.model)
        elif any(folder.iterdir()) and not overwrite:
            raise BadInputError(
                f"--output {str(folder)!r} holds files that mlfactory batch did not write "
                "(it has no _batch.json); choose an empty or new folder, or pass --overwrite"
            )
        _remove_temporary(folder)
        try:
            fresh.save(folder)
        except OSError as exc:
            raise BadInputError(
                f"cannot write in the --output folder {str(folder)!r} ({exc.strerror or exc}); "
                "give a folder this process can write"
            ) from None
        return fresh

    def save(self, folder: Path) -> None:
        record = {**asdict(self), "parts": {k: asdict(v) for k, v in self.parts.items()}}
        text = json.dumps(record, indent=1).encode()
        write_atomically(folder / MANIFEST, lambda handle: handle.write(text))

    def commit(self, folder: Path, record: PartRecord) -> None:
        self.parts[record.key] = record
        self.save(folder)


def scored_by(folder: Path) -> str | None:
    """The model whose scores ``folder`` holds, if ``mlfactory batch`` wrote it; else None."""
    path = folder / MANIFEST
    return _read(path).model if folder.is_dir() and path.is_file() else None


def write_part(folder: Path, model: str, key: str, scored: pd.DataFrame, rejects: Any) -> None:
    """Write a chunk's parts atomically (the rejects only when there are some)."""
    if len(scored):
        _write_parquet(scored, folder / f"model={model}" / f"part-{key}.parquet")
    if len(rejects):
        _write_parquet(rejects, folder / REJECTS / f"part-{key}.parquet")


def clear(folder: Path, model: str) -> None:
    """Remove a job's results: its manifest, its model's parts, the rejects, a query's result."""
    for sub in (folder / f"model={model}", folder / REJECTS):
        shutil.rmtree(sub, ignore_errors=True)
    for path in [folder / MANIFEST, *folder.glob(QUERY_RESULTS)]:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _job(input: str | None, query: str | None) -> str:
    """A job's input as the options that gave it."""
    given = [f"--input {input!r}"] if input is not None else []
    return " with ".join(given + ([f"--sql {query!r}"] if query is not None else []))


def _make(folder: Path) -> None:
    try:
        if folder.exists() and not folder.is_dir():
            raise NotADirectoryError(20, "a file, not a folder")
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BadInputError(
            f"cannot create the --output folder {str(folder)!r} ({exc.strerror or exc}); "
            "give a folder this process can write"
        ) from None


def _read(path: Path) -> BatchManifest:
    try:
        record = json.loads(path.read_text())
        if record.get("format") != FORMAT:
            raise ValueError(f"format {record.get('format')!r}, expected {FORMAT!r}")
        parts = {k: PartRecord(**v) for k, v in record.pop("parts").items()}
        return BatchManifest(**record, parts=parts)
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise BadInputError(
            f"the batch manifest {str(path)!r} cannot be read ({exc}); pass --overwrite to "
            "score the input again from the start"
        ) from None


def _remove_temporary(folder: Path) -> None:
    for path in folder.rglob(".*.tmp"):
        with contextlib.suppress(OSError):
            path.unlink()


def _write_parquet(frame: pd.DataFrame, path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame, preserve_index=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, lambda handle: pq.write_table(table, handle))
