"""Per-column drift of current data against a model package's stored reference profile.

Each column gets a test chosen by its kind and an effect size, and a column drifts
only when both agree: the Benjamini-Hochberg adjusted p-value (across the checked
columns) is below ``alpha`` *and* the effect exceeds its threshold. At small n the
test keeps noise from alarming; at large n every difference is significant, so the
effect threshold decides. The false-alarm rate therefore stays near ``alpha`` (for
the whole dataset) at any sample size.

- numeric: two-sample chi-square on the reference bins (plus below/above-range
  bins), adjacent bins merged to an expected count of 40 (below that, the
  chi-square approximation's tail is too light and 1k-row samples alarm more
  often than the nominal rate); effect =
  Wasserstein-1 distance between the binned distributions / the reference std.
  The profile's ``bins`` (see ``reference_profile``) are used when present, else
  its 20 equal-width ``histogram`` bins.
- categorical: two-sample chi-square on the stored categories plus ``other``, small
  cells pooled; effect = Jensen-Shannon distance (base 2) over those same cells (per
  category, a thousand rare categories and a thousand rows would differ by chance
  alone, and the distance with them). Rare categories (under 40 training rows, or
  near the cut-off when the profile kept only the top 1000) are pooled into
  ``other`` with every unseen value: which rare values a sample holds is chance,
  and the counts of those it holds are biased upwards. When every category was
  stored, the pool also gets the Good-Turing estimate of the unseen mass (the
  training singletons). New categories beyond that estimate, and current values
  mostly outside a stored top, are quality findings.

Missing-rate jumps, unseen categories, out-of-range values and unusable columns
are data-quality findings (``DriftResult.quality``), never drift. A check that
cannot run at all (missing column, non-numeric values in a numeric column, fewer
than ``MIN_ROWS`` rows, a profile without columns) raises ``DataError``.
Datetime columns are not checked (the profile holds only their range).
"""

from __future__ import annotations

import difflib
import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from mlfactory.errors import DataError

if TYPE_CHECKING:
    import pandas as pd


__all__ = [
    "ALPHA",
    "MIN_ROWS",
    "THRESHOLDS",
    "ColumnDrift",
    "DriftResult",
    "check_drift",
]

ALPHA = 0.05
THRESHOLDS = {"numeric": 0.05, "categorical": 0.03}  # W1 / std; Jensen-Shannon distance
MIN_ROWS = 20
MIN_EXPECTED = 40.0
PLOTTED_CATEGORIES = 20  # categories kept in ColumnDrift.distribution; then REST
REST = "(the rest)"  # the distribution's last cell: every category not shown


@dataclass
class ColumnDrift:
    """One column's verdict. ``p_value`` is Benjamini-Hochberg adjusted (None: no test)."""

    column: str
    kind: str
    test: str
    statistic: float
    effect: float
    threshold: float
    p_value: float | None
    drifted: bool
    detail: str
    # What a plot needs, as shares (no rows): numeric ``edges`` with ``reference`` and
    # ``current`` shares per bin plus ``below``/``above`` the training range (current
    # only); categorical ``categories`` (the largest, then REST) with both shares.
    distribution: dict[str, Any] = field(default_factory=dict)


@dataclass
class DriftResult:
    """Columns sorted by effect relative to threshold, largest first."""

    columns: list[ColumnDrift]
    drifted: bool
    share: float
    n_reference: int
    n_current: int
    quality: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_drift(
    profile: dict[str, Any],
    current: pd.DataFrame,
    *,
    columns: list[str] | None = None,
    alpha: float = ALPHA,
    thresholds: dict[str, float] | None = None,
    min_share: float = 0.0,
) -> DriftResult:
    """Compare ``current`` with the reference ``profile`` (``manifest["profile"]``).

    The dataset drifts when at least one column drifts and the share of drifted
    columns is at least ``min_share``.
    """
    limits = {**THRESHOLDS, **(thresholds or {})}
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
        kind = ref.get("kind", "")
        present = values.dropna()
        if kind not in ("numeric", "categorical"):
            continue
        if present.empty:
            quality.append(
                f"column {name!r} is missing in every current row; its drift was not checked"
            )
            continue
        quality += _missing_finding(name, ref, values)
        if kind == "numeric":
            column, p = _numeric(name, ref, present.to_numpy(dtype=float), limits[kind], quality)
        else:
            column, p = _categorical(name, ref, present.astype(str), limits[kind], quality)
        if column is not None:
            found.append((column, p))

    adjusted = _benjamini_hochberg([p for _, p in found])
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
    """The columns to check, numeric ones as floats; ``DataError`` lists every problem."""
    import pandas as pd

    problems = [
        f"column {c!r} is not in the reference profile{_suggest(c, list(reference))}"
        for c in names
        if c not in reference
    ]
    problems += [
        f"column {c!r} is missing from the current data{_suggest(c, list(current.columns))}"
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
        ref, values = reference[name], current[name]
        if ref.get("kind") == "numeric":
            converted = pd.to_numeric(values, errors="coerce")
            bad = converted.isna() & values.notna()
            if bad.any():
                problems.append(
                    f"column {name!r} was numeric in training; got {values[bad].iloc[0]!r} "
                    f"({values.dtype}) in {int(bad.sum())} row(s)"
                )
                continue
            values = converted.astype(float)
        elif ref.get("kind") == "categorical" and pd.api.types.is_numeric_dtype(values):
            quality.append(
                f"column {name!r} was categorical in training; got dtype {values.dtype} "
                "(compared as text)"
            )
        prepared[name] = values
    if problems:
        raise DataError.from_problems("the current data cannot be checked for drift", problems)
    return prepared, quality


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
    statistic, p, _ = _chi2(ref_full, cur_counts, ordered=True)
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
    statistic, p, cells = _chi2(ref_counts, cur_counts, ordered=False)
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


def _missing_finding(name: str, ref: dict[str, Any], values: pd.Series) -> list[str]:
    big_n, n = max(int(ref.get("count", 0)), 1), len(values)
    before, now = int(ref.get("missing", 0)) / big_n, float(values.isna().mean())
    pooled = (before * big_n + now * n) / (big_n + n)
    se = math.sqrt(max(pooled * (1 - pooled), 1e-12) * (1 / n + 1 / big_n))
    if abs(now - before) > 0.01 and abs(now - before) > 4 * se:
        return [f"column {name!r} is missing in {now:.1%} of current rows (training {before:.1%})"]
    return []


def _chi2(
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
        groups[-2] += groups.pop()
    if len(groups) < 2:
        return 0.0, None, groups
    table = np.array([[reference[g].sum(), current[g].sum()] for g in groups]).T
    fitted = np.outer(table.sum(axis=1), table.sum(axis=0)) / table.sum()
    statistic = float(np.sum((table - fitted) ** 2 / fitted))
    return statistic, float(chi2.sf(statistic, len(groups) - 1)), groups


def _psi(reference: Any, current: Any, floor: float = 1e-4) -> float:
    ref_p = np.maximum(reference / reference.sum(), floor)
    cur_p = np.maximum(current / current.sum(), floor)
    return float(np.sum((cur_p - ref_p) * np.log(cur_p / ref_p)))


def _kl(p: Any, q: Any) -> float:
    mask = p > 0
    return float(np.sum(p[mask] * np.log2(p[mask] / q[mask])))


def _benjamini_hochberg(p_values: list[float | None]) -> list[float | None]:
    tested = [(p, i) for i, p in enumerate(p_values) if p is not None]
    out: list[float | None] = [None] * len(p_values)
    running = 1.0
    for rank, (p, i) in reversed(list(enumerate(sorted(tested), start=1))):
        running = min(running, p * len(tested) / rank)
        out[i] = running
    return out


def _percent(share: float) -> str:
    return "<0.1%" if 0 < share < 0.001 else f"{share:.1%}"


def _suggest(name: str, options: list[Any]) -> str:
    match = difflib.get_close_matches(name, [str(o) for o in options], n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""
