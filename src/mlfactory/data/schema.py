"""Input schema: inferred at first training, stored in the model package, checked on use.

``prepare_training`` validates a training frame, given which columns play which
part (``ColumnRoles``), and reports every problem at once. ``Schema.conform``
checks rows sent for prediction against what the model was trained on and
returns a frame the pipeline accepts.

An ordinal column (``data.ordinal``, or a pandas ordered ``Categorical``) keeps its
order in ``ColumnSchema.categories``, lowest first; its values are compared as
text (``ordinal_text``), any value outside the order is refused, and the
pipeline's preprocessor encodes each value as its rank.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from mlfactory.data.periods import period_starts
from mlfactory.errors import DataError, did_you_mean
from mlfactory.tasks import Target, TargetOptions, Task

if TYPE_CHECKING:
    import pandas as pd


__all__ = [
    "ID_NAME",
    "ColumnRoles",
    "ColumnSchema",
    "Schema",
    "TrainingData",
    "ordinal_text",
    "ordinal_texts",
    "prepare_training",
    "repeated_identifier",
    "unusable",
]

Kind = Literal["numeric", "categorical", "ordinal", "datetime"]
MAX_STORED_CATEGORIES = 1000
ID_LIKE_MIN_DISTINCT = 1000
ID_LIKE_RATIO = 0.9
# a column name that says identifier: id, row_names, customer_id, user-key, subjectId
ID_NAME = re.compile(
    r"^(id|key|uuid|index|row_?names?|row_?(id|number))$|[_\s.-](id|key|uuid)$|^(id|key)[_\s.-]"
    r"|[a-z]Id$"
)
REPEATED_IDS = 50  # an identifier of fewer values names a category (a store), not entities
BOOLEAN_DTYPES = frozenset({"bool", "boolean"})  # numeric columns that take true/false


@dataclass(frozen=True)
class ColumnSchema:
    name: str
    kind: Kind
    dtype: str
    missing_rate: float
    min: float | None = None
    max: float | None = None
    # categorical: most frequent first, at most MAX_STORED_CATEGORIES; ordinal: the order,
    # lowest first (a value's rank is its position)
    categories: list[str] | None = None

    @property
    def allows_missing(self) -> bool:
        return self.missing_rate > 0

    def outside_order(self, texts: pd.Series) -> pd.Series:
        """Which of an ordinal column's values (``ordinal_texts``) its order does not hold."""
        return texts.notna() & ~texts.isin(self.categories or [])


@dataclass(frozen=True)
class Schema:
    """What a model consumes (``columns``) and produces (``target``, ``classes``)."""

    columns: list[ColumnSchema]
    target: str | None  # None: an anomaly model trained without labels
    task: str
    classes: list[Any] | None = None  # classification labels, index = encoded value
    datetime_parts: tuple[str, ...] = ("year", "month", "day", "dayofweek", "hour")

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> ColumnSchema:
        return next(c for c in self.columns if c.name == name)

    def conform(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Rows for prediction, checked and cast to the training dtypes.

        Missing columns and values that cannot be cast are errors (all listed);
        extra columns are ignored; unknown categories are passed on (the
        pipeline encodes them as it did unseen values in training). A numeric
        column takes numbers only: text (even ``"1400"``) is an error, and so
        are booleans unless the column was boolean in training. An ordinal
        column takes the values of its order only, compared as text
        (``ordinal_text``: ``1``, ``1.0`` and ``"1"`` are one value), and yields
        them as that text.
        """
        import numpy as np
        import pandas as pd

        problems: list[str] = []
        missing = [c for c in self.names if c not in frame.columns]
        for name in missing:
            problems.append(f"column {name!r} is missing{did_you_mean(name, list(frame.columns))}")
        out: dict[str, Any] = {}
        for col in self.columns:
            if col.name in missing:
                continue
            values = frame[col.name]
            if col.kind == "numeric":
                converted, problem = _numbers(col, values)
                if problem:
                    problems.append(problem)
                    continue
                out[col.name] = converted
            elif col.kind == "datetime":
                if pd.api.types.is_numeric_dtype(values) and values.notna().any():
                    # pandas reads a number as nanoseconds since 1970: epoch seconds or
                    # milliseconds would become a day of 1970, silently
                    problems.append(
                        f"column {col.name!r} must be a date/time; got "
                        f"{values[values.notna()].iloc[0].item()!r}, a number: send dates as "
                        "text (e.g. '2024-01-31' or '2024-01-31T08:00:00')"
                    )
                    continue
                converted = pd.to_datetime(values, errors="coerce")
                bad = converted.isna() & values.notna()
                if bad.any():  # a quarter or ISO week, as a forecast's time column may be
                    periods = period_starts(values.to_numpy(), bad.to_numpy())
                    found = periods.dt.tz_localize(None).set_axis(values.index)
                    converted = converted.fillna(found)
                    bad = converted.isna() & values.notna()
                if bad.any():
                    problems.append(
                        f"column {col.name!r} must be a date/time; got {values[bad].iloc[0]!r}"
                    )
                    continue
                out[col.name] = converted
            elif col.kind == "ordinal":
                texts = ordinal_texts(values)
                outside = col.outside_order(texts)
                if outside.any():
                    problems.append(_outside_problem(col, texts[outside]))
                    continue
                out[col.name] = texts
            else:
                out[col.name] = values.astype(str).where(values.notna(), np.nan).astype(object)
        if problems:
            raise DataError.from_problems("input does not match the model's schema", problems)
        return pd.DataFrame(out, index=frame.index)

    def outside_order(self, frame: pd.DataFrame) -> tuple[Any, list[str]]:
        """Rows with a value outside an ordinal column's order, and one problem per column.

        ``conform`` refuses such rows; a caller that skips bad rows drops these first.
        """
        import numpy as np

        rows, problems = np.zeros(len(frame), dtype=bool), []
        for col in self.columns:
            if col.kind != "ordinal" or col.name not in frame.columns:
                continue
            texts = ordinal_texts(frame[col.name])
            outside = col.outside_order(texts)
            if outside.any():
                rows |= outside.to_numpy()
                problems.append(_outside_problem(col, texts[outside]))
        return rows, problems


def _outside_problem(col: ColumnSchema, outside: pd.Series) -> str:
    return (
        f"column {col.name!r} has value(s) outside its order: {_counted(outside)}; "
        f"allowed, lowest first: {_listed(col.categories or [])}"
    )


def ordinal_text(value: Any) -> str:
    """A value of an ordinal column as its order compares it: text, a whole float as an int.

    ``1`` (YAML, JSON), ``1.0`` (a CSV column of integers with a missing cell) and
    ``"1"`` (a client that quotes) are the one value ``"1"``.
    """
    if hasattr(value, "item"):  # numpy and pandas scalars
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def ordinal_texts(values: pd.Series) -> pd.Series:
    """``ordinal_text`` of each value (missing ones stay NaN), one call per distinct value."""
    import numpy as np
    import pandas as pd

    codes, uniques = pd.factorize(values)
    texts = np.array([*(ordinal_text(u) for u in uniques), np.nan], dtype=object)
    return pd.Series(texts[codes], index=values.index, dtype=object)  # code -1 (missing): NaN


def _counted(values: pd.Series, shown: int = 5) -> str:
    counts = values.value_counts()
    out = ", ".join(f"{v!r} ({n:,} row{'s' * (n > 1)})" for v, n in counts.iloc[:shown].items())
    return out + (f" and {len(counts) - shown} more" if len(counts) > shown else "")


def _listed(order: Sequence[str]) -> str:
    return ", ".join(map(repr, order))


def _numbers(col: ColumnSchema, values: pd.Series) -> tuple[pd.Series, str | None]:
    """A numeric column's values as floats, or the problem with them.

    A column of a numeric dtype (JSON numbers, CSV cells pandas parsed) is cast
    as it is; only other dtypes are looked at value by value. Text is refused
    even when it reads as a number: a client that quotes its numbers has a bug
    that coercing would hide. ``true``/``false`` count as 1/0 only for a column
    that was boolean in training.
    """
    import numpy as np
    import pandas as pd

    booleans_allowed = col.dtype in BOOLEAN_DTYPES
    dtype = values.dtype
    if pd.api.types.is_bool_dtype(dtype):
        if not booleans_allowed and values.notna().any():
            example, count = values[values.notna()].iloc[0], int(values.notna().sum())
            return values, _not_a_number(col, example, count)
        converted = values.astype(float)
    elif pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_complex_dtype(dtype):
        converted = values.astype(float)
    else:
        items = values.to_numpy(dtype=object)
        text = np.fromiter((isinstance(v, str | bytes) for v in items), bool, len(items))
        flags = np.fromiter((isinstance(v, bool | np.bool_) for v in items), bool, len(items))
        wrong = text | flags if not booleans_allowed else text
        if wrong.any():
            # Named first: text that is no number (in a CSV file one such cell makes pandas
            # read the whole column as text), then numbers sent as text, then true/false.
            readable = np.zeros(len(items), bool)
            readable[text] = pd.to_numeric(pd.Series(items[text]), errors="coerce").notna()
            shown = next(m for m in (text & ~readable, text, wrong) if m.any())
            return values, _not_a_number(col, items[shown][0], int(shown.sum()))
        if flags.any():  # a boolean column's true/false among numbers or nulls
            cast = [float(v) if flag else v for v, flag in zip(items, flags, strict=True)]
            values = pd.Series(cast, index=values.index, dtype=object)
        converted = pd.to_numeric(values, errors="coerce")
        bad = converted.isna() & values.notna()
        if bad.any():
            example = values[bad].iloc[0]
            return values, (
                f"column {col.name!r} must be numeric; got {example!r} in {int(bad.sum())} row(s)"
            )
        converted = converted.astype(float)
    if np.isinf(converted.to_numpy()).any():
        return values, f"column {col.name!r} has inf values; send finite numbers"
    return converted, None


def _not_a_number(col: ColumnSchema, example: Any, count: int) -> str:
    if hasattr(example, "item"):  # numpy's True_ reads True
        example = example.item()
    what = "text" if isinstance(example, str | bytes) else "true/false"
    return f"column {col.name!r} must be numeric; got {example!r} ({what}) in {count} row(s)"


@dataclass(frozen=True)
class ColumnRoles:
    """Which columns of a training frame are the target, features, time and id.

    The fields are ``factory.yaml``'s ``data`` keys of the same names, and problems
    name them that way (``data.time_column``); ``DataSpec.columns`` makes one.
    """

    target: str | None  # None: a task that learns from features alone (anomaly, unlabelled)
    features: tuple[str, ...] | None = None  # None: every column not named below
    exclude: tuple[str, ...] = ()
    time_column: str | None = None
    id_column: str | None = None
    positive_class: Any = None  # a binary target's positive class; None: chosen
    max_classes: int = 100  # a classifier over more classes needs this raised
    # column -> its values, lowest first (compared as ordinal_text); an ordered pandas
    # Categorical needs no entry
    ordinal: Mapping[str, Sequence[Any]] = field(default_factory=dict)
    group_by: tuple[str, ...] = ()  # features whose values name a row's group (a family)
    group_column: str | None = None  # split.group_column: rows of one value share a part


@dataclass
class TrainingData:
    """A validated frame ready to split: features ``X``, target ``y`` and bookkeeping."""

    X: pd.DataFrame
    y: Any  # numpy array: encoded labels or floats
    schema: Schema
    time: Any | None = None  # datetime64 array when the spec has a time_column
    rows_read: int = 0
    dropped_missing_target: int = 0
    notes: list[str] = field(default_factory=list)  # what was chosen for the user, in words
    metric: str | None = None  # the primary metric the target calls for (None: the task's)
    positions: Any | None = None  # each row's position in the frame as read
    ids: Any | None = None  # each row's data.id_column value, when there is one
    groups: Any | None = None  # each row's split.group_column value, when there is one


def repeated_identifier(name: str, values: pd.Series) -> int | None:
    """How many entities a column names, when it is named like an identifier and its
    ``REPEATED_IDS`` or more whole numbers or texts repeat over the rows (a patient's
    tests, a customer's orders); else None. A random split would put one entity's rows
    in training and test both."""
    import pandas as pd

    if not ID_NAME.search(name) or pd.api.types.is_bool_dtype(values):
        return None
    values = values.dropna()
    if pd.api.types.is_float_dtype(values):
        if not bool((values == values.round()).all()):
            return None  # a measurement, whatever its name
    elif not (
        pd.api.types.is_integer_dtype(values)
        or pd.api.types.is_object_dtype(values)
        or pd.api.types.is_string_dtype(values)
        or isinstance(values.dtype, pd.CategoricalDtype)
    ):
        return None
    distinct = int(values.nunique())
    return distinct if REPEATED_IDS <= distinct < len(values) else None


def unusable(series: pd.Series, *, ordinal: bool = False) -> tuple[str, str] | None:
    """Why ``series`` cannot be a feature whatever else the spec says (what is wrong, to
    follow the column's name, and the fix), or None. ``mlfactory init`` leaves such
    columns out, so the spec it writes validates."""
    import numpy as np

    kind = "ordinal" if ordinal else _kind(series)
    if kind is None:
        return f"has unsupported dtype {series.dtype}", "exclude it"
    if series.isna().all():
        return "is empty (all values missing)", "exclude it"
    if kind == "numeric":
        count = int(np.isinf(series.to_numpy(dtype=float, na_value=np.nan)).sum())
        if count:
            return (
                f"has {count} inf value(s)",
                "replace them (e.g. in data.sql) or exclude the column",
            )
    if kind == "categorical":
        distinct = series.nunique(dropna=True)
        if distinct >= ID_LIKE_MIN_DISTINCT and distinct > ID_LIKE_RATIO * series.notna().sum():
            return (
                f"has {distinct:,} distinct values in {len(series):,} rows: it looks like an "
                "identifier, which cannot generalize",
                "set it as data.id_column or add it to data.exclude",
            )
    return None


def _kind(series: pd.Series) -> Kind | None:
    import pandas as pd

    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype):
        return None if pd.api.types.is_complex_dtype(dtype) else "numeric"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    if isinstance(dtype, pd.CategoricalDtype):
        return "ordinal" if dtype.ordered else "categorical"
    if pd.api.types.is_object_dtype(dtype):
        return "categorical"
    if pd.api.types.is_string_dtype(dtype):
        return "categorical"
    return None


def _column_schema(
    name: str, series: pd.Series, kind: Kind, order: list[str] | None = None
) -> ColumnSchema:
    import numpy as np

    missing = float(series.isna().mean()) if len(series) else 0.0
    if kind == "numeric":
        values = series.to_numpy(dtype=float, na_value=np.nan)
        finite = values[np.isfinite(values)]
        return ColumnSchema(
            name,
            kind,
            str(series.dtype),
            missing,
            min=float(finite.min()) if len(finite) else None,
            max=float(finite.max()) if len(finite) else None,
        )
    if kind == "categorical":
        top = series.astype("object").value_counts().index[:MAX_STORED_CATEGORIES]
        return ColumnSchema(
            name, kind, str(series.dtype), missing, categories=[str(c) for c in top]
        )
    if kind == "ordinal":
        return ColumnSchema(name, kind, str(series.dtype), missing, categories=order)
    return ColumnSchema(name, kind, str(series.dtype), missing)


def _order(
    name: str, series: pd.Series, declared: Sequence[Any] | None
) -> tuple[list[str], str | None]:
    """An ordinal feature's order (declared, else its Categorical's), or why its values
    do not fit it."""
    values = declared if declared is not None else getattr(series.dtype, "categories", [])
    order = [ordinal_text(v) for v in values]
    texts = ordinal_texts(series)
    outside = texts.notna() & ~texts.isin(order)
    if not outside.any():
        return order, None
    return order, (
        f"feature {name!r} has value(s) outside its order in data.ordinal "
        f"({_listed(order)}): {_counted(texts[outside])}; add them to the list in their "
        "place, or fix the data"
    )


def prepare_training(frame: pd.DataFrame, roles: ColumnRoles, task: Task) -> TrainingData:
    """Validate a training frame; raise ``DataError`` listing every problem."""
    import numpy as np
    import pandas as pd

    problems: list[str] = []
    columns = list(frame.columns)
    rows_read = len(frame)
    if rows_read == 0:
        raise DataError("the data has 0 rows; check data.source and data.sql.")

    named = {"target": roles.target, "time_column": roles.time_column, "id_column": roles.id_column}
    for key, name in named.items():
        if name is not None and name not in columns:
            problems.append(f"data.{key} {name!r} is not a column{did_you_mean(name, columns)}")
    for name in roles.exclude:
        if name not in columns:
            problems.append(f"data.exclude {name!r} is not a column{did_you_mean(name, columns)}")
    if (group := roles.group_column) is not None:
        if group not in columns:
            problems.append(
                f"split.group_column {group!r} is not a column{did_you_mean(group, columns)}"
            )
        elif missing := int(frame[group].isna().sum()):
            problems.append(
                f"split.group_column {group!r} is missing in {missing:,} row(s), which then "
                "belong to no group; fill them in data.sql (e.g. COALESCE) or filter them out"
            )
    reserved = {roles.target, roles.time_column, roles.id_column, group, *roles.exclude}
    if roles.features is not None:
        for name in roles.features:
            if name not in columns:
                problems.append(f"feature {name!r} is not a column{did_you_mean(name, columns)}")
            elif name in reserved:
                problems.append(
                    f"feature {name!r} is also the target, time, id, split group or excluded column"
                )
        features = [f for f in roles.features if f in columns and f not in reserved]
    else:
        features = [c for c in columns if c not in reserved]
    if roles.target is None and task.needs_target:
        problems.append(f"task {task.name} needs data.target, the column to predict")
    if not features and (roles.target is None or roles.target in columns):
        problems.append("no feature columns are left; list some in data.features")
    for name in roles.ordinal:
        role = next((key for key, value in named.items() if value == name), None)
        if name not in columns:
            problems.append(f"data.ordinal names {name!r}, which is not a column"
                            f"{did_you_mean(name, columns)}")  # fmt: skip
        elif role is not None:
            problems.append(
                f"data.ordinal names {name!r}, which is data.{role}; it declares the order "
                "of a feature's values"
            )
        elif name not in features:
            problems.append(
                f"data.ordinal names {name!r}, which is not a feature (data.exclude or "
                "data.features leaves it out); remove it from data.ordinal"
            )

    for name in roles.group_by:
        if name not in columns:
            problems.append(f"group_by: {name!r} is not a column{did_you_mean(name, columns)}")
        elif name not in features:
            problems.append(
                f"group_by: {name!r} is not a feature (the target, time, id, split group or an "
                "excluded column, or left out of data.features); group by a feature column"
            )

    notes: list[str] = []
    schemas: list[ColumnSchema] = []
    for name in features:
        series = frame[name]
        kind = "ordinal" if name in roles.ordinal else _kind(series)
        refused = unusable(series, ordinal=kind == "ordinal")
        if refused is not None:
            problems.append(f"feature {name!r} {refused[0]}; {refused[1]}")
            continue
        assert kind is not None  # unusable refuses a dtype of no kind
        if kind == "datetime" and name in roles.group_by:
            problems.append(
                f"group_by: {name!r} is a date/time, which would make a group of every "
                "instant; group by a part of it made in data.sql (e.g. EXTRACT(month FROM ...))"
            )
            continue
        order = None
        if kind == "ordinal":
            order, problem = _order(name, series, roles.ordinal.get(name))
            if problem:
                problems.append(problem)
                continue
            if name not in roles.ordinal:
                notes.append(
                    f"feature {name!r} is an ordered Categorical, encoded as its rank "
                    f"({' < '.join(order)}); data.ordinal can declare another order"
                )
        schemas.append(_column_schema(name, series, kind, order))

    y_raw = frame[roles.target] if roles.target in columns else None
    target: Target | None = None
    keep = np.ones(rows_read, dtype=bool)
    if roles.target is None and not task.needs_target:
        target = task.unlabelled(rows_read)
    elif y_raw is not None and not task.needs_target and y_raw.isna().any():
        problems.append(  # labels that only evaluate: dropping their rows would bias the fit
            f"label column {roles.target!r} is missing in {int(y_raw.isna().sum()):,} rows; "
            "label every row (0 or false: not a known anomaly), or leave data.label_column out"
        )
    elif y_raw is not None and roles.target is not None:
        keep = y_raw.notna().to_numpy()
        if not keep.any():
            problems.append(f"target {roles.target!r} is missing in every row")
        else:
            options = TargetOptions(roles.positive_class, roles.max_classes)
            target, target_problems = task.prepare_target(y_raw[keep], roles.target, options)
            problems += target_problems
    if problems:
        raise DataError.from_problems(
            f"the data fails validation ({len(problems)} problem{'s' * (len(problems) > 1)})",
            problems,
        )
    kept = frame.loc[keep].reset_index(drop=True)
    time = None
    if roles.time_column is not None:
        parsed = pd.to_datetime(kept[roles.time_column], errors="coerce", utc=True)
        if parsed.isna().all():
            raise DataError(
                f"data.time_column {roles.time_column!r} holds no readable dates "
                f"(first value: {kept[roles.time_column].iloc[0]!r})"
            )
        if (unread := int(parsed.isna().sum())) > 0:  # such rows have no place in time order
            first = kept[roles.time_column][parsed.isna()].iloc[0]
            raise DataError(
                f"data.time_column {roles.time_column!r} has {unread:,} row(s) with no readable "
                f"date (first value: {first!r}), so they cannot be put in time order; fix them "
                "or filter them out in data.sql"
            )
        time = parsed.dt.tz_localize(None).to_numpy()  # datetime64, UTC
    assert target is not None
    schema = Schema(columns=schemas, target=roles.target, task=task.name, classes=target.classes)
    X = schema.conform(kept)
    return TrainingData(
        X=X,
        y=target.y,
        schema=schema,
        time=time,
        rows_read=rows_read,
        dropped_missing_target=int((~keep).sum()),
        notes=[*target.notes, *notes],
        metric=target.metric,
        positions=np.flatnonzero(keep),
        ids=None if roles.id_column is None else kept[roles.id_column].to_numpy(),
        groups=None if group is None else kept[group].to_numpy(),
    )
