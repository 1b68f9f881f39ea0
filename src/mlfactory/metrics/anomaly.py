"""Anomaly detection metrics, on flags (``pred``: 1 = flagged) and scores.

An anomaly model's encoded predictions are its flags and a score matrix whose
column 1 is the anomaly score (higher = more anomalous; see tasks/anomaly.py),
so ``pr_auc`` (classification.py) ranks rows by score like any binary model's.
With known anomalies as labels (``y``: 1 = known anomaly):

- ``precision_at_k``: the share of the k flagged rows that are known anomalies;
- ``recall_at_k``: the share of known anomalies among the k flagged rows.

k is the number of rows the model flags at its threshold, so both describe the
flag a user acts on, not an arbitrary cut. Without labels:

- ``flag_rate``: the share of rows flagged;
- ``stability``: how far the flags survive refitting the detector on bootstrap
  resamples of its training rows: the mean over refits of the Jaccard agreement
  of the flagged sets (1: the same rows flagged every time). Rows neither fit
  flags do not count, so a detector cannot look stable by flagging little.
"""

from __future__ import annotations

import numpy as np

from mlfactory.metrics.base import Array, register_metric, weighted_mean

__all__ = ["REFITS", "flag_rate", "precision_at_k", "recall_at_k", "stability"]

REFITS = 4  # bootstrap refits stability compares the model with


def _share(hits: Array, among: Array, w: Array) -> Array:
    """Weighted share of ``hits`` among the rows in ``among`` (nan where there are none)."""
    total = w @ among.astype(float)
    return np.divide(w @ (hits & among).astype(float), total,
                     out=np.full_like(total, np.nan), where=total > 0)  # fmt: skip


@register_metric("precision_at_k", greater_is_better=True, binary_only=True)
def precision_at_k(y: Array, pred: Array, proba: Array | None, w: Array) -> Array:
    return _share(y == 1, pred == 1, w)


@register_metric("recall_at_k", greater_is_better=True, binary_only=True)
def recall_at_k(y: Array, pred: Array, proba: Array | None, w: Array) -> Array:
    return _share(pred == 1, y == 1, w)


@register_metric("flag_rate", greater_is_better=False, baseline=False)
def flag_rate(y: Array, pred: Array, proba: Array | None, w: Array) -> Array:
    return weighted_mean((pred == 1).astype(float), w)


@register_metric("stability", greater_is_better=True, refits=REFITS, baseline=False)
def stability(y: Array, pred: Array, proba: Array | None, w: Array) -> Array:
    if proba is None or proba.shape[1] < 2 + REFITS:
        raise ValueError("stability needs the refits' flags after the scores (Task.with_refits)")
    flags = pred == 1
    agreement = []
    for j in range(2, proba.shape[1]):
        other = proba[:, j] == 1
        both = w @ (flags & other).astype(float)
        either = w @ (flags | other).astype(float)
        agreement.append(np.divide(both, either, out=np.ones_like(both), where=either > 0))
    return np.mean(agreement, axis=0)
