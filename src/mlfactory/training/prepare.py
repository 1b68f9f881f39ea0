"""The first steps of a training: read and validate the data, then encode it per input style.

``prepare`` reads the spec's source, fingerprints the rows, validates them
(every problem at once) and encodes the target through the task. After the
split, ``encode`` fits the datetime step on all rows (it learns nothing but
the columns) and, for each input style the candidates need, a preprocessor on
the training rows only; the encoded train, validation and test matrices are
written once (``matrices.store``) so that trials reach them by reference.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlfactory.data import load_frame, prepare_training
from mlfactory.errors import DataError
from mlfactory.features import Style, build_preprocessor, categorical_indices
from mlfactory.tasks import Task, task_named
from mlfactory.training.matrices import Matrices, MatrixRef, store

if TYPE_CHECKING:
    import pandas as pd

    from mlfactory.data.schema import Schema, TrainingData
    from mlfactory.spec import FactorySpec
    from mlfactory.training.split import Split

__all__ = [
    "Encoded",
    "Prepared",
    "data_fingerprint",
    "encode",
    "numeric_classes_warnings",
    "prepare",
    "split_prepared",
]

# distinct numbers a classifier's target may hold before train asks whether it is an amount
# (a rating of 1 to 10 is classes; miles per gallon or weeks worked, 27 or 53 values, are not)
MANY_NUMERIC_CLASSES = 20


@dataclass(frozen=True)
class Prepared:
    """Validated rows, the task, and the fingerprint of what was read."""

    task: Task
    data: TrainingData
    fingerprint: str
    metric: str = ""  # the primary metric: the spec's, else what the target calls for

    @property
    def schema(self) -> Schema:
        return self.data.schema

    @property
    def n_classes(self) -> int | None:
        classes = self.data.schema.classes
        return len(classes) if classes is not None else None


def numeric_classes_warnings(prepared: Prepared, target: str) -> list[str]:
    """A classifier's target of more than ``MANY_NUMERIC_CLASSES`` distinct numbers: each
    is a class of its own, unordered, which an amount (a regression's target) rarely is."""
    import pandas as pd

    classes = prepared.schema.classes  # a target the task encodes as classes
    if classes is None:
        return []
    numbers = pd.to_numeric(pd.Series(classes, dtype=object), errors="coerce")
    if len(classes) <= MANY_NUMERIC_CLASSES or numbers.isna().any():
        return []
    return [
        f"target {target!r} holds {len(classes)} distinct numbers ({numbers.min():g} to "
        f"{numbers.max():g}), each a class of its own to a classifier, which knows nothing "
        "of their order or distance: if it is an amount, set task: regression"
    ]


@dataclass(frozen=True)
class Encoded:
    """The fitted datetime step, one fitted preprocessor per style, and their matrices."""

    dates: Any  # transformers.DatetimeParts, fitted
    preprocessors: dict[str, Any]  # style -> fitted ColumnTransformer
    matrices: dict[str, MatrixRef]  # style -> train / validation / test matrices
    categorical: list[int]  # positions of the categorical columns (native style)


def data_fingerprint(frame: pd.DataFrame) -> str:
    """SHA-256 over the rows and column names: the same data always gives the same value."""
    import pandas as pd

    sha = hashlib.sha256(",".join(map(str, frame.columns)).encode())
    sha.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return sha.hexdigest()


def prepare(spec: FactorySpec) -> Prepared:
    """Read the spec's data and validate it; ``DataError`` lists every problem."""
    frame = load_frame(spec.data.source, spec.data.sql)
    fingerprint = data_fingerprint(frame)
    task = task_named(spec.task)
    roles = spec.data.columns
    if spec.group_by is not None:
        roles = dataclasses.replace(roles, group_by=tuple(spec.group_by.columns))
    roles = dataclasses.replace(roles, group_column=spec.split.group_column)
    data = prepare_training(frame, roles, task)
    classes = data.schema.classes
    if spec.threshold is not None and (classes is None or len(classes) != 2):
        raise DataError(
            f"threshold: a decision threshold needs a binary target; {spec.data.target!r} has "
            f"{len(classes or [])} classes. Remove threshold, or make the target binary in data.sql"
        )
    metric = spec.search.metric or data.metric or task.default_metric
    return Prepared(task, data, fingerprint, metric)


def split_prepared(spec: FactorySpec, prepared: Prepared) -> Split:
    """The train, validation and test rows the spec's split gives (as training splits);
    ``DataError`` when the validation or test rows cannot score the primary metric (a
    class too rare to reach them), which would otherwise make every trial fail."""
    import numpy as np

    from mlfactory.metrics import METRICS
    from mlfactory.training.split import split_rows

    data, task = prepared.data, prepared.task
    split = split_rows(
        data.y,
        task=task,
        test_size=spec.split.test_size,
        validation_size=spec.split.validation_size,
        seed=spec.search.seed,
        time=data.time,
        groups=data.groups,
    )
    metric, classes = METRICS[prepared.metric], prepared.schema.classes
    target = str(spec.data.target or spec.data.label_column)
    for part, rows in (("validation", split.validation), ("test", split.test)):
        why = task.undefined(metric, np.asarray(data.y)[rows], classes, target)
        if why is None:
            continue
        rarest = ""
        if classes is not None:
            counts = np.bincount(np.asarray(data.y, dtype=np.int64), minlength=len(classes))
            least = int(counts.argmin())
            rarest = (
                f"; {str(classes[least])!r} has {int(counts[least]):,} row(s) in all, and "
                "train, validation and test each need some: add rows of it, or merge it "
                "into another class in data.sql"
            )
            if data.groups is not None:  # a grouped split deals whole groups
                rows_of = np.asarray(data.y) == least
                holding = len(np.unique(np.asarray(data.groups, dtype=str)[rows_of]))
                rarest += (
                    f"; its rows are in {holding:,} group(s) of split.group_column "
                    f"{spec.split.group_column!r}, each kept whole in one part"
                    + (": another search.seed deals the groups differently" if holding > 2 else "")
                )
        raise DataError(
            f"the {part} rows of the {split.method} split cannot score the primary metric, "
            f"{metric.name}: {why}{rarest}"
        )
    return split


def encode(prepared: Prepared, split: Split, styles: set[Style], folder: Path) -> Encoded:
    """Fit the datetime step and one preprocessor per style; store the encoded matrices."""
    from mlfactory.transformers import datetime_step  # scikit-learn

    data, schema = prepared.data, prepared.schema
    dates = datetime_step(schema).fit(data.X)
    X = dates.transform(data.X)
    y = data.y
    preprocessors: dict[str, Any] = {}
    refs: dict[str, MatrixRef] = {}
    for style in sorted(styles):
        pre = build_preprocessor(schema, style)
        matrices = Matrices(
            X_train=pre.fit_transform(X.iloc[split.train]),
            y_train=y[split.train],
            X_val=pre.transform(X.iloc[split.validation]),
            y_val=y[split.validation],
            X_test=pre.transform(X.iloc[split.test]),
            y_test=y[split.test],
        )
        preprocessors[style] = pre
        refs[style] = store(folder / style, matrices)
    return Encoded(dates, preprocessors, refs, categorical_indices(schema))
