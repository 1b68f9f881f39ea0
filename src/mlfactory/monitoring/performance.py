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
from mlfactory.metrics import METRICS, bootstrap_interval
from mlfactory.scoring import Scorer

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
    n_refused: int = 0  # labelled rows left out: the model's input checks refuse them

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
    if target is None:
        raise DataError(
            f"{package.manifest.name} was trained without labels (no data.label_column), so "
            "there is no metric to check labels against; monitor its data and flag rate"
        )
    problems = [
        f"the {what} have no id column {id_column!r}; give --id-column or add it"
        for what, frame in (("current rows", current), ("labels", labels))
        if id_column not in frame.columns
    ]
    if target not in labels.columns:
        problems.append(f"the labels have no target column {target!r}")
    if problems:
        raise DataError.from_problems("cannot join labels", problems)
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
    metric_name = package.manifest.metric
    metric = METRICS[metric_name]
    y = package.task.encode_labels(joined[label_column], package.classes)
    result = PerformanceResult(
        metric=metric_name,
        greater_is_better=metric.greater_is_better,
        reference=float(package.manifest.metrics.test[metric_name]),
        current=None,
        low=None,
        high=None,
        n_labelled=len(joined),
        n_unlabelled=len(current) - len(joined),
        decayed=False,
    )
    scorer = Scorer.of(package, fast=False)
    validated = scorer.validate(joined, skip_invalid=True)  # the rows the server would refuse
    if validated.kept is not None:
        y = y[validated.kept]
        result.n_labelled, result.n_refused = len(y), len(joined) - len(y)
        if len(y) < MIN_LABELLED:
            raise DataError(
                f"only {len(y)} labelled row(s) pass the model's input checks ("
                + "; ".join(validated.problems)
                + f"); a performance check needs at least {MIN_LABELLED}"
            )
    result.not_checked = package.task.undefined(metric, y, package.classes, target)
    if result.not_checked is not None:
        return result
    pred, proba = scorer.predict(validated.frame)
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
