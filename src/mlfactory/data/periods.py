"""Dates written as periods: a quarter (``1981 Q1``) or an ISO week (``1991 W06``).

R's tsibble and fpp3 write them so, and pandas reads neither. Each is read as the
period's first day (a week's Monday), the same way by the forecasting panel, which
trains on them, and by a model's schema, which reads the rows sent to it.
"""

from __future__ import annotations

import datetime
import re
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import numpy.typing as npt
    import pandas as pd

__all__ = ["YEARS", "period_starts"]

YEARS = (1678, 2261)  # the whole years a date can have here (pandas' datetime64[ns])
_PERIOD_TEXT = re.compile(r"\s*(\d{4})\s*-?\s*([QW])\s*(\d{1,2})\s*", re.IGNORECASE)


def period_starts(texts: Any, unread: npt.NDArray[np.bool_]) -> pd.Series:
    """The first day of each ``unread`` text that names a quarter or an ISO week (UTC,
    on a 0..n-1 index); NaT otherwise."""
    import pandas as pd

    out = pd.Series(pd.NaT, index=range(len(texts)), dtype="datetime64[ns, UTC]")
    for at in np.flatnonzero(unread).tolist():
        found = _PERIOD_TEXT.fullmatch(str(texts[at]))
        if found is None:
            continue
        year, kind, number = int(found[1]), found[2].upper(), int(found[3])
        try:
            day = (
                datetime.date(year, 3 * number - 2, 1)
                if kind == "Q"
                else datetime.date.fromisocalendar(year, number, 1)
            )
        except ValueError:  # Q5, W54, W53 of a year without one: not a date
            continue
        if not YEARS[0] <= year <= YEARS[1]:
            continue  # 9999 Q1: not a time pandas can hold, so not a date, as text is not
        out[at] = pd.Timestamp(day, tz="UTC")
    return out
