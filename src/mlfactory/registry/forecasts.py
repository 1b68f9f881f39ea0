"""A forecasting family as stored: every series' forecast, model and metrics, no pickle.

A forecasting version holds, in its package folder::

    series.parquet       one row per series: its key, the id columns' values, the model
                         that forecasts it and why, its scale, its backtest metrics, and
                         the row group of forecasts.parquet that holds it
    forecasts.parquet    each series' mean forecast for the trained horizon (key, step,
                         date, mean, closed: a closed day's 0, with no interval), sorted
                         by key, a few series per row group: one series is read without
                         reading the others
    calibration.parquet  the conformal scores (step, score: |error| / the series' scale)
                         of the chosen models' backtests, from which any interval level
                         is computed

A loaded family keeps forecasts.parquet's bytes (the download folder is
temporary) and decodes a row group the first time one of its series is asked
for. The forecasts are the models' output from the end of each series' history, so
serving, batch and the MLflow pyfunc answer from the files alone; a model is
updated by training again on the newer data (``retrain``). ``SeriesForecasts``
is what ``ModelPackage.pipeline`` holds for a forecasting version: the task's
``raw_output`` calls its ``predict`` on rows of (id columns, date).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mlfactory.errors import BadInputError, UnknownSeriesError

if TYPE_CHECKING:
    import pandas as pd

    from mlfactory.registry.manifest import ForecastFamily

__all__ = ["CALIBRATION", "CLOSED", "FORECASTS", "SERIES", "SeriesForecasts", "interval_columns"]

SERIES, FORECASTS, CALIBRATION = "series.parquet", "forecasts.parquet", "calibration.parquet"
KEY, STEP, TIME, MEAN, CLOSED = "unique_id", "step", "ds", "mean", "closed"
SERIES_PER_GROUP = 16  # series per row group of forecasts.parquet
CACHED_GROUPS = 256  # row groups kept in memory once read
MAX_LEVELS_CACHED = 64  # interval levels whose quantiles are kept (requests may ask any)


def interval_columns(levels: list[float]) -> list[str]:
    """The interval columns of an answer, in order: lo_80, hi_80, lo_95, hi_95."""
    from mlfactory.forecasting.select import level_name

    return [f"{side}_{level_name(level)}" for level in levels for side in ("lo", "hi")]


@dataclass
class SeriesForecasts:
    """Every series' forecast, read one row group at a time."""

    family: ForecastFamily
    series: pd.DataFrame  # series.parquet, indexed by KEY
    calibration: pd.DataFrame  # STEP, score
    forecasts: pd.DataFrame | None = None  # all of forecasts.parquet (before it is saved)
    stored: bytes | None = None  # forecasts.parquet's bytes, once loaded (decoded lazily)

    def __post_init__(self) -> None:
        self._groups: OrderedDict[int, pd.DataFrame] = OrderedDict()
        self._lock = threading.Lock()
        pairs = self.calibration[[STEP, "score"]].to_numpy(dtype=float)
        self._pairs = pairs
        self._quantiles: dict[float, Any] = {}
        self._blocks: list[Any] | None = None

    # -- what it answers ---------------------------------------------------------------------

    @property
    def keys(self) -> list[str]:
        return list(self.series.index)

    def quantiles(self, level: float) -> Any:
        """The conformal quantile of ``level`` at each step (cached per level)."""
        from mlfactory.forecasting.calendar import FREQUENCIES
        from mlfactory.forecasting.select import quantiles_of, sorted_blocks

        found = self._quantiles.get(level)
        if found is None:
            block, steps = FREQUENCIES[self.family.frequency].season, self.family.horizon
            if self._blocks is None:  # sorted once; then any level is an index per block
                self._blocks = sorted_blocks(self._pairs, steps, block)
            found = quantiles_of(self._blocks, steps, level, block)
            if len(self._quantiles) < MAX_LEVELS_CACHED:
                self._quantiles[level] = found
        return found

    def check(
        self, keys: list[str], horizon: int | None = None, levels: list[float] | None = None
    ) -> None:
        """``UnknownSeriesError`` naming unknown keys; ``BadInputError`` beyond the horizon
        or for a level that is not a percentage."""
        for level in levels or []:
            if not 0 < level < 100:
                raise BadInputError(f"level {level!r} is not a percentage between 0 and 100")
        unknown = [k for k in dict.fromkeys(keys) if k not in self.series.index]
        if unknown:
            shown = ", ".join(map(repr, unknown[:10])) + (
                f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
            )
            raise UnknownSeriesError(
                f"no series {shown} in {self.family.describe()}; the model has "
                f"{len(self.series):,} series, e.g. {', '.join(map(repr, self.keys[:3]))}"
            )
        if horizon is not None and not 1 <= horizon <= self.family.horizon:
            raise BadInputError(
                f"horizon {horizon} is outside 1..{self.family.horizon}, the horizon this "
                "version was trained for; ask for less, or retrain with a longer "
                "forecast.horizon"
            )

    def forecast(
        self, keys: list[str], horizon: int | None = None, levels: list[float] | None = None
    ) -> pd.DataFrame:
        """KEY, STEP, TIME, MEAN, CLOSED and the interval columns of ``levels`` for ``keys``
        (each series and level once, in the order first asked)."""
        import pandas as pd

        from mlfactory.forecasting.select import distinct_levels

        horizon = self.family.horizon if horizon is None else horizon
        levels = distinct_levels(self.family.levels if levels is None else levels)
        keys = list(dict.fromkeys(keys))
        self.check(keys, horizon, levels)
        parts = [self._series(key).iloc[:horizon] for key in keys]
        frame = pd.concat(parts, ignore_index=True) if parts else self._empty()
        return self._with_intervals(frame, levels)

    def predict(self, rows: pd.DataFrame) -> Any:
        """Rows of (id columns, date) -> (n, 1 + 2 levels): mean, then lo/hi per trained level.

        Each date must be one of its series' forecast dates.
        """
        family = self.family
        keys = _keys(rows, family.ids)
        self.check(list(keys))
        dates = _dates(rows[family.time])
        out = np.empty((len(rows), 1 + 2 * len(family.levels)))
        for key in dict.fromkeys(keys):
            at = np.flatnonzero(keys == key)
            frame = self._with_intervals(self._series(key), family.levels)
            found = frame.set_index(TIME).reindex(dates[at])
            missing = found[MEAN].isna().to_numpy()
            if missing.any():
                first, last = frame[TIME].iloc[0], frame[TIME].iloc[-1]
                raise BadInputError(
                    f"series {key!r} has no forecast for {dates[at][missing][0]:%Y-%m-%d %H:%M}; "
                    f"this version forecasts it from {first:%Y-%m-%d} to {last:%Y-%m-%d}"
                )
            out[at] = found[[MEAN, *interval_columns(family.levels)]].to_numpy(dtype=float)
        return out

    def refused(self, rows: pd.DataFrame) -> tuple[Any, list[str]]:
        """Which rows of (id columns, date) this version cannot answer, and why: an id it
        has no series of, or a date that is not one of the series' forecast dates (the
        Scorer's policy skips them, or refuses the request, as it does any invalid row)."""
        keys = _keys(rows, self.family.ids)
        dates = _dates(rows[self.family.time])
        bad = np.zeros(len(rows), dtype=bool)
        problems: list[str] = []
        absent = rows[self.family.ids].isna().any(axis=1).to_numpy()  # not the series 'nan'
        if absent.any():
            bad |= absent
            problems.append(
                f"{int(absent.sum())} row(s) name no series: a missing "
                f"{' or '.join(map(repr, self.family.ids))}"
            )
        unknown = ~np.isin(keys, self.series.index.to_numpy()) & ~absent
        if unknown.any():
            bad |= unknown
            named = ", ".join(map(repr, list(dict.fromkeys(keys[unknown]))[:5]))
            problems.append(
                f"{int(unknown.sum())} row(s) name series this version has none of: {named}"
            )
        outside = np.zeros(len(rows), dtype=bool)
        spans: dict[str, str] = {}
        for key in dict.fromkeys(keys[~unknown & ~absent]):
            at = np.flatnonzero(keys == key)
            forecast_dates = pd_index(self._series(key)[TIME])
            outside[at] = ~dates[at].isin(forecast_dates)
            if outside[at].any() and len(forecast_dates):
                first, last = forecast_dates[0], forecast_dates[-1]
                spans[key] = f"{key!r} from {first:%Y-%m-%d} to {last:%Y-%m-%d}"
        if outside.any():
            bad |= outside
            shown = "; ".join(list(spans.values())[:5])
            problems.append(
                f"{int(outside.sum())} row(s) ask for dates this version does not forecast: "
                f"it forecasts {shown} (retrain on newer data for later dates)"
            )
        return bad, problems

    def _with_intervals(self, frame: pd.DataFrame, levels: list[float]) -> pd.DataFrame:
        scale = self.series["scale"].reindex(frame[KEY]).to_numpy(dtype=float)
        steps = frame[STEP].to_numpy(dtype=int)
        mean = frame[MEAN].to_numpy(dtype=float)
        # a closed day is 0 for certain (a version saved before closed days has none)
        closed = frame[CLOSED].to_numpy(bool) if CLOSED in frame else np.zeros(len(frame), bool)
        columns: dict[str, Any] = {CLOSED: closed}
        for level in levels:
            lo, hi = interval_columns([level])
            width = self.quantiles(level)[steps - 1] * scale * ~closed
            low = mean - width
            columns[lo] = np.maximum(low, 0.0) if self.family.non_negative else low
            columns[hi] = mean + width
        return frame.assign(**columns)

    # -- reading ---------------------------------------------------------------------------

    def _series(self, key: str) -> pd.DataFrame:
        if self.forecasts is not None:
            found = self.forecasts[self.forecasts[KEY] == key]
            return found.reset_index(drop=True)
        group = int(self.series["row_group"].loc[key])
        frame = self._group(group)
        return frame[frame[KEY] == key].reset_index(drop=True)

    def _group(self, group: int) -> pd.DataFrame:
        with self._lock:
            found = self._groups.get(group)
            if found is not None:
                self._groups.move_to_end(group)
                return found
        import pyarrow as pa
        import pyarrow.parquet as pq

        assert self.stored is not None
        reader = pq.ParquetFile(pa.BufferReader(self.stored))
        frame: pd.DataFrame = reader.read_row_group(group).to_pandas()
        with self._lock:
            self._groups[group] = frame
            while len(self._groups) > CACHED_GROUPS:
                self._groups.popitem(last=False)
        return frame

    def _empty(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame(
            {KEY: [], STEP: np.empty(0, int), TIME: pd.DatetimeIndex([]), MEAN: np.empty(0)}
        )

    # -- storing ---------------------------------------------------------------------------

    def save(self, directory: Path) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        assert self.forecasts is not None, "a loaded family is saved by copying its folder"
        directory.mkdir(parents=True, exist_ok=True)
        forecasts = self.forecasts.sort_values([KEY, STEP], kind="stable")
        keys = sorted(self.series.index)
        groups = {key: i // SERIES_PER_GROUP for i, key in enumerate(keys)}
        series = self.series.assign(row_group=[groups[k] for k in self.series.index])
        if CLOSED not in forecasts:
            forecasts = forecasts.assign(**{CLOSED: False})
        table = pa.Table.from_pandas(
            forecasts[[KEY, STEP, TIME, MEAN, CLOSED]], preserve_index=False
        )
        with pq.ParquetWriter(directory / FORECASTS, table.schema) as writer:
            firsts = [k for i, k in enumerate(keys) if i % SERIES_PER_GROUP == 0]
            bounds = np.searchsorted(forecasts[KEY].to_numpy(), firsts)
            ends = [*bounds[1:], len(forecasts)]
            for start, end in zip(bounds, ends, strict=True):
                writer.write_table(table.slice(int(start), int(end - start)))
        series.reset_index().to_parquet(directory / SERIES, index=False)
        self.calibration.to_parquet(directory / CALIBRATION, index=False)

    @classmethod
    def load(cls, directory: Path, family: ForecastFamily, *, shown_as: str) -> SeriesForecasts:
        import pandas as pd

        from mlfactory.errors import TamperedArtifactError

        for name in (SERIES, FORECASTS, CALIBRATION):
            if not (directory / name).is_file():
                raise TamperedArtifactError(f"{shown_as}/{name} is missing: not a forecast family.")
        series = pd.read_parquet(directory / SERIES).set_index(KEY)
        calibration = pd.read_parquet(directory / CALIBRATION)
        return cls(family, series, calibration, stored=(directory / FORECASTS).read_bytes())


def _keys(rows: pd.DataFrame, ids: list[str]) -> Any:
    """Each row's series key (the id value, or the values joined with '|')."""
    texts = [rows[c].astype(str).to_numpy() for c in ids]
    if len(texts) == 1:
        return texts[0]
    return np.array(["|".join(parts) for parts in zip(*texts, strict=True)], dtype=object)


def pd_index(values: pd.Series) -> Any:
    import pandas as pd

    return pd.DatetimeIndex(values)


def _dates(values: pd.Series) -> Any:
    import pandas as pd

    dates = pd.to_datetime(values)
    if getattr(dates.dt, "tz", None) is not None:
        dates = dates.dt.tz_convert("UTC").dt.tz_localize(None)
    return pd.DatetimeIndex(dates)
