"""``factory.yaml``'s ``forecast:`` section (``task: forecasting``), kept beside ``spec.py``.

The columns are ``data``'s: ``data.id_column`` (one or several: a series is one
value of each), ``data.time_column`` and ``data.target``. This section says
how far and how often to forecast, with what intervals, how to backtest and
choose, and what to do with gaps.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from mlfactory.forecasting.calendar import FREQUENCIES

__all__ = ["BacktestSpec", "ForecastSpec"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BacktestSpec(_Strict):
    """Rolling-origin backtest: ``windows`` origins, ``step`` points apart, each forecasting
    the horizon; each series' model is chosen on the windows before the last and scored on
    the last (the metrics the gates see), then chosen again on all of them."""

    windows: int = Field(3, ge=1, le=52, strict=True)
    step: int | None = Field(
        None, ge=1, strict=True, description="Points between origins. Default: the horizon."
    )


class ForecastSpec(_Strict):
    """What to forecast: how often, how far, with what intervals, chosen how."""

    frequency: Literal["H", "D", "W", "M", "Q"] = Field(
        description="The data's frequency: H (hourly), D (daily), W (weekly), M (monthly), "
        "Q (quarterly). Dates off its grid are refused."
    )
    horizon: int = Field(ge=1, le=10_000, strict=True, description="Steps to forecast ahead.")
    levels: list[float] = Field(
        default_factory=lambda: [80.0, 95.0],
        description="Prediction-interval levels in percent, answered by default; a request "
        "may ask for others.",
    )
    exogenous: list[str] = Field(
        default_factory=list,
        description="Numeric columns known in the future (prices, promotions), read by the "
        "global lightgbm model; their values for the horizon come from `future`.",
    )
    future: str | None = Field(
        None,
        description="CSV or Parquet file (relative to factory.yaml) with the exogenous "
        "columns' values for the horizon dates after each series' end (id, date, columns).",
    )
    holidays: str | None = Field(
        None,
        description="A country code (US, GB, DE, ...) whose public holidays the global model "
        "is told about: each date's holiday flag and its distance to the nearest one.",
    )
    fill: Literal["error", "zero", "forward", "interpolate"] = Field(
        "error",
        description="Missing dates inside a series: error (list the series), zero (no sales "
        "that day), forward (carry the last value) or interpolate (linear).",
    )
    allow_negative: bool = Field(
        False, description="Allow negative targets (intervals then go below 0 too)."
    )
    select: Literal["global", "per_series"] = Field(
        "global",
        description="global: the one model with the lowest mean backtest MASE forecasts "
        "every series (a series it cannot forecast gets the best one that can); "
        "per_series: each series gets the model with the lowest backtest MASE on it. On short "
        "or noisy series a choice per series follows the noise of a few windows: compare "
        "the two on the last-window MASE train prints.",
    )
    max_history: int | None = Field(
        1000,
        ge=10,
        description="Points the per-series statistical models (auto_ets, auto_theta, "
        "auto_arima, prophet) fit at most: the most recent ones (they are slow on long "
        "daily series). null: all.",
    )
    backtest: BacktestSpec = Field(default_factory=BacktestSpec)

    @field_validator("levels")
    @classmethod
    def _percentages(cls, levels: list[float]) -> list[float]:
        if not levels:
            raise ValueError("list at least one level, e.g. [80, 95]")
        bad = [level for level in levels if not 0 < level < 100]
        if bad:
            raise ValueError(f"levels are percentages between 0 and 100; got {bad}")
        return sorted(set(levels))

    @field_validator("holidays")
    @classmethod
    def _known_country(cls, country: str | None) -> str | None:
        if country is None:
            return None
        import difflib

        import holidays

        known = sorted(holidays.list_supported_countries())
        if country not in known:
            close = difflib.get_close_matches(country.upper(), known, n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise ValueError(
                f"no public holidays are known for {country!r}{hint}; use an ISO country "
                "code such as US, GB, DE, FR, IN"
            )
        return country

    @property
    def season(self) -> int:
        return FREQUENCIES[self.frequency].season
