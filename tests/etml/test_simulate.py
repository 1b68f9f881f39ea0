"""The taxi simulator of examples/taxi_etml: seeded per date, ~1% planted anomalies that
DBSCAN on distance and time finds, texts that say why, and the shipped days it made."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from datetime import date
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pytest

import mlfactory

EXAMPLE = Path(__file__).parents[2] / "examples" / "taxi_etml"
DAY = date(2026, 11, 28)


@pytest.fixture(scope="module")
def simulate() -> ModuleType:
    spec = importlib.util.spec_from_file_location("taxi_simulate", EXAMPLE / "simulate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_day_is_the_same_for_a_seed_and_differs_between_days(simulate: ModuleType) -> None:
    first = simulate.simulate_day(DAY, rides=500, seed=7)
    pd.testing.assert_frame_equal(first, simulate.simulate_day(DAY, rides=500, seed=7))
    other_day = simulate.simulate_day(date(2026, 11, 27), rides=500, seed=7)
    other_seed = simulate.simulate_day(DAY, rides=500, seed=8)
    for other in (other_day, other_seed):
        assert not np.allclose(first.ride_dist, other.ride_dist)
    assert other_day.ride_id.iloc[0] == "20261127-000001"


def test_the_columns_and_their_values(simulate: ModuleType) -> None:
    rides = simulate.simulate_day(DAY, rides=2000)
    assert list(rides.columns) == simulate.COLUMNS
    assert rides.ride_id.is_unique and rides.ride_id.iloc[-1] == "20261128-002000"
    assert rides.pickup_time.is_monotonic_increasing
    assert (rides.pickup_time.dt.date == DAY).all()
    assert (rides.ride_dist > 0).all() and (rides.ride_time > 0).all()
    assert rides.is_anomaly.dtype == bool
    for column in ("traffic", "weather", "news"):
        assert rides[column].str.len().min() > 10 and rides[column].nunique() > 5
    assert len(simulate.simulate_day(DAY, rides=0)) == 0


def test_about_one_percent_planted_with_texts_that_say_why(simulate: ModuleType) -> None:
    rides = simulate.simulate_day(DAY, rides=20_000)
    assert 0.008 < rides.is_anomaly.mean() < 0.012
    planted, ordinary = rides[rides.is_anomaly], rides[~rides.is_anomaly]
    reasons = r"Standstill|Gridlock|Diversions|tailbacks|Storm|Severe|outage|faulty|close|Emergency"
    said = planted[["traffic", "weather", "news"]].apply(lambda c: c.str.contains(reasons))
    assert said.any(axis=1).all()  # every planted ride's text gives a reason
    said = ordinary[["traffic", "weather", "news"]].apply(lambda c: c.str.contains(reasons))
    assert not said.any(axis=1).any()  # and no ordinary ride's does
    speed = ordinary.ride_dist / (ordinary.ride_time / 60)
    assert speed.between(5, 90).all()  # ordinary rides move at road speeds


def test_dbscan_on_distance_and_time_finds_the_planted_rides(simulate: ModuleType) -> None:
    from sklearn.cluster import DBSCAN
    from sklearn.preprocessing import StandardScaler

    rides = simulate.simulate_day(DAY, rides=3000)
    scaled = StandardScaler().fit_transform(rides[["ride_dist", "ride_time"]])
    flagged = DBSCAN(eps=0.3, min_samples=10).fit(scaled).labels_ == -1  # the book's settings
    hits = (flagged & rides.is_anomaly).sum()
    assert hits / rides.is_anomaly.sum() >= 0.9  # recall
    assert hits / flagged.sum() >= 0.8  # precision


def test_a_million_rides_is_quick(simulate: ModuleType) -> None:
    import time

    started = time.perf_counter()
    rides = simulate.simulate_day(DAY, rides=1_000_000)
    assert len(rides) == 1_000_000
    assert time.perf_counter() - started < 10  # ~1 s; vectorised, the benchmark relies on it


def test_the_command_writes_date_folders_and_the_shipped_days_are_its_own(
    simulate: ModuleType, tmp_path: Path
) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(mlfactory.__file__).parents[1])}
    command = [sys.executable, str(EXAMPLE / "simulate.py"), "--rides", "3000"]
    done = subprocess.run(
        [*command, "--from", "2026-11-27", "--to", "2026-11-28", "--output", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.split() == [
        str(tmp_path / "date=2026-11-27" / "rides.parquet"),
        str(tmp_path / "date=2026-11-28" / "rides.parquet"),
    ]
    for day in ("2026-11-27", "2026-11-28"):
        shipped = pd.read_parquet(EXAMPLE / "data" / "rides" / f"date={day}" / "rides.parquet")
        made = pd.read_parquet(tmp_path / f"date={day}" / "rides.parquet")
        pd.testing.assert_frame_equal(shipped, made)
        pd.testing.assert_frame_equal(
            shipped, simulate.simulate_day(date.fromisoformat(day), rides=3000)
        )
    shipped_bytes = sum(p.stat().st_size for p in (EXAMPLE / "data").rglob("*") if p.is_file())
    assert shipped_bytes < 500_000
    bad = subprocess.run(
        [*command, "--from", "28/11/2026"], env=env, capture_output=True, text=True
    )
    assert bad.returncode == 2 and "not a date in the form YYYY-MM-DD" in bad.stderr
