"""The frequencies a forecast can have (``forecast.frequency``) and the calendar features.

A frequency fixes the seasonal period (the naive baseline's season and MASE's
scale), the lags the global model reads and the date features it is given.
Holidays come from the ``holidays`` package (its data ships with it: nothing is
downloaded); a date's features say whether it is a holiday and how many steps
it is from the nearest one before and after, so a model learns the days around
Christmas as well as the day itself. Closed days (``forecast.closed``: a date, or
a month and day every year) are the days the user knows every series is 0, such
as a shop's Christmas; ``closed_days`` finds them among any dates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["FREQUENCIES", "HOLIDAY_REACH", "Frequency", "closed_days", "holiday_features"]

HOLIDAY_REACH = 7  # days before and after a holiday that its features tell apart


@dataclass(frozen=True)
class Frequency:
    """One frequency: its code in the spec, the pandas alias and what models need of it."""

    code: str  # H, D, W, M, Q, Y (factory.yaml)
    alias: str  # the pandas offset alias before anchoring: h, D, W, M, Q, Y
    season: int  # the seasonal period in steps: the naive baseline's and MASE's
    words: str  # "hourly", ...
    lags: tuple[int, ...]  # what the global model reads of each series' past
    rolling: tuple[tuple[int, int], ...]  # (lag, window) rolling means it reads too
    dates: tuple[str, ...]  # pandas date attributes the global model is given
    history: int  # points per series the global model fits at most (beside its lags' warm-up)


FREQUENCIES: dict[str, Frequency] = {
    f.code: f
    for f in (
        Frequency(
            "H",
            "h",
            24,
            "hourly",
            (*range(1, 25), 48, 72, 168, 336),
            ((1, 24), (24, 24), (1, 168), (168, 168)),
            ("hour", "dayofweek"),
            24 * 7 * 16,
        ),
        Frequency(
            "D",
            "D",
            7,
            "daily",
            (*range(1, 8), *range(14, 92, 7), 182, 364),
            ((1, 7), (1, 28), (7, 28), (28, 28), (1, 91)),
            ("dayofweek", "month", "dayofyear"),
            4 * 365,
        ),
        Frequency(
            "W",
            "W",
            52,
            "weekly",
            (1, 2, 3, 4, 8, 13, 26, 52),
            ((1, 4), (1, 13), (4, 13), (1, 52)),
            ("week", "month"),
            52 * 8,
        ),
        Frequency(
            "M",
            "M",
            12,
            "monthly",
            (1, 2, 3, 6, 12, 24),
            ((1, 3), (1, 12), (12, 12)),
            ("month",),
            240,
        ),
        Frequency("Q", "Q", 4, "quarterly", (1, 2, 3, 4, 8), ((1, 4), (4, 4)), ("quarter",), 120),
        # no season (1: the naive baseline repeats the last year, MASE scales by the
        # yearly change) and no date feature: a year number is a trend a tree cannot carry on
        Frequency("Y", "Y", 1, "yearly", (1, 2, 3, 4, 5), ((1, 3), (1, 5)), (), 100),
    )
}


def holiday_features(dates: pd.Series, country: str, frequency: str) -> pd.DataFrame:
    """Per date, from the public holidays of ``country``: ``holiday`` (1 on one), the signed
    days to the nearest one (negative before it; 99 beyond ``HOLIDAY_REACH`` days) and which
    holiday that is (its name as a code; -1 beyond the reach), so a model learns the days
    around Christmas as well as the day itself.

    For weekly and coarser frequencies a step holds a holiday when any of its days is one.
    """
    import holidays
    import numpy as np
    import pandas as pd

    values = pd.to_datetime(dates)
    years = range(int(values.dt.year.min()) - 1, int(values.dt.year.max()) + 2)
    known = holidays.country_holidays(country, years=years)
    names = {name: code for code, name in enumerate(sorted(set(known.values())))}
    ordered = sorted(known.items())
    days = np.array([d for d, _ in ordered], dtype="datetime64[D]").astype(np.int64)
    codes = np.array([names[n] for _, n in ordered])
    day = values.to_numpy().astype("datetime64[D]").astype(np.int64)
    # the days a step covers after its date
    span = {"H": 0, "D": 0, "W": 6, "M": 30, "Q": 91, "Y": 365}[frequency]
    at = np.searchsorted(days, day)
    after = np.minimum(at, len(days) - 1)
    before = np.maximum(at - 1, 0)
    to_next, since = days[after] - day, day - days[before]
    nearer_next = to_next <= since
    offset = np.where(nearer_next, -to_next, since)
    which = np.where(nearer_next, codes[after], codes[before])
    far = np.abs(offset) > HOLIDAY_REACH
    inside = (to_next >= 0) & (to_next <= span)
    return pd.DataFrame(
        {
            "holiday": inside.astype(np.float64),
            "holiday_offset": np.where(far, 99, offset).astype(np.float64),
            "holiday_which": np.where(far, -1, which).astype(np.float64),
        },
        index=dates.index,
    )


def closed_days(times: Any, closed: Sequence[str]) -> Any:
    """Which of ``times`` (datetime64 values) fall on a closed day: ``closed`` holds dates
    (``2015-12-25``) and days of every year (``12-25``), as ``forecast.closed`` keeps them.
    Any time of a closed day is closed (an hourly series' 24 hours)."""
    import numpy as np
    import pandas as pd

    stamps = pd.DatetimeIndex(np.asarray(times, dtype="datetime64[ns]"))
    days = stamps.normalize()
    dated = pd.DatetimeIndex([day for day in closed if len(day) == len("2015-12-25")])
    out = np.asarray(days.isin(dated), dtype=bool)
    annual = [int(day.replace("-", "")) for day in closed if len(day) == len("12-25")]
    if annual:
        out |= np.isin(stamps.month * 100 + stamps.day, annual)
    return out
