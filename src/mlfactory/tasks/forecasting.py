"""Forecasting: many series, each forecast ahead with an interval per level.

A forecasting model answers rows of (id columns, date) with the series'
forecast for that date and an interval per level: ``prediction``, then
``lo_80``, ``hi_80``, ... The model is a ``SeriesForecasts`` (registry), whose
``predict`` gives the mean and the intervals as one matrix; ``decode`` splits
it. The levels play the part a classifier's classes play elsewhere (the
schema's ``classes``), so the output columns follow from them. Training does
not go through the row-wise steps: ``factory.train`` hands a task with
``series`` set to ``training/forecast.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np

from mlfactory.errors import DataError
from mlfactory.tasks.base import Diagnostic, OutputColumn, Target, TargetOptions, Task

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Forecasting"]

Array = Any


class Forecasting(Task):
    name: ClassVar[str] = "forecasting"
    estimator: ClassVar[str] = "forecaster"
    metric_names: ClassVar[tuple[str, ...]] = ("mase", "smape", "mae", "rmse")
    default_metric: ClassVar[str] = "mase"
    series: ClassVar[bool] = True
    default_models: ClassVar[tuple[str, ...]] = (
        "seasonal_naive",
        "seasonal_profile",
        "auto_ets",
        "auto_theta",
        "lightgbm",
    )

    def prepare_target(
        self, values: pd.Series, column: str, options: TargetOptions
    ) -> tuple[Target | None, list[str]]:
        import pandas as pd

        if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            return None, [f"target {column!r} must be numeric to forecast; got {values.dtype}"]
        return Target(values.to_numpy(dtype=float)), []

    def decode(
        self, raw: Array, present: Array | None, n_classes: int | None
    ) -> tuple[Array, Array | None]:
        raw = np.asarray(raw, dtype=float)
        return raw[:, 0], raw[:, 1:]

    def raw_output(self, estimator: Any) -> Callable[[Any], Array]:
        return estimator.predict  # type: ignore[no-any-return]

    def output_columns(self, classes: list[Any] | None) -> list[OutputColumn]:
        columns = [OutputColumn("prediction", "prediction", np.dtype("float64"))]
        for level in classes or []:
            for side in ("lo", "hi"):
                name = f"{side}_{float(level):g}"
                columns.append(OutputColumn(name, "interval", np.dtype("float64"), level))
        return columns

    def outputs(
        self, pred: Array, proba: Array | None, classes: list[Any] | None
    ) -> dict[str, Array]:
        out = {"prediction": np.asarray(pred, dtype=float)}
        names = [c.name for c in self.output_columns(classes)[1:]]
        for i, name in enumerate(names):
            assert proba is not None
            out[name] = np.asarray(proba[:, i], dtype=float)
        return out

    def prediction_values(
        self, pred: Array, proba: Array | None, classes: list[Any] | None
    ) -> tuple[Array, Literal["numeric", "categorical"]]:
        return np.asarray(pred, dtype=float), "numeric"

    def encode_labels(self, labels: pd.Series, classes: list[Any] | None) -> Array:
        import pandas as pd

        values = pd.to_numeric(labels, errors="coerce")
        if values.isna().any():
            bad = labels[values.isna()].iloc[0]
            raise DataError(f"actuals must be numbers; got {bad!r}")
        return values.to_numpy(dtype=float)

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
        return []  # the forecasting report draws series, not rows (training/forecast_report.py)
