"""The statistics the drift tests share: a binned chi-square test and the BH adjustment."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["MIN_EXPECTED", "benjamini_hochberg", "chi_square"]

MIN_EXPECTED = 40.0


def chi_square(
    reference: Any, current: Any, *, ordered: bool
) -> tuple[float, float | None, list[list[int]]]:
    """Two-sample chi-square; cells merged until the expected current count is >= 40.

    Cells are merged by what the reference alone expects: merging by counts that
    include the current rows would make the grouping depend on the data under test,
    and the p-values too small (for a column of thousands of rare categories, 44% of
    same-population samples had p < 0.05). Returns the statistic, the p-value (None
    with fewer than two cells) and the cells.
    """
    from scipy.stats import chi2

    total = reference + current
    expected = reference * current.sum() / reference.sum()
    order = np.arange(len(total)) if ordered else np.argsort(expected)
    groups: list[list[int]] = [[]]
    for i in order:
        if total[i] == 0:
            continue
        if groups[-1] and expected[groups[-1]].sum() >= MIN_EXPECTED:
            groups.append([])
        groups[-1].append(int(i))
    if len(groups) > 1 and expected[groups[-1]].sum() < MIN_EXPECTED:
        last = groups.pop()  # popped first: `groups[-2] += groups.pop()` stores one too early
        groups[-1] += last
    if len(groups) < 2:
        return 0.0, None, groups
    table = np.array([[reference[g].sum(), current[g].sum()] for g in groups]).T
    fitted = np.outer(table.sum(axis=1), table.sum(axis=0)) / table.sum()
    statistic = float(np.sum((table - fitted) ** 2 / fitted))
    return statistic, float(chi2.sf(statistic, len(groups) - 1)), groups


def benjamini_hochberg(p_values: list[float | None]) -> list[float | None]:
    tested = [(p, i) for i, p in enumerate(p_values) if p is not None]
    out: list[float | None] = [None] * len(p_values)
    running = 1.0
    for rank, (p, i) in reversed(list(enumerate(sorted(tested), start=1))):
        running = min(running, p * len(tested) / rank)
        out[i] = running
    return out
