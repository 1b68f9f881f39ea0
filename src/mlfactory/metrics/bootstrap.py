"""Bootstrap intervals of metrics, and the paired bootstrap of two models on one test set.

Resamples are count matrices (rounds x n) that every metric takes as weights, a
block of rounds at a time, so memory stays bounded whatever the test set's size.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from mlfactory.metrics.base import Array, Metric

__all__ = ["PairedComparison", "bootstrap_interval", "bootstrap_intervals", "paired_bootstrap"]

BLOCK_CELLS = 2_000_000  # counts per block of resamples: ~16 MB, times a few temporaries


def _weight_blocks(n: int, rounds: int, seed: int) -> Iterator[Array]:
    """Bootstrap resamples as count matrices (rounds x n), a block of rounds at a time.

    A block holds 25 resamples, fewer when the rows are many, so memory stays
    bounded whatever the size of the test set.
    """
    block = max(1, min(25, BLOCK_CELLS // max(n, 1)))
    rng = np.random.default_rng(seed)
    done = 0
    while done < rounds:
        k = min(block, rounds - done)
        idx = rng.integers(0, n, size=(k, n))
        flat = (idx + np.arange(k)[:, None] * n).ravel()
        yield np.bincount(flat, minlength=k * n).reshape(k, n).astype(float)
        done += k


def _interval(values: Array, level: float) -> tuple[float, float]:
    values = np.asarray(values, float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return (float("nan"), float("nan"))
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(values, [tail, 100 - tail])
    return (float(lo), float(hi))


def bootstrap_intervals(
    metrics: list[Metric],
    y: Array,
    pred: Array,
    proba: Array | None,
    *,
    rounds: int,
    seed: int,
    level: float = 0.95,
) -> dict[str, tuple[float, float]]:
    """Percentile bootstrap intervals of several metrics over the same resampled rows."""
    if proba is not None and proba.shape[1] == 2:
        # The AUCs group rows by score; sorted once here, no resample has to reorder.
        order = np.argsort(proba[:, 1], kind="mergesort")
        y, pred, proba = np.asarray(y)[order], np.asarray(pred)[order], proba[order]
    scores: dict[str, list[Array]] = {m.name: [] for m in metrics}
    for w in _weight_blocks(len(y), rounds, seed):
        for m in metrics:
            scores[m.name].append(m.weighted(y, pred, proba, w))
    return {name: _interval(np.concatenate(values), level) for name, values in scores.items()}


def bootstrap_interval(
    metric: Metric,
    y: Array,
    pred: Array,
    proba: Array | None,
    *,
    rounds: int,
    seed: int,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap interval of one metric over resampled test rows."""
    intervals = bootstrap_intervals([metric], y, pred, proba, rounds=rounds, seed=seed, level=level)
    return intervals[metric.name]


@dataclass(frozen=True)
class PairedComparison:
    """``new`` against ``old`` on the same rows; ``improvement`` > 0 means new is better."""

    metric: str
    new: float
    old: float
    improvement: float
    low: float
    high: float


def paired_bootstrap(
    metric: Metric,
    y: Array,
    new: tuple[Array, Array | None],
    old: tuple[Array, Array | None],
    *,
    rounds: int,
    seed: int,
    level: float = 0.95,
) -> PairedComparison:
    """Compare two models on the same test rows, resampling the rows jointly."""
    diffs = []
    for w in _weight_blocks(len(y), rounds, seed):
        a = metric.weighted(y, new[0], new[1], w)
        b = metric.weighted(y, old[0], old[1], w)
        diffs.append(a - b if metric.greater_is_better else b - a)
    full_new, full_old = metric.score(y, *new), metric.score(y, *old)
    low, high = _interval(np.concatenate(diffs), level)
    return PairedComparison(
        metric=metric.name,
        new=full_new,
        old=full_old,
        improvement=metric.improvement(full_new, full_old),
        low=low,
        high=high,
    )
