"""The file formats mlfactory reads: CSV and Parquet."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mlfactory.data.sources import FileFormat, register_file_format

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["one_column_hint"]

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
    if hint := one_column_hint([str(c) for c in frame.columns]):
        raise DataError(f"cannot read {str(path)!r}: {hint}")
    return frame


def _read_parquet(path: Path) -> pd.DataFrame:
    import pandas as pd

    return pd.read_parquet(path)


register_file_format(FileFormat("CSV", (".csv",), _read_csv))
register_file_format(FileFormat("Parquet", (".parquet", ".pq"), _read_parquet))
