"""Exogenous columns known in the future (a promotion) reach the global model's forecasts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from mlfactory.errors import DataError, SpecError
from mlfactory.registry import Registry
from mlfactory.scoring import Scorer
from mlfactory.training import train

DAYS, HORIZON = 240, 14


def write_data(folder: Path, *, future_columns: tuple[str, ...] = ("promo",)) -> None:
    rng = np.random.default_rng(3)
    days = pd.date_range("2024-01-01", periods=DAYS + HORIZON)
    rows = []
    for store in range(8):
        promo = rng.random(len(days)) < 0.3
        weekly = np.array([0, 2, 4, 6, 8, 14, 10])[days.dayofweek]
        sales = 30 + 5 * store + weekly + 25 * promo + rng.poisson(2, len(days))
        rows.append(
            pd.DataFrame({"store": f"s{store}", "day": days, "sales": sales, "promo": promo})
        )
    frame = pd.concat(rows, ignore_index=True)
    past = frame[frame["day"] < days[DAYS]]
    past.to_csv(folder / "sales.csv", index=False)
    future = frame[frame["day"] >= days[DAYS]]
    future[["store", "day", *future_columns]].to_csv(folder / "future.csv", index=False)


def spec(**forecast: Any) -> dict[str, Any]:
    return {
        "name": "promos",
        "task": "forecasting",
        "data": {
            "source": "sales.csv",
            "id_column": "store",
            "time_column": "day",
            "target": "sales",
        },
        "forecast": {
            "frequency": "D",
            "horizon": HORIZON,
            "exogenous": ["promo"],
            "future": "future.csv",
            "backtest": {"windows": 2},
            **forecast,
        },
        "models": ["seasonal_naive", {"name": "lightgbm", "params": {"n_estimators": 150}}],
        "evaluation": {"bootstrap": 50},
    }


# LightGBM refuses feature names holding JSON's special characters ([ ] { } : , ")
@pytest.mark.parametrize("column", ["promo", 'promo["on": 1]'])
def test_a_promotion_known_in_the_future_lifts_the_forecast_of_its_days(
    tmp_path: Path, column: str
) -> None:
    write_data(tmp_path)
    for name in ("sales.csv", "future.csv"):
        path = tmp_path / name
        pd.read_csv(path).rename(columns={"promo": column}).to_csv(path, index=False)
    (tmp_path / "factory.yaml").write_text(yaml.safe_dump(spec(exogenous=[column])))
    registry = Registry(path=tmp_path / ".mlfactory")
    result = train(tmp_path / "factory.yaml", registry=registry, progress=False)
    assert result.forecast is not None and result.forecast.exogenous == [column]
    assert result.forecast.chosen["lightgbm"] >= 6  # the model that sees the promotions wins
    forecasts = Scorer.load(registry, f"promos/{result.version}").package.pipeline
    got = forecasts.forecast(forecasts.keys)
    future = pd.read_csv(tmp_path / "future.csv", parse_dates=["day"])
    merged = got.merge(future, left_on=["unique_id", "ds"], right_on=["store", "day"])
    lift = merged[merged[column]]["mean"].mean() - merged[~merged[column]]["mean"].mean()
    assert 15 < lift < 35  # the data's promotions add 25


def test_exogenous_columns_without_their_future_values_are_refused(tmp_path: Path) -> None:
    write_data(tmp_path)
    no_future = spec()
    del no_future["forecast"]["future"]
    (tmp_path / "factory.yaml").write_text(yaml.safe_dump(no_future))
    with pytest.raises(SpecError, match=r"forecast\.future"):
        train(tmp_path / "factory.yaml", registry=Registry(path=tmp_path / "r"), progress=False)


def test_a_future_file_missing_the_exogenous_column_names_it(tmp_path: Path) -> None:
    write_data(tmp_path, future_columns=())
    (tmp_path / "factory.yaml").write_text(yaml.safe_dump(spec()))
    with pytest.raises(DataError, match="promo"):
        train(tmp_path / "factory.yaml", registry=Registry(path=tmp_path / "r"), progress=False)
