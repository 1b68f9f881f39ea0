"""Forecast accuracy once actuals arrive: what a forecasting version served, scored per series.

A forecasting version's forecasts are files of its package and never change, so
the forecast it served for a series and date is the one it holds now.
``check_forecasts`` reads the current rows as **actuals** (the id column(s), the
date and the target, named as in training), joins each to its series' forecast
for that date and gives, per series:

- ``points``: the actuals joined;
- live MASE: ``|actual - mean| / scale`` averaged over those points, with the
  series' scale stored at training (the MASE of the backtest uses the same);
- sMAPE, and the share of actuals inside each trained interval level.

Overall, the mean live MASE over series gets a 95% bootstrap interval (series
resampled) and is compared with the mean backtest MASE of the same series
(stored per series: the last backtest window). As in ``check_performance``, the
version has decayed when even the favourable end of the interval is worse than
the backtest. A series decays on its own when its live MASE is more than
``SERIES_RATIO`` times its backtest MASE with at least half a horizon of actuals;
the alarm is either (one series of many going wrong is worth acting on: its
forecasts are what a user sees).

Rows that cannot be scored are counted and left out, never fatal, and said in
``notes()``: dates that are none of their series' forecast dates (history, or
past the horizon), ids the version has no series of, and actuals that are
missing, infinite, or negative where training refused negative targets. The
panel refuses such targets at training; here a day whose figures are not in yet
should not stop the check of every other series. Text that is not a number, a
date that cannot be read and two actuals for one series and date are errors.

Errors grow with the step ahead, so actuals that cover only the first days of
the horizon compare favourably with a backtest over all of it: an early check
errs towards no alarm.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from mlfactory.errors import DataError
from mlfactory.forecasting.keys import SHOWN, series_keys
from mlfactory.metrics import METRICS
from mlfactory.registry.forecasts import CLOSED, interval_columns

if TYPE_CHECKING:
    import pandas as pd

    from mlfactory.registry.forecasts import SeriesForecasts

__all__ = ["ForecastCheck", "SeriesAccuracy", "check_forecasts"]

METRIC = "mase"
SERIES_RATIO = 2.0  # a series decays when its live MASE is over this many times its backtest's
# ... and the alarm needs this share of the series to have: with thousands of series a few
# always exceed the ratio by chance on a handful of points (they are named in the notes)
SERIES_SHARE = 0.05
ROUNDS = 1000  # bootstrap rounds over series
SUMMARY_SERIES = 5  # series named in the version tag and the reasons
KEY, TIME, MEAN = "unique_id", "ds", "mean"  # SeriesForecasts.forecast's columns
ACTUAL = "_actual"


@dataclass
class SeriesAccuracy:
    """One series' forecasts against its actuals."""

    key: str
    points: int
    mase: float  # live
    backtest: float  # the series' MASE on the last backtest window (NaN: none stored)
    smape: float
    coverage: dict[str, float]  # coverage_80: share of actuals inside the 80% interval
    decayed: bool = False

    @property
    def ratio(self) -> float:
        """Live MASE over backtest MASE (NaN without a backtest value)."""
        if not math.isfinite(self.backtest):
            return math.nan
        if self.backtest == 0:
            return math.inf if self.mase > 0 else 1.0
        return self.mase / self.backtest


@dataclass
class ForecastCheck:
    """A forecasting version's served forecasts against the actuals that arrived."""

    horizon: int
    min_points: int  # actuals a series needs before it can decay on its own
    levels: list[float]
    first: str  # the version's forecast dates, over all series (ISO)
    last: str
    n_rows: int  # actual rows read
    n_used: int = 0  # joined to a forecast
    n_outside: int = 0  # dates that are none of their series' forecast dates
    n_closed: int = 0  # on a closed day (forecast.closed): 0 by declaration, not scored
    n_closed_sold: int = 0  # of those, actuals that are not 0
    n_unknown: int = 0  # rows of ids the version has no series of
    unknown: list[str] = field(default_factory=list)  # those ids, the first SHOWN
    n_unknown_ids: int = 0
    n_missing: int = 0  # no actual (or no id or date) yet
    n_invalid: int = 0  # infinite, or negative where training refused negative targets
    invalid: str = ""  # what was invalid, for the notes
    series: list[SeriesAccuracy] = field(default_factory=list)  # worst first
    metric: str = METRIC
    live: float | None = None  # mean live MASE over the series with a backtest value
    low: float | None = None  # its bootstrap 95% interval
    high: float | None = None
    backtest: float | None = None  # the mean backtest MASE of the same series
    compared: int = 0  # series in that comparison
    overall_decayed: bool = False
    not_checked: str | None = None  # why there is no overall comparison
    coverage: dict[str, float] = field(default_factory=dict)  # pooled over the actuals
    backtest_coverage: dict[str, float] = field(default_factory=dict)  # at training

    @property
    def flagged(self) -> list[SeriesAccuracy]:
        """The series that decayed on their own, worst first."""
        return [s for s in self.series if s.decayed]

    @property
    def series_decayed(self) -> bool:
        """At least ``SERIES_SHARE`` of the series (and one) decayed on their own."""
        flagged = len(self.flagged)
        return flagged > 0 and flagged >= SERIES_SHARE * len(self.series)

    @property
    def decayed(self) -> bool:
        return self.overall_decayed or self.series_decayed

    def reasons(self) -> list[str]:
        """One sentence per finding that raised the alarm."""
        out = []
        if self.overall_decayed:
            out.append(
                f"the mean live MASE of {self.compared:,} series is {self.live:.3f} "
                f"[{self.low:.3f}, {self.high:.3f}], worse than {self.backtest:.3f} in the "
                "backtest of the same series"
            )
        flagged = self.flagged
        if self.series_decayed:
            named = ", ".join(
                f"{s.key} ({s.mase:.3f} vs {s.backtest:.3f})" for s in flagged[:SUMMARY_SERIES]
            )
            extra = len(flagged) - SUMMARY_SERIES
            more = f" and {extra} more" if extra > 0 else ""
            out.append(
                f"{len(flagged):,} of {len(self.series):,} series forecast more than "
                f"{SERIES_RATIO:g}x worse than in their backtest (live MASE vs backtest, at "
                f"least {self.min_points} actuals each): {named}{more}"
            )
        return out

    def all_clear(self) -> str:
        """The sentence for a check that raised no alarm."""
        said = f"no accuracy decay in {self.n_used:,} actuals of {len(self.series):,} series"
        if self.live is not None and self.backtest is not None:
            said += f" (mean live MASE {self.live:.3f}, {self.backtest:.3f} in the backtest)"
        return said

    def notes(self) -> list[str]:
        """What was left out and why (data-quality findings, never an alarm)."""
        out = []
        if self.n_outside:
            out.append(
                f"{self.n_outside:,} actual row(s) fall on none of their series' forecast dates "
                f"and were left out (this version forecasts {self.first[:10]} to "
                f"{self.last[:10]}: earlier dates are history, later ones past the horizon)"
            )
        if self.n_closed:
            sold = (
                f"; {self.n_closed_sold:,} of them are not 0: if those series open on those "
                "days, take the days out of forecast.closed"
                if self.n_closed_sold
                else ""
            )
            out.append(
                f"{self.n_closed:,} actual row(s) fall on closed days (forecast.closed, "
                f"forecast as 0) and were left out, as the backtest leaves them out{sold}"
            )
        if self.n_unknown:
            more = self.n_unknown_ids - len(self.unknown)
            named = ", ".join(map(repr, self.unknown)) + (f" and {more} more" if more else "")
            out.append(
                f"{self.n_unknown:,} actual row(s) of {self.n_unknown_ids:,} id(s) this version "
                f"has no series of were left out: {named}"
            )
        if self.n_missing:
            out.append(
                f"{self.n_missing:,} row(s) have no actual, id or date yet and were left out"
            )
        if self.n_invalid:
            out.append(f"{self.n_invalid:,} row(s) were left out: {self.invalid}")
        if self.not_checked:
            out.append(f"the overall comparison was not made: {self.not_checked}")
        if self.flagged and not self.series_decayed:
            named = ", ".join(s.key for s in self.flagged[:SUMMARY_SERIES])
            out.append(
                f"{len(self.flagged):,} of {len(self.series):,} series forecast more than "
                f"{SERIES_RATIO:g}x worse than in their backtest ({named}): fewer than "
                f"{SERIES_SHARE:.0%} of the series, so no alarm"
            )
        return out

    def summary(self) -> dict[str, Any]:
        """The figures stored on the version (small: a tag)."""

        def rounded(value: float | None) -> float | None:
            return None if value is None or not math.isfinite(value) else round(value, 5)

        worst = self.flagged[:SUMMARY_SERIES] or self.series[:SUMMARY_SERIES]
        return {
            "metric": self.metric,
            "live": rounded(self.live),
            "interval": [rounded(self.low), rounded(self.high)],
            "backtest": rounded(self.backtest),
            "decayed": self.decayed,
            "overall_decayed": self.overall_decayed,
            "series": len(self.series),
            "flagged": len(self.flagged),
            "actuals": self.n_used,
            "worst": {s.key: [rounded(s.mase), rounded(s.backtest)] for s in worst},
            "coverage": {k: round(v, 4) for k, v in self.coverage.items()},
        }

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["decayed"] = self.decayed
        out["flagged"] = [s.key for s in self.flagged]
        out["notes"] = self.notes()
        for entry, accuracy in zip(out["series"], self.series, strict=True):
            entry["ratio"] = accuracy.ratio
        return out


def check_forecasts(
    forecasts: SeriesForecasts, actuals: pd.DataFrame, *, seed: int = 0
) -> ForecastCheck:
    """Score ``forecasts`` (a version's package pipeline) on the rows of ``actuals``."""
    family = forecasts.family
    missing = [c for c in [*family.ids, family.time, family.target] if c not in actuals.columns]
    if missing:
        present = ", ".join(map(repr, list(actuals.columns)[:12]))
        raise DataError(
            f"the actuals have no column {', '.join(map(repr, missing))}; a forecast of "
            f"{', '.join(family.ids)} is checked on rows of its id column(s), "
            f"{family.time!r} and {family.target!r} (the actuals have {present})"
        )
    if actuals.empty:
        raise DataError(
            f"the actuals have 0 rows; give rows of {', '.join(family.ids)}, {family.time!r} "
            f"and {family.target!r} for dates from {family.first[:10]} to {family.last[:10]}"
        )
    check = ForecastCheck(
        horizon=family.horizon,
        min_points=math.ceil(family.horizon / 2),
        levels=list(family.levels),
        first=family.first,
        last=family.last,
        n_rows=len(actuals),
        backtest_coverage=dict(family.coverage),
    )
    rows = _readable(actuals, family.ids, family.time, family.target, family.non_negative, check)
    known = rows[KEY].isin(forecasts.series.index)
    if not known.all():
        strangers = rows.loc[~known, KEY]
        ids = list(dict.fromkeys(strangers))
        check.n_unknown, check.n_unknown_ids, check.unknown = len(strangers), len(ids), ids[:SHOWN]
        rows = rows[known]
    _refuse_duplicates(rows)
    served = forecasts.forecast(sorted(set(rows[KEY])), None, family.levels)
    served[TIME] = served[TIME].astype("datetime64[ns]")
    joined = rows.merge(served, on=[KEY, TIME], how="inner")
    check.n_outside = len(rows) - len(joined)
    shut = joined[CLOSED].to_numpy(bool)  # left out, as the backtest leaves them out
    check.n_closed = int(shut.sum())
    check.n_closed_sold = int((joined.loc[shut, ACTUAL] != 0).sum())
    joined = joined[~shut]
    check.n_used = len(joined)
    if joined.empty:
        raise DataError.from_problems(
            f"none of the {len(actuals):,} actual row(s) can be compared with a forecast of "
            f"{family.describe()}",
            check.notes() or ["no rows"],
            hint=f"give actuals for dates from {family.first[:10]} to {family.last[:10]} "
            "(the dates this version forecasts)",
        )
    _per_series(check, joined, forecasts.series)
    _overall(check, seed)
    return check


def _readable(
    actuals: pd.DataFrame,
    ids: list[str],
    time: str,
    target: str,
    non_negative: bool,
    check: ForecastCheck,
) -> pd.DataFrame:
    """KEY, TIME, ACTUAL of the rows that can be scored; the others counted in ``check``."""
    import pandas as pd

    keys = series_keys(actuals, tuple(ids)).to_numpy()
    values = actuals[target]
    numbers = pd.to_numeric(values, errors="coerce")
    text = numbers.isna() & values.notna() & (values.astype(str).str.strip() != "")
    if text.any():
        bad = values[text]
        raise DataError(
            f"the actuals' {target!r} must be numbers; got {bad.iloc[0]!r} in {len(bad):,} "
            f"row(s) (series {keys[np.flatnonzero(text.to_numpy())[0]]!r})"
        )
    dates = _dates(actuals[time], time)
    actual = numbers.to_numpy(dtype=float)
    absent = pd.isna(keys) | np.isnat(dates) | np.isnan(actual)
    infinite = np.isinf(actual) & ~absent
    negative = (actual < 0) & non_negative & ~infinite & ~absent
    check.n_missing = int(absent.sum())
    check.n_invalid = int((infinite | negative).sum())
    said = []
    if infinite.any():
        said.append(f"{int(infinite.sum()):,} infinite {target}")
    if negative.any():
        series = list(dict.fromkeys(keys[negative]))
        named = ", ".join(map(repr, series[:SHOWN])) + (
            f" and {len(series) - SHOWN} more" if len(series) > SHOWN else ""
        )
        said.append(
            f"{int(negative.sum()):,} negative {target} (series {named}; this version was "
            "trained on non-negative values, forecast.allow_negative: false)"
        )
    check.invalid = "; ".join(said)
    keep = ~(absent | infinite | negative)
    return pd.DataFrame({KEY: keys[keep], TIME: dates[keep], ACTUAL: actual[keep]})


def _dates(values: pd.Series, column: str) -> Any:
    """The dates as naive datetime64[ns], read as training read its time column (a time
    zone converted to UTC, ``2016 Q3``...); NaT where missing."""
    from mlfactory.forecasting.panel import read_dates

    dates = read_dates(values)
    unread = dates.isna() & values.notna()
    if unread.any():
        raise DataError(
            f"the actuals' {column!r} must be dates; got {values[unread].iloc[0]!r} in "
            f"{int(unread.sum()):,} row(s)"
        )
    return dates.to_numpy(dtype="datetime64[ns]")


def _refuse_duplicates(rows: pd.DataFrame) -> None:
    twice = rows.duplicated([KEY, TIME], keep=False)
    if twice.any():
        first = rows[twice].iloc[0]
        series = list(dict.fromkeys(rows.loc[twice, KEY]))
        raise DataError(
            f"{int(twice.sum()):,} actual rows share a series and date (e.g. "
            f"{first[KEY]!r} on {first[TIME]:%Y-%m-%d %H:%M}; series "
            f"{', '.join(map(repr, series[:SHOWN]))}"
            f"{' and more' if len(series) > SHOWN else ''}): give one actual per series and "
            "date (sum the raw rows per day with --sql ... GROUP BY)"
        )


def _per_series(check: ForecastCheck, joined: pd.DataFrame, stored: pd.DataFrame) -> None:
    """Each series' live metrics, worst first."""
    import pandas as pd

    from mlfactory.forecasting.select import level_name

    actual = joined[ACTUAL].to_numpy(dtype=float)
    mean = joined[MEAN].to_numpy(dtype=float)
    scale = stored["scale"].reindex(joined[KEY]).to_numpy(dtype=float)
    error = np.abs(actual - mean)
    both = np.abs(actual) + np.abs(mean)
    parts: dict[str, Any] = {
        KEY: joined[KEY].to_numpy(),
        "mase": error / scale,
        "smape": np.divide(200 * error, both, out=np.zeros_like(error), where=both > 0),
    }
    names = []
    for level in check.levels:
        name = f"coverage_{level_name(level)}"
        lo, hi = interval_columns([level])
        low, high = joined[lo].to_numpy(), joined[hi].to_numpy()
        parts[name] = ((actual >= low) & (actual <= high)).astype(float)
        check.coverage[name] = float(parts[name].mean())
        names.append(name)
    grouped = pd.DataFrame(parts).groupby(KEY, sort=True)
    table = grouped[["mase", "smape", *names]].mean()
    table["points"] = grouped.size()
    table["backtest"] = stored[METRIC].reindex(table.index).to_numpy(dtype=float)
    series = [
        SeriesAccuracy(
            key=str(key),
            points=int(row["points"]),
            mase=float(row["mase"]),
            backtest=float(row["backtest"]),
            smape=float(row["smape"]),
            coverage={n: float(row[n]) for n in names},
        )
        for key, row in table.iterrows()
    ]
    for s in series:
        s.decayed = s.points >= check.min_points and s.ratio > SERIES_RATIO
    # flagged first, then by how much worse than the backtest, then by live MASE
    series.sort(
        key=lambda s: (not s.decayed, -(s.ratio if math.isfinite(s.ratio) else -1.0), -s.mase)
    )
    check.series = series


def _overall(check: ForecastCheck, seed: int) -> None:
    """Mean live MASE over series with a bootstrap interval, against their backtest mean."""
    pairs = np.array(
        [(s.mase, s.backtest) for s in check.series if math.isfinite(s.backtest)], dtype=float
    ).reshape(-1, 2)
    check.compared = len(pairs)
    if len(pairs) < 2:
        check.not_checked = (
            f"{len(pairs)} series with actuals ha{'s' if len(pairs) == 1 else 've'} a backtest "
            "MASE; a mean over series needs at least 2 (each series is still checked alone)"
        )
        return
    live = pairs[:, 0]
    rng = np.random.default_rng(seed)
    means = []
    per_chunk = max(1, 1_000_000 // len(live))  # bounded memory for many series
    for start in range(0, ROUNDS, per_chunk):
        picks = rng.integers(0, len(live), (min(per_chunk, ROUNDS - start), len(live)))
        means.append(live[picks].mean(axis=1))
    resampled = np.concatenate(means)
    check.live, check.backtest = float(live.mean()), float(pairs[:, 1].mean())
    check.low = float(np.quantile(resampled, 0.025))
    check.high = float(np.quantile(resampled, 0.975))
    metric = METRICS[METRIC]
    best_case = check.high if metric.greater_is_better else check.low
    check.overall_decayed = metric.improvement(best_case, check.backtest) < 0
