"""Rolling-origin backtests: every model forecasts from several past origins and is scored.

Origins are counted per series from its end. With ``windows`` W, ``step`` s and
``horizon`` H, origin k (0 .. W-1) keeps each series' first ``n - H - (W-1-k)*s``
points and forecasts the next H; origin W is the final fit on the whole series,
whose forecast is the one served. A series too short for a model at an origin
gets no forecast from it there (``Forecaster.needs``); selection then falls back
to the seasonal naive baseline, which needs one point.

A ``Job`` is one model on some series (all of them, for a global model) at some
origins; a model that can forecast several origins from one fit
(``Forecaster.origins``: the global model fitted on the first, later ones only
feeding its lags; a statistical model's parameters fitted on the first, its
states run on over the later histories) does so for a job's backtest origins,
while the final origin's, the one served, is always a fit of its own. Picklable,
so training maps jobs over an engine, and deterministic, so every engine gives
the same numbers.

Scores are scaled per series and origin by the mean absolute seasonal
difference of the history that origin saw (MASE's scale); a series with no
seasonal change falls back to its first differences, then to 1.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from mlfactory.forecasting.calendar import closed_days
from mlfactory.forecasting.forecasters import FORECASTERS, MEAN, Setting
from mlfactory.forecasting.panel import KEY, TARGET, TIME

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ORIGIN", "STEP", "Job", "Plan", "default_windows", "run_job", "scored", "truncate"]

ORIGIN, STEP, SCALE = "origin", "step", "scale"


@dataclass(frozen=True)
class Plan:
    """The backtest's shape: ``windows`` origins ``step`` points apart, ``horizon`` ahead."""

    windows: int
    step: int
    horizon: int

    @property
    def final(self) -> int:
        """The origin of the final fit (the whole history)."""
        return self.windows

    def held_out(self, origin: int) -> int:
        """Points each series hides from the model at ``origin`` (0 for the final fit)."""
        if origin >= self.windows:
            return 0
        return self.horizon + (self.windows - 1 - origin) * self.step


MIN_WINDOWS, MAX_WINDOWS = 3, 52


def default_windows(*, season: int, step: int, horizon: int, points: int, needs: int) -> int:
    """Windows enough that those before the last cover a season, so the choice made on
    them sees every month (or weekday) once: with 3, monthly data at horizon 3 chose on
    9 months and missed the December after them (fpp3's souvenirs: holdout MASE 7.4
    with 3 windows, 2.0 with 5; benchmarks/backtest_windows.py). At least 3; at most as
    many as leave a series of ``points`` (the median length) the ``needs`` of its most
    demanding model."""
    wanted = math.ceil(season / step) + 1
    room = (points - needs - horizon) // step + 1
    return max(MIN_WINDOWS, min(wanted, room, MAX_WINDOWS))


def truncate(frame: pd.DataFrame, plan: Plan, origin: int) -> pd.DataFrame:
    """Each series' history as the model at ``origin`` sees it."""
    hidden = plan.held_out(origin)
    if hidden == 0:
        return frame
    grouped = frame.groupby(KEY, sort=False)
    position = grouped.cumcount().to_numpy()
    size = grouped[TARGET].transform("size").to_numpy()
    return frame[position < size - hidden]


@dataclass(frozen=True)
class Job:
    """One model's forecasts for some series (None: all) from some origins."""

    model: str
    keys: tuple[str, ...] | None
    origins: tuple[int, ...]
    setting: Setting
    plan: Plan


def run_job(job: Job, frame: pd.DataFrame, future: pd.DataFrame | None = None) -> pd.DataFrame:
    """KEY, TIME, MEAN and ORIGIN of the job's forecasts (a pure function of its inputs).

    ``frame`` is the whole panel; ``future`` the exogenous columns' values after it
    (the final origin's), if the spec has any.
    """
    import pandas as pd

    forecaster = FORECASTERS[job.model]
    if job.keys is not None:
        frame = frame[frame[KEY].isin(job.keys)]
    needs = forecaster.needs(job.setting)
    inputs = []
    for origin in job.origins:
        past = truncate(frame, job.plan, origin)
        sizes = past.groupby(KEY, sort=False)[TARGET].transform("size")
        past = past[sizes.to_numpy() >= needs]
        if past.empty:
            continue
        ahead = future if origin == job.plan.final else _actual_future(frame, past, job)
        inputs.append((origin, past, ahead))
    backtests = [(p, a) for o, p, a in inputs if o < job.plan.final]
    if forecaster.origins is not None and len(backtests) > 1:  # one fit for all of them
        results = forecaster.origins(backtests, job.setting)
        results += [forecaster.forecast(p, a, job.setting) for _, p, a in inputs[len(backtests) :]]
    else:
        results = [forecaster.forecast(p, a, job.setting) for _, p, a in inputs]
    out: list[pd.DataFrame] = [
        r.assign(**{ORIGIN: o}) for (o, _, _), r in zip(inputs, results, strict=True)
    ]
    if not out:
        return pd.DataFrame({KEY: [], TIME: [], MEAN: [], ORIGIN: []})
    return pd.concat(out, ignore_index=True)


def _actual_future(frame: pd.DataFrame, past: pd.DataFrame, job: Job) -> pd.DataFrame | None:
    """The exogenous values of the dates after ``past`` (a backtest origin knows them)."""
    if not job.setting.exogenous:
        return None
    columns = [KEY, TIME, *job.setting.exogenous]
    return frame.loc[frame.index.difference(past.index), columns]


def scored(
    frame: pd.DataFrame,
    forecasts: pd.DataFrame,
    plan: Plan,
    season: int,
    closed: Sequence[str] = (),
) -> Any:
    """The backtest origins' forecasts joined with what happened.

    One row per (model, origin, series, step): MEAN, TARGET, the error and the
    series' scale at that origin (``forecasts`` needs a ``model`` column). On a closed
    day (``closed``, as ``forecast.closed`` says) the error is NaN: the forecast served
    there is 0 by declaration, so no model is scored or calibrated on it.
    """
    actual = frame[[KEY, TIME, TARGET]]
    back = forecasts[forecasts[ORIGIN] < plan.final]
    joined = back.merge(actual, on=[KEY, TIME], how="inner")
    joined[STEP] = joined.groupby(["model", ORIGIN, KEY], sort=False).cumcount() + 1
    scales = _scales(frame, plan, season)
    joined = joined.merge(scales, on=[KEY, ORIGIN], how="left")
    joined["error"] = joined[TARGET] - joined[MEAN]
    if closed:
        joined.loc[closed_days(joined[TIME], closed), "error"] = np.nan
    return joined


def _scales(frame: pd.DataFrame, plan: Plan, season: int) -> pd.DataFrame:
    """Each series' MASE scale at every backtest origin (and the final one)."""
    import pandas as pd

    parts = []
    for origin in range(plan.windows + 1):
        past = truncate(frame, plan, origin)
        parts.append(series_scale(past, season).rename(SCALE).reset_index().assign(origin=origin))
    return pd.concat(parts, ignore_index=True)


def series_scale(past: pd.DataFrame, season: int) -> pd.Series:
    """Mean |y_t - y_{t-season}| per series (first differences when that is 0 or too
    short; 1 when the series never changes)."""
    y = past[TARGET].to_numpy(dtype=float)
    keys = past[KEY].to_numpy()
    grouped = past.groupby(KEY, sort=False)
    position = grouped.cumcount().to_numpy()

    def mean_change(lag: int) -> pd.Series:
        import pandas as pd

        change = np.full(len(y), np.nan)
        if len(y) > lag:
            change[lag:] = np.abs(y[lag:] - y[:-lag])
        change[position < lag] = np.nan
        return pd.Series(change).groupby(keys, sort=False).mean()

    seasonal, first = mean_change(season), mean_change(1)
    scale = seasonal.where(seasonal > 0, first)
    return scale.where(scale > 0, 1.0).fillna(1.0).rename_axis(KEY)
