"""Bad input stops `mlfactory batch` with exit 2 and a message naming the file; what can
be scored is scored, and parts already committed stay whole."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from batchfiles import read_parts, write_parquet
from mlfactory.batch.inputs import plan_chunks, read_chunk
from mlfactory.cli import main
from mlfactory.errors import DataError

from conftest import read_only

pytestmark = pytest.mark.slow


def _batch(registry: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["batch", "mroz@champion", "--registry", str(registry), *args])
    return code, " ".join(capsys.readouterr().err.split())


def test_a_missing_input_path(registry: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, message = _batch(registry, capsys, "--input", "nowhere/*.parquet", "--output", "out")
    assert code == 2 and "names no .csv, .parquet or .pq file" in message
    code, message = _batch(registry, capsys, "--input", "nowhere.parquet", "--output", "out")
    assert code == 2 and "'nowhere.parquet' does not exist" in message
    assert not Path("out").exists()


def test_a_folder_of_files_with_different_columns(
    registry: Path, mroz_rows: pd.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "in").mkdir()
    write_parquet(mroz_rows, tmp_path / "in" / "a.parquet", row_group_size=500)
    write_parquet(mroz_rows.drop(columns=["inc"]), tmp_path / "in" / "b.parquet", 500)
    code, message = _batch(registry, capsys, "--input", "in", "--output", "out")
    assert code == 2 and "do not all have the same columns" in message
    assert "in/b.parquet" in message and not Path("out").exists()


def test_a_corrupt_parquet_file_is_reported_and_the_others_scored(
    registry: Path, mroz_rows: pd.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "in").mkdir()
    write_parquet(mroz_rows.iloc[:400], tmp_path / "in" / "a.parquet", row_group_size=100)
    write_parquet(mroz_rows.iloc[400:], tmp_path / "in" / "c.parquet", row_group_size=100)
    (tmp_path / "in" / "b.parquet").write_bytes(b"PAR1 this is not parquet")
    args = ("--input", "in", "--output", "out", "--json", "s.json")
    code, message = _batch(registry, capsys, *args)
    assert code == 2 and "skipped 'in/b.parquet': cannot read it as parquet" in message
    summary = json.loads(Path("s.json").read_text())
    assert summary["scored"] + summary["rejected"] == 753 and summary["parts"] == 8
    assert len(read_parts(tmp_path / "out" / "model=mroz")) == 751


def test_a_csv_with_a_bad_line_then_an_unwritable_output(
    registry: Path, mroz_rows: pd.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mroz_rows.to_csv(tmp_path / "rows.csv", index=False)
    lines = (tmp_path / "rows.csv").read_text().splitlines(keepends=True)
    good = lines[551]
    lines[551] = good.rstrip("\n") + ",extra,fields\n"  # record 550: too many fields
    (tmp_path / "rows.csv").write_text("".join(lines))
    args = ("--input", "rows.csv", "--output", "out", "--csv-rows", "100")
    code, message = _batch(registry, capsys, *args)
    assert code == 2 and "cannot read rows 500 to 600 of 'rows.csv'" in message
    committed = read_parts(tmp_path / "out" / "model=mroz")
    assert sorted(set(committed["_row"] // 100)) == [0, 1, 2, 3, 4, 6, 7]

    lines[551] = good  # fixed; but now the output folder cannot take a new part
    (tmp_path / "rows.csv").write_text("".join(lines))
    manifest = (tmp_path / "out" / "_batch.json").read_text()
    with read_only(tmp_path / "out" / "model=mroz"):
        code, message = _batch(registry, capsys, *args)
    assert code == 2 and "cannot write the parts of 'rows.csv' (chunk 5)" in message
    assert "parts already committed are complete" in message
    assert (tmp_path / "out" / "_batch.json").read_text() == manifest
    pd.testing.assert_frame_equal(read_parts(tmp_path / "out" / "model=mroz"), committed)

    code, _ = _batch(registry, capsys, *args)  # writable again: only chunk 5 is scored
    assert code == 0
    assert sorted(read_parts(tmp_path / "out" / "model=mroz")["_row"]) == sorted(
        set(range(753)) - {3, 400}
    )


def test_extra_fields_on_a_chunks_first_record_are_refused_not_taken_for_an_index(
    tmp_path: Path,
) -> None:
    (tmp_path / "x.csv").write_text("a,b\n1,2\n3,4\n5,6,7\n8,9\n")
    first, second = plan_chunks("x.csv", csv_rows=2).chunks
    assert read_chunk(first).to_dict("list") == {"a": [1, 3], "b": [2, 4]}
    with pytest.raises(DataError, match=r"rows 2 to 4 of 'x\.csv'.*more fields than the header"):
        read_chunk(second)
