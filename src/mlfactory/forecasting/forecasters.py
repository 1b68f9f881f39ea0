"""The ``FORECASTERS`` table: every model a forecasting spec can name.

A forecaster takes the past of some series and gives each one's mean forecast
for the next ``horizon`` steps. Two scopes:

- ``series``: fitted on each series alone (seasonal naive, statsforecast's
  AutoETS, AutoTheta, AutoARIMA; Prophet). Training maps chunks of series over
  the engine. The statistical models see at most ``max_history`` points.
- ``global``: one model over every series at once (LightGBM on lags, rolling
  means, calendar and holiday features, through mlforecast), one job per
  backtest origin.

Every forecaster is a plain function of its inputs, deterministic for a seed,
so the same job gives the same numbers on every engine. Intervals are not a
forecaster's business: they are calibrated on the backtest errors of whichever
model is chosen (``backtest.py``), the same way for all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from mlfactory.forecasting.calendar import FREQUENCIES, holiday_features
from mlfactory.forecasting.panel import KEY, TARGET, TIME

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["FORECASTERS", "MEAN", "Forecaster", "Setting", "register_forecaster"]

MEAN = "mean"  # the column of a forecast frame holding the point forecast


@dataclass(frozen=True)
class Setting:
    """What every forecaster is given besides the data (picklable)."""

    horizon: int
    frequency: str  # a code in FREQUENCIES
    alias: str  # the anchored pandas alias of the panel
    max_history: int | None = None  # points a per-series statistical model fits at most
    holidays: str | None = None  # a country code for holiday features (global model)
    exogenous: tuple[str, ...] = ()  # columns known in the future
    non_negative: bool = True  # the target is never negative: no forecast below 0
    seed: int = 42
    threads: int = 1
    params: dict[str, Any] = field(default_factory=dict)  # the spec's, for this model

    @property
    def season(self) -> int:
        return FREQUENCIES[self.frequency].season


# (past: KEY, TIME, TARGET, exogenous; future exogenous: KEY, TIME, exogenous or None) -> forecast
Forecast = Callable[["pd.DataFrame", "pd.DataFrame | None", Setting], "pd.DataFrame"]
Origins = Callable[[list[tuple["pd.DataFrame", "pd.DataFrame | None"]], Setting], list[Any]]


@dataclass(frozen=True)
class Forecaster:
    """One model: how it forecasts, what it needs, and in words."""

    name: str
    scope: Literal["series", "global"]
    forecast: Forecast  # returns KEY, TIME, MEAN: ``horizon`` rows per series, in order
    words: str
    seasonal_points: int = 0  # points a series needs, in seasons (on top of ``min_points``)
    min_points: int = 2
    extra: str | None = None  # the pip extra it needs, e.g. "prophet"
    # the backtest origins' forecasts from one fit on the first (the final origin is always
    # fitted afresh); None: one fit per origin
    origins: Origins | None = None

    def needs(self, setting: Setting) -> int:
        """Points a series needs for this model; a shorter one gets the baseline."""
        return self.min_points + self.seasonal_points * setting.season


FORECASTERS: dict[str, Forecaster] = {}


def register_forecaster(forecaster: Forecaster) -> Forecaster:
    """Add ``forecaster`` to ``FORECASTERS``, where ``factory.yaml`` finds it by name."""
    if forecaster.name in FORECASTERS:
        raise ValueError(f"forecaster {forecaster.name!r} is already registered")
    FORECASTERS[forecaster.name] = forecaster
    return forecaster


def future_dates(past: pd.DataFrame, setting: Setting) -> pd.DataFrame:
    """KEY, TIME of the ``horizon`` steps after each series' last date."""
    import numpy as np
    import pandas as pd

    last = past.groupby(KEY, sort=False)[TIME].max()
    offset = pd.tseries.frequencies.to_offset(setting.alias)
    keys = np.repeat(last.index.to_numpy(), setting.horizon)
    ends = pd.DatetimeIndex(last.to_numpy())
    # one vectorised shift per step (not one per series and step: 0.26 s of births' train())
    steps = [(ends + offset * k).to_numpy() for k in range(1, setting.horizon + 1)]
    dates = np.stack(steps, axis=1).ravel() if len(ends) else np.empty(0, "datetime64[ns]")
    return pd.DataFrame({KEY: keys, TIME: pd.DatetimeIndex(dates)})


# -- seasonal naive: the baseline, always trained ---------------------------------------------


def _seasonal_naive(past: pd.DataFrame, future: pd.DataFrame | None, setting: Setting) -> Any:
    """Each series' last season repeated (its last value when shorter than a season)."""
    import numpy as np

    out = future_dates(past, setting)
    means = []
    for _, values in past.groupby(KEY, sort=False)[TARGET]:
        y = values.to_numpy(dtype=float)
        season = setting.season if len(y) >= setting.season else 1
        last = y[-season:]
        means.append(np.resize(last, setting.horizon))
    out[MEAN] = np.concatenate(means) if means else np.empty(0)
    return out


register_forecaster(
    Forecaster(
        "seasonal_naive",
        "series",
        _seasonal_naive,
        "the last season repeated (the baseline every model must beat)",
        min_points=1,
    )
)


# -- the seasonal profile: a robust level times each season position's share ---------------

# seasons the profile and the level are measured on (half a year, daily); the global model's
# target is centred on each series' level over as many
PROFILE_SEASONS = 26


def _seasonal_profile(past: pd.DataFrame, future: pd.DataFrame | None, setting: Setting) -> Any:
    """Each series' recent level times the share of each position in the season (the day
    of the week, for daily data), over its last ``PROFILE_SEASONS`` seasons. For counts
    (whole, non-negative values) the forecast is the Poisson median of that mean: the
    value absolute-error metrics such as MASE favour for noisy counts of small numbers."""
    import numpy as np

    out = future_dates(past, setting)
    season = setting.season
    means = []
    for _, values in past.groupby(KEY, sort=False)[TARGET]:
        y = values.to_numpy(dtype=float)[-season * PROFILE_SEASONS :]
        usable = len(y) - len(y) % season if len(y) >= season else 0
        if usable == 0:
            means.append(np.full(setting.horizon, y.mean()))
            continue
        recent = y[-usable:].reshape(-1, season)  # rows: seasons, the last one most recent
        level = recent.mean()
        share = recent.mean(axis=0) / level if level > 0 else np.ones(season)
        phase = (len(y) + np.arange(setting.horizon)) % season  # positions after the end
        first = (len(y) - usable) % season  # the position of recent's first column
        mean = level * share[(phase - first) % season]
        means.append(mean)
    forecast = np.concatenate(means) if means else np.empty(0)
    whole = past[TARGET].to_numpy(dtype=float)
    if setting.non_negative and len(whole) and np.all(whole == np.round(whole)):
        forecast = _poisson_median(forecast)
    out[MEAN] = forecast
    return out


def _poisson_median(mean: Any) -> Any:
    """The median of a Poisson distribution of each mean (Choi's approximation, exact to
    the integer for means above ~0.1; 0 below ln 2)."""
    import numpy as np

    mean = np.maximum(np.asarray(mean, dtype=float), 0.0)
    safe = np.where(mean > 0, mean, 1.0)
    median = np.floor(mean + 1 / 3 - 0.02 / safe)
    return np.where(mean < np.log(2), 0.0, np.maximum(median, 0.0))


register_forecaster(
    Forecaster(
        "seasonal_profile",
        "series",
        _seasonal_profile,
        "the recent level times each season position's share (a Poisson median for counts)",
        seasonal_points=1,
        min_points=1,
    )
)


# -- statsforecast, per series ------------------------------------------------------------


def _capped(past: pd.DataFrame, setting: Setting) -> pd.DataFrame:
    if setting.max_history is None:
        return past
    return past.groupby(KEY, sort=False).tail(setting.max_history)


def _statsforecast(model: str) -> Forecast:
    def forecast(past: pd.DataFrame, future: pd.DataFrame | None, setting: Setting) -> Any:
        import numpy as np
        from statsforecast import StatsForecast, models

        built = getattr(models, model)(season_length=setting.season, **setting.params)
        engine = StatsForecast(
            models=[built],
            freq=setting.alias,
            n_jobs=1,
            fallback_model=models.SeasonalNaive(season_length=setting.season),
        )
        frame = _capped(past[[KEY, TIME, TARGET]], setting)
        result = engine.forecast(df=frame, h=setting.horizon)
        out = future_dates(past, setting)
        by_key = result.set_index([KEY, TIME])[model]
        out[MEAN] = by_key.reindex(list(zip(out[KEY], out[TIME], strict=True))).to_numpy(
            dtype=np.float64
        )
        return out

    return forecast


def _statsforecast_origins(model: str) -> Origins:
    def origins(inputs: list[tuple[pd.DataFrame, pd.DataFrame | None]], setting: Setting) -> Any:
        """Each series' model fitted once, at the first origin that has the series, then
        applied to each origin's past in turn (statsforecast's ``forward``: the fitted
        parameters, the states run over the longer history): a backtest costs one fit per
        series, not one per window (pizzas: AutoETS's backtest 7.1 s -> 1.6 s, the same
        backtest MASE). A fit that fails falls back to the seasonal naive, as above."""
        import numpy as np

        fitted: dict[Any, Any] = {}
        out = []
        for past, _ in inputs:
            means, capped = [], _capped(past[[KEY, TIME, TARGET]], setting)
            for key, values in capped.groupby(KEY, sort=False)[TARGET]:
                y = values.to_numpy(dtype=np.float64)
                if key not in fitted:
                    fitted[key] = _fit(model, y, setting)
                means.append(_forward(fitted[key], model, y, setting))
            result = future_dates(past, setting)
            result[MEAN] = np.concatenate(means) if means else np.empty(0)
            out.append(result)
        return out

    return origins


def _fit(model: str, y: Any, setting: Setting) -> Any:
    """``model`` fitted on ``y``; the seasonal naive if that fails (StatsForecast's fallback)."""
    from statsforecast import models

    try:
        return getattr(models, model)(season_length=setting.season, **setting.params).fit(y)
    except Exception:  # any failure of the fit: statsforecast's own fallback rule
        return models.SeasonalNaive(season_length=setting.season).fit(y)


def _forward(fitted: Any, model: str, y: Any, setting: Setting) -> Any:
    """``fitted``'s forecast from the end of ``y``; from a fresh fit on ``y`` when the fitted
    parameters do not carry over (an error, or a forecast that is not finite: e.g.
    AutoTheta over a later history holding a value it cannot fit)."""
    import numpy as np

    try:
        mean = np.asarray(fitted.forward(y=y, h=setting.horizon)["mean"], dtype=np.float64)
    except Exception:  # the same fallback as a fit's
        mean = np.full(setting.horizon, np.nan)
    if np.isfinite(mean).all():
        return mean
    return np.asarray(_fit(model, y, setting).predict(h=setting.horizon)["mean"], np.float64)


for _name, _model, _words, _seasons in (
    ("auto_ets", "AutoETS", "exponential smoothing, its form chosen by AICc", 2),
    ("auto_theta", "AutoTheta", "the Theta method, its variant chosen by fit", 2),
    ("auto_arima", "AutoARIMA", "ARIMA, its orders chosen by a stepwise search", 2),
):
    register_forecaster(
        Forecaster(
            _name,
            "series",
            _statsforecast(_model),
            f"statsforecast {_model}: {_words}",
            seasonal_points=_seasons,
            min_points=4,
            origins=_statsforecast_origins(_model),
        )
    )


# -- the global LightGBM -------------------------------------------------------------------

LIGHTGBM_DEFAULTS: dict[str, Any] = {  # measured on births and pizzas: docs/benchmarks.md
    # one thread builds each feature's histogram: the same model for any thread count (so
    # on every engine), and LightGBM no longer times both layouts first
    "force_col_wise": True,
    # 300, not 500, since the target is centred on each series' recent level: the same
    # backtest MASE on births (0.677 both, mean of 4 windows and 4 seeds), better on pizzas
    # (0.840 against 0.846), ~35% less CPU per fit
    "n_estimators": 300,
    "learning_rate": 0.05,
    # 31, not 63: the same backtest MASE on births (0.689 both, mean of 4 windows) and pizzas
    # (0.845 against 0.843) for ~45% less CPU per fit (births: 2.8 s against 4.9 s, 1 thread)
    "num_leaves": 31,
    "min_child_samples": 20,
    "subsample": 0.8,
    "subsample_freq": 1,
    "colsample_bytree": 0.8,
}


def _calendar(frame: pd.DataFrame, setting: Setting) -> pd.DataFrame:
    """The frame with the holiday features of its dates added (when a country is given)."""
    if setting.holidays is None:
        return frame
    features = holiday_features(frame[TIME], setting.holidays, setting.frequency)
    return frame.assign(**{str(c): features[c].to_numpy() for c in features.columns})


def _recent_level(points: int) -> Any:
    """A target transform (after the per-series standardisation) that centres each series
    on the mean of its last ``points`` values, not of its whole history: the model learns
    deviations from where a series is now, so a series whose level moved (births' large
    states over 4 years) is not pulled back towards its older level."""
    from mlforecast.target_transforms import BaseTargetTransform

    class RecentLevel(BaseTargetTransform):
        def fit_transform(self, df: pd.DataFrame) -> pd.DataFrame:
            tail = df.groupby(self.id_col, sort=False).tail(points)
            self.level_ = tail.groupby(self.id_col, sort=False)[self.target_col].mean()
            return self.update(df)

        def update(self, df: pd.DataFrame) -> pd.DataFrame:
            shift = df[self.id_col].map(self.level_).to_numpy()
            return df.assign(**{self.target_col: df[self.target_col].to_numpy() - shift})

        def inverse_transform(self, df: pd.DataFrame) -> pd.DataFrame:
            shift = df[self.id_col].map(self.level_).to_numpy()
            columns = [c for c in df.columns if c not in (self.id_col, self.time_col)]
            return df.assign(**{c: df[c].to_numpy() + shift for c in columns})

    return RecentLevel()


def _lightgbm(past: pd.DataFrame, future: pd.DataFrame | None, setting: Setting) -> Any:
    """One LightGBM over every series, fitted on ``past`` and forecasting recursively."""
    return _lightgbm_origins([(past, future)], setting)[0]


def _lightgbm_origins(
    origins: list[tuple[pd.DataFrame, pd.DataFrame | None]], setting: Setting
) -> list[Any]:
    """One LightGBM over every series, fitted once on the first origin's past, then
    forecasting from each origin's past in turn (a later origin's history feeds the
    lags; the model never sees it): the backtest costs one fit, not one per window.

    It reads lags and rolling means of each series' past (those a series as short
    as half the shortest one can feed), date and holiday features, and the
    exogenous columns; the target is log1p'd (non-negative targets), standardised
    per series and centred on each series' mean over its last ``PROFILE_SEASONS``
    seasons, so one model fits series of any level and forecasts from the level a
    series is at now. Each series gives it at most the frequency's ``history``
    points plus the lags' warm-up.
    """
    import numpy as np
    from lightgbm import LGBMRegressor
    from mlforecast import MLForecast
    from mlforecast.lag_transforms import RollingMean
    from mlforecast.target_transforms import GlobalSklearnTransformer, LocalStandardScaler
    from sklearn.preprocessing import FunctionTransformer

    freq = FREQUENCIES[setting.frequency]
    first = origins[0][0]
    limit = int(first.groupby(KEY, sort=False).size().min()) // 2
    lags = [lag for lag in freq.lags if lag <= limit] or [1]
    rolling: dict[int, list[Any]] = {}
    for lag, window in freq.rolling:
        if lag + window <= limit:
            rolling.setdefault(lag, []).append(RollingMean(window_size=window))
    warm = max([*lags, *(lag + w for lag, w in freq.rolling if lag + w <= limit)])
    params = {**LIGHTGBM_DEFAULTS, **setting.params}
    params.setdefault("n_jobs", setting.threads)
    params.update(random_state=setting.seed, verbosity=-1, deterministic=True)
    scale: list[Any] = [LocalStandardScaler(), _recent_level(PROFILE_SEASONS * freq.season)]
    if setting.non_negative:
        scale.insert(0, GlobalSklearnTransformer(FunctionTransformer(np.log1p, np.expm1)))
    model = MLForecast(
        models={"lightgbm": LGBMRegressor(**params)},
        freq=setting.alias,
        lags=lags,
        lag_transforms=rolling,
        date_features=list(freq.dates),
        target_transforms=scale,
        num_threads=1,
    )
    columns = [KEY, TIME, TARGET, *setting.exogenous]
    # named by position: LightGBM refuses a feature name with '[', ':' or '"' (price[usd])
    named = {x: f"exogenous_{i}" for i, x in enumerate(setting.exogenous)}

    def recent(past: pd.DataFrame) -> pd.DataFrame:
        capped = past.groupby(KEY, sort=False).tail(freq.history + warm)
        return _calendar(capped[columns].rename(columns=named), setting)

    model.fit(recent(first), static_features=[])
    out = []
    for i, (past, future) in enumerate(origins):
        dates = future_dates(past, setting)
        if setting.exogenous:
            assert future is not None, "exogenous columns need their future values"
            ahead = future[[KEY, TIME, *setting.exogenous]].rename(columns=named)
            dates = dates.merge(ahead, on=[KEY, TIME], how="left")
        dates = _calendar(dates, setting)
        extra = [c for c in dates.columns if c not in (KEY, TIME)]
        result = model.predict(
            h=setting.horizon,
            new_df=None if i == 0 else recent(past),
            X_df=dates if extra else None,
        )
        found = dates[[KEY, TIME]].copy()
        by_key = result.set_index([KEY, TIME])["lightgbm"]
        keys = list(zip(found[KEY], found[TIME], strict=True))
        mean = by_key.reindex(keys).to_numpy(dtype=np.float64)
        found[MEAN] = np.maximum(mean, 0.0) if setting.non_negative else mean
        out.append(found)
    return out


register_forecaster(
    Forecaster(
        "lightgbm",
        "global",
        _lightgbm,
        "one LightGBM over every series: lags, rolling means, calendar and holidays",
        seasonal_points=1,
        min_points=8,
        origins=_lightgbm_origins,
    )
)


# -- Prophet (the book's model; an extra) ---------------------------------------------------


def _prophet(past: pd.DataFrame, future: pd.DataFrame | None, setting: Setting) -> Any:
    """Prophet fitted per series (the book's loop), quietly."""
    import logging

    import numpy as np
    from prophet import Prophet

    logging.getLogger("cmdstanpy").setLevel(logging.WARNING)
    out = future_dates(past, setting)
    means = []
    for key, series in _capped(past, setting).groupby(KEY, sort=False):
        model = Prophet(**setting.params)
        if setting.holidays is not None:
            model.add_country_holidays(country_name=setting.holidays)
        model.fit(series.rename(columns={TARGET: "y"})[[TIME, "y"]])
        ahead = out.loc[out[KEY] == key, [TIME]]
        means.append(model.predict(ahead)["yhat"].to_numpy(dtype=np.float64))
    out[MEAN] = np.concatenate(means) if means else np.empty(0)
    return out


register_forecaster(
    Forecaster(
        "prophet",
        "series",
        _prophet,
        "Prophet per series (the book's model)",
        seasonal_points=2,
        extra="prophet",
    )
)
