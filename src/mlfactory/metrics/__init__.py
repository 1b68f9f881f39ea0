"""Evaluation metrics by name, with their direction, and bootstrap intervals.

``METRICS`` is filled by this package's modules, one per kind of target
(``classification.py``, ``regression.py``, ``forecasting.py``, ``anomaly.py``),
each decorating its weighted statistics with ``register_metric`` (``base.py``
says what a metric is). A new metric is a decorated function in a module here,
a new module being named in the import line below (its order is the table's, as
spec messages list it); code outside mlfactory uses ``register_metric`` itself.
``bootstrap.py`` turns any of them into intervals and paired comparisons.
"""

from __future__ import annotations

from mlfactory.metrics.base import (
    METRICS,
    Metric,
    WeightedFunction,
    compute,
    register_metric,
    weighted_mean,
)
from mlfactory.metrics.bootstrap import (
    PairedComparison,
    bootstrap_interval,
    bootstrap_intervals,
    paired_bootstrap,
)

# isort: off
from mlfactory.metrics import classification, regression, forecasting, anomaly  # noqa: F401
# isort: on

__all__ = [
    "METRICS",
    "Metric",
    "PairedComparison",
    "WeightedFunction",
    "bootstrap_interval",
    "bootstrap_intervals",
    "compute",
    "paired_bootstrap",
    "register_metric",
    "weighted_mean",
]
