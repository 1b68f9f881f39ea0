"""``check_drift``: every checked column tested by its kind's drift test, p-values adjusted."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from mlfactory.errors import DataError, did_you_mean
from mlfactory.monitoring.drift.base import DRIFT_TESTS, ColumnDrift, DriftResult
from mlfactory.monitoring.drift.stats import benjamini_hochberg

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ALPHA", "MIN_ROWS", "check_drift"]

ALPHA = 0.05
MIN_ROWS = 20


def check_drift(
    profile: dict[str, Any],
    current: pd.DataFrame,
    *,
    columns: list[str] | None = None,
    alpha: float = ALPHA,
    thresholds: dict[str, float] | None = None,
    min_share: float = 0.0,
) -> DriftResult:
    """Compare ``current`` with the reference ``profile`` (``manifest.profile``).

    Each column is tested by the ``DRIFT_TESTS`` entry of its kind (none: not
    checked); ``thresholds`` overrides their effect thresholds by kind. The dataset
    drifts when at least one column drifts and the share of drifted columns is at
    least ``min_share``.
    """
    limits = {kind: test.threshold for kind, test in DRIFT_TESTS.items()} | (thresholds or {})
    reference = profile.get("columns") if isinstance(profile, dict) else None
    if not reference:
        raise DataError(
            "the reference profile has no columns; the model package predates profiles "
            "(retrain the model to store one)"
        )
    names = list(reference) if columns is None else columns
    prepared, quality = _prepare(reference, current, names, ignore_extra=columns is not None)

    n_current = len(current)
    found: list[tuple[ColumnDrift, float | None]] = []
    for name, values in prepared.items():
        ref = reference[name]
        test = DRIFT_TESTS.get(ref.get("kind", ""))
        present = values.dropna()
        if test is None:
            continue
        if present.empty:
            quality.append(
                f"column {name!r} is missing in every current row; its drift was not checked"
            )
            continue
        quality += _missing_finding(name, ref, values)
        column, p = test.check(name, ref, present, limits[test.kind], quality)
        if column is not None:
            found.append((column, p))

    adjusted = benjamini_hochberg([p for _, p in found])
    for (column, _), q in zip(found, adjusted, strict=True):
        column.p_value = q
        column.drifted = q is not None and q < alpha and column.effect > column.threshold
        column.detail += "" if q is not None else "; not tested (one cell after pooling)"
    checked = sorted((c for c, _ in found), key=lambda c: -c.effect / c.threshold)
    drifted = sum(c.drifted for c in checked)
    share = drifted / len(checked) if checked else 0.0
    return DriftResult(
        columns=checked,
        drifted=drifted > 0 and share >= min_share,
        share=share,
        n_reference=int(profile.get("rows", 0)),
        n_current=n_current,
        quality=quality,
    )


def _prepare(
    reference: dict[str, Any], current: pd.DataFrame, names: list[str], *, ignore_extra: bool
) -> tuple[dict[str, Any], list[str]]:
    """The columns to check, as their tests read them; ``DataError`` lists every problem."""
    problems = [
        f"column {c!r} is not in the reference profile{did_you_mean(c, list(reference))}"
        for c in names
        if c not in reference
    ]
    problems += [
        f"column {c!r} is missing from the current data{did_you_mean(c, list(current.columns))}"
        for c in names
        if c in reference and c not in current.columns
    ]
    if len(current) < MIN_ROWS:
        problems.append(
            f"the current data has {len(current)} row(s); a drift check needs at least {MIN_ROWS}"
        )
    quality: list[str] = []
    extra = [str(c) for c in current.columns if c not in reference]
    if extra and not ignore_extra:
        quality.append(f"{len(extra)} column(s) not in the profile were ignored: {extra[:10]}")
    prepared: dict[str, Any] = {}
    for name in names:
        if name not in reference or name not in current.columns:
            continue
        test = DRIFT_TESTS.get(reference[name].get("kind", ""))
        values = (
            current[name] if test is None else test.prepare(name, current[name], problems, quality)
        )
        if values is not None:
            prepared[name] = values
    if problems:
        raise DataError.from_problems("the current data cannot be checked for drift", problems)
    return prepared, quality


def _missing_finding(name: str, ref: dict[str, Any], values: pd.Series) -> list[str]:
    big_n, n = max(int(ref.get("count", 0)), 1), len(values)
    before, now = int(ref.get("missing", 0)) / big_n, float(values.isna().mean())
    pooled = (before * big_n + now * n) / (big_n + n)
    se = math.sqrt(max(pooled * (1 - pooled), 1e-12) * (1 / n + 1 / big_n))
    if abs(now - before) > 0.01 and abs(now - before) > 4 * se:
        return [f"column {name!r} is missing in {now:.1%} of current rows (training {before:.1%})"]
    return []
