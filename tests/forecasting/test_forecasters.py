"""The forecasters on series whose right answer is known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlfactory.forecasting.backtest import Job, Plan, run_job
from mlfactory.forecasting.calendar import holiday_features
from mlfactory.forecasting.forecasters import FORECASTERS, Setting, future_dates


def panel(values: dict[str, list[float]], start: str = "2015-01-05") -> pd.DataFrame:
    rows = [
        {"unique_id": key, "ds": day, "y": float(v)}
        for key, series in values.items()
        for day, v in zip(pd.date_range(start, periods=len(series)), series, strict=True)
    ]
    return pd.DataFrame(rows)


def test_the_seasonal_profile_continues_the_week_where_the_series_ends() -> None:
    week = [2, 4, 6, 8, 10, 30, 40]  # Monday .. Sunday
    past = panel({"shop": week * 20 + week[:3]})  # ends on a Wednesday
    got = FORECASTERS["seasonal_profile"].forecast(past, None, Setting(7, "D", "D"))
    assert list(got["ds"].dt.dayofweek) == [3, 4, 5, 6, 0, 1, 2]  # Thursday first
    # counts: the Poisson median of each weekday's mean, which here is the value itself
    assert list(got["mean"]) == [8, 10, 30, 40, 2, 4, 6]


@pytest.mark.parametrize(
    ("alias", "ends", "first", "third"),
    [
        ("ME", ["2020-01-31", "2019-11-30"], ["2020-02-29", "2019-12-31"], "2020-04-30"),
        ("W-SUN", ["2020-01-05", "2019-12-29"], ["2020-01-12", "2020-01-05"], "2020-01-26"),
        ("D", ["2020-02-27", "2019-12-31"], ["2020-02-28", "2020-01-01"], "2020-03-01"),
    ],
)
def test_future_dates_continue_each_series_on_its_own_calendar(
    alias: str, ends: list[str], first: list[str], third: str
) -> None:
    past = pd.DataFrame({"unique_id": ["a", "b"], "ds": pd.to_datetime(ends)})
    got = future_dates(past, Setting(3, "D", alias))
    assert list(got["unique_id"]) == ["a"] * 3 + ["b"] * 3  # each series' steps in order
    assert list(got["ds"].iloc[[0, 3]]) == list(pd.to_datetime(first))
    assert got["ds"].iloc[2] == pd.Timestamp(third)  # month ends stay month ends, leap day


def test_the_seasonal_profile_of_fractional_values_is_the_mean() -> None:
    past = panel({"a": [1.5, 2.5] * 30})
    got = FORECASTERS["seasonal_profile"].forecast(past, None, Setting(3, "D", "D"))
    assert np.allclose(got["mean"], 2.0)  # a 2-day pattern in a weekly season: the level


def test_holiday_features_see_the_days_around_christmas() -> None:
    days = pd.Series(pd.to_datetime(["2015-12-22", "2015-12-25", "2015-12-27", "2015-10-20"]))
    got = holiday_features(days, "US", "D")
    assert list(got["holiday"]) == [0, 1, 0, 0]
    assert list(got["holiday_offset"]) == [-3, 0, 2, 99]
    christmas = got["holiday_which"].iloc[1]
    assert got["holiday_which"].iloc[0] == christmas == got["holiday_which"].iloc[2]
    assert got["holiday_which"].iloc[3] == -1


@pytest.mark.parametrize("name", ["seasonal_naive", "seasonal_profile", "auto_ets", "lightgbm"])
def test_a_constant_series_and_an_all_zero_one_get_finite_forecasts(name: str) -> None:
    past = panel({"flat": [5.0] * 120, "none": [0.0] * 120, "busy": list(range(120))})
    got = FORECASTERS[name].forecast(past, None, Setting(5, "D", "D", holidays="US"))
    assert len(got) == 15 and np.isfinite(got["mean"]).all() and (got["mean"] >= 0).all()
    flat = got.loc[got["unique_id"] == "flat", "mean"]
    assert np.allclose(flat, 5.0, atol=0.5)


def test_the_global_models_target_is_centred_on_each_series_recent_level() -> None:
    from mlfactory.forecasting.forecasters import _recent_level

    rising = [float(v) for v in range(100)]  # its last 10 points average 94.5, its whole 49.5
    frame = panel({"rising": rising, "flat": [3.0] * 40})
    level = _recent_level(10)
    level.set_column_names("unique_id", "ds", "y")
    centred = level.fit_transform(frame)
    assert centred.groupby("unique_id")["y"].apply(lambda y: y.tail(10).mean()).abs().max() < 1e-9
    assert centred["y"].iloc[99] == 99.0 - 94.5
    back = level.inverse_transform(centred[["unique_id", "ds", "y"]])
    assert np.allclose(back["y"], frame["y"])


def weekly(days: int, seed: int, level: float = 20.0) -> list[float]:
    noise = np.random.default_rng(seed).uniform(0, 2, days)
    return list(level + 5 * np.sin(np.arange(days) * 2 * np.pi / 7) + noise)


def test_a_statistical_models_backtest_runs_one_fit_forward_and_its_final_forecast_is_fresh() -> (
    None
):
    from statsforecast.models import AutoETS

    past = panel({"a": weekly(140, 1), "b": weekly(150, 2, level=50)})
    setting, plan = Setting(7, "D", "D"), Plan(windows=2, step=7, horizon=7)
    got = run_job(Job("auto_ets", None, (0, 1, 2), setting, plan), past)
    served = got[got["origin"] == plan.final]
    fresh = FORECASTERS["auto_ets"].forecast(past, None, setting)  # the whole history's fit
    assert np.allclose(served["mean"], fresh["mean"])
    for key in ("a", "b"):  # origin 1: origin 0's parameters, its states run one week on
        y = past.loc[past["unique_id"] == key, "y"].to_numpy()
        fitted = AutoETS(season_length=7).fit(y[: len(y) - 14])
        later = got[(got["origin"] == 1) & (got["unique_id"] == key)]["mean"]
        assert np.allclose(later, fitted.forward(y=y[: len(y) - 7], h=7)["mean"])
        refitted = AutoETS(season_length=7).fit(y[: len(y) - 7]).predict(h=7)["mean"]
        assert not np.allclose(later, refitted)  # not a second fit


def test_a_backtest_origin_that_a_first_fit_cannot_carry_gets_a_fallback_forecast() -> None:
    spiked = weekly(150, 3)
    spiked[140] = 1e300  # after the first origin: AutoTheta fitted there cannot run over it
    past = panel({"spiked": spiked, "calm": weekly(150, 4)})
    setting, plan = Setting(7, "D", "D"), Plan(windows=2, step=7, horizon=7)
    got = run_job(Job("auto_theta", None, (0, 1, 2), setting, plan), past)
    assert sorted(got["origin"].unique()) == [0, 1, 2] and len(got) == 2 * 3 * 7
    assert np.isfinite(got["mean"]).all()
    later = got[(got["origin"] == 1) & (got["unique_id"] == "spiked")]["mean"].to_numpy()
    assert np.array_equal(later, np.array(spiked[136:143]))  # the seasonal naive's week


def test_conformal_quantiles_pool_a_season_of_steps() -> None:
    from mlfactory.forecasting.select import conformal_quantiles

    rng = np.random.default_rng(0)
    steps = np.repeat(np.arange(1, 15), 200)
    scores = np.abs(rng.normal(size=len(steps))) * np.where(steps <= 7, 1.0, 2.0)
    got = conformal_quantiles(np.column_stack([steps, scores]), 14, 80, block=7)
    assert len(set(got[:7])) == 1 and len(set(got[7:])) == 1  # one quantile per week
    assert got[0] == pytest.approx(1.2816, abs=0.1)  # |N(0, 1)|'s 80% quantile
    assert got[7] == pytest.approx(2 * 1.2816, abs=0.2)
    # a level's quantile covers that share of the scores it was computed from, or just more
    inside = scores <= got[steps - 1]
    assert 0.80 <= inside.mean() <= 0.81


@pytest.mark.parametrize(("fewest", "thin"), [(3, [80, 95]), (4, [95]), (18, [95]), (19, [])])
def test_levels_too_few_scores_calibrate_are_named_with_the_count_they_need(
    fewest: int, thin: list[int]
) -> None:
    """With n scores in a block a conformal q interval needs (n + 1) q <= n: 80% needs 4,
    95% needs 19; below that its quantile is the largest score, narrower than the level."""
    from mlfactory.forecasting.select import conformal_quantiles, thin_levels

    first = np.resize(np.arange(1, 5), fewest)  # steps 1-4: the block with the fewest
    steps = np.concatenate([first, np.repeat(np.arange(5, 9), 50)])
    pairs = np.column_stack([steps, np.arange(len(steps), dtype=float)])
    said = thin_levels(pairs, 8, 4, [80, 95])
    assert [int(line.split("%")[0].split()[-1]) for line in said] == thin
    for level, line in zip(thin, said, strict=True):
        need = {80: 4, 95: 19}[level]
        said_so = (
            f"as few as {fewest} backtest errors per 4 steps ahead, where {level}% needs {need}:"
        )
        assert said_so in line
    if thin:  # what a thin level is left with: the largest score of the block
        assert conformal_quantiles(pairs, 8, thin[-1], block=4)[0] == fewest - 1


def test_prophet_the_books_model_forecasts_each_series(tmp_path: object) -> None:
    past = panel(
        {"a": [10 + (i % 7) for i in range(120)], "b": [50 + 2 * (i % 7) for i in range(90)]}
    )
    got = FORECASTERS["prophet"].forecast(past, None, Setting(7, "D", "D"))
    assert list(got["unique_id"]) == ["a"] * 7 + ["b"] * 7
    for key, base in (("a", 10), ("b", 50)):
        mean = got.loc[got["unique_id"] == key, "mean"].to_numpy()
        assert base - 1 <= mean.min() and mean.max() <= base + 2 * 7  # the weekly pattern


def test_a_model_whose_extra_is_missing_is_a_spec_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from mlfactory.errors import SpecError
    from mlfactory.spec import parse_spec

    from .test_train import pizza_spec

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "prophet" else real(name, *a)
    )
    with pytest.raises(SpecError, match=r"models\[1\]: prophet needs its extra: pip install"):
        parse_spec(pizza_spec(models=["seasonal_naive", "prophet"]))


def test_choose_per_series_global_ties_and_incomplete_models() -> None:
    from mlfactory.forecasting.select import choose

    rows = [  # model, series, mase, points
        ("seasonal_naive", "a", 1.0, 28),
        ("auto_ets", "a", 0.5, 28),
        ("lightgbm", "a", 0.7, 28),
        ("seasonal_naive", "b", 1.0, 28),
        ("auto_ets", "b", 0.9, 28),
        ("lightgbm", "b", 0.6, 28),
        ("seasonal_naive", "c", 1.0, 28),
        ("auto_ets", "c", 0.8, 14),
        ("lightgbm", "c", 1.0, 28),
    ]
    metrics = pd.DataFrame(rows, columns=["model", "unique_id", "mase", "points"])
    models, keys = ["seasonal_naive", "auto_ets", "lightgbm"], ["a", "b", "c"]
    per = choose(metrics, models, "per_series", points=28, keys=keys)
    # c: auto_ets lacks points; lightgbm ties the baseline, which is listed first
    assert list(per) == ["auto_ets", "lightgbm", "seasonal_naive"]
    one = choose(metrics, models, "global", points=28, keys=keys)
    # lightgbm has the lowest mean over the series every model forecast (a, b): 0.65 < 0.7
    assert list(one) == ["lightgbm", "lightgbm", "lightgbm"]
    # search.metric chooses: by MAE, auto_ets is the better one on a and b
    metrics["mae"] = [9.0, 1.0, 5.0, 9.0, 1.0, 5.0, 9.0, 1.0, 5.0]
    by_mae = choose(metrics, models, "global", points=28, keys=keys, metric="mae")
    assert list(by_mae) == ["auto_ets", "auto_ets", "lightgbm"]  # c: auto_ets lacks points
