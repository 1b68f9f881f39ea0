"""Fast prediction for ``native`` pipelines: encode straight to numpy, then call the model.

For a few rows the fitted ``ColumnTransformer`` is most of the cost of
``ModelPackage.predict_conformed``. ``compile_predictor`` reads it once into a
plan (numeric columns, datetime parts, a ``{category: code}`` dict per
categorical or ordinal column, taken from the ``OrdinalEncoder``'s own
``transform`` so grouped infrequent categories get sklearn's code and an
ordinal value its rank; unknown and missing are NaN)
and builds the same float64 matrix with numpy. LightGBM gets it through its
``Booster`` with the arguments ``LGBMModel.predict`` passes; other estimators get
it as is. Anything else (``onehot``/``scaled`` styles, other shapes), or a plan
that disagrees with the pipeline on a probe frame, compiles to None.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    import pandas as pd

    from mlfactory.data.schema import Schema
    from mlfactory.registry.package import ModelPackage

__all__ = ["FastPredictor", "compile_predictor"]

Matrix = npt.NDArray[np.float64]
Head = Callable[[Matrix], tuple[Any, Any | None]]
Numeric = tuple[tuple[str, int], ...]  # (column, matrix position)
Dated = tuple[tuple[str, tuple[tuple[str, int], ...]], ...]  # (column, ((part, position), ...))
Categorical = tuple[tuple[str, Mapping[Any, float], int], ...]  # (column, codes, position)
_NUMPY_PARTS = frozenset({"year", "month", "day", "dayofweek", "hour"})
_TICKS_PER_DAY = {(u, 1): 86_400 * 10**e for u, e in (("s", 0), ("ms", 3), ("us", 6), ("ns", 9))}
_NAN = math.nan
log = logging.getLogger("mlfactory.scoring")


@dataclass(frozen=True)
class FastPredictor:
    """``predict_conformed`` of one package, without pandas or the ``ColumnTransformer``.

    Thread-safe and immutable. Compile it after the estimator's final ``n_jobs``
    is set: LightGBM's thread count is read at compile time.
    """

    numeric: Numeric
    dated: Dated
    categorical: Categorical
    width: int
    head: Head

    def predict_conformed(self, conformed: pd.DataFrame) -> tuple[Any, Any | None]:
        """Same answer as ``package.predict_conformed(conformed)``."""
        return self.head(self.matrix(conformed, len(conformed)))

    def predict_columns(
        self, columns: Mapping[str, Sequence[Any] | npt.NDArray[Any]]
    ) -> tuple[Any, Any | None]:
        """Like ``predict_conformed`` for ``{column: values}`` holding conformed values.

        Values must be what ``Schema.conform`` yields: floats for numeric columns,
        ``str`` or None/NaN for categorical and ordinal ones, ``datetime64`` for datetime ones
        (anything else there goes through ``pandas.to_datetime``). Nothing is
        validated here.
        """
        first = (self.numeric or self.dated or self.categorical)[0][0]
        return self.head(self.matrix(columns, len(columns[first])))

    def matrix(self, source: Any, rows: int) -> Matrix:
        """The float64 matrix the pipeline's ``ColumnTransformer`` would produce."""
        X = np.empty((rows, self.width))
        for name, j in self.numeric:
            X[:, j] = np.asarray(source[name], dtype=np.float64)
        for name, parts in self.dated:
            _datetime_parts(source[name], parts, X)
        for name, codes, j in self.categorical:
            get = codes.get
            X[:, j] = [get(v, _NAN) for v in source[name]]
        return X


def compile_predictor(package: ModelPackage, *, verify: bool = True) -> FastPredictor | None:
    """A ``FastPredictor`` for a ``native`` pipeline, or None when it cannot match exactly.

    ``verify`` compares both paths on a probe frame built from the schema
    (known, unseen and missing values) and returns None on any difference. It
    never raises: compiling is an optimisation, the pipeline always works.
    """
    try:
        return _compile(package, verify=verify)
    except Exception as exc:  # an unforeseen pipeline shape: log it, keep the pipeline
        log.warning("no fast path for %s: %r", package.manifest.name, exc)
        return None


def _compile(package: ModelPackage, *, verify: bool) -> FastPredictor | None:
    from mlfactory.transformers import DatetimeParts

    steps = getattr(package.pipeline, "steps", None)
    if not isinstance(steps, list) or len(steps) != 3:
        return None
    (_, dates), (_, pre), (_, estimator) = steps
    schema = package.schema
    expected = [c.name for c in schema.columns if c.kind == "datetime"]
    if not isinstance(dates, DatetimeParts) or dates.columns_ != expected:
        return None
    if tuple(dates.parts) != tuple(schema.datetime_parts):
        return None
    plan = _plan(pre, schema)
    if plan is None:
        return None
    numeric, dated, categorical, width = plan
    if getattr(estimator, "n_features_in_", width) != width:
        return None
    head = _head(estimator, package)
    if head is None:
        return None
    fast = FastPredictor(numeric, dated, categorical, width, head)
    if verify and not _agrees(fast, package):
        return None
    return fast


def _plan(pre: Any, schema: Schema) -> tuple[Numeric, Dated, Categorical, int] | None:
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import FunctionTransformer, OrdinalEncoder

    if not isinstance(pre, ColumnTransformer) or getattr(pre, "sparse_output_", True):
        return None
    declared = {name: trans for name, trans, _ in pre.transformers}
    kinds = {c.name: c.kind for c in schema.columns}
    parts = {
        f"{c.name}__{p}": (c.name, p)
        for c in schema.columns
        if c.kind == "datetime"
        for p in schema.datetime_parts
    }
    numeric: list[tuple[str, int]] = []
    dated: dict[str, list[tuple[str, int]]] = {}
    categorical: list[tuple[str, Mapping[Any, float], int]] = []
    width = 0
    for name, trans, cols in pre.transformers_:
        if isinstance(trans, str) and trans == "drop":
            continue
        if not isinstance(cols, list) or not all(isinstance(c, str) for c in cols):
            return None
        if not cols:
            continue
        if isinstance(declared.get(name), str) and declared[name] == "passthrough":
            if not isinstance(trans, FunctionTransformer) or trans.func is not None:
                return None
            for col in cols:  # expand_datetimes overwrites a same-named column: parts first
                if col in parts:
                    dated.setdefault(parts[col][0], []).append((parts[col][1], width))
                elif kinds.get(col) == "numeric":
                    numeric.append((col, width))
                else:
                    return None
                width += 1
        elif isinstance(trans, OrdinalEncoder) and _nan_for_unknown_and_missing(trans):
            if any(kinds.get(col) not in ("categorical", "ordinal") for col in cols):
                return None
            for col, codes in zip(cols, _codes(trans, cols), strict=True):
                categorical.append((col, codes, width))
                width += 1
        else:
            return None
    frozen = tuple((col, tuple(ps)) for col, ps in dated.items())
    return tuple(numeric), frozen, tuple(categorical), width


def _nan_for_unknown_and_missing(encoder: Any) -> bool:
    return bool(
        encoder.handle_unknown == "use_encoded_value"
        and _is_missing(encoder.unknown_value)
        and _is_missing(encoder.encoded_missing_value)
        and np.dtype(encoder.dtype) == np.float64
        and hasattr(encoder, "feature_names_in_")  # fitted on a frame: _codes passes one
    )


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _codes(encoder: Any, cols: list[str]) -> list[dict[Any, float]]:
    """``{category: code}`` per column, from the encoder's own transform of its categories."""
    import pandas as pd

    known = [[c for c in cats if not _is_missing(c)] for cats in encoder.categories_]
    rows = max([1, *map(len, known)])
    frame = pd.DataFrame(
        {
            c: np.array(k + [_NAN] * (rows - len(k)), dtype=object)
            for c, k in zip(cols, known, strict=True)
        }
    )
    encoded = encoder.transform(frame[list(encoder.feature_names_in_)])
    order = {c: i for i, c in enumerate(encoder.feature_names_in_)}
    return [
        dict(zip(k, encoded[: len(k), order[c]].tolist(), strict=True))
        for c, k in zip(cols, known, strict=True)
    ]


def _datetime_parts(values: Any, parts: tuple[tuple[str, int], ...], X: Matrix) -> None:
    """``expand_datetimes`` for one column, written into ``X``; numpy for naive datetime64."""
    is_series = hasattr(values, "to_numpy")
    stamps = values.to_numpy() if is_series else np.asarray(values)  # tz-aware: object
    unit = np.datetime_data(stamps.dtype) if stamps.dtype.kind == "M" else None
    if unit is None or unit not in _TICKS_PER_DAY or any(p not in _NUMPY_PARTS for p, _ in parts):
        import pandas as pd

        series = pd.to_datetime(values if is_series else pd.Series(values))
        for part, j in parts:
            X[:, j] = getattr(series.dt, part).astype(float).to_numpy()
        return
    # integer floor division: numpy's own datetime64 casts overflow near the 1677 bound
    ticks, per_day = stamps.view(np.int64), _TICKS_PER_DAY[unit]
    days = ticks // per_day
    calendar = days.view("datetime64[D]")
    missing = np.isnat(stamps)
    for part, j in parts:
        if part == "year":
            out = calendar.astype("datetime64[Y]").view(np.int64) + 1970
        elif part == "month":
            out = calendar.astype("datetime64[M]").view(np.int64) % 12 + 1
        elif part == "day":
            out = (calendar - calendar.astype("datetime64[M]")).view(np.int64) + 1
        elif part == "dayofweek":
            out = (days + 3) % 7  # 1970-01-01 was a Thursday; Monday is 0
        else:
            out = ticks % per_day // (per_day // 24)
        X[:, j] = out
        X[missing, j] = _NAN


def _head(estimator: Any, package: ModelPackage) -> Head | None:
    """Matrix -> (encoded predictions, probabilities), as ``ModelPackage`` computes them.

    The estimator's own output (``task.raw_output``), or LightGBM's Booster
    computing the same numbers without the sklearn wrapper's checks, decoded by
    the task as every other path decodes it.
    """
    if hasattr(estimator, "feature_names_in_"):
        return None  # fitted on a DataFrame: a bare matrix would not be what it saw
    task, classes = package.task, package.classes
    output = _lightgbm_output(estimator) or task.raw_output(estimator)
    present = getattr(estimator, "classes_", None)
    n_classes = len(classes) if classes is not None else None
    threshold = package.threshold
    return lambda X: task.decide(*task.decode(output(X), present, n_classes), threshold)


def _lightgbm_output(estimator: Any) -> Callable[[Matrix], Any] | None:
    """What ``predict_proba`` (a classifier) or ``predict`` (a regressor) of a LightGBM
    model returns, computed by its Booster; None for any other estimator."""
    import lightgbm as lgb

    raw = _lightgbm_raw(estimator)
    if raw is None or not isinstance(estimator, lgb.LGBMClassifier):
        return raw
    if estimator.n_classes_ > 2:
        return raw

    def binary(X: Matrix) -> Any:
        result = raw(X)  # as LGBMClassifier.predict_proba does for a binary model
        return np.vstack((1.0 - result, result)).transpose()

    return binary


def _lightgbm_raw(estimator: Any) -> Callable[[Matrix], Any] | None:
    """``Booster.predict`` with the exact arguments ``LGBMModel.predict`` passes, or None."""
    import lightgbm as lgb

    if not isinstance(estimator, lgb.LGBMClassifier | lgb.LGBMRegressor):
        return None
    if callable(estimator.objective) or callable(getattr(estimator, "_objective", None)):
        return None
    try:
        from lightgbm.basic import _choose_param_value, _ConfigAliases

        params = estimator._process_params(stage="predict")
        reserved = ("data", "X", "raw_score", "start_iteration", "num_iteration")
        for alias in _ConfigAliases.get_by_alias(*reserved, "pred_leaf", "pred_contrib"):
            params.pop(alias, None)
        params = _choose_param_value("num_threads", params, estimator.n_jobs)
        params["num_threads"] = estimator._process_n_jobs(params["num_threads"])
        booster = estimator.booster_
    except (AttributeError, ImportError, TypeError):  # another LightGBM: keep the pipeline
        return None

    def raw(X: Matrix) -> Any:
        return booster.predict(
            X,
            raw_score=False,
            start_iteration=0,
            num_iteration=None,  # the Booster then uses best_iteration, as predict() does
            pred_leaf=False,
            pred_contrib=False,
            validate_features=False,
            **params,
        )

    return raw


def _agrees(fast: FastPredictor, package: ModelPackage) -> bool:
    """Both paths on a probe frame: known, infrequent, unseen and missing values."""
    probe = _probe(package.schema)
    expected = package.pipeline[:-1].transform(probe)
    if not np.array_equal(fast.matrix(probe, len(probe)), expected, equal_nan=True):
        return False
    pred, proba = package.predict_conformed(probe)
    fast_pred, fast_proba = fast.predict_conformed(probe)
    same = np.array_equal(pred, fast_pred, equal_nan=True)
    if proba is None or fast_proba is None:
        return same and proba is None and fast_proba is None
    return same and np.array_equal(proba, fast_proba, equal_nan=True)


def _probe(schema: Schema, rows: int = 12) -> pd.DataFrame:
    import pandas as pd

    dates = ["1969-12-31 23:30", "2020-02-29 13:05", "NaT", "2038-01-19 03:14:07", "2001-07-04"]
    columns: dict[str, Any] = {}
    for col in schema.columns:
        if col.kind == "numeric":
            low, high = col.min or 0.0, col.max or 1.0
            values: list[Any] = [low, high, _NAN, (low + high) / 2, 0.0, -1.0, 1e12]
        elif col.kind in ("categorical", "ordinal"):
            cats = col.categories or []
            values = [*cats[:6], *cats[-3:], "\x00unseen", _NAN]
        else:
            values = list(pd.to_datetime(dates, format="ISO8601"))
        values = (values * rows)[:rows]
        text = col.kind in ("categorical", "ordinal")
        columns[col.name] = pd.Series(values, dtype=object if text else None)
    return pd.DataFrame(columns)
