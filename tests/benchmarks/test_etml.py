"""benchmarks/etml.py runs its three parts end to end at --quick size (20,000 rides on the
local engine, a 600-ride day at 10 ms an answer, quality on 3,000 rides). Its timings are
not tested; what each part counts and checks is: the same flags on every engine, the LLM
calls each way made, and a score for every detector of the catalog."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "etml.py"

pytestmark = pytest.mark.slow


def test_the_quick_run_measures_every_part_and_counts_the_llm_calls(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--json", str(tmp_path / "results.json")],
        capture_output=True,
        text=True,
        env=cli_env,
        cwd=tmp_path,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:] + done.stdout
    results = json.loads((tmp_path / "results.json").read_text())
    printed = dict(re.findall(r"^RESULT (\w+) (.*)$", done.stdout, re.MULTILINE))
    assert {part: json.loads(text) for part, text in printed.items()} == results

    detection = results["detection"]
    engines = [(r["engine"], r["workers"]) for r in detection["engines"]]
    assert engines == [("local", 1), ("local", 2)]
    assert len({r["flags"] for r in detection["engines"]}) == 1  # the same rows flagged
    for r in detection["engines"]:
        assert r["rows"] == 20_000 and r["refused"] == 0 and r["seconds"] > 0
        assert 0 < r["flagged"] < 2_000 and r["peak_mb"] > 50
    assert detection["fitted"]["rows"] == 20_000 and detection["fitted"]["flagged"] > 0
    sizes = detection["book_dbscan"]["sizes"]  # the cap of 300 MB stops the second size
    assert [s["rows"] for s in sizes] == [5_000, 20_000]
    assert sizes[0]["flagged"] > 0 and "failed" not in sizes[0]
    assert sizes[1]["failed"].startswith("not run: needs ~")

    book = {(r["who"], r["run"]): r for r in results["book"]["runs"]}
    flagged = book["book", "first run"]["flagged"]
    assert flagged > 0
    # the book asks once per outlier every time; the job once per flagged ride and once
    # for the day, then never again for the same day, and writes the same rows
    assert book["book", "first run"]["calls"] == book["book", "rerun"]["calls"] == flagged
    assert book["mlfactory", "first run"]["flagged"] == flagged  # the same DBSCAN
    assert book["mlfactory", "first run"]["calls"] == flagged + 1
    assert book["mlfactory", "rerun"]["calls"] == 0
    assert book["mlfactory", "rerun"]["cached"] == flagged + 1
    assert results["book"]["same_rows"] is True
    assert re.search(r"^book s / mlfactory s: first run [0-9.]+x", done.stdout, re.MULTILINE)

    quality = results["quality"]
    names = {"dbscan", "hdbscan", "isolation_forest", "lof", "robust_z", "iqr"}
    for features in (["ride_dist", "ride_time"], ["ride_dist", "ride_time", "pickup_hour"]):
        rows = [r for r in quality["rows"] if r["features"] == features and r["detector"] in names]
        assert {r["detector"] for r in rows} == names
    for r in quality["rows"]:
        assert r["pr_auc"] is None or 0 < r["pr_auc"] <= 1 + 1e-9
        assert 0 <= r["flag_rate"] <= 1 and 0 <= r["recall"] <= 1
    # the book's DBSCAN and the job's per-day DBSCAN flag the same rides of the day
    book_row, job_row = quality["rows"][-2:]
    assert book_row["detector"].startswith("book") and job_row["detector"].startswith("job")
    assert (book_row["flag_rate"], book_row["recall"]) == (job_row["flag_rate"], job_row["recall"])

    assert list(tmp_path.iterdir()) == [tmp_path / "results.json"]  # the rest was temporary
