"""benchmarks/backtest_windows.py runs end to end and backs what docs/benchmarks.md says."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "backtest_windows.py"


def test_the_default_windows_cover_a_season_and_choose_better_on_air_passengers(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    command = [sys.executable, str(SCRIPT), "--sets", "AirPassengers", "--holdouts", "2"]
    done = subprocess.run(
        command, capture_output=True, text=True, env=cli_env, cwd=tmp_path, timeout=600
    )
    assert done.returncode == 0, done.stderr + done.stdout
    rows = [line.split() for line in done.stdout.splitlines() if line.startswith("AirPass")]
    assert [row[2] for row in rows] == ["last", "-3"]
    assert all(row[6:8] == ["(", "5)"] for row in rows)  # monthly at horizon 3: 5 windows
    # 3 windows chose lightgbm on 6 months, and it missed the next 3 by a MASE of 3.3
    assert rows[1][4] == "lightgbm" and float(rows[1][3]) > 2 * float(rows[1][5])
    assert "default better in 1, worse in 0, the same in 1" in done.stdout
