"""Ordinal columns: chi-square over the levels in order; Wasserstein distance of the ranks / std."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from mlfactory.monitoring.drift.base import ColumnDrift, DriftTest, register_drift_test
from mlfactory.monitoring.drift.stats import chi_square

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["OrdinalDrift"]


class OrdinalDrift(DriftTest):
    """The count of each level against the profile's, the levels merged in their order.

    A level's rank is its position in the order, so the effect is the Wasserstein-1
    distance between the two rank distributions divided by the training std of the
    rank: a move from S to XL weighs three times a move from S to M, as a number's
    would. Current values outside the order are a quality finding, left out.
    """

    kind: ClassVar[str] = "ordinal"
    threshold: ClassVar[float] = 0.05  # as for numbers: W1 in training standard deviations

    def prepare(
        self, name: str, values: pd.Series, problems: list[str], quality: list[str]
    ) -> pd.Series | None:
        from mlfactory.data.schema import ordinal_texts

        return ordinal_texts(values)  # compared as the schema compares them: 1, 1.0, "1" alike

    def check(
        self,
        name: str,
        reference: dict[str, Any],
        values: pd.Series,
        threshold: float,
        quality: list[str],
    ) -> tuple[ColumnDrift | None, float | None]:
        order: list[str] = list(reference.get("order") or [])
        stored: dict[str, int] = reference.get("top") or {}
        mapped = values.map({level: i for i, level in enumerate(order)})
        outside = values[mapped.isna()]
        if len(outside):
            shown = ", ".join(map(repr, outside.value_counts().index[:5]))
            quality.append(
                f"column {name!r}: {len(outside):,} current value(s) outside its order "
                f"({shown}); left out of its drift test"
            )
        ranks = mapped.dropna().to_numpy(dtype=int)
        if not order or not len(ranks):
            quality.append(f"column {name!r} has no value of its order; its drift was not checked")
            return None, None
        ref_counts = np.array([stored.get(level, 0) for level in order], dtype=float)
        cur_counts = np.bincount(ranks, minlength=len(order)).astype(float)
        statistic, p, _ = chi_square(ref_counts, cur_counts, ordered=True)
        ref_p, cur_p = ref_counts / max(ref_counts.sum(), 1.0), cur_counts / cur_counts.sum()
        w1 = float(np.abs(np.cumsum(ref_p - cur_p)[:-1]).sum())  # ranks one apart
        std = float(reference.get("std") or 0.0)
        effect = w1 / std if std > 0 else w1
        levels = np.arange(len(order))
        moved = int(np.argmax(np.abs(cur_p - ref_p)))
        detail = (
            f"mean rank {levels @ cur_p:.2f} vs {levels @ ref_p:.2f} "
            f"({' < '.join(order[:6])}{' < …' if len(order) > 6 else ''}); W1 {w1:.3g} = "
            f"{effect:.3f} std; largest change: {order[moved]!r} {ref_p[moved]:.1%} -> "
            f"{cur_p[moved]:.1%}"
        )
        distribution = {
            "categories": order,
            "reference": ref_p.tolist(),
            "current": cur_p.tolist(),
        }
        column = ColumnDrift(name, "ordinal", "chi2+wasserstein", statistic, effect, threshold,
                             None, False, detail, distribution)  # fmt: skip
        return column, p


register_drift_test(OrdinalDrift())
