"""scikit-learn transformers of mlfactory's own, stored inside saved pipelines.

Importing this module imports scikit-learn; only code that builds or loads a
pipeline does. Each class passes ``sklearn.utils.estimator_checks.check_estimator``
(``tests/test_transformers.py``) and is on the exact allow-list of types a
model file may hold (``registry/trusted_types.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sklearn.base import BaseEstimator, TransformerMixin

from mlfactory.data.schema import Schema
from mlfactory.features import expand_parts

__all__ = ["DATETIME_PARTS", "DatetimeParts", "datetime_step"]

DATETIME_PARTS: tuple[str, ...] = Schema.datetime_parts  # the schema's default parts


class DatetimeParts(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Each datetime column of a frame replaced by its numeric parts (``COLUMN__PART``).

    The first step of every saved pipeline, so the model file is the whole model.
    ``columns`` are the datetime columns (None: those of a datetime dtype at
    ``fit``), ``parts`` the ``Series.dt`` attributes to keep. A frame without such
    columns, or a numeric array, passes through unchanged.
    """

    def __init__(
        self, columns: Sequence[str] | None = None, parts: Sequence[str] = DATETIME_PARTS
    ) -> None:
        self.columns = columns
        self.parts = parts

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # missing values pass through, as the models take them
        return tags

    def fit(self, X: Any, y: Any = None) -> DatetimeParts:
        import pandas as pd
        from sklearn.utils.validation import validate_data

        if isinstance(X, pd.DataFrame):
            validate_data(self, X, skip_check_array=True)
            found = [c for c in X.columns if pd.api.types.is_datetime64_any_dtype(X[c])]
            columns = list(found if self.columns is None else self.columns)
            missing = [c for c in columns if c not in X.columns]
            if missing:
                raise ValueError(f"datetime column(s) {missing} are not in the frame")
            self.columns_ = columns
        else:
            validate_data(self, X, ensure_all_finite=False)
            self.columns_ = []
        return self

    def transform(self, X: Any) -> Any:
        import pandas as pd
        from sklearn.utils.validation import check_is_fitted, validate_data

        check_is_fitted(self)
        if isinstance(X, pd.DataFrame):
            fitted = getattr(self, "feature_names_in_", None)
            if fitted is not None and set(X.columns) == set(fitted):
                X = X[list(fitted)]  # the same columns in another order: as ColumnTransformer
            validate_data(self, X, reset=False, skip_check_array=True)
            return expand_parts(X, self.columns_, self.parts)
        return validate_data(self, X, reset=False, ensure_all_finite=False)

    def get_feature_names_out(self, input_features: Any = None) -> Any:
        import numpy as np
        from sklearn.utils.validation import _check_feature_names_in, check_is_fitted

        check_is_fitted(self)
        names = list(_check_feature_names_in(self, input_features))
        kept = [n for n in names if n not in self.columns_]
        parts = [f"{c}__{p}" for c in self.columns_ for p in self.parts]
        return np.asarray(kept + parts, dtype=object)


def datetime_step(schema: Schema) -> DatetimeParts:
    """The pipeline's first step for ``schema``: its datetime columns expanded into parts."""
    dated = [c.name for c in schema.columns if c.kind == "datetime"]
    return DatetimeParts(columns=dated, parts=list(schema.datetime_parts))
