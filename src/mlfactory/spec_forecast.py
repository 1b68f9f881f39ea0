"""``factory.yaml``'s ``forecast:`` section (``task: forecasting``), kept beside ``spec.py``.

The columns are ``data``'s: ``data.id_column`` (one or several: a series is one
value of each), ``data.time_column`` and ``data.target``. This section says
how far and how often to forecast, with what intervals, how to backtest and
choose, and what to do with gaps.
"""

from __future__ import annotations

import datetime
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mlfactory.data.periods import YEARS
from mlfactory.forecasting.calendar import FREQUENCIES

__all__ = ["BacktestSpec", "ForecastSpec"]

_DAY = re.compile(r"(\d{4}-)?\d{2}-\d{2}")  # 2015-12-25, or 12-25 every year


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BacktestSpec(_Strict):
    """Rolling-origin backtest: ``windows`` origins, ``step`` points apart, each forecasting
    the horizon; each series' model is chosen on the windows before the last and scored on
    the last (the metrics the gates see), then chosen again on all of them."""

    windows: int | None = Field(
        None,
        ge=1,
        le=52,
        strict=True,
        description="Origins. Default: enough that the windows before the last cover a "
        "season (at least 3; 5 for monthly data at horizon 3), as far as the series are long "
        "enough for them: a choice made on part of a season follows its months.",
    )
    step: int | None = Field(
        None, ge=1, strict=True, description="Points between origins. Default: the horizon."
    )


class ForecastSpec(_Strict):
    """What to forecast: how often, how far, with what intervals, chosen how."""

    frequency: Literal["H", "D", "W", "M", "Q", "Y"] = Field(
        description="The data's frequency: H (hourly), D (daily), W (weekly), M (monthly), "
        "Q (quarterly), Y (yearly: dates or whole years, 1871). Dates off its grid are refused."
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
    closed: list[str] = Field(
        default_factory=list,
        description="Days every series is known to be 0, such as a shop's Christmas: a date "
        "(2015-12-25) or a month and day every year (12-25); daily or hourly data. They are "
        "forecast as 0 with no interval, left out of the backtest's scores, and their past "
        "values are interpolated over, so no model learns a closure as demand.",
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
        description="global: the one model with the lowest mean backtest MASE (or "
        "search.metric) forecasts every series (a series it cannot forecast gets the best one "
        "that can); per_series: each series gets the model with the lowest backtest MASE on "
        "it. On short or noisy series a choice per series follows the noise of a few windows: "
        "compare the two on the last-window MASE train prints.",
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
        from mlfactory.forecasting.select import distinct_levels

        return distinct_levels(sorted(levels))  # 80 and 80.0000000000001 name one interval

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

    @field_validator("closed", mode="before")
    @classmethod
    def _days(cls, days: Any) -> Any:
        """Dates (YAML reads 2015-12-25 as one) and month-days, as text, checked."""
        if isinstance(days, str | datetime.date):
            days = [days]  # closed: 12-25
        if not isinstance(days, list):
            return days  # pydantic says what a list should be
        out = []
        for day in days:
            text = day.isoformat() if isinstance(day, datetime.date) else day
            if not isinstance(text, str) or not _DAY.fullmatch(text):
                raise ValueError(
                    f"{day!r} is not a day: write a date (2015-12-25) or a month and day "
                    "closed every year (12-25)"
                )
            try:  # 02-29 is a day (of leap years); 02-30 is none
                day = datetime.date.fromisoformat(text if len(text) == 10 else f"2000-{text}")
            except ValueError:
                raise ValueError(f"{text!r} is not a day of the calendar") from None
            if not YEARS[0] <= day.year <= YEARS[1]:
                raise ValueError(
                    f"{text!r} is outside the years {YEARS[0]} to {YEARS[1]} dates can have"
                )
            out.append(text)
        return sorted(set(out))

    @model_validator(mode="after")
    def _closed_needs_days(self) -> ForecastSpec:
        if self.closed and self.frequency not in ("D", "H"):
            raise ValueError(
                f"closed: closed days are for daily or hourly data, not "
                f"{FREQUENCIES[self.frequency].words} ({self.frequency}); a closed day in a "
                "longer period only lowers it: give it as an exogenous column (e.g. the "
                "days open in each period)"
            )
        return self

    @property
    def season(self) -> int:
        return FREQUENCIES[self.frequency].season
