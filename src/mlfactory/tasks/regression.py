"""Regression: a numeric target; the answer is one number per row.

The target must be numeric (not boolean) and finite. Monitoring follows the
predicted value itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np

from mlfactory.errors import DataError
from mlfactory.tasks.base import (
    HEIGHT,
    WIDTH,
    Diagnostic,
    OutputColumn,
    Target,
    TargetOptions,
    Task,
)

if TYPE_CHECKING:
    import pandas as pd

    from mlfactory.charts import Chart
    from mlfactory.metrics import Metric

__all__ = ["Regression"]

Array = Any
MAX_POINTS = 5000  # scatter plots draw a seeded sample of this many test rows


class Regression(Task):
    name: ClassVar[str] = "regression"
    estimator: ClassVar[str] = "regressor"
    metric_names: ClassVar[tuple[str, ...]] = ("rmse", "mae", "r2", "mape")
    default_metric: ClassVar[str] = "rmse"

    def prepare_target(
        self, values: pd.Series, column: str, options: TargetOptions
    ) -> tuple[Target | None, list[str]]:
        import pandas as pd

        dtype = values.dtype
        if not pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype):
            return None, [
                f"target {column!r} must be numeric for regression; got dtype {dtype} "
                "(is task: classification meant?)"
            ]
        if options.positive_class is not None:
            return None, [f"data.positive_class applies to classification, not to {self.name}"]
        y = values.to_numpy(dtype=float)
        if np.isinf(y).any():
            return None, [f"target {column!r} has inf values; filter them out"]
        known = y[~np.isnan(y)]
        if len(known) > 1 and np.ptp(known) == 0:
            return None, [
                f"target {column!r} is {known[0]:g} in every row: there is nothing to predict "
                "(check data.source and data.sql)"
            ]
        return Target(y), []

    def undefined(
        self, metric: Metric, y: Array, classes: list[Any] | None, target: str
    ) -> str | None:
        if metric.name == "r2" and np.ptp(y) == 0:
            return (
                f"the {len(y):,} labelled rows all have {target} = {y[0]:g}; "
                "r2 needs labels that vary"
            )
        if metric.name == "mape" and (zeros := int((np.asarray(y) == 0).sum())):
            return (
                f"{zeros:,} of the {len(y):,} labelled rows have {target} = 0; mape divides "
                "by the target (choose mae or rmse)"
            )
        return None

    def decode(
        self, raw: Array, present: Array | None, n_classes: int | None
    ) -> tuple[Array, Array | None]:
        return np.asarray(raw, dtype=float), None

    def raw_output(self, estimator: Any) -> Callable[[Any], Array]:
        return estimator.predict  # type: ignore[no-any-return]

    def raw_score(
        self, classes: list[Any] | None, present: Array | None, outputs: int
    ) -> tuple[str, list[str] | None]:
        return "the predicted value", None

    def output_columns(self, classes: list[Any] | None) -> list[OutputColumn]:
        return [OutputColumn("prediction", "prediction", np.dtype(float))]

    def outputs(
        self, pred: Array, proba: Array | None, classes: list[Any] | None
    ) -> dict[str, Array]:
        return {"prediction": np.asarray(pred)}

    def prediction_values(
        self, pred: Array, proba: Array | None, classes: list[Any] | None
    ) -> tuple[Array, Literal["numeric", "categorical"]]:
        return np.asarray(pred, dtype=float), "numeric"

    def encode_labels(self, labels: pd.Series, classes: list[Any] | None) -> Array:
        values = np.asarray(labels, dtype=float)
        if not np.isfinite(values).all():
            raise DataError("the labels have inf values; remove them")
        return values

    def diagnostics(
        self,
        y: Array,
        pred: Array,
        proba: Array | None,
        classes: list[Any] | None,
        metrics: dict[str, float],
        threshold: float | None = None,
        rows: pd.DataFrame | None = None,
    ) -> list[Diagnostic]:
        y = np.asarray(y, dtype=float)
        pred = np.asarray(pred, dtype=float)
        keep = np.arange(len(y))
        sampled = "All test rows."
        if len(y) > MAX_POINTS:
            keep = np.sort(np.random.default_rng(0).choice(len(y), MAX_POINTS, replace=False))
            sampled = f"A random {MAX_POINTS:,} of {len(y):,} test rows."
        residual = y - pred
        spread = (
            f" Residual mean {_number(residual.mean())}, standard deviation "
            f"{_number(residual.std())}; the histogram counts all test rows."
        )
        return [
            ("Predicted vs actual", sampled, lambda: _scatter(y[keep], pred[keep])),
            ("Residuals", sampled + spread, lambda: _residuals(pred, residual, keep)),
        ]


def _number(value: float) -> str:
    v = float(value)
    if v != 0 and (abs(v) >= 1e6 or abs(v) < 1e-3):
        return f"{v:.3e}"
    return f"{v:,.2f}" if abs(v) >= 100 else f"{v:.4f}"


def _scatter(y: Array, pred: Array) -> Chart:
    from mlfactory.charts import BLUE, GUIDE, Chart, Panel

    chart = Chart(width=WIDTH, height=HEIGHT)
    ax = chart.add(Panel(xlabel="actual", ylabel="predicted", legend="upper left"))
    ax.scatter(y, pred, radius=1.8, alpha=0.4, color=BLUE)
    lo, hi = float(min(y.min(), pred.min())), float(max(y.max(), pred.max()))
    ax.line([lo, hi], [lo, hi], dash=True, width=1, color=GUIDE, label="perfect prediction")
    return chart


def _residuals(pred: Array, residual: Array, keep: Array) -> Chart:
    """Residual against prediction (sampled rows) beside the residual histogram (all rows)."""
    from mlfactory.charts import BLUE, GREY, Chart, Panel

    chart = Chart(width=WIDTH, height=HEIGHT, columns=(3, 1), sharey=True)
    left = chart.add(Panel(xlabel="predicted", ylabel="residual (actual − predicted)"))
    left.scatter(pred[keep], residual[keep], radius=1.8, alpha=0.4, color=BLUE)
    right = chart.add(Panel(xlabel="rows"))
    counts, edges = np.histogram(residual, bins=40)
    right.histogram(edges, counts, horizontal=True, color=GREY)
    for ax in (left, right):
        ax.hline(0)
    return chart
