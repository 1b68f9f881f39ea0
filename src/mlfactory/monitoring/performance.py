"""Performance decay: once labels arrive, score the model on them and compare with its test.

Labels are joined to the current rows by the id column. The model's primary
metric on those rows gets a bootstrap 95% interval; the model has decayed when
even the favourable end of that interval is worse than the test-set value it
was registered with (the comparison a person would make, with the noise of a
small labelled sample taken into account).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from mlfactory.errors import DataError
from mlfactory.metrics import METRICS, bootstrap_interval

if TYPE_CHECKING:
    import pandas as pd

    from mlfactory.registry.package import ModelPackage

__all__ = ["PerformanceResult", "check_performance"]

MIN_LABELLED = 20
ROUNDS = 200


@dataclass
class PerformanceResult:
    metric: str
    greater_is_better: bool
    reference: float  # the test-set value at registration
    current: float
    low: float  # bootstrap 95% interval of ``current``
    high: float
    n_labelled: int
    n_unlabelled: int  # current rows with no label (yet)
    decayed: bool

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
    pred, proba = package.predict_encoded(joined)
    value = metric.score(y, pred, proba)
    low, high = bootstrap_interval(metric, y, pred, proba, rounds=ROUNDS, seed=0)
    reference = float(package.manifest["metrics"]["test"][metric_name])
    best_case = high if metric.greater_is_better else low
    return PerformanceResult(
        metric=metric_name,
        greater_is_better=metric.greater_is_better,
        reference=reference,
        current=value,
        low=low,
        high=high,
        n_labelled=len(joined),
        n_unlabelled=len(current) - len(joined),
        decayed=metric.improvement(best_case, reference) < 0,
    )


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
