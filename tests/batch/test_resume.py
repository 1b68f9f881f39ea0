"""Kill a real `mlfactory batch` with SIGKILL at random points, run it again, and get
exactly what one uninterrupted run writes: the same rows, none twice, every part whole."""

from __future__ import annotations

import json
import random
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

import zygote
from batchfiles import read_parts, write_parquet

pytestmark = pytest.mark.slow


def _command(registry: Path, output: str) -> list[str]:
    return [
        "batch", "mroz/1", "--registry", str(registry), "--input", "rows.parquet",
        "--output", output, "--json", f"{output}.json",
    ]  # fmt: skip


def _parts(folder: Path) -> int:
    return len(list(folder.glob("model=mroz/part-*.parquet")))


def _rows(folder: Path) -> pd.DataFrame:
    scored = read_parts(folder / "model=mroz").drop(columns=["_time"])
    return scored.sort_values(["_source", "_row"], ignore_index=True)


def test_killed_runs_resume_to_the_uninterrupted_output(
    registry: Path, mroz_rows: pd.DataFrame, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    rows = pd.concat([mroz_rows] * 3, ignore_index=True)  # 2,259 rows in 226 row groups
    write_parquet(rows, tmp_path / "rows.parquet", row_group_size=10)
    _finish(_command(registry, "whole"), cli_env)
    expected = _rows(tmp_path / "whole")
    assert len(expected) == 2259 - 6 and _parts(tmp_path / "whole") == 226

    chooser = random.Random(12)
    output = tmp_path / "killed"
    kills = 0
    for _ in range(4):
        seen = _parts(output) if output.exists() else 0
        target = seen + chooser.randint(5, 40)
        process = zygote.spawn(_command(registry, "killed"), env=cli_env)
        deadline = time.monotonic() + 120
        while process.poll() is None and time.monotonic() < deadline:
            if output.exists() and _parts(output) >= target:
                process.kill()
                kills += 1
                break
            time.sleep(0.002)
        process.wait(timeout=30)
        assert process.returncode in (-signal.SIGKILL, 0)
        # between runs: every part on disk is a whole Parquet file, and the manifest reads
        read_parts(output / "model=mroz")
        json.loads((output / "_batch.json").read_text())
    assert kills >= 3, "the runs finished before they could be killed; slow the input down"

    _finish(_command(registry, "killed"), cli_env)
    summary = json.loads((tmp_path / "killed.json").read_text())
    assert summary["resumed"] > 0 and summary["parts"] == 226 and summary["scored"] == 2253
    got = _rows(output)
    assert not got.duplicated(["_source", "_row"]).any()
    pd.testing.assert_frame_equal(got, expected)
    assert sorted(read_parts(output / "rejects")["_row"]) == sorted(
        read_parts(tmp_path / "whole" / "rejects")["_row"]
    )
    assert not [p for p in output.rglob(".*") if p.is_file()]  # no temporary file left


# rows of the three Mroz copies, after an uncorrelated subquery that keeps DuckDB busy
# for about a second (it counts no row of a 20,000 x 20,000 cross join): time to kill it
SLOW = (
    "select * from input where k5 >= (select count(*) from range(20000) a, range(20000) b "
    "where a.range + b.range < 0)"
)


def _query_command(registry: Path, output: str) -> list[str]:
    return [*_command(registry, output), "--sql", SLOW, "--csv-rows", "25"]


def _finish(args: list[str], env: dict[str, str]) -> None:
    done = zygote.run(args, env=env)
    assert done.returncode == 0, done.stderr


def _kill_when(process: zygote.Child, ready: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + 120
    while process.poll() is None and time.monotonic() < deadline:
        if ready():
            process.kill()
            process.wait(timeout=30)
            return True
        time.sleep(0.002)
    process.wait(timeout=30)
    return False


def test_a_query_killed_while_it_runs_runs_again_and_one_killed_later_does_not(
    registry: Path, mroz_rows: pd.DataFrame, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    rows = pd.concat([mroz_rows] * 3, ignore_index=True)
    write_parquet(rows, tmp_path / "rows.parquet", row_group_size=500)
    _finish(_query_command(registry, "whole"), cli_env)
    expected = _rows(tmp_path / "whole")
    assert len(expected) == 2259 - 6 and _parts(tmp_path / "whole") == 91  # 25 rows each
    assert expected["_source"].str.startswith("sql:").all()

    output = tmp_path / "killed"

    def start() -> zygote.Child:
        return zygote.spawn(_query_command(registry, "killed"), env=cli_env)

    # 1. killed while DuckDB runs the query: its result is still a temporary file
    assert _kill_when(start(), lambda: bool(list(output.glob("..query-*.parquet.tmp"))))
    assert not list(output.glob(".query-*.parquet")) and _parts(output) == 0

    # 2. killed while the result's row groups are scored
    assert _kill_when(start(), lambda: output.exists() and _parts(output) >= 15)
    (result,) = output.glob(".query-*.parquet")
    made = result.stat().st_mtime_ns
    committed = len(json.loads((output / "_batch.json").read_text())["parts"])
    assert not list(output.glob("..query-*.parquet.tmp"))  # the first run's was removed

    # 3. finishes from the kept result, without running the query again
    _finish(_query_command(registry, "killed"), cli_env)
    summary = json.loads((tmp_path / "killed.json").read_text())
    assert summary["resumed"] == committed >= 14 and summary["parts"] == 91
    assert result.stat().st_mtime_ns == made
    got = _rows(output)
    assert not got.duplicated(["_source", "_row"]).any()
    pd.testing.assert_frame_equal(got, expected)
    assert not [p for p in output.rglob(".*") if p.is_file() and p != result]
