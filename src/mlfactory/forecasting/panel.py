"""Rows to a panel: one regular series per id, checked, with every problem naming its ids.

INTERFACE (the lead's stub; the helper fills in the bodies and keeps the signatures).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["KEY", "Panel", "PanelRoles", "prepare_future", "prepare_panel", "series_keys"]

KEY, TIME, TARGET = "unique_id", "ds", "y"  # the panel's own column names (statsforecast's)
Fill = Literal["error", "zero", "forward", "interpolate"]


@dataclass(frozen=True)
class PanelRoles:
    """Which columns are what, and the rules (plain arguments: no spec)."""

    ids: tuple[str, ...]  # the id column(s): a series is one value of each
    time: str
    target: str
    frequency: str  # a code in calendar.FREQUENCIES
    exogenous: tuple[str, ...] = ()  # numeric columns known in the future
    fill: Fill = "error"  # what to do with missing dates inside a series


@dataclass(frozen=True)
class Panel:
    """A checked panel: ``frame`` has KEY (text), TIME (datetime64[ns], naive), TARGET
    (float64) and the exogenous columns, sorted by KEY then TIME, each series regular at
    ``alias`` from its first to its last date, no missing value anywhere."""

    frame: pd.DataFrame
    roles: PanelRoles
    alias: str  # the anchored pandas alias found in the data, e.g. D, W-SUN, MS, QS-JAN
    notes: tuple[str, ...] = ()  # what was done for the user (dates filled, per rule)
    filled: dict[str, int] = field(default_factory=dict)  # id -> dates filled

    @property
    def ids(self) -> list[str]:
        """The series keys, sorted."""
        return sorted(self.frame[KEY].unique())


def series_keys(frame: pd.DataFrame, ids: tuple[str, ...]) -> pd.Series:
    """Each row's series key as text: the id value, or the values joined with '|'."""
    texts = [frame[c].astype(str) for c in ids]
    out = texts[0]
    for more in texts[1:]:
        out = out + "|" + more
    return out


def prepare_panel(frame: pd.DataFrame, roles: PanelRoles) -> Panel:
    """The panel of ``frame``; ``DataError`` listing every problem, each naming its ids."""
    import pandas as pd

    # the lead's placeholder until the checked version lands: no checks, no filling
    dates = pd.to_datetime(frame[roles.time])
    if getattr(dates.dt, "tz", None) is not None:
        dates = dates.dt.tz_convert("UTC").dt.tz_localize(None)
    out = pd.DataFrame(
        {
            KEY: series_keys(frame, roles.ids).to_numpy(),
            TIME: dates.to_numpy(),
            TARGET: frame[roles.target].to_numpy(dtype=float),
            **{c: frame[c].to_numpy(dtype=float) for c in roles.exogenous},
        }
    )
    out = out.sort_values([KEY, TIME], kind="stable").reset_index(drop=True)
    alias = {"H": "h", "D": "D", "W": "W-SUN", "M": "MS", "Q": "QS-JAN"}[roles.frequency]
    if roles.fill == "zero":
        parts = []
        for key, series in out.groupby(KEY, sort=True):
            grid = pd.date_range(series[TIME].min(), series[TIME].max(), freq=alias)
            full = series.set_index(TIME).reindex(grid).rename_axis(TIME).reset_index()
            full[KEY] = key
            full[TARGET] = full[TARGET].fillna(0.0)
            parts.append(full)
        out = pd.concat(parts, ignore_index=True)[[KEY, TIME, TARGET, *roles.exogenous]]
    return Panel(out, roles, alias)


def prepare_future(future: pd.DataFrame, panel: Panel, horizon: int) -> pd.DataFrame:
    """The exogenous values for the ``horizon`` dates after each series' end (KEY, TIME,
    exogenous columns), checked: every id and date present once, every column, no missing."""
    raise NotImplementedError
