"""Numeric columns: chi-square on the reference bins, Wasserstein distance / std as effect."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from mlfactory.monitoring.drift.base import ColumnDrift, DriftTest, register_drift_test
from mlfactory.monitoring.drift.stats import chi_square

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["NumericDrift"]


class NumericDrift(DriftTest):
    """Two-sample chi-square on the stored bins plus below/above-range cells; W1 / std."""

    kind: ClassVar[str] = "numeric"
    threshold: ClassVar[float] = 0.05

    def prepare(
        self, name: str, values: pd.Series, problems: list[str], quality: list[str]
    ) -> pd.Series | None:
        import pandas as pd

        converted = pd.to_numeric(values, errors="coerce")
        bad = converted.isna() & values.notna()
        if bad.any():
            problems.append(
                f"column {name!r} was numeric in training; got {values[bad].iloc[0]!r} "
                f"({values.dtype}) in {int(bad.sum())} row(s)"
            )
            return None
        return converted.astype(float)

    def check(
        self,
        name: str,
        reference: dict[str, Any],
        values: pd.Series,
        threshold: float,
        quality: list[str],
    ) -> tuple[ColumnDrift | None, float | None]:
        return _numeric(name, reference, values.to_numpy(dtype=float), threshold, quality)


def _numeric(
    name: str, ref: dict[str, Any], values: Any, threshold: float, quality: list[str]
) -> tuple[ColumnDrift | None, float | None]:
    finite = np.isfinite(values)
    if not finite.all():
        quality.append(f"column {name!r} has {int((~finite).sum())} inf value(s); ignored")
        values = values[finite]
    spec = ref.get("bins") or ref.get("histogram")
    if not spec or not len(values):
        quality.append(f"column {name!r} has no reference histogram; its drift was not checked")
        return None, None
    edges = np.asarray(spec["edges"], dtype=float)
    ref_counts = np.asarray(spec["counts"], dtype=float)
    below, above = values < edges[0], values > edges[-1]
    inside, _ = np.histogram(values[~below & ~above], bins=edges)
    n, big_n = len(values), ref_counts.sum()
    outside = int(below.sum() + above.sum())
    if outside / n > 0.005:
        quality.append(
            f"column {name!r}: {outside / n:.1%} of current values are outside the training "
            f"range [{edges[0]:g}, {edges[-1]:g}]"
        )
    # Wasserstein-1: the gap between the two CDFs at every edge (trapezoid weights),
    # plus the exact area beyond the training range.
    ref_cdf = np.concatenate([[0.0], np.cumsum(ref_counts)]) / big_n
    cur_cdf = (below.sum() + np.concatenate([[0.0], np.cumsum(inside)])) / n
    widths = np.diff(edges)
    weights = np.concatenate([widths, [0.0]]) / 2 + np.concatenate([[0.0], widths]) / 2
    tails = (np.sum(edges[0] - values[below]) + np.sum(values[above] - edges[-1])) / n
    w1 = float(np.sum(np.abs(ref_cdf - cur_cdf) * weights) + tails)
    std = float(ref.get("std") or 0.0)
    scale = std if std > 0 else float(edges[-1] - edges[0]) or 1.0
    cur_counts = np.concatenate([[below.sum()], inside, [above.sum()]]).astype(float)
    ref_full = np.concatenate([[0.0], ref_counts, [0.0]])
    statistic, p, _ = chi_square(ref_full, cur_counts, ordered=True)
    psi = _psi(ref_full, cur_counts)
    detail = (
        f"mean {np.mean(values):.4g} vs {ref.get('mean', float('nan')):.4g}; "
        f"W1 {w1:.4g} = {w1 / scale:.3f} std; PSI {psi:.4f}; {len(ref_counts)} bins"
    )
    distribution = {
        "edges": edges.tolist(),
        "reference": (ref_counts / big_n).tolist(),
        "current": (inside / n).tolist(),
        "below": float(below.sum() / n),
        "above": float(above.sum() / n),
    }
    column = ColumnDrift(name, "numeric", "chi2+wasserstein", statistic, w1 / scale, threshold,
                         None, False, detail, distribution)  # fmt: skip
    return column, p


def _psi(reference: Any, current: Any, floor: float = 1e-4) -> float:
    ref_p = np.maximum(reference / reference.sum(), floor)
    cur_p = np.maximum(current / current.sum(), floor)
    return float(np.sum((cur_p - ref_p) * np.log(cur_p / ref_p)))


register_drift_test(NumericDrift())
