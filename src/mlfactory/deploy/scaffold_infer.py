"""What ``mlfactory init`` guesses from a table: the task, the id and time columns, and
for a forecast the frequency, the SQL the rows need, how missing dates are filled.

Each guess comes with the reason it was made, which the generated ``factory.yaml``
writes beside it as a comment, so a user can see what to change.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mlfactory.data.schema import ID_NAME, repeated_identifier
from mlfactory.data.sources import query_frame
from mlfactory.errors import BadInputError, DataError, did_you_mean

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["FEW_VALUES", "Guess", "guess"]

FEW_VALUES = 10  # a numeric target with at most this many distinct whole values: classes
_DATE_TEXT = re.compile(r"^\s*(\d{4}-\d{1,2}-\d{1,2}|\d{1,2}/\d{1,2}/\d{2,4})([ T]\d|\s*$)")
# what forecasting also reads as a date: a quarter, an ISO week, a month (R's tsibble)
_PERIOD_TEXT = re.compile(r"^\s*\d{4}\s*-?\s*([QqWw]\d{1,2}|[A-Za-z]{3,9})\s*$")


@dataclass(frozen=True)
class Guess:
    """What a table suggests, each choice with its reason (a comment of factory.yaml)."""

    task: str
    task_reason: str
    target: str | None
    label_column: str | None
    id_column: str | None
    id_reason: str
    time_column: str | None
    time_reason: str
    forecast_hint: str | None  # a comment suggesting task: forecasting, or None
    group_column: str | None  # split.group_column: rows of one entity stay in one part
    group_reason: str | None  # why (the comment above it)
    exclude: tuple[tuple[str, str], ...]  # columns no feature can be: (name, why)
    sql: str | None  # data.sql, when the table needs one (one series: its name)
    sql_reason: str | None  # why (the comment above it)
    frequency: str | None  # the time column's step (H, D, W, M, Q, Y) when it has one
    frequency_reason: str  # why (the comment above forecast.frequency)
    fill: tuple[str, str] | None  # forecast.fill and why, when a series misses dates
    allow_negative: str | None  # why forecast.allow_negative is set, when the target goes below 0
    rows: int
    columns: tuple[str, ...]


def guess(frame: pd.DataFrame, *, target: str | None, task: str | None, shown_as: str) -> Guess:
    """The guesses for ``frame``; a ``target`` that is not a column is a ``BadInputError``."""
    columns = [str(c) for c in frame.columns]
    if target is not None and target not in columns:
        raise BadInputError(
            f"--target {target!r} is not a column of {shown_as}{did_you_mean(target, columns)}; "
            f"its columns are {', '.join(columns)}."
        )
    chosen, task_reason = _task(frame, target) if task is None else (task, "given with --task")
    if chosen != "anomaly" and target is None:
        raise BadInputError(
            f"--task {chosen} needs --target, the column to predict; the columns of {shown_as} "
            f"are {', '.join(columns)}."
        )
    taken: set[str | None] = {target}
    id_column, id_reason = _id_column(frame, taken)
    # a forecast's dates come first: one series' dates are unique per row, like a row id
    forecasting = chosen == "forecasting"
    besides = taken if forecasting else taken | {id_column}
    time_column, time_reason = _time_column(frame, besides, forecasting)
    group_column = group_reason = None
    if time_column is None and not forecasting:  # a time split keeps the future out already
        group_column, group_reason = _group_column(frame, besides)
        time_reason = (
            f"no column holds dates: the rows are split by {group_column} (below)"
            if group_column
            else time_reason + _stratified(chosen, target)
        )
    dated = time_column  # the dates of a forecast: a regression's hint reads periods too
    if chosen == "regression" and dated is None:
        dated, _ = _time_column(frame, besides, True)
    step = _step(frame, dated) if dated else None
    frequency = _frequency(step)
    frequency_reason = "guessed from the usual step between dates"
    series = _series_column(frame, dated, taken) if dated else None
    hint = sql = sql_reason = None
    if chosen == "forecasting" and series:
        id_column, id_reason = (
            series,
            (f"one row per {series} and {time_column}: {series} names each series"),
        )
    elif chosen == "forecasting":  # a row id would make every row a series of one point
        id_column = next(
            n for n in ("series", *(f"series_{i}" for i in range(9))) if n not in columns
        )
        id_reason = "no column names several series with the dates: one series, named in data.sql"
        sql = f"SELECT 'all' AS {id_column}, * FROM data"
        sql_reason = "one series, named 'all'"
    elif (
        chosen == "regression" and series and frequency and dated and _steady(frame, series, dated)
    ):
        dates = f"data.time_column: {dated}, " if time_column is None else ""
        hint = (
            f"One row per {series} and {dated} with a numeric target: this may be "
            f"{frame[series].nunique():,} time series. To forecast them, use task: "
            f"forecasting, data.id_column: {series}, {dates}and a forecast: section "
            f"(frequency: {frequency}, horizon: steps ahead)."
        )
    roles = {target, id_column, time_column, group_column}
    exclude = () if forecasting else _unusable(frame, roles)
    fill = negative = None
    if forecasting and target is not None and id_column is not None and time_column:
        if frequency is None and step is not None and step < 0.85 * 3600:
            frequency = "H"  # the finest a forecast has: the rows are aggregated to it
            frequency_reason = "the finest a forecast has: data.sql aggregates the rows to it"
            sql, sql_reason = _hourly(frame, id_column, time_column, target, step, sql)
        elif dropped := int(frame[target].isna().sum()):
            sql = f"{sql or 'SELECT * FROM data'} WHERE {_quoted(target)} IS NOT NULL"
            sql_reason = "; ".join(
                [
                    *([sql_reason] if sql_reason else []),
                    f"{dropped:,} row{'s' * (dropped > 1)} without a {target}: left out, "
                    f"forecast.fill fills {'their dates' if dropped > 1 else 'its date'}",
                ]
            )
        try:
            rows = frame if sql is None else query_frame(sql, frame)
        except DataError:  # validate shows the query's error; the spec is written anyway
            rows = None
        if rows is not None and target in rows.columns:
            negative = _negative(rows[target], target)
            fill = _fill(rows, id_column, time_column, target, frequency, negative is not None)
    return Guess(
        task=chosen,
        task_reason=task_reason,
        target=target if chosen != "anomaly" else None,
        label_column=target if chosen == "anomaly" else None,
        id_column=id_column,
        id_reason=id_reason,
        time_column=time_column,
        time_reason=time_reason,
        forecast_hint=hint,
        group_column=group_column,
        group_reason=group_reason,
        exclude=exclude,
        sql=sql,
        sql_reason=sql_reason,
        frequency=frequency,
        frequency_reason=frequency_reason,
        fill=fill,
        allow_negative=negative,
        rows=len(frame),
        columns=tuple(columns),
    )


def _task(frame: pd.DataFrame, target: str | None) -> tuple[str, str]:
    import pandas as pd

    if target is None:
        return "anomaly", (
            "no --target: a detector learns what usual rows look like and flags the rest"
        )
    values = frame[target].dropna()
    distinct = values.nunique()
    if pd.api.types.is_bool_dtype(values):
        return "classification", f"{target!r} is true/false"
    if not pd.api.types.is_numeric_dtype(values):
        return "classification", f"{target!r} holds text: {distinct:,} classes"
    whole = bool((values == values.round()).all()) if len(values) else True
    if whole and distinct <= FEW_VALUES:
        return "classification", (
            f"{target!r} holds only {distinct} distinct whole numbers: classes "
            "(if they are counts or amounts, use task: regression)"
        )
    return "regression", f"{target!r} is numeric with {distinct:,} distinct values"


def _id_column(frame: pd.DataFrame, taken: set[str | None]) -> tuple[str | None, str]:
    import pandas as pd

    rows = len(frame)
    for column in frame.columns:
        name, values = str(column), frame[column]
        if name in taken or rows < 2 or values.isna().any() or values.nunique() != rows:
            continue
        if pd.api.types.is_float_dtype(values) or pd.api.types.is_datetime64_any_dtype(values):
            continue
        if ID_NAME.search(name):
            return name, f"{name!r} is unique per row and named like an identifier"
        if pd.api.types.is_integer_dtype(values):
            steps = values.sort_values().diff().dropna()
            if bool((steps == 1).all()):
                return name, f"{name!r} numbers the rows one by one (unique per row)"
        elif not pd.api.types.is_bool_dtype(values):
            return name, f"{name!r} is text unique per row: a name, not a feature"
    return None, "no column is unique per row and named or numbered like an identifier"


def _group_column(frame: pd.DataFrame, taken: set[str | None]) -> tuple[str | None, str | None]:
    """The column naming the most entities whose rows repeat (``repeated_identifier``), and
    why each one's rows should stay in one part of the split."""
    counts = {
        str(c): n
        for c in frame.columns
        if str(c) not in taken and (n := repeated_identifier(str(c), frame[c])) is not None
    }
    if not counts:
        return None, None
    name = max(counts, key=lambda c: counts[c])
    return name, (
        f"{name!r} is named like an identifier, and its {counts[name]:,} values repeat over "
        f"{int(frame[name].notna().sum()):,} rows: each one's rows stay in one part of the "
        "split, so the test scores ones training never saw (and it is no feature); remove "
        "this if the model will score the same ones again"
    )


def _unusable(frame: pd.DataFrame, roles: set[str | None]) -> tuple[tuple[str, str], ...]:
    """The columns validation would refuse as features, each with why (data.exclude)."""
    from mlfactory.data.schema import unusable

    out = []
    for column in frame.columns:
        if str(column) not in roles and (refused := unusable(frame[column])) is not None:
            out.append((str(column), f"{str(column)!r} {refused[0]}"))
    return tuple(out)


def _time_column(
    frame: pd.DataFrame, taken: set[str | None], periods: bool
) -> tuple[str | None, str]:
    """The first column of dates, or of text that reads as dates (with ``periods``, as
    forecasting reads them: ``1998 Q1``, ``1991 W06``, ``1939 Jan`` too)."""
    import pandas as pd

    from mlfactory.forecasting.panel import decimal_years, read_dates, whole_years

    use = "each series' dates" if periods else "the rows are split in time order"
    for column in frame.columns:
        name, values = str(column), frame[column]
        if name in taken:
            continue
        if pd.api.types.is_datetime64_any_dtype(values):
            return name, f"{name!r} holds dates: {use}"
        if periods and pd.api.types.is_float_dtype(values) and decimal_years(values) is not None:
            example = float(values.iloc[min(1, len(values) - 1)])
            return name, f"{name!r} holds decimal years (e.g. {example!r}, R's time()): {use}"
        if values.dtype == object or pd.api.types.is_string_dtype(values):
            sample = values.dropna().astype(str).head(200)
            if not len(sample):
                continue
            if bool(sample.map(lambda v: bool(_DATE_TEXT.match(v))).all()):
                parsed = pd.to_datetime(sample, errors="coerce", format="mixed")
            elif periods and bool(sample.map(lambda v: bool(_PERIOD_TEXT.match(v))).all()):
                parsed = read_dates(sample)
            else:
                continue
            if parsed.notna().all():
                return name, f"{name!r} holds dates as text (e.g. {sample.iloc[0]!r}): {use}"
    if periods:
        years = [
            str(c)
            for c in frame.columns
            if str(c) not in taken
            and pd.api.types.is_numeric_dtype(frame[c])
            and not pd.api.types.is_bool_dtype(frame[c])
            and whole_years(frame[c])
        ]
        if years:
            return years[0], f"{years[0]!r} holds whole years: {use}"
        return None, (
            "no column holds dates, periods (1998 Q1) or decimal years: name the column of "
            "each series' dates, which forecasting needs"
        )
    return None, "no column holds dates: the rows are split at random"


def _stratified(task: str, target: str | None) -> str:
    """How a random split keeps the target in proportion (training.split), in words."""
    if task == "classification":
        return ", stratified by class"
    if task == "anomaly" and target is not None:
        return f", stratified by {target} when it holds enough anomalies"
    return ""


def _dates(frame: pd.DataFrame, column: str) -> pd.Series:
    import pandas as pd

    from mlfactory.forecasting.panel import read_dates

    if pd.api.types.is_numeric_dtype(frame[column]):  # decimal years: not nanoseconds
        return read_dates(frame[column])
    found = pd.to_datetime(frame[column], errors="coerce", format="mixed")
    return found if found.notna().any() else read_dates(frame[column])


def _series_column(frame: pd.DataFrame, time_column: str, taken: set[str | None]) -> str | None:
    """A column that, with the time column, names (almost) each row once: the series key."""
    import pandas as pd

    for column in frame.columns:
        name, values = str(column), frame[column]
        if name in taken or name == time_column or pd.api.types.is_float_dtype(values):
            continue
        distinct = values.nunique()
        if not 1 < distinct <= max(2, len(frame) // 10):
            continue
        if frame.duplicated([column, time_column]).mean() <= 0.01:  # a few repeats: summed
            return name
    return None


def _hourly(
    frame: pd.DataFrame,
    id_column: str,
    time_column: str,
    target: str,
    step: float,
    sql: str | None,
) -> tuple[str, str]:
    """data.sql that sums (counts) or averages (anything else) the rows of each hour, and
    why: a forecast's finest frequency is hourly."""
    counts = _whole(frame[target]) and bool((frame[target].dropna() >= 0).all())
    how = "sum" if counts else "avg"
    series = f"'all' AS {id_column}" if sql is not None else _quoted(id_column)
    when = _quoted(time_column)
    text = (
        f"SELECT {series}, date_trunc('hour', CAST({when} AS TIMESTAMP)) AS {when}, "
        f"{how}({_quoted(target)}) AS {_quoted(target)} FROM data GROUP BY ALL"
    )
    minutes = f"{step / 60:g} minute{'s' * (step != 60)}"
    return text, (
        f"{time_column!r} steps by {minutes}, and a forecast's finest frequency is hourly: "
        f"{target} {'summed (counts)' if counts else 'averaged'} per hour"
    )


def _whole(values: pd.Series) -> bool:
    """Numbers that are all whole (counts, when never negative)."""
    import pandas as pd

    known = values.dropna()
    if not pd.api.types.is_numeric_dtype(values) or known.empty:
        return False
    numbers = known.to_numpy(dtype=float)
    return bool((numbers == numbers.round()).all())


def _quoted(name: str) -> str:
    """``name`` as a DuckDB identifier."""
    return '"' + name.replace('"', '""') + '"'


def _negative(target: pd.Series, name: str) -> str | None:
    """Why ``forecast.allow_negative`` is needed, when the target goes below 0."""
    import pandas as pd

    if not pd.api.types.is_numeric_dtype(target) or not (target < 0).any():
        return None
    return f"{name} goes below 0 ({int((target < 0).sum()):,} rows; lowest {target.min():g})"


def _fill(
    rows: pd.DataFrame,
    id_column: str,
    time_column: str,
    target: str,
    frequency: str | None,
    allow_negative: bool,
) -> tuple[str, str] | None:
    """``forecast.fill`` and why, when a series misses dates between its first and last;
    None when none does, or when the panel fails for another reason (validate says which).

    A count (whole numbers, never 0) of rows per date most likely had no row on a date it
    counted none of; anything else most likely lies between its neighbours there."""
    import pandas as pd

    from mlfactory.errors import DataError
    from mlfactory.forecasting.panel import PanelRoles, prepare_panel

    if frequency is None or not pd.api.types.is_numeric_dtype(rows[target]):
        return None
    roles = PanelRoles(
        (id_column,),
        time_column,
        target,
        frequency,
        fill="interpolate",
        allow_negative=allow_negative,
    )
    try:
        filled = prepare_panel(rows, roles).filled
    except DataError:
        return None
    if not filled:
        return None
    counts = _whole(rows[target]) and bool((rows[target].dropna() > 0).all())
    worst = sorted(filled.items(), key=lambda item: -item[1])[:3]
    gaps = (
        f"{sum(filled.values()):,} dates are missing inside {len(filled):,} series ("
        + ", ".join(f"{key}: {count:,}" for key, count in worst)
        + (", ..." if len(filled) > 3 else "")
        + ")"
    )
    if counts:
        return "zero", (
            f"{gaps}; {target} holds counts and is never 0, so a date without a row most "
            "likely counted none. If those dates are lost data, not zeros, use interpolate"
        )
    return "interpolate", (
        f"{gaps}; {target} holds measurements, so a missing date most likely lies between "
        "its neighbours. If a date without a row means none (no sales that day), use zero"
    )


def _steady(frame: pd.DataFrame, series: str, column: str) -> bool:
    """Whether the series step as the whole table does: each one's usual step between its
    dates is the table's usual step between distinct dates (within 15%). Flight numbers
    with their departure hours are no hourly series: a flight number flies once a day."""
    import pandas as pd

    distinct = frame[[column]].drop_duplicates()
    read = _dates(distinct, column).set_axis(distinct[column])
    dates = pd.DataFrame({"key": frame[series], "date": frame[column].map(read)}).dropna()
    dates = dates.drop_duplicates().sort_values(["key", "date"])
    steps = dates.groupby("key", sort=False)["date"].diff().dropna()
    table = read.dropna().drop_duplicates().sort_values().diff().dropna()
    if steps.empty or table.empty:
        return False
    usual = steps.groupby(dates.loc[steps.index, "key"]).median().median()
    return bool(abs(usual - table.median()) <= 0.15 * table.median())


def _step(frame: pd.DataFrame, column: str) -> float | None:
    """The median step between the time column's sorted distinct dates, in seconds."""
    distinct = frame[[column]].drop_duplicates()  # text dates parse one by one: once each
    dates = _dates(distinct, column).dropna().drop_duplicates().sort_values()
    seconds = (dates - dates.iloc[0]).dt.total_seconds().diff().dropna() if len(dates) else dates
    return None if seconds.empty else float(seconds.median())


def _frequency(seconds: float | None) -> str | None:
    """A step between dates (``_step``, in seconds) as H/D/W/M/Q/Y, when it is one."""
    if seconds is None:
        return None
    step = seconds / 86_400
    lengths = (("H", 1 / 24), ("D", 1), ("W", 7), ("M", 30.4), ("Q", 91.3), ("Y", 365.25))
    for code, length in lengths:
        if abs(step - length) <= 0.15 * length:
            return code
    return None
