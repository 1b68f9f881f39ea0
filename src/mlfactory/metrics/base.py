"""A metric, the ``METRICS`` table and ``register_metric``.

A metric is written once, as a weighted statistic: ``function(y, pred, proba, W)``
returns one score per row of the weight matrix ``W`` (rounds x n, one row of
weights per bootstrap resample), so a point estimate is the same code with all
weights 1 and 200 bootstrap resamples cost a few matrix products instead of 200
calls to scikit-learn.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["METRICS", "Array", "Metric", "WeightedFunction", "compute", "register_metric"]

Array = Any  # numpy arrays
WeightedFunction = Callable[[Array, Array, Array | None, Array], Array]


@dataclass(frozen=True)
class Metric:
    """A metric's implementation and direction; which task reports it is the task's choice."""

    name: str
    greater_is_better: bool
    function: WeightedFunction
    binary_only: bool = False
    # how many refits on resampled training rows the metric compares the model with
    # (stability); their decisions follow the model's own in ``proba`` (Task.with_refits)
    refits: int = 0
    baseline: bool = True  # a constant model is a meaningful baseline on this metric

    def score(self, y: Array, pred: Array, proba: Array | None) -> float:
        weights = np.ones((1, len(y)))
        return float(self.function(np.asarray(y), np.asarray(pred), proba, weights)[0])

    def weighted(self, y: Array, pred: Array, proba: Array | None, weights: Array) -> Array:
        """One score per row of ``weights`` (shape rounds x n)."""
        return self.function(np.asarray(y), np.asarray(pred), proba, weights)

    def improvement(self, new: float, old: float) -> float:
        """How much better ``new`` is than ``old`` (positive means better)."""
        return new - old if self.greater_is_better else old - new


METRICS: dict[str, Metric] = {}


def register_metric(
    name: str,
    *,
    greater_is_better: bool,
    binary_only: bool = False,
    refits: int = 0,
    baseline: bool = True,
) -> Callable[[WeightedFunction], WeightedFunction]:
    """Decorate a weighted statistic to add it to ``METRICS`` as ``name``.

    A task reports the metrics it names in ``Task.metric_names``; ``factory.yaml``
    can then use the name in ``search.metric`` and the gates.
    """

    def add(function: WeightedFunction) -> WeightedFunction:
        if name in METRICS:
            raise ValueError(
                f"metric {name!r} is already registered; give the new one another name"
            )
        METRICS[name] = Metric(name, greater_is_better, function, binary_only, refits, baseline)
        return function

    return add


def weighted_mean(values: Array, w: Array) -> Array:
    """The mean of ``values`` (n) under each row of weights ``w`` (rounds x n)."""
    return (w @ values) / w.sum(axis=1)


def compute(metrics: list[Metric], y: Array, pred: Array, proba: Array | None) -> dict[str, float]:
    """Every metric on one prediction set."""
    return {m.name: m.score(y, pred, proba) for m in metrics}
