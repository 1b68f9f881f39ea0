"""Forecasting metrics over forecast points, as weighted statistics.

``mase`` takes each point's scale (the series' mean absolute seasonal change)
as its third argument, where classifiers pass probabilities; ``smape`` is in
percent (0 to 200), a point where actual and forecast are both 0 counting 0.
Forecasting reports them per series and averages the series.
"""

from __future__ import annotations

import numpy as np

from mlfactory.metrics.base import Array, register_metric, weighted_mean

__all__ = ["mase", "smape"]


@register_metric("mase", greater_is_better=False)
def mase(y: Array, pred: Array, scale: Array | None, w: Array) -> Array:
    scaled = np.abs(y.astype(float) - pred)
    if scale is not None:
        scaled = scaled / np.asarray(scale, dtype=float)
    return weighted_mean(scaled, w)


@register_metric("smape", greater_is_better=False)
def smape(y: Array, pred: Array, proba: Array | None, w: Array) -> Array:
    y = y.astype(float)
    denominator = np.abs(y) + np.abs(pred)
    error = 200 * np.abs(y - pred)
    ratio = np.divide(error, denominator, out=np.zeros_like(error), where=denominator > 0)
    return weighted_mean(ratio, w)
