"""Preprocessing built from the input schema.

Two steps: ``expand_datetimes`` (in a saved pipeline, its first step
``transformers.DatetimeParts``) turns each
datetime column into numeric parts (year, month, day, day of week, hour);
``build_preprocessor`` makes the scikit-learn ``ColumnTransformer`` for a
model's input style:

- ``native``: numbers pass through (missing stays NaN), categories become
  ordinal codes that LightGBM and HistGradientBoosting treat as categorical;
  unseen categories become NaN.
- ``onehot``: median imputation with missing indicators, one-hot categories
  (rare and unseen ones share an "infrequent" column).
- ``scaled``: ``onehot`` plus standard scaling, for linear models.

An ordinal column (``ColumnSchema.categories`` holds its order) becomes its
rank, a number, in every style: after the numeric columns, before the
categorical ones, and treated like a number from there on (never as a category).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import pandas as pd

    from mlfactory.data.schema import Schema

__all__ = [
    "MAX_CATEGORIES",
    "Style",
    "build_preprocessor",
    "expand_datetimes",
    "expand_parts",
    "feature_kinds",
    "ordinal_orders",
]

Style = Literal["native", "onehot", "scaled"]
MAX_CATEGORIES = 254  # HistGradientBoosting accepts at most 255 categories incl. missing
MAX_ONEHOT = 50


def expand_datetimes(frame: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """Replace each datetime column by its numeric parts, named ``COLUMN__PART``."""
    dated = [c.name for c in schema.columns if c.kind == "datetime"]
    return expand_parts(frame, dated, schema.datetime_parts)


def expand_parts(frame: pd.DataFrame, columns: Sequence[str], parts: Sequence[str]) -> pd.DataFrame:
    if not columns:
        return frame
    import pandas as pd

    frame = frame.copy()
    for name in columns:
        values = pd.to_datetime(frame.pop(name))
        for part in parts:
            frame[f"{name}__{part}"] = getattr(values.dt, part).astype(float)
    return frame


def feature_kinds(schema: Schema) -> tuple[list[str], list[str]]:
    """Numeric and categorical column names after datetime expansion (ordinal: neither)."""
    numeric: list[str] = []
    categorical: list[str] = []
    for col in schema.columns:
        if col.kind == "numeric":
            numeric.append(col.name)
        elif col.kind == "categorical":
            categorical.append(col.name)
        elif col.kind == "datetime":
            numeric.extend(f"{col.name}__{part}" for part in schema.datetime_parts)
    return numeric, categorical


def ordinal_orders(schema: Schema) -> dict[str, list[str]]:
    """Each ordinal column's order, lowest first (the encoder's categories)."""
    return {c.name: list(c.categories or []) for c in schema.columns if c.kind == "ordinal"}


def build_preprocessor(schema: Schema, style: Style) -> Any:
    """An unfitted ``ColumnTransformer``: numeric, then ordinal, then categorical columns."""
    import numpy as np
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

    numeric, categorical = feature_kinds(schema)
    orders = ordinal_orders(schema)
    ranks = OrdinalEncoder(  # the declared order, so a level training never saw keeps its rank
        categories=list(orders.values()),
        handle_unknown="use_encoded_value",  # conform refuses such values; missing is NaN
        unknown_value=np.nan,
        encoded_missing_value=np.nan,
    )
    steps: list[tuple[str, Any, list[str]]] = []
    if style == "native":
        if numeric:
            steps.append(("num", "passthrough", numeric))
        if orders:
            steps.append(("ord", ranks, list(orders)))
        if categorical:
            # Counting categories for the cap costs a Python loop over every row; the
            # schema already says whether any column has more (it keeps up to 1000).
            capped = any(
                c.categories is None or len(c.categories) > MAX_CATEGORIES
                for c in schema.columns
                if c.kind == "categorical"
            )
            encoder = OrdinalEncoder(
                handle_unknown="use_encoded_value",
                unknown_value=np.nan,
                encoded_missing_value=np.nan,
                max_categories=MAX_CATEGORIES if capped else None,
            )
            steps.append(("cat", encoder, categorical))
    else:
        if numeric:
            num: list[Any] = [SimpleImputer(strategy="median", add_indicator=True)]
            if style == "scaled":
                num.append(StandardScaler())
            steps.append(("num", make_pipeline(*num), numeric))
        if orders:
            rank: list[Any] = [ranks, SimpleImputer(strategy="median", add_indicator=True)]
            if style == "scaled":
                rank.append(StandardScaler())
            steps.append(("ord", make_pipeline(*rank), list(orders)))
        if categorical:
            cat = make_pipeline(
                SimpleImputer(strategy="constant", fill_value="__missing__"),
                OneHotEncoder(
                    handle_unknown="infrequent_if_exist",
                    max_categories=MAX_ONEHOT,
                    sparse_output=False,
                ),
            )
            steps.append(("cat", cat, categorical))
    return ColumnTransformer(steps, remainder="drop", verbose_feature_names_out=False)


def categorical_indices(schema: Schema) -> list[int]:
    """Positions of the categorical columns in the ``native`` preprocessor's output."""
    numeric, categorical = feature_kinds(schema)
    start = len(numeric) + len(ordinal_orders(schema))
    return list(range(start, start + len(categorical)))
