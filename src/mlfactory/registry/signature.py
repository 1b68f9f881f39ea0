"""A package's MLflow signature and input example, as ``mlflow.pyfunc.save_model`` takes them.

The input schema comes from the training schema, the output schema from the
task's typed output columns (what the pyfunc returns: ``prediction``, and for a
classifier one ``proba_<class>`` per class). MLflow shows both in its UI and
enforces the inputs on every ``mlflow.pyfunc`` predict (JSON requests to
``mlflow models serve`` are cast to them first). Each column's type is the one
MLflow accepts for the frames users send, which are shaped like the training data:

- numbers: ``long`` for an integer column without missing values in training,
  ``double`` for floats and for integers that held missing values (MLflow's own
  advice: a NaN makes a pandas integer column a float one), ``boolean`` for a
  boolean one;
- categories: ``string``; dates and times: ``datetime``;
- ``Any`` where no MLflow type takes what such data arrives as (pandas
  ``category`` columns, time-zone-aware times, nullable booleans with missing
  values, a column kind MLflow has no type for).

A column that had missing values in training is optional (``required: false``),
as ``mlflow.models.infer_signature`` marks it: it may hold missing values, and a
frame that leaves it out is scored as if it were all missing (``pyfunc``).
Every other column is required. mlfactory's own server keeps its stricter
policy (every column present).

The input example is a few rows of the package's reference sample (training
rows), else one typical row from the profile (medians, most frequent category),
each column cast to its signature type.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    from mlflow.models.signature import ModelSignature
    from mlflow.types.schema import AnyType, DataType

    from mlfactory.data.schema import ColumnSchema
    from mlfactory.registry.package import ModelPackage

__all__ = ["EXAMPLE_ROWS", "input_example", "signature"]

EXAMPLE_ROWS = 5


def signature(package: ModelPackage) -> ModelSignature:
    """The model's input schema (training columns) and output schema (the task's columns)."""
    from mlflow.models.signature import ModelSignature
    from mlflow.types.schema import ColSpec, Schema

    columns = package.schema.columns
    inputs = Schema([ColSpec(_input_type(c), c.name, not c.allows_missing) for c in columns])
    outputs = Schema([ColSpec(_output_type(o.dtype), o.name) for o in package.output_columns])
    return ModelSignature(inputs=inputs, outputs=outputs)


def input_example(package: ModelPackage, model_signature: ModelSignature) -> pd.DataFrame:
    """A few rows the model takes, typed as ``model_signature`` declares its inputs."""
    import numpy as np
    import pandas as pd
    from mlflow.types.schema import DataType

    names = package.schema.names
    if package.reference is not None and not package.reference.empty:
        rows = package.reference[names].head(EXAMPLE_ROWS).reset_index(drop=True)
    else:
        rows = pd.DataFrame([_typical_row(package)], columns=names)
    types = {spec.name: spec.type for spec in model_signature.inputs.inputs}
    out: dict[str, Any] = {}
    for name in names:
        values, kind = rows[name], types[name]
        if kind == DataType.long:
            out[name] = values.astype("int64")
        elif kind == DataType.double:
            out[name] = pd.to_numeric(values).astype("float64")
        elif kind == DataType.boolean:
            out[name] = values.astype(bool)
        elif kind == DataType.string:
            out[name] = values.astype(str).where(values.notna(), np.nan).astype(object)
        elif kind == DataType.datetime:
            out[name] = pd.to_datetime(values)
        else:
            out[name] = values
    return pd.DataFrame(out)


def _input_type(column: ColumnSchema) -> DataType | AnyType:
    import pandas as pd
    from mlflow.types.schema import DataType

    try:
        dtype = pd.api.types.pandas_dtype(column.dtype)
    except TypeError:
        return _any()
    if column.kind == "numeric":
        if pd.api.types.is_bool_dtype(dtype):
            nullable = isinstance(dtype, pd.BooleanDtype)
            return _any() if nullable and column.allows_missing else DataType.boolean
        if pd.api.types.is_integer_dtype(dtype) and not column.allows_missing:
            return DataType.long
        return DataType.double
    if column.kind == "datetime":
        return _any() if isinstance(dtype, pd.DatetimeTZDtype) else DataType.datetime
    if column.kind == "categorical":
        return _any() if isinstance(dtype, pd.CategoricalDtype) else DataType.string
    return _any()


def _any() -> AnyType:
    from mlflow.types.schema import AnyType

    return AnyType()  # type: ignore[no-untyped-call]


def _output_type(dtype: Any) -> DataType:
    import pandas as pd
    from mlflow.types.schema import DataType

    types = pd.api.types
    if types.is_bool_dtype(dtype):
        return DataType.boolean
    if types.is_integer_dtype(dtype):
        return DataType.long
    if types.is_float_dtype(dtype):
        return DataType.double
    return DataType.datetime if types.is_datetime64_any_dtype(dtype) else DataType.string


def _typical_row(package: ModelPackage) -> dict[str, Any]:
    """Training medians and most frequent categories (a package without reference rows)."""
    profile = package.manifest.profile.get("columns", {})
    row: dict[str, Any] = {}
    for col in package.schema.columns:
        stats = profile.get(col.name, {})
        if col.kind == "numeric":
            quantiles = stats.get("quantiles")
            median = quantiles[5] if quantiles else (col.min or 0.0)
            integral = "int" in col.dtype.lower() or "bool" in col.dtype.lower()
            row[col.name] = round(median) if integral else median
        elif col.kind in ("categorical", "ordinal"):  # the most frequent; the lowest level
            row[col.name] = (col.categories or ["?"])[0]
        else:
            row[col.name] = stats.get("min") or "2020-01-01"
    return row
