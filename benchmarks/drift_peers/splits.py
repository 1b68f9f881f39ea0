"""No-drift splits and injected shifts, shared by ``drift_quality.py`` and the Evidently peer.

Only numpy and pandas, so the Evidently venv can import it too: both tools are given
the very same rows, rebuilt here from the job's numbers (same numpy in both venvs).

- ``make_split(frame, month_rows, n, index, seed)``: split ``index`` uses month
  ``index % 12 + 1``. When the month has at least ``2n`` rows, its rows are shuffled
  and the first ``n`` are the reference, the next ``n`` the current data (two disjoint
  random halves). Otherwise (a month has ~28k flights, so n = 100k and 1M) each side
  is ``n`` rows drawn with replacement from the whole month: two independent samples
  of the same distribution, which is what "no drift at this n" means. (Resampling two
  disjoint 14k-row halves up to 1M would instead turn their 14k-row sampling noise
  into a real difference that 1M rows resolve.)
- ``shift(reference, current, name, key)``: one of ``SHIFTS``, applied to a copy of
  the current side. A numeric shift adds 0.1 x the reference standard deviation to
  every value of the column; a categorical shift relabels 5% of all current rows,
  drawn at random among rows of other (non-missing) categories, to the reference's
  most frequent category, so that category's share grows by exactly 5 points.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

COLUMNS = [
    "day", "dep_time", "sched_dep_time", "dep_delay", "arr_time", "sched_arr_time", "carrier",
    "flight", "tailnum", "origin", "dest", "air_time", "distance", "hour", "minute",
]  # fmt: skip
NUMERIC_SHIFT = 0.1  # x reference std
SHARE_SHIFT = 0.05  # of all current rows, into the most frequent reference category
SHIFTS = {  # name -> (kind, column)
    "distance +0.1 std": ("numeric", "distance"),
    "dep_delay +0.1 std": ("numeric", "dep_delay"),
    "origin +5 pt (most frequent)": ("categorical", "origin"),
    "carrier +5 pt (most frequent)": ("categorical", "carrier"),
}


def month_rows(frame: pd.DataFrame) -> dict[int, np.ndarray]:
    """Row positions of every month, in frame order."""
    months = frame["month"].to_numpy()
    return {int(m): np.flatnonzero(months == m) for m in np.unique(months)}


def make_split(
    frame: pd.DataFrame, rows: dict[int, np.ndarray], n: int, index: int, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Reference and current rows (``COLUMNS`` only) of no-drift split ``index``."""
    pool = rows[index % 12 + 1]
    rng = np.random.default_rng([seed, n, index])
    if 2 * n <= len(pool):
        order = rng.permutation(pool)
        ref, cur = order[:n], order[n : 2 * n]
    else:
        ref, cur = rng.choice(pool, n, replace=True), rng.choice(pool, n, replace=True)
    take = frame[COLUMNS]
    return take.iloc[ref].reset_index(drop=True), take.iloc[cur].reset_index(drop=True)


def shift(
    reference: pd.DataFrame, current: pd.DataFrame, name: str, key: list[int]
) -> pd.DataFrame:
    """A copy of ``current`` with the shift ``name`` (a key of ``SHIFTS``) injected.

    ``key`` seeds the choice of relabelled rows (the split's seed, n and index).
    """
    kind, column = SHIFTS[name]
    out = current.copy()
    if kind == "numeric":
        out[column] = out[column].astype(float) + NUMERIC_SHIFT * reference[column].std(ddof=0)
        return out
    target = reference[column].value_counts().index[0]
    values = out[column].to_numpy(dtype=object, copy=True)
    others = np.flatnonzero(pd.notna(values) & (values != target))
    rng = np.random.default_rng([*key, list(SHIFTS).index(name)])
    moved = rng.choice(others, round(SHARE_SHIFT * len(current)), replace=False)
    values[moved] = target
    out[column] = values
    return out
