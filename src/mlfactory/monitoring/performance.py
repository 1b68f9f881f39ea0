"""Performance decay: once labels arrive, score the model on them and compare with its test.

Labels are joined to the current rows by the id column. The model's primary
metric on those rows gets a bootstrap 95% interval; the model has decayed when
even the favourable end of that interval is worse than the test-set value it
was registered with (the comparison a person would make, with the noise of a
small labelled sample taken into account).

Some metrics say nothing on some labels: an AUC needs both classes, a binary
F1 needs a positive label, R² needs labels that vary. Then the result is not
checked (``not_checked`` says why) and never an alarm.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from mlfactory.errors import DataError
from mlfactory.metrics import METRICS, Metric, bootstrap_interval

if TYPE_CHECKING:
    import pandas as pd

    from mlfactory.registry.package import ModelPackage

__all__ = ["PerformanceResult", "check_performance"]

MIN_LABELLED = 20
ROUNDS = 200


@dataclass
class PerformanceResult:
    """The metric on the labelled rows; ``current``, ``low``, ``high`` are None if not checked."""

    metric: str
    greater_is_better: bool
    reference: float  # the test-set value at registration
    current: float | None
    low: float | None  # bootstrap 95% interval of ``current``
    high: float | None
    n_labelled: int
    n_unlabelled: int  # current rows with no label (yet)
    decayed: bool
    not_checked: str | None = None  # why the metric is undefined on these labels

    @property
    def checked(self) -> bool:
        return self.not_checked is None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_performance(
    package: ModelPackage, current: pd.DataFrame, labels: pd.DataFrame, *, id_column: str
) -> PerformanceResult:
    """The package's metric on ``current`` rows whose ``id_column`` has a row in ``labels``."""
    target = package.schema.target
    problems = [
        f"the {what} have no id column {id_column!r}; give --id-column or add it"
        for what, frame in (("current rows", current), ("labels", labels))
        if id_column not in frame.columns
    ]
    if target not in labels.columns:
        problems.append(f"the labels have no target column {target!r}")
    if problems:
        raise DataError(
            "cannot join labels:\n" + "\n".join(f"  - {p}" for p in problems), problems=problems
        )
    known = labels[[id_column, target]].dropna(subset=[target])
    if known[id_column].duplicated().any():
        raise DataError(
            f"the labels repeat {int(known[id_column].duplicated().sum())} id(s) of "
            f"{id_column!r}; give one label per id"
        )
    joined = current.merge(known, on=id_column, how="inner", suffixes=("", "__label"))
    label_column = f"{target}__label" if target in current.columns else target
    if len(joined) < MIN_LABELLED:
        raise DataError(
            f"{len(joined)} current row(s) have a label (joined on {id_column!r}); a "
            f"performance check needs at least {MIN_LABELLED}"
        )
    metric_name = str(package.manifest["metric"])
    metric = METRICS[metric_name]
    y = _encode(package, joined[label_column])
    result = PerformanceResult(
        metric=metric_name,
        greater_is_better=metric.greater_is_better,
        reference=float(package.manifest["metrics"]["test"][metric_name]),
        current=None,
        low=None,
        high=None,
        n_labelled=len(joined),
        n_unlabelled=len(current) - len(joined),
        decayed=False,
    )
    result.not_checked = _undefined(metric, y, package.classes, target)
    if result.not_checked is not None:
        return result
    pred, proba = package.predict_encoded(joined)
    value = metric.score(y, pred, proba)
    low, high = bootstrap_interval(metric, y, pred, proba, rounds=ROUNDS, seed=0)
    if not np.isfinite([value, low, high]).all():  # a case _undefined does not foresee
        result.not_checked = (
            f"{metric_name} cannot be computed on these {len(y):,} labelled rows "
            f"(it came out as {value}, interval [{low}, {high}])"
        )
        return result
    best_case = high if metric.greater_is_better else low
    result.current, result.low, result.high = value, low, high
    result.decayed = metric.improvement(best_case, result.reference) < 0
    return result


def _undefined(metric: Metric, y: Any, classes: list[Any] | None, target: str) -> str | None:
    """Why ``metric`` says nothing on the labels ``y`` (encoded), or None when it is defined."""
    rows = f"{len(y):,} labelled rows"
    if classes is not None:
        present = np.unique(y)
        if metric.name in ("roc_auc", "pr_auc") and len(present) < 2:
            need = "both classes" if len(classes) == 2 else "at least two classes"
            return f"the {rows} are all {str(classes[present[0]])!r}; {metric.name} needs {need}"
        if metric.name == "f1" and len(classes) == 2 and 1 not in present:
            return (
                f"none of the {rows} is {str(classes[1])!r}; f1 needs some, or it is 0 "
                "whatever the model predicts"
            )
        return None
    if metric.name == "r2" and np.ptp(y) == 0:
        return f"the {rows} all have {target} = {y[0]:g}; r2 needs labels that vary"
    return None


def _encode(package: ModelPackage, labels: pd.Series) -> Any:
    classes = package.classes
    if classes is None:
        values = np.asarray(labels, dtype=float)
        if not np.isfinite(values).all():
            raise DataError("the labels have inf values; remove them")
        return values
    lookup = {str(c): i for i, c in enumerate(classes)}
    lookup.update({str(int(c)): i for i, c in enumerate(classes) if isinstance(c, bool)})
    text = labels.map(_label_text)
    unknown = sorted(set(text) - set(lookup))
    if unknown:
        raise DataError(
            f"the labels hold value(s) the model does not predict: {unknown[:5]}; "
            f"its classes are {[str(c) for c in classes]}"
        )
    return text.map(lookup).to_numpy(dtype=np.int64)


def _label_text(value: Any) -> str:
    """Labels as text; 1.0 read back from a CSV matches the class 1 (or True)."""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
