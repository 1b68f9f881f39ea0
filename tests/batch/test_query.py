"""`mlfactory batch --sql`: a DuckDB query over the input files, its result kept in the
output folder and scored like a Parquet file: once, resumably, refused when another
query's results are there, and a bad query is an error before anything is written."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from batchfiles import read_parts, write_parquet
from mlfactory.batch.query import query_label
from mlfactory.cli import main
from mlfactory.registry import Registry
from mlfactory.scoring import Scorer

pytestmark = pytest.mark.slow

OLDER = "select * from input where age >= 45 or age is null"


def _batch(
    registry: Path, capsys: pytest.CaptureFixture[str], *args: str, model: str = "mroz/1"
) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["batch", model, "--registry", str(registry), *args])
    return code, " ".join(capsys.readouterr().err.split())


def test_the_querys_rows_are_scored_and_a_rerun_does_not_run_it_again(
    registry: Path, mroz_rows: pd.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_parquet(mroz_rows, tmp_path / "rows.parquet", row_group_size=300)
    args = ("--input", "rows.parquet", "--sql", OLDER, "--output", "out", "--csv-rows", "50")
    code, _ = _batch(registry, capsys, *args, "--json", "summary.json")
    assert code == 0
    older = mroz_rows[(mroz_rows["age"] >= 45) | mroz_rows["age"].isna()].reset_index(drop=True)
    summary = json.loads(Path("summary.json").read_text())
    assert summary["rows"] == len(older) and summary["rejected"] == 2
    assert summary["parts"] == -(-len(older) // 50)  # the result's row groups: 50 rows each

    label = query_label(OLDER, "rows.parquet")
    scored = read_parts(tmp_path / "out" / "model=mroz").sort_values("_row")
    rejects = read_parts(tmp_path / "out" / "rejects")
    assert set(scored["_source"]) == set(rejects["_source"]) == {label}
    assert sorted([*scored["_row"], *rejects["_row"]]) == list(range(len(older)))
    assert list(rejects["person"]) == ["p0003", "p0400"]  # _row: the row in the result
    assert list(older["person"].iloc[rejects["_row"]]) == ["p0003", "p0400"]
    good = older.drop(index=rejects["_row"])
    assert list(scored["person"]) == list(good["person"])
    expected = Scorer.load(Registry(path=registry), "mroz/1").score(good).outputs
    np.testing.assert_allclose(scored["proba_yes"], expected["proba_yes"])

    # the scores read as current data: the scored rows, not the rejects nor the kept result
    code = main(["monitor", "mroz/1", "--registry", str(registry), "--current", "out",
                 "--json", "check.json"])  # fmt: skip
    assert code in (0, 3)
    assert json.loads(Path("check.json").read_text())["n_current"] == len(good)

    # a rerun scores nothing and runs no query: it does not even need the input any more
    kept = tmp_path / "out" / f".query-{label.removeprefix('sql:')}.parquet"
    before = kept.stat().st_mtime_ns
    (tmp_path / "rows.parquet").unlink()
    code, _ = _batch(registry, capsys, *args, "--json", "again.json")
    again = json.loads(Path("again.json").read_text())
    assert code == 0 and again["resumed"] == again["parts"] == summary["parts"]
    assert kept.stat().st_mtime_ns == before


def test_another_query_is_refused_unless_overwrite(
    registry: Path, mroz_rows: pd.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_parquet(mroz_rows, tmp_path / "rows.parquet", row_group_size=300)
    common = ("--input", "rows.parquet", "--output", "out")
    assert _batch(registry, capsys, *common, "--sql", OLDER)[0] == 0
    younger = "select * from input where age < 35"
    code, message = _batch(registry, capsys, *common, "--sql", younger)
    assert code == 2 and f"with --sql {OLDER!r}, not of mroz version 1" in message
    assert "--overwrite" in message
    assert _batch(registry, capsys, *common, "--sql", younger, "--overwrite")[0] == 0
    scored = read_parts(tmp_path / "out" / "model=mroz")
    assert len(scored) == int((mroz_rows["age"] < 35).sum())
    assert set(scored["_source"]) == {query_label(younger, "rows.parquet")}
    assert len(list((tmp_path / "out").glob(".query-*.parquet"))) == 1  # the old one is gone
    assert not (tmp_path / "out" / "rejects").exists()


def test_a_query_may_read_files_itself_and_join_csv_and_parquet_inputs(
    registry: Path, mroz_rows: pd.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_parquet(mroz_rows, tmp_path / "rows.parquet", row_group_size=300)
    itself = "select * from 'rows.parquet' where age < 35"
    code, _ = _batch(registry, capsys, "--sql", itself, "--output", "alone")
    assert code == 0
    scored = read_parts(tmp_path / "alone" / "model=mroz")
    assert len(scored) == int((mroz_rows["age"] < 35).sum())
    assert set(scored["_source"]) == {query_label(itself, None)}

    (tmp_path / "in").mkdir()
    mroz_rows.iloc[:300].to_csv(tmp_path / "in" / "a.csv", index=False)
    write_parquet(mroz_rows.iloc[300:], tmp_path / "in" / "b.parquet", row_group_size=100)
    both = "select * from input where wc = 'yes'"
    code, _ = _batch(registry, capsys, "--input", "in", "--sql", both, "--output", "both")
    assert code == 0
    scored = read_parts(tmp_path / "both" / "model=mroz")
    wanted = mroz_rows[mroz_rows["wc"] == "yes"]
    assert sorted(scored["person"]) == sorted(
        wanted["person"].drop(index=[3, 400], errors="ignore")
    )


@pytest.mark.parametrize(
    ("sql", "says"),
    [
        ("selec * from input", 'the --sql query: Parser Error: syntax error at or near "selec"'),
        ("select * from input where agee > 3", 'Referenced column "agee" not found'),
        ("select * exclude (age) from input", "--sql lacks the model's column(s) ['age']"),
        ("select * from input; select 1", "--sql takes one query that returns rows"),
        ("create table t as select 1", "got 1 statement(s): CREATE"),
        ("select * replace (cast(wc as integer) as age) from input",
         "the --sql query failed while it ran: Conversion Error: Could not convert string"),
    ],
)  # fmt: skip
def test_a_bad_query_exits_2_with_duckdbs_message_and_writes_nothing(
    registry: Path,
    mroz_rows: pd.DataFrame,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    sql: str,
    says: str,
) -> None:
    write_parquet(mroz_rows, tmp_path / "rows.parquet", row_group_size=300)
    code, message = _batch(registry, capsys, "--input", "rows.parquet", "--sql", sql,
                           "--output", "out")  # fmt: skip
    assert code == 2 and says in message
    assert not Path("out").exists()


def test_without_input_the_query_must_read_its_files_itself(
    registry: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, message = _batch(registry, capsys, "--sql", "select * from input", "--output", "out")
    assert code == 2 and "Table with name input does not exist" in message
    assert "the table input holds the --input files; give --input" in message
    code, message = _batch(registry, capsys, "--output", "out")
    assert code == 2 and "give --input (CSV or Parquet files), --sql (a query), or both" in message
    assert not Path("out").exists()
