"""Monitoring a forecasting model: arriving actuals against the forecasts it served.

The actuals are made from the version's own forecasts (what it served), so the
expected figures are known exactly: equal actuals score 0, three times the
forecast scores ``2 * mean / scale`` per point.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlfactory.cli import main
from mlfactory.loop import retrain
from mlfactory.monitoring import monitor
from mlfactory.registry import Registry
from mlfactory.registry.tags import DRIFT, RETRAIN_CHECK, RETRAIN_REASON
from mlfactory.serving.metrics import ServingMetrics
from mlfactory.training import train

from .test_train import PIZZAS, pizza_spec, write

FAST = ["seasonal_naive", "auto_ets"]
WORSE = ["hawaiian", "big_meat"]


def served(registry: Registry, model: str = "pizzas/1") -> tuple[pd.DataFrame, pd.DataFrame]:
    """The version's forecasts as actuals (name, date, sold), and its series table."""
    package, _ = registry.load(model)
    forecasts = package.pipeline
    frame = forecasts.forecast(forecasts.keys)
    actuals = frame.rename(columns={"unique_id": "name", "ds": "date", "mean": "sold"})
    return actuals[["name", "date", "sold"]], forecasts.series


def times(actuals: pd.DataFrame, names: list[str], factor: float) -> pd.DataFrame:
    return actuals.assign(
        sold=np.where(actuals.name.isin(names), actuals.sold * factor, actuals.sold)
    )


def said(capsys: pytest.CaptureFixture[str]) -> str:
    """What the command printed (out and err), with rich's line wrapping undone."""
    captured = capsys.readouterr()
    return " ".join((captured.out + captured.err).split())


@pytest.fixture(scope="module")
def pizzas(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    """One forecasting version (pizzas/1), trained once for the module."""
    folder = tmp_path_factory.mktemp("pizzas")
    registry = Registry(path=folder / ".mlfactory")
    train(write(pizza_spec(models=FAST), folder), registry=registry, progress=False)
    return registry


def cli(registry: Registry, *args: str) -> int:
    return main(["monitor", "pizzas/1", *args, "--registry", str(registry.path)])


def test_actuals_equal_to_the_forecasts_are_no_decay(
    pizzas: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    actuals, series = served(pizzas)
    actuals.to_parquet("same.parquet")  # exact floats: the live errors are 0
    assert cli(pizzas, "--current", "same.parquet", "--json", "same.json") == 0
    shown = said(capsys)
    assert "no accuracy decay in 84 actuals of 6 series" in shown
    check = json.loads((tmp_path / "same.json").read_text())["forecast"]
    assert not check["decayed"] and check["n_used"] == len(actuals) == 14 * len(PIZZAS)
    assert {s["key"]: s["points"] for s in check["series"]} == dict.fromkeys(PIZZAS, 14)
    assert all(s["mase"] == 0 and s["coverage"]["coverage_95"] == 1 for s in check["series"])
    assert check["live"] == 0 and check["backtest"] == pytest.approx(series["mase"].mean())
    # the figures on the version, where the server and `retrain` read them
    summary = json.loads(pizzas.resolve("pizzas/1").tags[DRIFT])
    assert not summary["decayed"] and summary["forecast"]["series"] == len(PIZZAS)
    assert summary["performance"] == ["mase", 0.0]


def test_two_series_three_times_their_forecast_decay_and_are_named(
    pizzas: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    actuals, series = served(pizzas)
    times(actuals, WORSE, 3).to_csv("worse.csv", index=False)
    args = ["--current", "worse.csv", "--json", "worse.json", "--report", "worse.html"]
    assert cli(pizzas, *args) == 3
    shown = said(capsys)
    assert "accuracy decay" in shown and "2 of 6 series forecast more than 2x worse" in shown
    assert "hawaiian (" in shown and "big_meat (" in shown
    result = json.loads((tmp_path / "worse.json").read_text())
    assert result["decayed"] and not result["drifted"]
    check = result["forecast"]
    assert set(check["flagged"]) == set(WORSE)
    by_key = {s["key"]: s for s in check["series"]}
    for name in WORSE:  # |3 mean - mean| / the series' scale, averaged over its 14 days
        mean = actuals.loc[actuals.name == name, "sold"]
        assert by_key[name]["mase"] == pytest.approx((2 * mean).mean() / series.scale[name])
        assert by_key[name]["backtest"] == pytest.approx(series.mase[name])
        assert by_key[name]["smape"] == pytest.approx(100.0)  # 200 * 2m / 4m
        assert by_key[name]["coverage"] == {"coverage_80": 0.0, "coverage_95": 0.0}
    assert [s["key"] for s in check["series"][:2]] == sorted(
        WORSE, key=lambda n: -by_key[n]["ratio"]
    )
    # four series of six still right: the mean over series is not surely worse
    assert not check["overall_decayed"] and check["low"] < check["backtest"]
    assert check["coverage"]["coverage_80"] == pytest.approx(4 / 6)
    page = (tmp_path / "worse.html").read_text()
    assert "Accuracy decay" in page and "hawaiian" in page and "Interval coverage" in page
    summary = json.loads(pizzas.resolve("pizzas/1").tags[DRIFT])
    assert summary["decayed"] and set(summary["forecast"]["worst"]) == set(WORSE)
    metrics = ServingMetrics()  # what a server polling the registry does with the tag
    metrics.set_drift("pizzas", "1", summary)
    shown = metrics.render()[0]
    assert b'mlfactory_drift_current_rows{model="pizzas"} 84.0' in shown
    assert b'mlfactory_forecast_decayed{model="pizzas",version="1"} 1.0' in shown
    assert b'mlfactory_forecast_flagged_series{model="pizzas"} 2.0' in shown
    assert b'mlfactory_forecast_mase{model="pizzas",on="backtest"}' in shown
    metrics.set_drift("pizzas", "2", None)  # a swap clears them
    assert b"mlfactory_forecast_decayed{" not in metrics.render()[0]


def test_every_series_worse_decays_overall(pizzas: Registry) -> None:
    actuals, _ = served(pizzas)
    times(actuals, list(PIZZAS), 3).to_csv("all.csv", index=False)
    result = monitor("pizzas/1", registry=pizzas, current="all.csv")
    check = result.forecast
    assert check is not None and check.overall_decayed and len(check.flagged) == len(PIZZAS)
    assert check.backtest is not None and check.low is not None and check.low > check.backtest
    assert result.alarm and result.reasons()[0].startswith("the mean live MASE of 6 series is")


def test_a_series_with_under_half_a_horizon_of_actuals_is_not_flagged(pizzas: Registry) -> None:
    actuals, _ = served(pizzas)
    worse = times(actuals, ["hawaiian"], 3)
    early = worse[(worse.name != "hawaiian") | (worse.date < "2016-01-07")]  # 6 days of 14
    early.to_csv("early.csv", index=False)
    result = monitor("pizzas/1", registry=pizzas, current="early.csv")
    check = result.forecast
    assert check is not None and check.min_points == 7
    hawaiian = next(s for s in check.series if s.key == "hawaiian")
    assert hawaiian.points == 6 and hawaiian.ratio > 2 and not hawaiian.decayed
    assert not result.alarm
    with_day = worse[(worse.name != "hawaiian") | (worse.date < "2016-01-08")]  # 7 days
    with_day.to_csv("seven.csv", index=False)
    assert monitor("pizzas/1", registry=pizzas, current="seven.csv").alarm


def test_rows_off_the_forecast_unknown_ids_and_missing_actuals_are_counted(
    pizzas: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    actuals, _ = served(pizzas)
    odd = pd.DataFrame(
        {
            "name": ["hawaiian", "hawaiian", "pepperoni", "calzone", "bbq_ckn", "big_meat"],
            "date": ["2015-12-31", "2016-01-15", "2016-01-02", "2016-01-03", None, "2016-01-02"],
            "sold": [30, 31, 5, 6, 7, None],
        }
    )
    # two rows' actuals are not known yet; one is negative, which training refused
    more = actuals.assign(date=actuals.date.dt.strftime("%Y-%m-%d"))
    more.loc[more.name == "brie_carre", "sold"] = -1.0
    pd.concat([more[more.name != "big_meat"], odd]).to_csv("odd.csv", index=False)
    assert cli(pizzas, "--current", "odd.csv", "--json", "odd.json") == 0
    shown = said(capsys)
    assert "2 actual row(s) fall on none of their series' forecast dates" in shown
    assert "2016-01-01 to 2016-01-14" in shown
    assert "2 actual row(s) of 2 id(s) this version has no series of" in shown
    assert "'pepperoni', 'calzone'" in shown
    assert "14 negative sold (series 'brie_carre'" in shown
    check = json.loads((tmp_path / "odd.json").read_text())["forecast"]
    assert (check["n_outside"], check["n_unknown"], check["n_missing"]) == (2, 2, 2)
    assert check["n_invalid"] == 14 and check["unknown"] == ["pepperoni", "calzone"]
    assert check["n_used"] == 14 * 4  # big_meat has no actual yet, brie_carre's are refused
    assert {s["key"] for s in check["series"]} == set(PIZZAS) - {"big_meat", "brie_carre"}

    odd.iloc[:2].to_csv("history.csv", index=False)  # nothing left to compare: exit 2
    assert cli(pizzas, "--current", "history.csv") == 2
    assert "give actuals for dates from 2016-01-01 to 2016-01-14" in said(capsys)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.drop(columns="sold"), "the actuals have no column 'sold'"),
        (lambda f: f.drop(columns=["name", "date"]), "no column 'name', 'date'"),
        (lambda f: f.assign(sold="many"), "'sold' must be numbers; got 'many'"),
        (lambda f: f.assign(date="someday"), "'date' must be dates; got 'someday'"),
        (lambda f: pd.concat([f, f.iloc[:1]]), "give one actual per series and date"),
        (lambda f: f.iloc[:0], "the actuals have 0 rows"),  # a header and nothing else
    ],
)
def test_actuals_that_cannot_be_read_exit_2_saying_why(
    pizzas: Registry, change: Any, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    actuals, _ = served(pizzas)
    change(actuals).to_csv("bad.csv", index=False)
    assert cli(pizzas, "--current", "bad.csv") == 2
    assert message in said(capsys)


def test_sources_without_actuals_are_refused(
    pizzas: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(pizzas, "--prediction-log", str(tmp_path)) == 2
    assert "--prediction-log does not apply: pizzas forecasts series" in said(capsys)
    served(pizzas)[0].to_csv("same.csv", index=False)
    assert cli(pizzas, "--current", "same.csv", "--labels", "same.csv") == 2
    assert "--labels does not apply" in said(capsys)


def test_watch_checks_a_forecasting_model_and_writes_its_report(
    pizzas: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    actuals, _ = served(pizzas)
    times(actuals, WORSE, 3).to_csv("worse.csv", index=False)
    args = ["watch", "pizzas/1", "--every", "1s", "--times", "1", "--current", "worse.csv"]
    assert main([*args, "--report-dir", "reports", "--registry", str(pizzas.path)]) == 0
    shown = said(capsys)
    assert "check 1: decay: 2 of 6 series forecast more than 2x worse" in shown
    assert "forecast accuracy" in (tmp_path / "reports" / "pizzas-latest.html").read_text()


def test_retrain_on_a_forecasting_spec_by_age_and_by_decay(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write(pizza_spec(models=FAST))
    registry = Registry(path=tmp_path / ".mlfactory")
    train(spec, registry=registry, progress=False)
    actuals, _ = served(registry)
    actuals.to_parquet("same.parquet")
    times(actuals, WORSE, 3).to_csv("worse.csv", index=False)

    assert main(["retrain", str(spec), "--when", "stale:30d", "--quiet"]) == 0
    assert "no retraining" in said(capsys)
    args = ["retrain", str(spec), "--when", "drift", "--quiet", "--current"]
    assert main([*args, "same.parquet"]) == 0
    assert "no retraining: champion version 1: no accuracy decay in 84 actuals" in said(capsys)
    assert [v.version for v in registry.versions("pizzas")] == ["1"]

    assert main([*args, "worse.csv"]) in (0, 3)
    assert "champion version 1 decayed" in said(capsys)
    tags = {v.version: v.tags for v in registry.versions("pizzas")}
    assert set(tags) == {"1", "2"}
    assert "hawaiian" in tags["2"][RETRAIN_REASON] and "big_meat" in tags["2"][RETRAIN_REASON]
    assert json.loads(tags["1"][RETRAIN_CHECK])["retrain"]

    month_later = time.time() + 31 * 86400
    outcome = retrain(spec, when="stale:30d", progress=False, now=month_later)
    assert outcome.retrained and outcome.trained is not None
    assert outcome.trained.forecast is not None and outcome.trained.version == "3"


def test_one_series_in_many_off_by_chance_is_named_but_raises_no_alarm() -> None:
    from mlfactory.monitoring.forecasts import ForecastCheck, SeriesAccuracy

    def check(flagged: int, total: int) -> ForecastCheck:
        series = [
            SeriesAccuracy(f"s{i}", 14, 3.0 if i < flagged else 0.5, 0.6, 20.0, {}, i < flagged)
            for i in range(total)
        ]
        return ForecastCheck(14, 7, [80.0], "2016-01-01", "2016-01-14", 14 * total, series=series)

    many = check(1, 60)  # 1 of 60 series: under the share that raises the alarm
    assert not many.decayed and not many.reasons()
    assert any("s0" in note and "no alarm" in note for note in many.notes())
    few = check(2, 6)  # 2 of 6: the alarm, both named
    assert few.decayed and "s0" in few.reasons()[0] and "s1" in few.reasons()[0]
