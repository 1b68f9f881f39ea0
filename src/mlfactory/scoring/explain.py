"""Explanations: how much each input column moved a prediction, in the model's raw score.

An ``Explanation`` of some rows holds, per row, one contribution per input
column and the base value; they add up exactly (to floating-point rounding) to
the model's raw score: the log-odds of the second class of a binary
classifier, one raw score per class of a multiclass one (before the softmax),
the predicted value of a regressor (``Task.raw_score`` says which).

- **LightGBM**: its own TreeSHAP (``pred_contrib=True``); the base value is the
  trees' expected value.
- **Linear models** (logistic regression, ridge): ``coef × (x − mean)`` on the
  encoded (scaled) matrix, where ``mean`` is the mean encoded training row (of
  the package's reference rows; zero without them); the base value is
  ``intercept + coef · mean``.
- Other models (HistGradientBoosting, random forests, the dummy) are not
  explained: ``explainer`` raises ``BadInputError`` saying so.

Contributions of encoded features are summed back to the input column they
come from: a one-hot column and a missing-value indicator to their column, a
datetime part (year, month, ...) to its datetime column. So there is always
one contribution per input column, in the schema's order.

The report (``training.explanations``), the server (``"explain": true``) and
``mlfactory predict --explain`` all explain rows through this module.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from mlfactory.errors import BadInputError

if TYPE_CHECKING:
    import pandas as pd

    from mlfactory.registry.package import ModelPackage

__all__ = ["EXPLAINED_MODELS", "Explainer", "Explanation", "explainer"]

Matrix = npt.NDArray[np.float64]
Contributions = Callable[[Matrix], tuple[Matrix, Matrix]]  # X -> (n, k, p) and the base (k,)
EXPLAINED_MODELS = "lightgbm or linear"


@dataclass(frozen=True)
class Explanation:
    """Contributions of each input column to the raw score of each row.

    ``contributions`` has the shape (rows, outputs, columns), ``base`` (outputs,):
    one output for a binary classifier or a regressor, one per class (``labels``)
    for a multiclass classifier. ``scale`` says what the raw score is.
    """

    columns: list[str]
    contributions: Matrix
    base: Matrix
    scale: str
    labels: list[str] | None = None

    @property
    def raw(self) -> Matrix:
        """The raw score the contributions add up to, (rows, outputs)."""
        return np.asarray(self.contributions.sum(axis=2) + self.base, dtype=np.float64)

    def __len__(self) -> int:
        return int(self.contributions.shape[0])

    def rows(self, start: int, end: int) -> Explanation:
        """The explanation of rows ``start`` to ``end`` (positions)."""
        return Explanation(
            self.columns, self.contributions[start:end], self.base, self.scale, self.labels
        )

    def to_json(self) -> dict[str, Any]:
        """As an answer holds it: a row is a list of contributions (a list per class)."""
        single = self.labels is None
        values = self.contributions[:, 0, :] if single else self.contributions
        out: dict[str, Any] = {"scale": self.scale, "columns": self.columns}
        if not single:
            out["classes"] = self.labels
        out["base_value"] = float(self.base[0]) if single else self.base
        out["contributions"] = values
        return out

    def frame(self, index: Any = None) -> pd.DataFrame:
        """One column per input column (and class): ``contrib_COLUMN`` and ``base_value``.

        For several classes: ``contrib_CLASS_COLUMN`` and ``base_value_CLASS``.
        """
        import pandas as pd

        out: dict[str, Any] = {}
        for k, label in enumerate(self.labels or [""]):
            tag = f"{label}_" if self.labels is not None else ""
            for j, column in enumerate(self.columns):
                out[f"contrib_{tag}{column}"] = self.contributions[:, k, j]
            name = f"base_value_{label}" if self.labels is not None else "base_value"
            out[name] = np.full(len(self), self.base[k])
        return pd.DataFrame(out, index=index)


class Explainer:
    """Explains conformed rows of one package (``explainer`` builds it)."""

    def __init__(
        self,
        *,
        package: ModelPackage,
        contributions: Contributions,
        owners: Matrix,
        scale: str,
        labels: list[str] | None,
        method: str = "",
    ) -> None:
        self.package = package
        self.contributions = contributions
        self.owners = owners  # (encoded features, input columns): 1 where a feature is the column's
        self.columns = package.schema.names
        self.scale = scale
        self.labels = labels
        self.method = method  # how the contributions are computed, for people to read

    def explain(self, conformed: pd.DataFrame) -> Explanation:
        """Contributions of the input columns for rows that ``Scorer.validate`` passed."""
        if conformed.empty:  # the preprocessor refuses no rows
            X = np.empty((0, self.owners.shape[0]))
        else:
            X = np.asarray(self.package.pipeline[:-1].transform(conformed), dtype=np.float64)
        encoded, base = self.contributions(X)
        return Explanation(self.columns, encoded @ self.owners, base, self.scale, self.labels)


def explainer(package: ModelPackage) -> Explainer:
    """The ``Explainer`` of a LightGBM or linear package; ``BadInputError`` for any other."""
    estimator = package.pipeline[-1]
    trees = _lightgbm(estimator)
    contributions = trees or _linear(estimator, package)
    method = "LightGBM's own TreeSHAP" if trees is not None else "coefficient × (value − mean)"
    owners = _owners(package) if contributions is not None else None
    if contributions is None or owners is None:
        manifest = package.manifest
        raise BadInputError(
            f"{manifest.name} is a {manifest.model} model, and explanations need "
            f"{EXPLAINED_MODELS}: add one of them to the spec's models to explain its predictions"
        )
    present = getattr(estimator, "classes_", None)
    outputs = _outputs(estimator)
    scale, labels = package.task.raw_score(package.classes, present, outputs)
    return Explainer(
        package=package,
        contributions=contributions,
        owners=owners,
        scale=scale,
        labels=labels,
        method=method,
    )


def _outputs(estimator: Any) -> int:
    """How many raw scores the model has: 1, or one per class of a multiclass classifier."""
    classes = getattr(estimator, "classes_", None)
    return 1 if classes is None or len(classes) <= 2 else len(classes)


def _lightgbm(estimator: Any) -> Contributions | None:
    import lightgbm as lgb

    if not isinstance(estimator, lgb.LGBMModel):
        return None
    k = _outputs(estimator)

    def contributions(X: Matrix) -> tuple[Matrix, Matrix]:
        n, p = X.shape
        if n == 0:
            return np.empty((0, k, p)), np.full(k, np.nan)
        out = np.asarray(estimator.predict(X, pred_contrib=True), dtype=np.float64)
        blocks = out.reshape(n, k, p + 1)  # per class: the features, then the expected value
        return blocks[:, :, :p], blocks[0, :, p]

    return contributions


def _linear(estimator: Any, package: ModelPackage) -> Contributions | None:
    coef = getattr(estimator, "coef_", None)
    intercept = getattr(estimator, "intercept_", None)
    if coef is None or intercept is None:
        return None
    weights = np.atleast_2d(np.asarray(coef, dtype=np.float64))  # (k, p)
    mean = _mean_row(package, weights.shape[1])
    base = np.atleast_1d(np.asarray(intercept, dtype=np.float64)) + weights @ mean

    def contributions(X: Matrix) -> tuple[Matrix, Matrix]:
        return (X - mean)[:, None, :] * weights[None, :, :], base

    return contributions


def _mean_row(package: ModelPackage, width: int) -> Matrix:
    """The mean encoded training row (of the reference rows), or zeros without them."""
    reference = package.reference
    if reference is None or reference.empty:
        return np.zeros(width)
    conformed = package.schema.conform(reference)
    X = np.asarray(package.pipeline[:-1].transform(conformed), dtype=np.float64)
    return np.asarray(X.mean(axis=0), dtype=np.float64)


def _owners(package: ModelPackage) -> Matrix | None:
    """Which input column each encoded feature comes from, as a 0/1 matrix; None if unknown."""
    pre = package.pipeline[-2]
    schema = package.schema
    width = getattr(package.pipeline[-1], "n_features_in_", None)
    slices = getattr(pre, "output_indices_", None)
    if width is None or slices is None:
        return None
    parts = {
        f"{c.name}__{p}": c.name
        for c in schema.columns
        if c.kind == "datetime"
        for p in schema.datetime_parts
    }
    owner: list[str | None] = [None] * int(width)
    for name, trans, cols in pre.transformers_:
        where = slices.get(name)
        if where is None or where.stop == where.start:
            continue
        found = _step_owners(trans, list(cols))
        if found is None or len(found) != where.stop - where.start or where.stop > width:
            return None
        owner[where] = [parts.get(c, c) for c in found]
    index = {name: j for j, name in enumerate(schema.names)}
    if any(o not in index for o in owner):
        return None
    matrix = np.zeros((int(width), len(index)))
    matrix[np.arange(int(width)), [index[str(o)] for o in owner]] = 1.0
    return matrix


def _step_owners(step: Any, owners: Sequence[str]) -> list[str] | None:
    """The input column of each output of a fitted preprocessing step, given its inputs'."""
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import (
        FunctionTransformer,
        OneHotEncoder,
        OrdinalEncoder,
        StandardScaler,
    )

    if isinstance(step, FunctionTransformer) and step.func is None:  # "passthrough"
        return list(owners)
    if isinstance(step, OrdinalEncoder | StandardScaler):
        return list(owners)
    if isinstance(step, Pipeline):
        found: list[str] | None = list(owners)
        for _, inner in step.steps:
            found = None if found is None else _step_owners(inner, found)
        return found
    if isinstance(step, SimpleImputer):
        statistics = np.asarray(step.statistics_, dtype=object)
        dropped = [
            isinstance(s, float) and np.isnan(s) and not step.keep_empty_features
            for s in statistics
        ]
        kept = [o for o, gone in zip(owners, dropped, strict=True) if not gone]
        indicator = getattr(step, "indicator_", None)
        flagged = [] if indicator is None else [owners[i] for i in indicator.features_]
        return kept + flagged
    if isinstance(step, OneHotEncoder):
        infrequent = getattr(step, "infrequent_categories_", None) or [None] * len(owners)
        drops = step.drop_idx_ if step.drop_idx_ is not None else [None] * len(owners)
        found = []
        for owner, categories, rare, drop in zip(
            owners, step.categories_, infrequent, drops, strict=True
        ):
            count = len(categories) - (len(rare) - 1 if rare is not None else 0)
            found += [owner] * (count - (drop is not None))
        return found if len(found) == len(step.get_feature_names_out()) else None
    return None
