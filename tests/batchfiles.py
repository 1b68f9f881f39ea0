"""Parquet files for batch tests: input written in row groups, output parts read one by one."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq


def write_parquet(frame: pd.DataFrame, path: Path, row_group_size: int) -> Path:
    pq.write_table(
        pa.Table.from_pandas(frame, preserve_index=False), path, row_group_size=row_group_size
    )
    return path


def read_parts(folder: Path) -> pd.DataFrame:
    """Every part of a folder, each read alone (so each must be a whole Parquet file)."""
    paths = sorted(p for p in folder.glob("*.parquet") if not p.name.startswith("."))
    return pd.concat([pq.read_table(p).to_pandas() for p in paths], ignore_index=True)
