"""The file formats mlfactory reads: CSV and Parquet."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mlfactory.data.sources import FileFormat, register_file_format

if TYPE_CHECKING:
    import pandas as pd

__all__: list[str] = []


def _read_csv(path: Path) -> pd.DataFrame:
    import pandas as pd

    return pd.read_csv(path)


def _read_parquet(path: Path) -> pd.DataFrame:
    import pandas as pd

    return pd.read_parquet(path)


register_file_format(FileFormat("CSV", (".csv",), _read_csv))
register_file_format(FileFormat("Parquet", (".parquet", ".pq"), _read_parquet))
