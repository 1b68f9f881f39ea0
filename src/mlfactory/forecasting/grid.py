"""A frequency's grid: the dates a series of that frequency has, and where given dates fall.

A grid is an anchored pandas alias (``h``, ``D``, ``W-SUN``, ``MS``, ``ME``,
``QS-JAN``, ``QE-DEC``, ``YS-JAN``, ``YE-JUN``, ...). ``anchor`` finds the one most dates fit,
``positions`` numbers the dates on it (consecutive dates, consecutive numbers)
and ``dates_at`` turns numbers back into dates, so a gap is a jump in numbers
and the dates after a series' end are its last number plus 1, 2, ...
``SeriesDates`` looks at many series at once: each one's typical step, which
dates are off the grid, how many are missing inside it, and fills them.

Dates are int64 nanoseconds since 1970 (``datetime64[ns]`` viewed as integers,
naive UTC); everything is vectorised over all rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from mlfactory.forecasting.calendar import FREQUENCIES, closed_days

if TYPE_CHECKING:
    import numpy.typing as npt

    Ints = npt.NDArray[np.int64]
    Bools = npt.NDArray[np.bool_]
    Floats = npt.NDArray[np.float64]

__all__ = ["DAY", "HOUR", "SeriesDates", "anchor", "dates_at", "positions", "weekday"]

HOUR = 3_600 * 10**9  # nanoseconds
DAY = 24 * HOUR
WEEKDAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
SHORTEST = {"H": HOUR, "D": DAY, "W": 7 * DAY, "M": 28 * DAY, "Q": 89 * DAY, "Y": 365 * DAY}


def step_code(step: float) -> str | None:
    """The frequency a series whose median step is ``step`` (ns) looks like, if any."""
    days = step / DAY
    if step == HOUR:
        return "H"
    if days in (1, 7):
        return "D" if days == 1 else "W"
    if 28 <= days <= 31:
        return "M"
    if 89 <= days <= 92:
        return "Q"
    return "Y" if days in (365, 366) else None


def step_words(step: float) -> str:
    """``7 days``, ``1 hour``, ``30 minutes``."""
    units = (("day", DAY), ("hour", HOUR), ("minute", 60 * 10**9), ("second", 10**9))
    unit, size = next((u for u in units if step >= u[1]), units[-1])
    count = round(float(step) / size, 1)
    return f"{count:g} {unit}{'s' * int(count != 1)}"


def weekday(stamp: int) -> int:
    """Monday 0 to Sunday 6."""
    return int((stamp // DAY + 3) % 7)  # 1970-01-01 was a Thursday


def _months(stamps: Ints) -> Ints:
    """Months since 1970-01 of each date."""
    return stamps.view("datetime64[ns]").astype("datetime64[M]").astype(np.int64)


def anchor(code: str, stamps: Ints) -> tuple[str, Bools]:
    """The anchored alias of frequency ``code`` that most dates fit, and which are on it.

    Hourly dates are on the hour; every other frequency's at midnight, a week's on
    one weekday, a month's on its first (``MS``) or last day (``ME``), a quarter's
    on the first or last day of a quarter whose months say the anchor (``QS-FEB``:
    February, May, August, November), a year's of the month most dates are in
    (``YS-JAN``; ``YE-JUN``, a fiscal year ending in June).
    """
    midnight = stamps % DAY == 0
    if code == "H":
        return "h", stamps % HOUR == 0
    if code == "D":
        return "D", midnight
    days = stamps // DAY
    if code == "W":
        weekdays = (days + 3) % 7
        counts = np.bincount(weekdays[midnight], minlength=7)
        day = int(counts.argmax()) if midnight.any() else 6
        return f"W-{WEEKDAYS[day]}", midnight & (weekdays == day)
    months = _months(stamps)
    bounds = (months + np.arange(2)[:, None]).astype("datetime64[M]").astype("datetime64[D]")
    starts = midnight & (days == bounds[0].astype(np.int64))
    ends = midnight & (days == bounds[1].astype(np.int64) - 1)
    at_end = bool(ends.sum() > starts.sum())
    on = ends if at_end else starts
    if code == "M":
        return ("ME" if at_end else "MS"), on
    kind, period = ("Y", 12) if code == "Y" else ("Q", 3)
    residue = months % period
    counts = np.bincount(residue[on], minlength=period)
    r = int(counts.argmax()) if on.any() else (period - 1 if at_end else 0)
    # the alias names the month itself, but QE-DEC ends in March, June, ... (December's
    # residue, 2): the one quarter-end anchor whose month is not among its dates
    month = "DEC" if kind == "Q" and at_end and r == 2 else MONTHS[r]
    return f"{kind}{'E' if at_end else 'S'}-{month}", on & (residue == r)


def positions(alias: str, stamps: Ints) -> Ints:
    """Each date's number on the alias' grid (the dates must be on it)."""
    if alias == "h":
        return stamps // HOUR
    if alias == "D":
        return stamps // DAY
    if alias.startswith("W-"):
        return stamps // DAY // 7  # every date on one weekday: floor keeps them apart by 1
    months = _months(stamps)
    if alias in ("MS", "ME"):
        return months
    return months // (12 if alias.startswith("Y") else 3)


def dates_at(alias: str, numbers: Ints) -> Ints:
    """The dates at ``numbers`` on the alias' grid (``positions``' inverse)."""
    if alias == "h":
        return numbers * HOUR
    if alias == "D":
        return numbers * DAY
    if alias.startswith("W-"):
        return (numbers * 7 + (WEEKDAYS.index(alias[2:]) - 3) % 7) * DAY
    if alias in ("MS", "ME"):
        months = numbers
    elif alias.startswith("Y"):
        months = numbers * 12 + MONTHS.index(alias[3:])
    else:
        months = numbers * 3 + MONTHS.index(alias[3:]) % 3
    at_end = int(alias.startswith(("ME", "QE", "YE")))
    days = (months + at_end).astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
    return np.asarray((days - at_end) * DAY, dtype=np.int64)


class SeriesDates:
    """Many series' dates against a frequency ``code``.

    ``codes`` (each row's series) and ``stamps`` are sorted by series then date,
    one row per (series, date). A series whose median step looks like another
    frequency, or is shorter than one step, is in ``mismatch``; the others'
    dates are checked against the ``alias`` most of them fit (``off``: rows off
    it), and a series with every date on it counts its ``missing`` dates.
    """

    def __init__(self, codes: Ints, stamps: Ints, code: str) -> None:
        import pandas as pd

        self.codes, self.stamps = codes, stamps
        self.starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]]) if len(codes) else codes
        self.counts = np.diff(np.r_[self.starts, len(codes)]).astype(np.int64)
        self.series = codes[self.starts]  # each series' code
        self.row_series = np.repeat(np.arange(len(self.starts)), self.counts)
        n = len(self.starts)
        self.median = np.full(n, np.nan)  # each series' median step; NaN for one date
        several = np.flatnonzero(self.counts > 1)
        if len(several):
            steps = np.diff(stamps)
            between = self.starts[1:] - 1  # the step from one series to the next: left out
            low, high = steps.copy(), steps.copy()
            low[between], high[between] = np.iinfo(np.int64).max, np.iinfo(np.int64).min
            low = np.minimum.reduceat(low, self.starts[several])
            high = np.maximum.reduceat(high, self.starts[several])
            self.median[several] = low  # a regular series has one step: its median
            varied = several[low != high]
            if len(varied):
                rows = np.isin(self.row_series[1:], varied)
                rows &= self.row_series[1:] == self.row_series[:-1]
                median = pd.Series(steps[rows]).groupby(self.row_series[1:][rows]).median()
                self.median[median.index.to_numpy(np.int64)] = median.to_numpy()
        self.missing = np.zeros(n, dtype=np.int64)  # grid dates missing inside each series
        self.off = np.zeros(len(codes), dtype=bool)  # rows off the grid
        self.mismatch: dict[tuple[str | None, str], list[int]] = {}  # (looks like, step): series
        self.alias = FREQUENCIES[code].alias if code in FREQUENCIES else ""
        if code not in FREQUENCIES:
            return
        for step in np.unique(self.median[~np.isnan(self.median)]):
            found = step_code(step)
            if (found is not None and found != code) or step < SHORTEST[code]:
                where = np.flatnonzero(self.median == step).tolist()
                self.mismatch.setdefault((found, step_words(step)), []).extend(where)
        fits = np.ones(n, dtype=bool)
        for where in self.mismatch.values():
            fits[where] = False
        rows = fits[self.row_series]
        self.alias, on = anchor(code, stamps[rows])
        self.off[rows] = ~on
        regular = fits & (np.bincount(self.row_series[self.off], minlength=n) == 0)
        if regular.any():
            numbers = positions(self.alias, stamps[regular[self.row_series]])
            ends = np.cumsum(self.counts[regular])
            span = numbers[ends - 1] - numbers[np.r_[0, ends[:-1]]] + 1
            self.missing[regular] = span - self.counts[regular]

    def missing_closed(self, closed: tuple[str, ...]) -> Ints:
        """Per series, how many of its ``missing`` dates fall on closed days
        (``calendar.closed_days``): dates declared closed, not gaps."""
        out = np.zeros(len(self.starts), dtype=np.int64)
        gapped = np.flatnonzero(self.missing > 0)
        if not closed or not len(gapped):
            return out
        first = positions(self.alias, self.stamps[self.starts[gapped]])
        last = positions(self.alias, self.stamps[self.starts[gapped] + self.counts[gapped] - 1])
        span = last - first + 1
        offsets = np.r_[0, np.cumsum(span)[:-1]]
        series = np.repeat(np.arange(len(gapped)), span)
        grid = dates_at(self.alias, first[series] + np.arange(int(span.sum())) - offsets[series])
        on_grid = np.bincount(series, closed_days(grid.view("datetime64[ns]"), closed))
        rows = np.isin(self.row_series, gapped)
        present = closed_days(self.stamps[rows].view("datetime64[ns]"), closed)
        seen = np.bincount(self.row_series[rows], present, minlength=len(self.starts))
        out[gapped] = np.rint(on_grid - seen[gapped]).astype(np.int64)
        return out

    def fill(
        self, target: Floats, exogenous: dict[str, Floats], rule: str
    ) -> tuple[Ints, Ints, Floats, dict[str, Floats]]:
        """Every series on its full grid (codes, dates, target, exogenous), the missing
        dates' target filled by ``rule`` (zero, forward, interpolate) and the exogenous
        values carried forward. Only for series all on the grid."""
        numbers = positions(self.alias, self.stamps)
        first = numbers[self.starts]
        span = self.counts + self.missing
        offsets = np.r_[0, np.cumsum(span)[:-1]]
        total = int(span.sum())
        full = np.repeat(np.arange(len(span)), span)
        slot = offsets[self.row_series] + numbers - first[self.row_series]
        seen = np.zeros(total, dtype=bool)
        seen[slot] = True
        # a series starts with a date it has, so carrying values forward never crosses series
        last_seen = np.maximum.accumulate(np.where(seen, np.arange(total), 0))

        def spread(values: Floats) -> Floats:
            out = np.full(total, np.nan)
            out[slot] = values
            return out

        y = spread(target)
        if rule == "zero":
            y[~seen] = 0.0
        elif rule == "forward":
            y = y[last_seen]
        else:  # interpolate: both ends of every gap are dates the series has
            y = np.interp(np.arange(total), slot, target)
        exogenous = {name: spread(v)[last_seen] for name, v in exogenous.items()}
        dates = dates_at(self.alias, first[full] + np.arange(total) - offsets[full])
        return self.series[full], dates, y, exogenous
