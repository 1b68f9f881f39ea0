"""The file formats mlfactory reads: CSV and Parquet."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlfactory.data.sources import FileFormat, register_file_format

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["one_column_hint", "repeated_name_hint"]

# what else separates the fields of a "CSV" (Excel writes semicolons where a comma is the
# decimal mark)
SEPARATORS = {";": "semicolons", "\t": "tabs", "|": "vertical bars"}


def one_column_hint(columns: list[str]) -> str | None:
    """Why a CSV read as one column likely holds more, when its one name holds a
    separator other than the comma; None otherwise."""
    if len(columns) != 1:
        return None
    name = columns[0]
    found = max(SEPARATORS, key=name.count)
    if not name.count(found):
        return None
    return (
        f"it reads as one column named {name!r}: mlfactory reads comma-separated files, and "
        f"this one seems separated by {SEPARATORS[found]}; save it with commas, or read it "
        f"with DuckDB in SQL: read_csv('FILE', delim={found!r})"
    )


def repeated_name_hint(frame: pd.DataFrame, source: Any) -> str | None:
    """Why a CSV that pandas read as ``frame`` (from ``source``: a path or an open binary
    file, read again at its start) cannot be used: its header names a column twice, and
    pandas renames the second ``a`` to ``a.1`` without a word, so a model would learn
    and ask for a column nobody wrote. None otherwise (the header is read again only when
    a name looks renamed)."""
    import pandas as pd

    names = [str(c) for c in frame.columns]
    renamed = [n for n in names if (m := _RENAMED.match(n)) and m.group(1) in names]
    if not renamed:
        return None
    if hasattr(source, "seek"):
        source.seek(0)
    header = pd.read_csv(source, header=None, nrows=1, dtype=str, keep_default_na=False)
    written = [str(v) for v in header.iloc[0]] if len(header) else names
    twice = sorted({n for n in written if written.count(n) > 1})
    if not twice:
        return None  # a column really named like 'a.1'
    return (
        f"its header names {', '.join(repr(n) for n in twice)} more than once (pandas would "
        f"read the second as {twice[0] + '.1'!r}); give every column a name of its own"
    )


_RENAMED = re.compile(r"^(.*)\.[0-9]+$")


def _read_csv(path: Path) -> pd.DataFrame:
    import pandas as pd

    from mlfactory.errors import DataError

    try:
        frame = pd.read_csv(path)
    except UnicodeDecodeError as exc:
        raise DataError(
            f"cannot read {str(path)!r}: it is not UTF-8 text (byte "
            f"{exc.object[exc.start]:#04x}: {exc.reason}); save it as UTF-8"
        ) from None
    if hint := one_column_hint([str(c) for c in frame.columns]) or repeated_name_hint(frame, path):
        raise DataError(f"cannot read {str(path)!r}: {hint}")
    return frame


def _read_parquet(path: Path) -> pd.DataFrame:
    import pandas as pd

    return pd.read_parquet(path)


register_file_format(FileFormat("CSV", (".csv",), _read_csv))
register_file_format(FileFormat("Parquet", (".parquet", ".pq"), _read_parquet))
