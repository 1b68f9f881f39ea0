"""Bad input stops `mlfactory batch` with exit 2 and a message naming the file; what can
be scored is scored, and parts already committed stay whole. A full disk (a file size
limit on a real process) or an output folder made read-only while a real run writes to
it stops the run with a message naming the folder and the fix; a rerun finishes it."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import zygote
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


def test_a_csv_separated_by_semicolons_is_skipped_saying_so_and_the_others_scored(
    registry: Path, mroz_rows: pd.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "in").mkdir()
    mroz_rows.iloc[:300].to_csv(tmp_path / "in" / "a.csv", index=False)
    mroz_rows.iloc[300:].to_csv(tmp_path / "in" / "b.csv", index=False, sep=";")
    code, message = _batch(registry, capsys, "--input", "in", "--output", "out")
    assert code == 2 and "skipped 'in/b.csv': cannot read it as csv" in message
    assert "seems separated by semicolons" in message and "delim=';'" in message
    assert len(read_parts(tmp_path / "out" / "model=mroz")) == 300 - 1  # row 3 lacks age


def test_a_csv_naming_a_column_twice_is_skipped_saying_so(
    registry: Path, mroz_rows: pd.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "in").mkdir()
    mroz_rows.iloc[:300].to_csv(tmp_path / "in" / "a.csv", index=False)
    twice = mroz_rows.iloc[300:].rename(columns={"inc": "age"})  # pandas would read age.1
    twice.to_csv(tmp_path / "in" / "b.csv", index=False)
    code, message = _batch(registry, capsys, "--input", "in", "--output", "out")
    assert code == 2 and "skipped 'in/b.csv': cannot read it as csv" in message
    assert "its header names 'age' more than once" in message
    assert len(read_parts(tmp_path / "out" / "model=mroz")) == 300 - 1  # row 3 lacks age


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


def _bulky(mroz_rows: pd.DataFrame, rows: int) -> pd.DataFrame:
    """``rows`` Mroz rows with a note of 4,000 random characters each (3 kB compressed)."""
    rng = np.random.default_rng(12)
    bulky = mroz_rows.iloc[np.arange(rows) % len(mroz_rows)].reset_index(drop=True)
    return bulky.assign(note=[base64.b64encode(rng.bytes(3000)).decode() for _ in range(rows)])


def _batch_command(registry: Path, *args: str) -> list[str]:
    return ["batch", "mroz/1", "--registry", str(registry), *args]


def _committed(folder: Path) -> dict[str, dict[str, object]]:
    """The manifest's parts, each checked to be a whole Parquet file."""
    parts = json.loads((folder / "_batch.json").read_text())["parts"]
    for key, part in parts.items():
        if part["scored"]:
            pq.read_table(folder / "model=mroz" / f"part-{key}.parquet")
    return dict(parts)


def test_a_disk_full_midway_stops_with_every_committed_part_whole_and_a_rerun_finishes(
    registry: Path, mroz_rows: pd.DataFrame, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    # larger than any file loading the model writes; the sixth chunk's part is not
    limit = max(p.stat().st_size for p in registry.rglob("*") if p.is_file()) + (1 << 18)
    sizes = [50] * 5 + [limit // 3000 + 200] + [50] * 2
    rows = _bulky(mroz_rows, sum(sizes))
    with pq.ParquetWriter(tmp_path / "rows.parquet", pa.Schema.from_pandas(rows)) as writer:
        for start, size in zip(np.cumsum([0, *sizes[:-1]]), sizes, strict=True):
            writer.write_table(pa.Table.from_pandas(rows.iloc[start : start + size]))
    command = _batch_command(registry, "--input", "rows.parquet", "--output", "out")
    run = zygote.run(command, env=cli_env, file_size=limit)  # as on a full disk
    message = " ".join(run.stderr.split())
    assert run.returncode == 2, message
    assert "cannot write the parts of 'rows.parquet' (chunk 5) in 'out': File too large" in message
    assert "free space or fix the folder's permissions and run again to finish" in message
    assert sorted(p["chunk"] for p in _committed(tmp_path / "out").values()) == [0, 1, 2, 3, 4]
    assert not [p for p in (tmp_path / "out").rglob(".*") if p.is_file()]

    again = zygote.run([*command, "--json", "-"], env=cli_env)
    summary = json.loads(again.stdout)
    assert again.returncode == 0 and summary["resumed"] == 5 and summary["parts"] == 8
    scored = read_parts(tmp_path / "out" / "model=mroz")
    rejected = read_parts(tmp_path / "out" / "rejects")
    assert sorted([*scored["_row"], *rejected["_row"]]) == list(range(len(rows)))


def test_a_disk_full_while_the_query_runs_says_so_and_a_rerun_finishes(
    registry: Path, mroz_rows: pd.DataFrame, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    limit = max(p.stat().st_size for p in registry.rglob("*") if p.is_file()) + (1 << 18)
    write_parquet(_bulky(mroz_rows, limit // 3000 + 200), tmp_path / "rows.parquet", 100)
    command = _batch_command(
        registry, "--input", "rows.parquet", "--sql", "select * from input", "--output", "out"
    )
    run = zygote.run(command, env=cli_env, file_size=limit)
    message = " ".join(run.stderr.split())
    assert run.returncode == 2, message
    assert "cannot write the result of --sql in 'out': File too large. Free space" in message
    assert not list((tmp_path / "out").glob("*.parquet")) and not _committed(tmp_path / "out")
    assert not [p for p in (tmp_path / "out").rglob(".*") if p.is_file()]
    again = zygote.run([*command, "--json", "-"], env=cli_env)
    assert again.returncode == 0 and json.loads(again.stdout)["rows"] == limit // 3000 + 200


def test_an_output_folder_made_read_only_midway_keeps_its_parts_and_a_rerun_finishes(
    registry: Path, mroz_rows: pd.DataFrame, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    rows = pd.concat([mroz_rows] * 3, ignore_index=True)  # 2,259 rows in 226 row groups
    write_parquet(rows, tmp_path / "rows.parquet", row_group_size=10)
    command = _batch_command(registry, "--input", "rows.parquet", "--output", "out")
    process = zygote.spawn(command, env=cli_env)
    deadline = time.monotonic() + 120
    parts = tmp_path / "out" / "model=mroz"
    while process.poll() is None and time.monotonic() < deadline:
        if parts.is_dir() and len(list(parts.glob("part-*.parquet"))) >= 20:
            break
        time.sleep(0.002)
    with read_only(tmp_path / "out"):
        process.wait(timeout=120)
        committed = _committed(tmp_path / "out")
    message = " ".join(process.stderr.split())
    assert process.returncode == 2, message
    assert "cannot write the batch manifest in 'out'" in message
    assert "committed are complete; free space or fix the folder's permissions" in message
    assert 19 <= len(committed) < 226  # the part being written when it stopped is not

    again = zygote.run([*command, "--json", "-"], env=cli_env)
    summary = json.loads(again.stdout)
    assert again.returncode == 0 and summary["resumed"] == len(committed)
    scored = read_parts(parts)
    assert not scored.duplicated(["_source", "_row"]).any()
    assert len(scored) + summary["rejected"] == len(rows) and summary["rejected"] == 6
