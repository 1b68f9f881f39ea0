"""Rows to a panel: one regular series per id, checked, with every problem naming its ids.

``prepare_panel`` takes a frame with one row per series and date and returns a
``Panel``: the columns renamed to statsforecast's (``KEY``, ``TIME``, ``TARGET``),
sorted, every series regular at one anchored pandas alias found in the data
(``W-SUN``, ``MS``, ``QE-DEC``, ``YS-JAN``, ...). Anything it cannot take is reported at
once in one ``DataError``, each problem naming the ids it affects (five, then
"and N more"), the values received and the fix: missing columns, ids that
cannot name a file, unreadable dates, duplicate (id, date) rows (hourly ones in
an hour clocks repeat in autumn: named as local times), missing,
infinite or negative targets, exogenous columns that are not numbers, a
frequency the data does not have, dates off the frequency's grid, series of one
point, and missing dates inside a series unless ``PanelRoles.fill`` says how to
fill them. A last period that looks unfinished is a note, not a problem. Closed days
(``PanelRoles.closed``) are interpolated over, so no model reads a closure as demand.
``prepare_future`` checks the exogenous values given for the dates to forecast.

Ids become keys as ``keys.py`` says (text; several columns joined with ``|``;
a plain file name), dates are checked against the frequency's grid as
``grid.py`` says. Times are read as dates (text or ``datetime64``; a time zone
is converted to UTC, then dropped; a quarter such as ``1981 Q1`` or an ISO week
such as ``1991 W06``, as R's tsibble writes them, is its first day; so is a whole
year written as a number, ``1871``, as R's ``time()`` writes a yearly series). Every check
is vectorised: 5 million rows (5,000 series of 1,000 days) take about two seconds.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from mlfactory.data.periods import YEARS, period_starts
from mlfactory.errors import DataError, did_you_mean
from mlfactory.forecasting.calendar import FREQUENCIES, closed_days
from mlfactory.forecasting.grid import (
    SHORTEST,
    WEEKDAYS,
    SeriesDates,
    dates_at,
    positions,
    weekday,
)
from mlfactory.forecasting.keys import SHOWN, Keys, id_problems, keys_of, series_keys

if TYPE_CHECKING:
    import numpy.typing as npt
    import pandas as pd

    Ints = npt.NDArray[np.int64]
    Bools = npt.NDArray[np.bool_]
    Floats = npt.NDArray[np.float64]
    Texts = npt.NDArray[np.object_]

__all__ = [
    "KEY",
    "Panel",
    "PanelRoles",
    "decimal_years",
    "prepare_future",
    "prepare_panel",
    "read_date",
    "read_dates",
    "series_keys",
]

KEY, TIME, TARGET = "unique_id", "ds", "y"  # the panel's own column names (statsforecast's)
Fill = Literal["error", "zero", "forward", "interpolate"]

_NAT = np.iinfo(np.int64).min  # a missing time, as datetime64[ns] stores it
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_FILLED = {
    "zero": "with 0",
    "forward": "with the value before them",
    "interpolate": "by linear interpolation",
}


@dataclass(frozen=True)
class PanelRoles:
    """Which columns are what, and the rules (plain arguments: no spec)."""

    ids: tuple[str, ...]  # the id column(s): a series is one value of each
    time: str
    target: str
    frequency: str  # a code in calendar.FREQUENCIES
    exogenous: tuple[str, ...] = ()  # numeric columns known in the future
    fill: Fill = "error"  # what to do with missing dates inside a series
    allow_negative: bool = False  # a target below 0 is refused unless this is set
    closed: tuple[str, ...] = ()  # days every series is 0 (calendar.closed_days)


@dataclass(frozen=True)
class Panel:
    """A checked panel: ``frame`` has KEY (text), TIME (datetime64[ns], naive), TARGET
    (float64) and the exogenous columns, sorted by KEY then TIME, each series regular at
    ``alias`` from its first to its last date, no missing value anywhere."""

    frame: pd.DataFrame
    roles: PanelRoles
    alias: str  # the anchored pandas alias found in the data, e.g. D, W-SUN, MS, QS-JAN
    notes: tuple[str, ...] = ()  # what was done for the user (dates filled, per rule)
    filled: dict[str, int] = field(default_factory=dict)  # id -> dates filled

    @cached_property
    def ids(self) -> list[str]:
        """The series keys, sorted."""
        import pandas as pd

        return [str(k) for k in pd.unique(self.frame[KEY])]  # the frame is sorted by KEY


def prepare_panel(frame: pd.DataFrame, roles: PanelRoles) -> Panel:
    """The panel of ``frame``; ``DataError`` listing every problem, each naming its ids."""
    import pandas as pd

    if len(frame) == 0:
        raise DataError("the data has 0 rows; check data.source and data.sql")
    problems = _column_problems(list(frame.columns), roles)
    if roles.frequency not in FREQUENCIES:
        problems.append(f"frequency {roles.frequency!r} is not one of {', '.join(FREQUENCIES)}")
    if not roles.ids or any(c not in frame.columns for c in (*roles.ids, roles.time)):
        raise _error(problems)  # nothing can be said per series without ids and times

    keys = keys_of(frame, roles.ids)
    problems += id_problems(keys, roles.ids)
    times, problem = _read_times(frame[roles.time])
    if problem:
        problems.append(problem)
    else:
        problems += _time_problems(frame[roles.time], times, keys, roles.time)
    values: dict[str, Floats] = {}
    for name, is_target in [(roles.target, True), *((x, False) for x in roles.exogenous)]:
        if name in frame.columns:
            floats, found = _values(frame[name], name, keys, is_target, roles)
            values[name] = floats
            problems += found

    valid = (keys.codes >= 0) & (times != _NAT)
    rows = np.flatnonzero(valid)
    codes, stamps = keys.codes[rows], times[rows]
    order = _order(codes, stamps)
    codes, stamps, rows = codes[order], stamps[order], rows[order]
    repeated = (codes[1:] == codes[:-1]) & (stamps[1:] == stamps[:-1])
    if repeated.any():
        problems.append(_duplicates(keys, codes[1:][repeated], stamps[1:][repeated], roles))
    first = np.r_[True, ~repeated][: len(codes)]
    codes, stamps, rows = codes[first], stamps[first], rows[first]
    partial = np.unique(keys.codes[(times == _NAT) & (keys.codes >= 0)])  # told above
    dates = SeriesDates(codes, stamps, roles.frequency)
    tz = getattr(frame[roles.time].dtype, "tz", None)
    converted = str(tz) if tz is not None and str(tz) != "UTC" else ""
    # how data.sql reads the time column as a time (the fixes below are SQL): text is cast
    timed = pd.api.types.is_datetime64_any_dtype(frame[roles.time].dtype)
    column = roles.time if timed else f"CAST({roles.time} AS TIMESTAMP)"
    shut_missing = dates.missing_closed(roles.closed)  # declared closed: not gaps
    problems += _date_problems(dates, keys.names, roles, partial, converted, column, shut_missing)
    if problems:
        raise _error(problems)
    if not len(codes):
        raise DataError("the data has no series left to forecast; check data.sql")

    target = values[roles.target][rows]
    exogenous = {x: values[x][rows] for x in roles.exogenous}
    notes: list[str] = []
    filled: dict[str, int] = {}
    if dates.missing.sum():  # a missing closed day is filled by any rule, then opened below
        rule = "interpolate" if roles.fill == "error" else roles.fill
        codes, stamps, target, exogenous = dates.fill(target, exogenous, rule)
        open_missing = dates.missing - shut_missing
        gaps = open_missing > 0
        filled = dict(zip(keys.names[dates.series[gaps]], open_missing[gaps].tolist(), strict=True))
        if filled:
            notes.append(
                f"filled {sum(filled.values()):,} missing date"
                f"{'s' * (sum(filled.values()) > 1)} {_FILLED[roles.fill]} in {len(filled):,} "
                "series"
                + ("; the exogenous columns carry their last value onto them" * bool(exogenous))
            )
    if converted:
        notes.append(f"the times were converted from {converted} to UTC")
    if not timed and pd.api.types.is_numeric_dtype(frame[roles.time].dtype):  # read, so
        # they were decimal or whole years (any other numbers are refused above)
        years, unit = (
            ("whole", "year") if whole_years(frame[roles.time], 1) else ("decimal", "month")
        )
        notes.append(
            f"time column {roles.time!r} holds {years} years (e.g. "
            f"{_plain(frame[roles.time].iloc[-1])!r}, as R's time() writes them): each is "
            f"read as the first day of its {unit}"
        )
    if roles.closed and (shut := closed_days(stamps.view("datetime64[ns]"), roles.closed)).any():
        target = _opened(target, codes, shut)
        notes.append(
            f"{int(shut.sum()):,} point{'s' * bool(shut.sum() > 1)} on closed days "
            f"(forecast.closed) in {len(np.unique(codes[shut])):,} series interpolated over: "
            "no model reads a closure as demand"
        )
    panel = pd.DataFrame(
        {KEY: keys.names[codes], TIME: stamps.view("datetime64[ns]"), TARGET: target, **exogenous}
    )
    if (partial_end := _partial_end(panel, roles.frequency)) is not None:
        notes.append(partial_end)
    return Panel(panel, roles, dates.alias, tuple(notes), filled)


def _opened(target: Floats, codes: Ints, shut: Bools) -> Floats:
    """``target`` with its values on closed days (``shut``) replaced by linear interpolation
    between the series' open points on either side (the nearest one at a series' end; 0 in
    a series with none). Rows are sorted by series then time, one per step."""
    index = np.arange(len(target))
    known = np.where(shut, -1, index)
    before = np.maximum.accumulate(known)
    after = np.minimum.accumulate(np.where(shut, len(target), index)[::-1])[::-1]
    has_before = (before >= 0) & (codes[np.maximum(before, 0)] == codes)
    has_after = (after < len(target)) & (codes[np.minimum(after, len(target) - 1)] == codes)
    low, high = target[np.maximum(before, 0)], target[np.minimum(after, len(target) - 1)]
    share = (index - before) / np.maximum(after - before, 1)
    filled = np.where(
        has_before & has_after,
        low + (high - low) * share,
        np.where(has_before, low, np.where(has_after, high, 0.0)),
    )
    return np.where(shut, filled, target)


_PERIOD = {"H": "hour", "D": "day", "W": "week", "M": "month", "Q": "quarter", "Y": "year"}


# the same point of earlier seasons, in words: what the last point is compared with
_SAME = {
    "H": "the same hour of the days",
    "D": "the same weekday of the weeks",
    "W": "the same week of the years",
    "M": "the same month of the years",
    "Q": "the same quarter of the years",
    "Y": "the years",
}
SEASONS_BACK = 4  # earlier seasons whose same point the last one is compared with, at most


def _partial_end(panel: pd.DataFrame, frequency: str) -> str | None:
    """A note when at least half the series end below half the median of the same point
    in up to 4 seasons before (the same hour of the days before, the same month of the
    years before): a week or a month summed before it was over looks so, and every model
    would read it as a fall (the user's to cut, in ``data.sql``). The same point, not the
    season before: a call centre's last hour, 21:00, is always quiet."""
    season = FREQUENCIES[frequency].season
    y, key = panel[TARGET].to_numpy(), panel[KEY].to_numpy()
    ends = np.flatnonzero(np.r_[key[1:] != key[:-1], True])  # each series' last row
    starts = np.r_[0, ends[:-1] + 1]
    long = ends - starts >= season  # a season before the last point
    ends, starts = ends[long], starts[long]
    back = ends[:, None] - season * np.arange(1, SEASONS_BACK + 1)
    earlier = np.where(back >= starts[:, None], y[np.maximum(back, 0)], np.nan)
    typical = np.nanmedian(earlier, axis=1) if len(ends) else np.empty(0)
    seen = int((typical > 0).sum())
    low = int(((y[ends] < typical / 2) & (typical > 0)).sum())
    if not seen or 2 * low < seen:
        return None
    last = panel[TIME].iloc[ends].mode().iloc[0]
    period = _PERIOD[frequency]
    return (
        f"the last {period} ({last:%Y-%m-%d}, in most series) is below half the median of "
        f"{_SAME[frequency]} before it in {low:,} of {seen:,} series: if that {period} "
        "was not over when the data was taken, leave it out in data.sql, or every model "
        "reads it as a fall"
    )


def prepare_future(future: pd.DataFrame, panel: Panel, horizon: int) -> pd.DataFrame:
    """The exogenous values for the ``horizon`` dates after each series' end (KEY, TIME,
    exogenous columns), checked: every id and date present once, every column, no missing."""
    import pandas as pd

    roles = panel.roles
    if horizon < 1:
        raise DataError(f"the horizon must be at least 1 step; got {horizon}")
    last = panel.frame.groupby(KEY, sort=True)[TIME].max()
    ahead = positions(panel.alias, last.to_numpy().view(np.int64))[:, None] + np.arange(
        1, horizon + 1
    )
    expected = pd.DataFrame(
        {
            KEY: np.repeat(last.index.to_numpy(dtype=object), horizon),
            TIME: dates_at(panel.alias, ahead.ravel()).view("datetime64[ns]"),
        }
    )
    if not roles.exogenous:
        return expected
    columns = list(future.columns)
    problems = [
        f"{what} {name!r} is not a column of the future frame{did_you_mean(name, columns)}"
        for what, name in [
            *(("data.id_column", i) for i in roles.ids),
            ("data.time_column", roles.time),
        ]
        if name not in columns
    ]
    absent = [x for x in roles.exogenous if x not in columns]
    if absent:
        problems.append(
            f"exogenous column{'s' * (len(absent) > 1)} missing from the future frame "
            "(forecast.future): "
            + ", ".join(f"{x!r}{did_you_mean(x, columns)}" for x in absent)
            + f"; give their values for the {horizon} dates after each series' last"
        )
    if problems:
        raise _error(problems, "the future frame fails the forecasting checks")

    keys = keys_of(future, roles.ids)
    known = np.flatnonzero(np.isin(keys.names, last.index.to_numpy(dtype=object)))
    rows = np.flatnonzero(np.isin(keys.codes, known))  # unknown ids are not ours to check
    times, problem = _read_times(future[roles.time].iloc[rows])
    problems += [problem] if problem else []
    given = pd.DataFrame({KEY: keys.names[keys.codes[rows]], TIME: times.view("datetime64[ns]")})
    given["_row"] = rows
    merged = expected.merge(given, on=[KEY, TIME], how="left", sort=False)
    where = f"{horizon} date{'s' * (horizon > 1)} after each series' last"
    twice = merged.duplicated([KEY, TIME], keep="first").to_numpy()
    if twice.any():
        example = merged[twice].iloc[0]
        problems.append(
            f"the future frame has several rows for one (id, date) in "
            f"{_named(merged[KEY][twice])} (e.g. {example[KEY]} on {_date(example[TIME])}); "
            "give one row per id and date"
        )
    merged = merged[~twice].reset_index(drop=True)
    lacking = merged["_row"].isna().to_numpy()
    if lacking.any():
        example = merged[lacking].iloc[0]
        problems.append(
            f"the future frame lacks {int(lacking.sum()):,} of the {where} in "
            f"{_named(merged[KEY][lacking])} (e.g. {example[KEY]} on {_date(example[TIME])}); "
            "give the exogenous values of every id for every date forecast"
        )
    found = ~lacking
    out = merged[[KEY, TIME]]
    for name in roles.exogenous:
        floats = np.full(len(merged), np.nan)
        if found.any():
            taken = future[name].iloc[merged["_row"][found].astype(np.int64).to_numpy()]
            floats[found], bad, example = _floats(taken.reset_index(drop=True), booleans=True)
            if bad.any():
                problems.append(
                    f"exogenous column {name!r} must be numbers or true/false; got "
                    f"{example!r} in the future frame for {_named(merged[KEY][found][bad])}"
                )
                continue
        unset = found & ~np.isfinite(floats)
        if unset.any():
            problems.append(
                f"exogenous column {name!r} is missing or infinite in {int(unset.sum()):,} "
                f"row(s) of the future frame for {_named(merged[KEY][unset])}; give a value "
                "for every id and date forecast"
            )
        out = out.assign(**{name: floats})
    if problems:
        raise _error(problems, "the future frame fails the forecasting checks")
    return out


# -- columns, ids, times and values -----------------------------------------------------------


def _error(problems: list[str], header: str = "the data fails the forecasting checks") -> DataError:
    count = f"{len(problems)} problem{'s' * (len(problems) > 1)}"
    return DataError.from_problems(f"{header} ({count})", problems)


def _column_problems(columns: list[Any], roles: PanelRoles) -> list[str]:
    problems: list[str] = []
    named = [
        *(("data.id_column", i) for i in roles.ids),
        ("data.time_column", roles.time),
        ("data.target", roles.target),
        *(("forecast.exogenous", x) for x in roles.exogenous),
    ]
    if not roles.ids:
        problems.append("data.id_column is not set; name the column(s) that tell the series apart")
    seen: dict[str, str] = {}
    for what, name in named:
        if name in seen:
            problems.append(f"column {name!r} is both {seen[name]} and {what}; give it one part")
            continue
        seen[name] = what
        if name not in columns:
            problems.append(f"{what} {name!r} is not a column{did_you_mean(name, columns)}")
        elif what == "forecast.exogenous" and name in (KEY, TIME, TARGET):
            problems.append(
                f"forecast.exogenous {name!r} has a name the panel gives its own columns "
                f"({KEY}, {TIME}, {TARGET}); rename it in data.sql"
            )
    return problems


def _read_times(values: pd.Series) -> tuple[Ints, str | None]:
    """The times as int64 nanoseconds since 1970 in UTC (``_NAT`` where missing or not a
    date), or the problem with the whole column."""
    import pandas as pd

    dtype = values.dtype
    if isinstance(dtype, pd.DatetimeTZDtype):
        values = values.dt.tz_convert("UTC").dt.tz_localize(None)
    elif pd.api.types.is_datetime64_dtype(dtype):
        pass
    elif pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype):
        if (months := decimal_years(values)) is not None:
            return months.to_numpy("datetime64[ns]").view(np.int64), None
        example = values[values.notna()].iloc[0] if values.notna().any() else None
        if whole_years(values, least=1):  # each year's first day, NaT where missing
            known = values.to_numpy(dtype=float, na_value=np.nan)
            far = (known < YEARS[0]) | (known > YEARS[1])
            if far.any():
                return np.full(len(values), _NAT), (
                    f"time column {values.name!r} has {int(far.sum()):,} year(s) outside the "
                    f"years {YEARS[0]} to {YEARS[1]} (e.g. {_plain(values[far].iloc[0])!r}); "
                    "fix or filter them out in data.sql, or if they are not years, make a date "
                    "there (e.g. make_date(year, month, day))"
                )
            years = np.where(np.isnan(known), 1970, known).astype(np.int64) - 1970
            times = years.astype("datetime64[Y]").astype("datetime64[ns]").view(np.int64)
            return np.where(np.isnan(known), _NAT, times), None
        return np.full(len(values), _NAT), (
            f"time column {values.name!r} holds numbers (e.g. {_plain(example)!r}), not dates; "
            "make a date in data.sql (e.g. make_date(year, month, day))"
        )
    else:  # text or objects: each distinct value read once
        codes, uniques = pd.factorize(values)
        with warnings.catch_warnings():  # "could not infer format": the values say it below
            warnings.simplefilter("ignore", UserWarning)
            read = pd.to_datetime(pd.Series(uniques, dtype=object), errors="coerce", utc=True)
        if read.isna().any():
            read = read.fillna(period_starts(uniques, read.isna().to_numpy()))
        lookup = np.append(read.dt.tz_localize(None).to_numpy("datetime64[ns]").view(np.int64),
                           _NAT)  # fmt: skip
        return lookup[codes], None
    # a date read at another unit (Parquet's microseconds) may lie beyond nanoseconds' years,
    # where converting it would wrap silently (9999-12-31 becomes a day of 1816)
    if values.dt.unit != "ns":
        years = values.dt.year
        far = ((years < YEARS[0]) | (years > YEARS[1])).to_numpy()
        if far.any():
            example = values[far].iloc[0]
            return np.full(len(values), _NAT), (
                f"time column {values.name!r} has {int(far.sum()):,} date(s) outside the "
                f"years {YEARS[0]} to {YEARS[1]} (e.g. {example:%Y-%m-%d}); fix or filter "
                "them out in data.sql"
            )
    return values.to_numpy("datetime64[ns]").view(np.int64), None


def whole_years(values: pd.Series, least: int = 3) -> bool:
    """Numbers that are all whole years (1970, 1971.0; at least ``least`` distinct ones): a
    yearly series, each read as its year's first day."""
    known = values.dropna().to_numpy(dtype=float)
    return bool(
        len(np.unique(known)) >= least
        and (known == np.round(known)).all()
        and ((known >= 1000) & (known <= YEARS[1])).all()
    )


def decimal_years(values: pd.Series) -> pd.Series | None:
    """Numbers that are years and twelfths (``1949.0833``, as R's ``time()`` writes a
    monthly or quarterly series) as the first day of each month; None when they are not
    (a whole year alone is not: ``2016`` is not a month)."""
    import pandas as pd

    dtype = values.dtype
    if not pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype):
        return None
    if values.isna().any() or not len(values):
        return None
    numbers = values.to_numpy(dtype=float)
    years = np.floor(numbers)
    twelfths = (numbers - years) * 12
    months = np.round(twelfths)
    inside = (years >= YEARS[0]) & (years <= YEARS[1])
    if not (inside.all() and np.allclose(twelfths, months, atol=1e-4) and months.any()):
        return None
    first = pd.to_datetime({"year": years, "month": months + 1, "day": np.ones(len(years))})
    return pd.Series(first.to_numpy(), index=values.index, name=values.name)


def read_dates(values: pd.Series) -> pd.Series:
    """``values`` read as a time column is read (text in one format, ``2016 Q3`` and
    ``1991 W06`` included; a time zone converted to UTC, then dropped): naive
    datetime64[ns], NaT where a value is not a date (numbers are none)."""
    import pandas as pd

    times, _ = _read_times(values)
    return pd.Series(times.view("datetime64[ns]"), index=values.index, name=values.name)


def read_date(text: str) -> pd.Timestamp | None:
    """One date written as a time column may write it, or None (``read_dates``)."""
    import pandas as pd

    found = read_dates(pd.Series([text], dtype=object)).iloc[0]
    return None if pd.isna(found) else pd.Timestamp(found)


def _time_problems(values: pd.Series, times: Ints, keys: Keys, name: str) -> list[str]:
    problems = []
    unset = (times == _NAT) & values.isna().to_numpy()
    if unset.any():
        problems.append(
            f"time column {name!r} is missing in {int(unset.sum()):,} row(s) of "
            f"{_named(keys.names, keys.codes[unset])}; fill them or filter them out in data.sql"
        )
    unread = (times == _NAT) & ~unset
    if unread.any():
        shown = values[unread].drop_duplicates()
        examples = ", ".join(repr(_plain(v)) for v in shown.iloc[:SHOWN])
        problems.append(
            f"time column {name!r} has {int(unread.sum()):,} value(s) that are not dates in "
            f"{_named(keys.names, keys.codes[unread])}: {examples}"
            f"{f' and {len(shown) - SHOWN} more' if len(shown) > SHOWN else ''}; write them "
            "as dates in one format (e.g. 2024-01-31 or 2024-01-31 13:00)"
        )
    return problems


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _floats(values: pd.Series, *, booleans: bool) -> tuple[Floats, Bools, Any]:
    """The values as floats (NaN where missing), which are not numbers, and one of those."""
    import pandas as pd

    dtype = values.dtype
    if pd.api.types.is_bool_dtype(dtype) and not booleans:
        return np.full(len(values), np.nan), values.notna().to_numpy(), True
    if pd.api.types.is_bool_dtype(dtype) or (
        pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_complex_dtype(dtype)
    ):
        return values.to_numpy(np.float64, na_value=np.nan), np.zeros(len(values), bool), None
    objects = values.astype(object)
    read = pd.to_numeric(objects, errors="coerce")
    bad = (read.isna() & objects.notna()).to_numpy()
    example = _plain(objects[bad].iloc[0]) if bad.any() else None
    return read.to_numpy(np.float64, na_value=np.nan), bad, example


def _values(
    values: pd.Series, name: str, keys: Keys, is_target: bool, roles: PanelRoles
) -> tuple[Floats, list[str]]:
    """A target's or exogenous column's floats, and the problems with them."""
    floats, bad, example = _floats(values, booleans=not is_target)
    what = f"target {name!r}" if is_target else f"exogenous column {name!r}"
    if bad.any():
        kinds = "numbers" if is_target else "numbers or true/false"
        return floats, [
            f"{what} must be {kinds}; got {example!r} in {int(bad.sum()):,} row(s) of "
            f"{_named(keys.names, keys.codes[bad])}; fix the column in data.sql"
        ]
    problems = []
    missing = np.isnan(floats)
    if missing.any():
        fix = (
            f"fill them in data.sql (e.g. coalesce({name}, 0)) or drop those rows and let "
            "forecast.fill fill their dates; missing targets are not dropped silently"
            if is_target
            else f"fill them in data.sql (e.g. coalesce({name}, 0))"
        )
        problems.append(
            f"{what} is missing in {int(missing.sum()):,} row(s) of "
            f"{_named(keys.names, keys.codes[missing])}; {fix}"
        )
    infinite = np.isinf(floats)
    if infinite.any():
        problems.append(
            f"{what} is infinite in {int(infinite.sum()):,} row(s) of "
            f"{_named(keys.names, keys.codes[infinite])}; replace them in data.sql"
        )
    if is_target and not roles.allow_negative:
        negative = floats < 0
        if negative.any():
            problems.append(
                f"{what} is negative in {int(negative.sum()):,} row(s) of "
                f"{_named(keys.names, keys.codes[negative])} (lowest {floats[negative].min():g});"
                " forecasting here assumes non-negative quantities such as demand or counts: "
                "fix the rows, or allow negative targets (forecast.allow_negative: true)"
            )
    return floats, problems


def _named(names: Any, codes: Any = None) -> str:
    """``id CA`` or ``ids CA, TX, ... and N more``: the distinct ids of ``codes`` (positions
    in ``names``), or of ``names`` itself when no codes are given."""
    ids = _distinct(names, codes)
    return f"id{'s' * (len(ids) != 1)} {_listed(ids)}" if ids else "rows with no id"


def _distinct(names: Any, codes: Any = None) -> list[str]:
    import pandas as pd

    if codes is None:
        return sorted({str(n) for n in pd.unique(np.asarray(names, dtype=object))})
    codes = np.asarray(codes)
    return [str(n) for n in np.asarray(names)[np.unique(codes[codes >= 0])]]


def _listed(ids: list[str]) -> str:
    return ", ".join(ids[:SHOWN]) + (f" and {len(ids) - SHOWN} more" if len(ids) > SHOWN else "")


def _date(stamp: Any) -> str:
    import pandas as pd

    ts = pd.Timestamp(stamp)
    return ts.strftime("%Y-%m-%d" if ts == ts.normalize() else "%Y-%m-%d %H:%M")


def _order(codes: Ints, stamps: Ints) -> Ints:
    """The order sorting rows by series then time (none needed when they already are)."""
    if len(codes) > 1:
        step = np.diff(codes)
        if ((step > 0) | ((step == 0) & (np.diff(stamps) >= 0))).all():
            return np.arange(len(codes))
    import pandas as pd

    instants, distinct = pd.factorize(stamps, sort=True)  # one int64 key: series, then time
    return np.argsort(codes * len(distinct) + instants, kind="stable").astype(np.int64)


def _duplicates(keys: Keys, codes: Ints, stamps: Ints, roles: PanelRoles) -> str:
    ids = ", ".join(roles.ids)
    pairs = len(np.unique(np.stack([codes, stamps]), axis=1)[0])
    zone = _clocks_back(stamps) if roles.frequency == "H" else None
    if zone is not None:
        return (
            f"{pairs:,} (id, time) pair(s) have more than one row in "
            f"{_named(keys.names, codes)} (e.g. {keys.names[codes[0]]} at {_date(stamps[0])}), "
            f"each in an hour that clocks repeat when daylight saving time ends (in {zone}, "
            "for one): the times look local. Write them in UTC, or with their UTC offset "
            "(2013-11-03T01:00-04:00), which is read as UTC; or average the repeated hour in "
            f"data.sql (SELECT {ids}, {roles.time}, avg({roles.target}) AS {roles.target} "
            "FROM data GROUP BY ALL) and let forecast.fill fill the hour skipped in spring"
        )
    return (
        f"{pairs:,} (id, date) pair(s) have more than one row in {_named(keys.names, codes)} "
        f"(e.g. {keys.names[codes[0]]} on {_date(stamps[0])}); a series has one row per "
        f"date: aggregate them in data.sql, e.g. SELECT {ids}, {roles.time}, "
        f"sum({roles.target}) AS {roles.target} FROM data GROUP BY ALL"
    )


# time zones whose daylight saving time ends at different local hours or on other days
_DST_ZONES = (
    "America/New_York",
    "Europe/London",
    "Europe/Berlin",
    "Europe/Helsinki",
    "Australia/Sydney",
    "Pacific/Auckland",
    "America/Santiago",
)


def _clocks_back(stamps: Ints) -> str | None:
    """A time zone where every one of the repeated ``stamps`` is an hour its clocks
    repeat in autumn (local times written without their offset), or None."""
    import pandas as pd

    times = pd.DatetimeIndex(np.unique(stamps).view("datetime64[ns]"))
    for zone in _DST_ZONES:
        local = times.tz_localize(zone, ambiguous="NaT", nonexistent="shift_forward")
        if bool(np.all(local.isna())):
            return zone
    return None


# -- the dates against the frequency ----------------------------------------------------------


def _date_problems(
    dates: SeriesDates,
    names: Texts,
    roles: PanelRoles,
    partial: Ints,
    converted: str,
    column: str,
    shut_missing: Ints,
) -> list[str]:
    """The series whose dates step at another frequency, fall off the grid, number one,
    or (``fill: error``) miss dates other than closed days (``shut_missing`` per series);
    ``partial`` series lost rows to unreadable dates. ``column`` is the time column as
    SQL reads it as a time (the fixes' SQL)."""
    problems = [
        _mismatch(dates, names, roles, found, words, where, column)
        for (found, words), where in dates.mismatch.items()
    ]
    if dates.off.any():
        problems.append(_irregular(dates, names, roles, converted, column))
    whole = ~np.isin(dates.series, partial)  # a series that lost rows is not counted
    single = (dates.counts == 1) & whole
    if single.any():
        problems.append(
            f"{_named(names, dates.series[single])} ha{'ve' if single.sum() > 1 else 's'} one "
            "date only; a series needs at least 2 points to be forecast: give them more "
            "history, or filter them out in data.sql"
        )
    missing = dates.missing - shut_missing
    gaps = (missing > 0) & whole
    if roles.fill == "error" and gaps.any():
        counted = [
            f"{k} ({m:,})" for k, m in zip(names[dates.series[gaps]], missing[gaps], strict=True)
        ]
        problems.append(
            f"{int(missing[gaps].sum()):,} {FREQUENCIES[roles.frequency].words} date(s) "
            f"are missing between the first and last date of {len(counted)} series: "
            f"{_listed(counted)}; add the rows, or set forecast.fill to zero, forward or "
            "interpolate"
        )
    return problems


def _mismatch(
    dates: SeriesDates,
    names: Texts,
    roles: PanelRoles,
    found: str | None,
    words: str,
    where: list[int],
    column: str,
) -> str:
    code = roles.frequency
    wanted = FREQUENCIES[code]
    if found is not None:
        looks = f": {FREQUENCIES[found].words} ({found}), not {wanted.words} ({code})"
        fix = f"set forecast.frequency to {found}"
    else:
        looks = f", not {wanted.words} ({code})"
        fix = "set the forecast.frequency the data has"
    if np.min(dates.median[where]) < SHORTEST[code]:
        time, target = roles.time, roles.target
        fix += (
            f", or aggregate the rows to {wanted.words} dates in data.sql, e.g. SELECT "
            f"{', '.join(roles.ids)}, date_trunc('{_PERIOD[code]}', {column}) AS {time}, "
            f"sum({target}) AS {target} FROM data GROUP BY ALL"
        )
    return (
        f"a frequency that does not match the data: the dates of "
        f"{_listed(_distinct(names, dates.series[where]))} step by {words}{looks}; {fix}"
    )


def _irregular(
    dates: SeriesDates, names: Texts, roles: PanelRoles, converted: str, column: str
) -> str:
    code, alias = roles.frequency, dates.alias
    row = int(np.flatnonzero(dates.off)[0])
    example = f"{names[dates.codes[row]]} on {_date(dates.stamps[row])}"
    if code == "H":
        rule, fix = "on the hour", f"date_trunc('hour', {column})"
    elif code == "D":
        rule, fix = "at midnight", f"cast({column} AS DATE)"
    elif code == "W":
        day = _WEEKDAYS[WEEKDAYS.index(alias[2:])]
        example += f", a {_WEEKDAYS[weekday(int(dates.stamps[row]))]}"
        rule = f"a {day} at midnight ({alias}, the weekday most dates have)"
        fix = f"date_trunc('week', {column}), which gives Mondays"
    else:
        period, first = _PERIOD[code], alias.startswith(("MS", "QS", "YS"))
        rule = f"the {'first' if first else 'last'} day of a {period} at midnight ({alias})"
        fix = f"date_trunc('{period}', {column})"
        if not first:
            later = {"Q": " + INTERVAL 2 MONTH", "Y": " + INTERVAL 11 MONTH"}.get(code, "")
            fix = f"last_day({fix}{later})"
    zone = (
        f" (the times were converted from {converted} to UTC: give dates with no time zone)"
        if converted
        else ""
    )
    return (
        f"irregular timestamps: {int(dates.off.sum()):,} date(s) of "
        f"{_named(names, dates.codes[dates.off])} are off the {FREQUENCIES[code].words} grid, "
        f"where every date is {rule} (e.g. {example}){zone}; put them on it in data.sql, "
        f"e.g. {fix}, and aggregate"
    )
