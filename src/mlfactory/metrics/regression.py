"""Regression metrics on float targets and predictions, as weighted statistics."""

from __future__ import annotations

import numpy as np

from mlfactory.metrics.base import Array, register_metric, weighted_mean

__all__ = ["mae", "mape", "r2", "rmse"]


@register_metric("rmse", greater_is_better=False)
def rmse(y: Array, pred: Array, proba: Array | None, w: Array) -> Array:
    return np.sqrt(weighted_mean((y.astype(float) - pred) ** 2, w))


@register_metric("mae", greater_is_better=False)
def mae(y: Array, pred: Array, proba: Array | None, w: Array) -> Array:
    return weighted_mean(np.abs(y.astype(float) - pred), w)


@register_metric("r2", greater_is_better=True)
def r2(y: Array, pred: Array, proba: Array | None, w: Array) -> Array:
    """1 - SSE / SST per weighting. Both sums are taken on y and pred shifted by y's mean:
    sum(w y^2) - n mean^2 on targets near 1e12 cancelled to noise (a dummy's r2 read 1.0)."""
    y = y.astype(float)
    shift = float(np.mean(y)) if len(y) else 0.0
    y, pred = y - shift, np.asarray(pred, dtype=float) - shift
    total = w.sum(axis=1)
    mean = (w @ y) / total
    ss_tot = w @ (y**2) - total * mean**2
    ss_res = w @ ((y - pred) ** 2)
    return np.divide(ss_res, ss_tot, out=np.full_like(ss_res, np.nan), where=ss_tot > 0) * -1 + 1


@register_metric("mape", greater_is_better=False)
def mape(y: Array, pred: Array, proba: Array | None, w: Array) -> Array:
    """Undefined (nan) when a target is 0: scikit-learn divides by its float epsilon there,
    which turns one zero into a mape of ~1e15 (AER's Affairs: most targets are 0)."""
    y = y.astype(float)
    if (y == 0).any():
        return np.full(w.shape[0], np.nan)
    return weighted_mean(np.abs(y - pred) / np.abs(y), w)
