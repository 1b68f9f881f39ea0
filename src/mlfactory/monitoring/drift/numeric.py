"""Numeric columns: chi-square on the reference bins, Wasserstein distance / std as effect.

A column whose profile keeps its few values (``values``: at most ``FEW_VALUES``
distinct ones in training, see ``data/profile.py``) is tested on the count of
each value instead of the bins, which collapse for such columns (a 0/1 column
has one bin, so it could never drift): the cells are the training values in
order, with what falls below, between or above them, merged as bins are.
"""

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
    if not len(values):
        quality.append(f"column {name!r} has no finite current value; its drift was not checked")
        return None, None
    if ref.get("values"):
        return _by_value(name, ref, values, threshold, quality)
    spec = ref.get("bins") or ref.get("histogram")
    if not spec:
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


def _by_value(
    name: str, ref: dict[str, Any], values: Any, threshold: float, quality: list[str]
) -> tuple[ColumnDrift, float | None]:
    """Few values in training: chi-square on the count of each; exact W1 / std."""
    from scipy.stats import wasserstein_distance

    known = np.asarray(ref["values"]["values"], dtype=float)
    ref_counts = np.asarray(ref["values"]["counts"], dtype=float)
    k, n = len(known), len(values)
    # Cells in order: below the first value, the first value, between it and the next, ...,
    # the last value, above it. A current value's cell: 2 x (the known values below it),
    # plus one when it is one of them.
    at = np.searchsorted(known, values)
    exact = known[np.minimum(at, k - 1)] == values
    cur_counts = np.bincount(2 * at + exact, minlength=2 * k + 1).astype(float)
    ref_full = np.zeros(2 * k + 1)
    ref_full[1::2] = ref_counts
    statistic, p, _ = chi_square(ref_full, cur_counts, ordered=True)
    below, above = cur_counts[0] / n, cur_counts[-1] / n
    between = float(cur_counts[2:-1:2].sum() / n)
    if below + above > 0.005:
        quality.append(
            f"column {name!r}: {below + above:.1%} of current values are outside the training "
            f"range [{known[0]:g}, {known[-1]:g}]"
        )
    if between > 0.005:
        unseen = np.unique(values[~exact & (at > 0) & (at < k)])
        quality.append(
            f"column {name!r}: {between:.1%} of current values are none of the {k} values seen "
            f"in training ({', '.join(f'{v:g}' for v in unseen[:5])})"
        )
    w1 = float(wasserstein_distance(known, values, u_weights=ref_counts))
    std = float(ref.get("std") or 0.0)
    scale = std if std > 0 else float(known[-1] - known[0]) or 1.0
    ref_p, cur_p = ref_counts / ref_counts.sum(), cur_counts[1::2] / n
    labels = [f"{v:g}" for v in known]
    if len(set(labels)) < k:  # values that differ only beyond six digits
        labels = [repr(float(v)) for v in known]
    moved = int(np.argmax(np.abs(cur_p - ref_p)))
    detail = (
        f"mean {np.mean(values):.4g} vs {ref.get('mean', float('nan')):.4g}; "
        f"W1 {w1:.4g} = {w1 / scale:.3f} std; largest change: {labels[moved]} "
        f"{ref_p[moved]:.1%} -> {cur_p[moved]:.1%}; {k} values"
    )
    # For the plot, the values as categories, in order; what lies outside them when present.
    outside = [(f"< {labels[0]}", below), (f"> {labels[-1]}", above), ("other values", between)]
    cells = [(label, 0.0, float(share)) for label, share in outside if share > 0]
    first = int(below > 0)  # "< first value" goes above the values, the rest below them
    cells = cells[:first] + list(zip(labels, ref_p, cur_p, strict=True)) + cells[first:]
    distribution = {
        "categories": [label for label, _, _ in cells],
        "reference": [float(r) for _, r, _ in cells],
        "current": [float(c) for _, _, c in cells],
        "below": float(below),
        "above": float(above),
    }
    column = ColumnDrift(name, "numeric", "chi2-values+wasserstein", statistic, w1 / scale,
                         threshold, None, False, detail, distribution)  # fmt: skip
    return column, p


def _psi(reference: Any, current: Any, floor: float = 1e-4) -> float:
    ref_p = np.maximum(reference / reference.sum(), floor)
    cur_p = np.maximum(current / current.sum(), floor)
    return float(np.sum((cur_p - ref_p) * np.log(cur_p / ref_p)))


register_drift_test(NumericDrift())
