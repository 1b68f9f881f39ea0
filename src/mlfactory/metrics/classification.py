"""Classification metrics on encoded labels ``0..K-1``, hard predictions and an
``(n, K)`` probability matrix, as weighted statistics (see ``base.py``).

The AUCs group rows by score (ties form one cell) and are exact for integer
weights; multiclass ROC AUC is the one-vs-rest macro average scikit-learn reports.
"""

from __future__ import annotations

import numpy as np

from mlfactory.metrics.base import Array, register_metric, weighted_mean

__all__ = ["accuracy", "brier", "f1", "log_loss", "pr_auc", "roc_auc"]

EPS = float(np.finfo(float).eps)  # what scikit-learn clips probabilities to


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


@register_metric("roc_auc", greater_is_better=True)
def roc_auc(y: Array, pred: Array, proba: Array | None, w: Array) -> Array:
    assert proba is not None
    if proba.shape[1] == 2:
        return _binary_auc(proba[:, 1], y, w)
    # one-vs-rest, macro average (what scikit-learn's multi_class="ovr" reports)
    return np.nanmean([_binary_auc(proba[:, k], (y == k), w) for k in range(proba.shape[1])], 0)


@register_metric("pr_auc", greater_is_better=True, binary_only=True)
def pr_auc(y: Array, pred: Array, proba: Array | None, w: Array) -> Array:
    assert proba is not None
    pos, neg = _grouped(proba[:, 1], y, w)
    # Weights are counts, so these sums are exact: rows scored at or above each score.
    tp = pos.sum(axis=1, keepdims=True) - np.cumsum(pos, axis=1) + pos
    fp = neg.sum(axis=1, keepdims=True) - np.cumsum(neg, axis=1) + neg
    precision = np.divide(tp, tp + fp, out=np.zeros_like(tp), where=(tp + fp) > 0)
    total = pos.sum(axis=1)
    ap = (pos * precision).sum(axis=1)
    return np.divide(ap, total, out=np.full_like(ap, np.nan), where=total > 0)


@register_metric("log_loss", greater_is_better=False)
def log_loss(y: Array, pred: Array, proba: Array | None, w: Array) -> Array:
    assert proba is not None
    p = np.clip(proba[np.arange(len(y)), y], EPS, 1.0)
    return weighted_mean(-np.log(p), w)


@register_metric("brier", greater_is_better=False, binary_only=True)
def brier(y: Array, pred: Array, proba: Array | None, w: Array) -> Array:
    assert proba is not None
    return weighted_mean((proba[:, 1] - y) ** 2, w)


@register_metric("f1", greater_is_better=True)
def f1(y: Array, pred: Array, proba: Array | None, w: Array) -> Array:
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


@register_metric("accuracy", greater_is_better=True)
def accuracy(y: Array, pred: Array, proba: Array | None, w: Array) -> Array:
    return weighted_mean((y == pred).astype(float), w)
