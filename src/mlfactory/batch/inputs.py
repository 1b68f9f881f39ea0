"""What ``--input`` names: its files, and each file's chunks.

A chunk is a plain description (file, format, index, first row, and for CSV the
byte range of its records), so reading it is a pure function anyone can call,
in any process: ``read_chunk``. A Parquet chunk is one row group; a CSV chunk is
``csv_rows`` whole records, found by one streaming pass over the file that
counts record ends (a newline outside double quotes, so quoted newlines stay
inside their record). Nothing reads a whole table.

Files whose columns differ refuse the whole input; a file that cannot be opened
(a corrupt Parquet file) is reported and the others are planned.
"""

from __future__ import annotations

import glob
import hashlib
import io
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from mlfactory.data.formats import one_column_hint, repeated_name_hint
from mlfactory.errors import BadInputError, DataError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Chunk", "InputPlan", "find_files", "plan_chunks", "plan_parquet", "read_chunk"]

SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
CSV_ROWS = 100_000  # records per CSV chunk
_BLOCK = 1 << 20  # bytes scanned at a time for CSV record ends


@dataclass(frozen=True)
class Chunk:
    """One piece of one input file; ``key`` names its parts in the output."""

    path: str
    format: str  # "csv" or "parquet"
    index: int  # row group, or CSV block
    first_row: int  # the chunk's first row, counted from the file's first data row
    rows: int
    start: int = 0  # CSV: byte range of the chunk's records
    end: int = 0
    header_end: int = 0  # CSV: bytes of the header line
    label: str = ""  # what output rows name as their _source, when not the path ("sql:<hash>")

    @property
    def source(self) -> str:
        """The input the chunk's rows come from, as ``_source`` names it."""
        return self.label or self.path

    @property
    def key(self) -> str:
        digest = hashlib.sha256(self.source.encode()).hexdigest()[:12]
        return f"{digest}-{self.index:06d}"


@dataclass(frozen=True)
class InputPlan:
    files: list[str]
    columns: list[str]  # the files' columns (all the same)
    chunks: list[Chunk]
    problems: list[str]  # files that could not be opened, each said why


def find_files(source: str) -> list[Path]:
    """The CSV and Parquet files ``source`` names: a file, a folder (recursively) or a glob."""
    path = Path(source)
    if path.is_dir():
        found = sorted(p for p in path.rglob("*") if p.is_file())
    elif path.is_file():
        found = [path]
    elif glob.has_magic(source):
        found = sorted(Path(p) for p in glob.glob(source, recursive=True) if Path(p).is_file())
    else:
        raise BadInputError(
            f"--input {source!r} does not exist; give a CSV or Parquet file, a folder of "
            "them, or a glob such as 'data/*.parquet'."
        )
    files = [p for p in found if p.suffix in SUFFIXES and not p.name.startswith(".")]
    if not files:
        raise BadInputError(
            f"--input {source!r} names no .csv, .parquet or .pq file; give a CSV or Parquet "
            "file, a folder of them, or a glob."
        )
    return files


def plan_chunks(source: str, *, csv_rows: int = CSV_ROWS) -> InputPlan:
    """Every chunk of every file ``source`` names; ``DataError`` if their columns differ."""
    files = find_files(source)
    chunks: list[Chunk] = []
    problems: list[str] = []
    columns: dict[tuple[str, ...], list[str]] = {}
    for path in files:
        kind = SUFFIXES[path.suffix]
        try:
            names, planned = (
                _parquet_chunks(path) if kind == "parquet" else _csv_chunks(path, csv_rows)
            )
        except Exception as exc:
            problems.append(f"skipped {str(path)!r}: cannot read it as {kind} ({exc})")
            continue
        columns.setdefault(tuple(names), []).append(str(path))
        chunks += planned
    if len(columns) > 1:
        raise DataError.from_problems(
            f"the files of --input {source!r} do not all have the same columns; score each "
            "kind of file in its own run",
            [
                f"{len(paths)} file(s) such as {paths[0]!r} have columns {list(names)}"
                for names, paths in columns.items()
            ],
        )
    names = list(next(iter(columns), ()))
    return InputPlan([str(p) for p in files], names, chunks, problems)


def plan_parquet(path: Path, *, label: str = "") -> InputPlan:
    """The row groups of one Parquet file (hidden or not), their rows named ``label``."""
    names, chunks = _parquet_chunks(path)
    return InputPlan([str(path)], names, [replace(c, label=label) for c in chunks], [])


def _parquet_chunks(path: Path) -> tuple[list[str], list[Chunk]]:
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(path).metadata
    chunks, first = [], 0
    for group in range(meta.num_row_groups):
        rows = meta.row_group(group).num_rows
        chunks.append(Chunk(str(path), "parquet", group, first, rows))
        first += rows
    return list(meta.schema.to_arrow_schema().names), chunks


def _csv_chunks(path: Path, csv_rows: int) -> tuple[list[str], list[Chunk]]:
    """Byte ranges of ``csv_rows`` records each, from one pass counting record ends."""
    import numpy as np
    import pandas as pd

    head = pd.read_csv(path, nrows=0)
    names = [str(c) for c in head.columns]
    if hint := one_column_hint(names) or repeated_name_hint(head, path):
        raise ValueError(hint)
    ends: list[int] = []  # byte offset just after each chunk's last record end
    quoted = 0  # parity of quotes seen so far
    records = -1  # the header's end is record -1
    header_end = last_end = 0
    offset = 0
    with open(path, "rb") as handle:
        while block := handle.read(_BLOCK):
            data = np.frombuffer(block, dtype=np.uint8)
            parity = (np.cumsum(data == 34) + quoted) % 2
            newlines = np.flatnonzero((data == 10) & (parity == 0))
            numbers = records + np.arange(len(newlines))  # the record each newline ends
            if records == -1 and len(newlines):
                header_end = offset + int(newlines[0]) + 1
            closing = newlines[(numbers >= 0) & ((numbers + 1) % csv_rows == 0)]
            ends += [offset + int(p) + 1 for p in closing]
            records += len(newlines)
            if len(newlines):
                last_end = offset + int(newlines[-1]) + 1
            quoted = int(parity[-1])
            offset += len(block)
    if header_end == 0:  # a header without a newline: no records
        return names, []
    total = records + (1 if last_end < offset else 0)  # a last record without a newline
    chunks, start, first = [], header_end, 0
    for index, end in enumerate(ends):
        chunks.append(Chunk(str(path), "csv", index, first, csv_rows, start, end, header_end))
        start, first = end, first + csv_rows
    if total > first:
        chunks.append(
            Chunk(str(path), "csv", len(chunks), first, total - first, start, offset, header_end)
        )
    return names, chunks


def read_chunk(chunk: Chunk) -> pd.DataFrame:
    """The chunk's rows, read without the rest of its file; ``DataError`` names file and rows."""
    import pandas as pd

    try:
        if chunk.format == "parquet":
            import pyarrow.parquet as pq

            frame: pd.DataFrame = pq.ParquetFile(chunk.path).read_row_group(chunk.index).to_pandas()
            return frame
        with open(chunk.path, "rb") as handle:
            header = handle.read(chunk.header_end)
            handle.seek(chunk.start)
            body = handle.read(chunk.end - chunk.start)
        frame = pd.read_csv(io.BytesIO(header + body))
        if not isinstance(frame.index, pd.RangeIndex):  # pandas took extra fields for an index
            raise ValueError("the chunk's first record has more fields than the header")
        return frame
    except Exception as exc:
        last = chunk.first_row + chunk.rows
        raise DataError(
            f"cannot read rows {chunk.first_row:,} to {last:,} of {chunk.path!r} "
            f"({type(exc).__name__}: {exc}); fix or remove the file and run again (parts "
            "already written are kept)"
        ) from None
