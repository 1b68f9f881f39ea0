"""benchmarks/leakage.py runs end to end and backs what the README says of it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "leakage.py"


def test_the_known_leaks_warn_and_of_the_honest_tables_only_iris_does(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT)],
        capture_output=True,
        text=True,
        env=cli_env,
        cwd=tmp_path,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    lines = done.stdout.splitlines()
    assert "known leaks caught: 4 of 4; false alarms: 1 of 30" in done.stdout
    [alarm] = [line for line in lines if "FALSE ALARM" in line]
    assert alarm.startswith("datasets/iris") and "Petal.Length" in alarm
