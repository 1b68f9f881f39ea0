"""Reference profiles: a compact summary of a frame, stored in the model package.

A profile holds, per column, what a drift check or a report needs without the
rows themselves: counts, missing rate, quantiles and a histogram for numbers,
category frequencies for categories; for an ordinal column its ``order`` and the
count of every level in that order (``top``), with the mean and std of the rank. A
numeric column with at most ``FEW_VALUES`` distinct values (a 0/1 flag, a count
of children) also keeps the exact count of each value: its equal-frequency bins
collapse (a 0/1 column has one), so drift is tested on the values instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

    from mlfactory.data.schema import Schema

__all__ = ["FEW_VALUES", "QUANTILES", "profile_frame", "profile_values"]

QUANTILES = [0.0, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 1.0]
BINS = 20
REFERENCE_BINS = 50  # equal-frequency bins with exact counts, for drift tests
TOP_CATEGORIES = 1000  # as many as a schema keeps; beyond that ``other`` counts the rest
FEW_VALUES = 20  # numeric columns with at most this many distinct values keep each value's count


def profile_values(values: Any, kind: str, order: list[str] | None = None) -> dict[str, Any]:
    """The profile of one column (a pandas Series); ``order``: an ordinal column's levels."""
    import pandas as pd

    series = pd.Series(values)
    n = len(series)
    missing = int(series.isna().sum())
    out: dict[str, Any] = {"kind": kind, "count": n, "missing": missing}
    present = series.dropna()
    if kind == "ordinal":
        levels = order or []
        counts = present.astype(str).value_counts()
        ranks = present.astype(str).map({level: i for i, level in enumerate(levels)}).dropna()
        out["distinct"] = int(counts.index.isin(levels).sum())
        out["order"] = list(levels)
        out["top"] = {level: int(counts.get(level, 0)) for level in levels}
        out["other"] = 0
        if len(ranks):
            out["mean"] = float(ranks.mean())
            out["std"] = float(ranks.std(ddof=0))
        return out
    if kind == "categorical":
        counts = present.astype(str).value_counts()
        out["distinct"] = len(counts)
        top = counts.iloc[:TOP_CATEGORIES]
        out["top"] = {str(k): int(v) for k, v in top.items()}
        out["other"] = int(counts.iloc[TOP_CATEGORIES:].sum())
        return out
    if kind == "datetime":
        stamps = pd.to_datetime(present)
        out["min"] = str(stamps.min()) if len(stamps) else None
        out["max"] = str(stamps.max()) if len(stamps) else None
        return out
    floats = present.astype(float).to_numpy()
    numbers = floats[np.isfinite(floats)]
    seen = np.unique(numbers[:100_000])
    out["distinct"] = len(seen)
    if len(numbers):
        out["mean"] = float(numbers.mean())
        out["std"] = float(numbers.std())
        out["quantiles"] = [float(q) for q in np.quantile(numbers, QUANTILES)]
        hist, edges = np.histogram(numbers, bins=BINS)
        out["histogram"] = {"edges": edges.tolist(), "counts": hist.tolist()}
        # Equal-frequency edges resolve skewed columns that equal-width bins lump together;
        # the counts are exact, ties included, so a drift test can compare current data.
        quantile_edges = np.unique(np.quantile(numbers, np.linspace(0, 1, REFERENCE_BINS + 1)))
        if len(quantile_edges) >= 2:
            exact, _ = np.histogram(numbers, bins=quantile_edges)
            out["bins"] = {"edges": quantile_edges.tolist(), "counts": exact.tolist()}
        if len(seen) <= FEW_VALUES:
            found, times = np.unique(numbers, return_counts=True)
            if len(found) <= FEW_VALUES:
                out["values"] = {"values": found.tolist(), "counts": times.tolist()}
    return out


def profile_frame(frame: pd.DataFrame, schema: Schema) -> dict[str, Any]:
    """Profiles of every schema column of ``frame``."""
    return {
        "rows": len(frame),
        "columns": {
            c.name: profile_values(
                frame[c.name], c.kind, c.categories if c.kind == "ordinal" else None
            )
            for c in schema.columns
        },
    }
