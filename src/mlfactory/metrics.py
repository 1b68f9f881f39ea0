"""Evaluation metrics by name, with their direction, and bootstrap intervals.

Every metric is written once, as a weighted statistic over a matrix of row
weights (one row of weights per bootstrap resample), so a point estimate is the
same code with all weights 1 and 200 bootstrap resamples cost a few matrix
products instead of 200 calls to scikit-learn.

Classification inputs are encoded labels ``0..K-1``, hard predictions, and an
``(n, K)`` probability matrix; regression inputs are floats.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "METRICS",
    "Metric",
    "PairedComparison",
    "bootstrap_interval",
    "bootstrap_intervals",
    "compute",
    "paired_bootstrap",
]

Array = Any  # numpy arrays
_Fn = Callable[[Array, Array, Array | None, Array], Array]
_EPS = float(np.finfo(float).eps)  # what scikit-learn clips probabilities to


@dataclass(frozen=True)
class Metric:
    """A metric's implementation and direction; which task reports it is the task's choice."""

    name: str
    greater_is_better: bool
    binary_only: bool = False

    def score(self, y: Array, pred: Array, proba: Array | None) -> float:
        weights = np.ones((1, len(y)))
        return float(_FUNCTIONS[self.name](np.asarray(y), np.asarray(pred), proba, weights)[0])

    def weighted(self, y: Array, pred: Array, proba: Array | None, weights: Array) -> Array:
        """One score per row of ``weights`` (shape rounds x n)."""
        return _FUNCTIONS[self.name](np.asarray(y), np.asarray(pred), proba, weights)

    def improvement(self, new: float, old: float) -> float:
        """How much better ``new`` is than ``old`` (positive means better)."""
        return new - old if self.greater_is_better else old - new


METRICS: dict[str, Metric] = {
    m.name: m
    for m in [
        Metric("roc_auc", True),
        Metric("pr_auc", True, binary_only=True),
        Metric("log_loss", False),
        Metric("brier", False, binary_only=True),
        Metric("f1", True),
        Metric("accuracy", True),
        Metric("rmse", False),
        Metric("mae", False),
        Metric("r2", True),
        Metric("mape", False),
    ]
}


# -- weighted statistics: W has shape (rounds, n) -------------------------------------


def _mean(values: Array, w: Array) -> Array:
    return (w @ values) / w.sum(axis=1)


def _accuracy(y: Array, pred: Array, proba: Array | None, w: Array) -> Array:
    return _mean((y == pred).astype(float), w)


def _f1(y: Array, pred: Array, proba: Array | None, w: Array) -> Array:
    classes = (
        [1]
        if (proba is None or proba.shape[1] == 2) and set(np.unique(y)) <= {0, 1}
        else (np.unique(np.concatenate([y, pred])))
    )
    scores = []
    for c in classes:
        t, p = (y == c).astype(float), (pred == c).astype(float)
        tp, fp, fn = w @ (t * p), w @ ((1 - t) * p), w @ (t * (1 - p))
        denom = 2 * tp + fp + fn
        scores.append(np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0))
    return np.mean(scores, axis=0)


def _log_loss(y: Array, pred: Array, proba: Array | None, w: Array) -> Array:
    assert proba is not None
    p = np.clip(proba[np.arange(len(y)), y], _EPS, 1.0)
    return _mean(-np.log(p), w)


def _brier(y: Array, pred: Array, proba: Array | None, w: Array) -> Array:
    assert proba is not None
    return _mean((proba[:, 1] - y) ** 2, w)


def _grouped(score: Array, y: Array, w: Array) -> tuple[Array, Array]:
    """Positive and negative weight per distinct score, in ascending score order."""
    if np.all(score[1:] >= score[:-1]):  # already sorted (bootstrap_intervals sorts once)
        s, ws, ys = score, w, y.astype(float)
    else:
        order = np.argsort(score, kind="mergesort")
        s, ws, ys = score[order], w[:, order], y[order].astype(float)
    pos = ws * ys
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    if len(starts) < len(s):  # ties: one cell per distinct score
        pos, ws = np.add.reduceat(pos, starts, axis=1), np.add.reduceat(ws, starts, axis=1)
    return pos, ws - pos


def _binary_auc(score: Array, y: Array, w: Array) -> Array:
    pos, neg = _grouped(score, y, w)
    below = np.cumsum(neg, axis=1) - neg
    total = pos.sum(axis=1) * neg.sum(axis=1)
    auc = (pos * (below + 0.5 * neg)).sum(axis=1)
    return np.divide(auc, total, out=np.full_like(auc, np.nan), where=total > 0)


def _roc_auc(y: Array, pred: Array, proba: Array | None, w: Array) -> Array:
    assert proba is not None
    if proba.shape[1] == 2:
        return _binary_auc(proba[:, 1], y, w)
    # one-vs-rest, macro average (what scikit-learn's multi_class="ovr" reports)
    return np.nanmean([_binary_auc(proba[:, k], (y == k), w) for k in range(proba.shape[1])], 0)


def _pr_auc(y: Array, pred: Array, proba: Array | None, w: Array) -> Array:
    assert proba is not None
    pos, neg = _grouped(proba[:, 1], y, w)
    # Weights are counts, so these sums are exact: rows scored at or above each score.
    tp = pos.sum(axis=1, keepdims=True) - np.cumsum(pos, axis=1) + pos
    fp = neg.sum(axis=1, keepdims=True) - np.cumsum(neg, axis=1) + neg
    precision = np.divide(tp, tp + fp, out=np.zeros_like(tp), where=(tp + fp) > 0)
    total = pos.sum(axis=1)
    ap = (pos * precision).sum(axis=1)
    return np.divide(ap, total, out=np.full_like(ap, np.nan), where=total > 0)


def _rmse(y: Array, pred: Array, proba: Array | None, w: Array) -> Array:
    return np.sqrt(_mean((y.astype(float) - pred) ** 2, w))


def _mae(y: Array, pred: Array, proba: Array | None, w: Array) -> Array:
    return _mean(np.abs(y.astype(float) - pred), w)


def _mape(y: Array, pred: Array, proba: Array | None, w: Array) -> Array:
    y = y.astype(float)
    return _mean(np.abs(y - pred) / np.maximum(np.abs(y), np.finfo(float).eps), w)


def _r2(y: Array, pred: Array, proba: Array | None, w: Array) -> Array:
    y = y.astype(float)
    total = w.sum(axis=1)
    mean = (w @ y) / total
    ss_tot = w @ (y**2) - total * mean**2
    ss_res = w @ ((y - pred) ** 2)
    return np.divide(ss_res, ss_tot, out=np.full_like(ss_res, np.nan), where=ss_tot > 0) * -1 + 1


_FUNCTIONS: dict[str, _Fn] = {
    "roc_auc": _roc_auc,
    "pr_auc": _pr_auc,
    "log_loss": _log_loss,
    "brier": _brier,
    "f1": _f1,
    "accuracy": _accuracy,
    "rmse": _rmse,
    "mae": _mae,
    "r2": _r2,
    "mape": _mape,
}


def compute(metrics: list[Metric], y: Array, pred: Array, proba: Array | None) -> dict[str, float]:
    """Every metric on one prediction set."""
    return {m.name: m.score(y, pred, proba) for m in metrics}


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
