"""benchmarks/tuned_vs_defaults.py runs end to end on a tiny sample (its timings are not tested)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "tuned_vs_defaults.py"


def test_the_benchmark_compares_tuned_and_defaults_on_the_same_rows(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    args = ["--sets", "flights,diamonds", "--sample", "1000", "--trials", "3", "--rounds", "50"]
    done = subprocess.run(
        [sys.executable, str(SCRIPT), *args, "--json", str(tmp_path / "results.json")],
        capture_output=True,
        text=True,
        env=cli_env,
        cwd=tmp_path,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    results = json.loads((tmp_path / "results.json").read_text())
    assert [(r["set"], r["metric"], r["trials"]) for r in results] == [
        ("flights", "roc_auc", 3),
        ("diamonds", "rmse", 3),
    ]
    for r in results:
        tuned, defaults = r["tuned"]["test"], r["defaults"]["test"]
        low, high = r["ci95"]
        assert low <= r["improvement"] <= high
        assert r["won_by"] in (0, 1, 2)
        # the search never loses to the defaults on validation, where it chooses
        gain = r["tuned"]["validation"] - r["defaults"]["validation"]
        assert gain >= 0 if r["metric"] == "roc_auc" else gain <= 0
        if r["won_by"] == 0:  # trial 0 of the search is the defaults-only training's model
            assert tuned == defaults and r["improvement"] == low == high == 0
        assert 0 < r["defaults"]["search_seconds"] <= r["defaults"]["seconds"]
    assert "mlfactory search (tuned) vs the library defaults" in done.stdout
    assert "data: a seeded sample of 1,000 rows per table; seed 42" in done.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]  # the rest was temporary
