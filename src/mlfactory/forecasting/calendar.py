"""The frequencies a forecast can have (``forecast.frequency``) and the calendar features.

A frequency fixes the seasonal period (the naive baseline's season and MASE's
scale), the lags the global model reads and the date features it is given.
Holidays come from the ``holidays`` package (its data ships with it: nothing is
downloaded); a date's features say whether it is a holiday and how many steps
it is from the nearest one before and after, so a model learns the days around
Christmas as well as the day itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["FREQUENCIES", "HOLIDAY_REACH", "Frequency", "holiday_features"]

HOLIDAY_REACH = 15  # steps before and after a holiday that its distance features tell apart


@dataclass(frozen=True)
class Frequency:
    """One frequency: its code in the spec, the pandas alias and what models need of it."""

    code: str  # H, D, W, M, Q (factory.yaml)
    alias: str  # the pandas offset alias before anchoring: h, D, W, M, Q
    season: int  # the seasonal period in steps: the naive baseline's and MASE's
    words: str  # "hourly", ...
    lags: tuple[int, ...]  # what the global model reads of each series' past
    dates: tuple[str, ...]  # pandas date attributes the global model is given


FREQUENCIES: dict[str, Frequency] = {
    f.code: f
    for f in (
        Frequency("H", "h", 24, "hourly", (*range(1, 25), 48, 168), ("hour", "dayofweek")),
        Frequency(
            "D",
            "D",
            7,
            "daily",
            (*range(1, 8), 14, 21, 28, 35, 364),
            ("dayofweek", "dayofyear", "month", "day"),
        ),
        Frequency("W", "W", 52, "weekly", (1, 2, 3, 4, 8, 13, 26, 52), ("week", "month")),
        Frequency("M", "M", 12, "monthly", (1, 2, 3, 6, 12, 24), ("month",)),
        Frequency("Q", "Q", 4, "quarterly", (1, 2, 3, 4, 8), ("quarter",)),
    )
}


def holiday_features(dates: pd.Series, country: str, frequency: str) -> pd.DataFrame:
    """Per date: ``holiday`` (1 on a public holiday of ``country``), and the steps to the
    next and since the last holiday, capped at ``HOLIDAY_REACH``.

    For weekly and coarser frequencies a step holds a holiday when any of its days is one.
    """
    import holidays
    import numpy as np
    import pandas as pd

    values = pd.to_datetime(dates)
    years = range(int(values.dt.year.min()) - 1, int(values.dt.year.max()) + 2)
    days = np.array(sorted(holidays.country_holidays(country, years=years)), dtype="datetime64[D]")
    day = values.to_numpy().astype("datetime64[D]")
    step = {"H": 1 / 24, "D": 1.0, "W": 7.0, "M": 30.4, "Q": 91.3}[frequency]
    after = np.searchsorted(days, day, side="left")  # the first holiday on or after each date
    nxt = days[np.minimum(after, len(days) - 1)]
    prev = days[np.maximum(np.searchsorted(days, day, side="right") - 1, 0)]
    to_next = (nxt - day).astype("timedelta64[D]").astype(float) / step
    since = (day - prev).astype("timedelta64[D]").astype(float) / step
    to_next[after >= len(days)] = HOLIDAY_REACH
    reach = float(HOLIDAY_REACH)
    on = (to_next < 1) if frequency != "H" else (to_next == 0)
    return pd.DataFrame(
        {
            "holiday": on.astype(np.float64),
            "to_holiday": np.clip(np.floor(to_next), 0, reach),
            "since_holiday": np.clip(np.floor(since), 0, reach),
        },
        index=dates.index,
    )
