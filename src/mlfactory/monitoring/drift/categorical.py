"""Categorical columns: chi-square on stored categories plus a pooled cell; JS distance."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from mlfactory.monitoring.drift.base import (
    PLOTTED_CATEGORIES,
    REST,
    ColumnDrift,
    DriftTest,
    register_drift_test,
)
from mlfactory.monitoring.drift.stats import MIN_EXPECTED, chi_square

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["CategoricalDrift"]


class CategoricalDrift(DriftTest):
    """Chi-square over the frequent categories and ``other``; Jensen-Shannon distance."""

    kind: ClassVar[str] = "categorical"
    threshold: ClassVar[float] = 0.03

    def prepare(
        self, name: str, values: pd.Series, problems: list[str], quality: list[str]
    ) -> pd.Series | None:
        import pandas as pd

        if pd.api.types.is_numeric_dtype(values):
            quality.append(
                f"column {name!r} was categorical in training; got dtype {values.dtype} "
                "(compared as text)"
            )
        return values

    def check(
        self,
        name: str,
        reference: dict[str, Any],
        values: pd.Series,
        threshold: float,
        quality: list[str],
    ) -> tuple[ColumnDrift | None, float | None]:
        return _categorical(name, reference, values.astype(str), threshold, quality)


def _categorical(
    name: str, ref: dict[str, Any], values: pd.Series, threshold: float, quality: list[str]
) -> tuple[ColumnDrift | None, float | None]:
    stored: dict[str, int] = ref.get("top") or {}
    other = int(ref.get("other", 0))
    counts = values.value_counts()
    n_ref = sum(stored.values()) + other
    if other and stored:
        share = sum(stored.values()) / n_ref
        now = float(counts[counts.index.isin(list(stored))].sum() / len(values))
        if now < share / 2:
            quality.append(
                f"column {name!r}: {now:.1%} of current values are among the {len(stored)} most "
                f"common in training ({share:.1%} of training values): mostly new values"
            )
    # Rare categories (fewer than MIN_EXPECTED training rows, or near the cut-off of the
    # stored top) are pooled into "other", with every value never seen in training: which
    # rare values a sample holds is chance, and the stored counts of those that made it
    # are inflated. When every category was stored, the pool also gets the Good-Turing
    # estimate of the mass of values the training sample never saw: its singletons.
    floor = min(stored.values()) if other and stored else 0
    cut = max(floor + 4 * math.sqrt(max(floor, 1)), MIN_EXPECTED)
    top = {c: k for c, k in stored.items() if k > cut}
    singletons = sum(1 for k in stored.values() if k == 1) if not other else 0
    pooled = other + sum(k for k in stored.values() if k <= cut) + singletons
    known = counts.index.isin(list(top))
    unseen = counts[~counts.index.isin(list(stored))]
    expected_new = singletons / n_ref
    new_share = float(unseen.sum() / len(values))
    doubletons = sum(1 for k in stored.values() if k == 2) if not other else 0
    spread = (
        expected_new * (1 - expected_new) / len(values) + (singletons + 2 * doubletons) / n_ref**2
    )
    margin = 3 * math.sqrt(max(spread, 1e-12))  # sampling of the current rows and of N1
    if not other and len(unseen) and new_share > expected_new + margin:
        quality.append(
            f"column {name!r}: {len(unseen)} categor{'y' if len(unseen) == 1 else 'ies'} not "
            f"seen in training ({', '.join(map(repr, unseen.index[:5]))}) in "
            f"{_percent(new_share)} of rows"
        )
    ref_counts = np.array([*top.values(), pooled], dtype=float)
    cur_counts = np.array([*(int(counts.get(c, 0)) for c in top), counts[~known].sum()], float)
    statistic, p, cells = chi_square(ref_counts, cur_counts, ordered=False)
    ref_p, cur_p = ref_counts / ref_counts.sum(), cur_counts / cur_counts.sum()
    # The distance is taken over the test's cells: with many rare categories and few
    # current rows, category-level shares differ by chance alone (a biased distance).
    ref_cells = np.array([ref_p[c].sum() for c in cells])
    cur_cells = np.array([cur_p[c].sum() for c in cells])
    middle = (ref_cells + cur_cells) / 2
    jsd = 0.5 * _kl(ref_cells, middle) + 0.5 * _kl(cur_cells, middle)
    effect = math.sqrt(max(jsd, 0.0))
    moved = np.argmax(np.abs(cur_p - ref_p))
    label = [*top, "(other)"][moved]
    detail = f"largest change: {label!r} {ref_p[moved]:.1%} -> {cur_p[moved]:.1%}"
    shown = np.argsort(-np.maximum(ref_p[:-1], cur_p[:-1]), kind="stable")[:PLOTTED_CATEGORIES]
    labels = [*top]
    distribution = {
        "categories": [*(labels[i] for i in shown), REST],
        "reference": [*(float(ref_p[i]) for i in shown), float(1 - ref_p[shown].sum())],
        "current": [*(float(cur_p[i]) for i in shown), float(1 - cur_p[shown].sum())],
    }
    column = ColumnDrift(name, "categorical", "chi2+jensen-shannon", statistic, effect,
                         threshold, None, False, detail, distribution)  # fmt: skip
    return column, p


def _kl(p: Any, q: Any) -> float:
    mask = p > 0
    return float(np.sum(p[mask] * np.log2(p[mask] / q[mask])))


def _percent(share: float) -> str:
    return "<0.1%" if 0 < share < 0.001 else f"{share:.1%}"


register_drift_test(CategoricalDrift())
