"""benchmarks/engines.py and benchmarks/batch.py run end to end on tiny inputs
(their timings are not tested; their checks of equal results are)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"

pytestmark = pytest.mark.slow


def _run(script: str, args: list[str], env: dict[str, str], cwd: Path) -> str:
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:] + done.stdout
    return done.stdout


def test_the_engines_benchmark_times_bare_and_ours_on_the_same_fits(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    args = ["--groups", "6", "--rows", "200", "--repeats", "1", "--engines", "local,dask"]
    out = _run("engines.py", args, cli_env, tmp_path)
    lines = {line.split()[0] for line in out.splitlines()[2:] if line.strip()}
    assert lines == {"loop", "joblib", "dask"}, out


def test_the_batch_benchmark_measures_engines_the_naive_script_and_the_limit(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    args = ["--rows", "20000", "--small", "8000", "--engines", "local", "--sample", "5000"]
    _run("batch.py", [*args, "--work", str(tmp_path / "work")], cli_env, tmp_path)
    results = json.loads((tmp_path / "work" / "results.json").read_text())
    assert results["limit"] > 0
    runs = {(r["run"], r["rows"]) for r in results["runs"]}
    assert runs == {
        (run, rows) for run in ("mlfactory local 2", "naive script") for rows in (8000, 20000)
    }
    out = tmp_path / "work" / "out-local-20000"
    assert json.loads((out / "_batch.json").read_text())["parts"]  # it scored, and committed
