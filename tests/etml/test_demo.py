"""`make demo-etml` as a user runs it: two days, then a rerun with the same rows and no LLM call."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).parents[2] / "examples" / "taxi_etml"


@pytest.mark.slow
def test_the_demo_reruns_a_day_without_calling_the_llm(tmp_path: Path) -> None:
    copy = tmp_path / "taxi_etml"
    shutil.copytree(EXAMPLE, copy, ignore=shutil.ignore_patterns("out", "__pycache__"))
    done = subprocess.run(
        [sys.executable, str(copy / "demo.py")],
        capture_output=True, text=True, cwd=tmp_path, timeout=600,
        env={k: v for k, v in os.environ.items() if not k.startswith("MLFACTORY_LLM")},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "rerun of 2026-11-28: 0 LLM calls" in done.stdout
    assert "before and after the rerun: the same" in done.stdout
    for day in ("2026-11-27", "2026-11-28"):
        assert (copy / "out" / f"date={day}" / "report.html").exists()
    assert (tmp_path / ".mlfactory" / "mlflow.db").exists()
