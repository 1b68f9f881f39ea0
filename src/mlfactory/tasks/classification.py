"""Classification: a target of two or more classes; probabilities for each.

Classes are the target's distinct values sorted as text, except that a binary
target's positive class is the second; a class's code is its position. The
answer has ``prediction`` (the most probable class, or for a binary model with
a decision threshold the positive class from that probability up, as its
original label) and one ``proba_<class>`` column per class. Monitoring follows
the positive class's probability of a binary model, and the predicted class
(by name) of a multiclass one.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np

from mlfactory.errors import DataError
from mlfactory.tasks.base import (
    HEIGHT,
    WIDTH,
    Diagnostic,
    OutputColumn,
    Target,
    TargetOptions,
    Task,
)

if TYPE_CHECKING:
    import pandas as pd

    from mlfactory.charts import Chart
    from mlfactory.metrics import Metric

__all__ = ["Classification"]

Array = Any
MAX_CLASSES = 12  # classes drawn one by one (ROC, confusion matrix); the rest are "other"
CALIBRATION_BINS = 10
IMBALANCED = 0.10  # a positive class under this share of rows makes a target imbalanced
MIN_PER_CLASS = 3  # rows of a class for train, validation and test to hold one each
PROBABILITY_PREFIX = "proba_"


class Classification(Task):
    name: ClassVar[str] = "classification"
    estimator: ClassVar[str] = "classifier"
    metric_names: ClassVar[tuple[str, ...]] = (
        "roc_auc",
        "pr_auc",
        "log_loss",
        "brier",
        "f1",
        "accuracy",
    )
    default_metric: ClassVar[str] = "roc_auc"
    thresholded: ClassVar[bool] = True

    def prepare_target(
        self, values: pd.Series, column: str, options: TargetOptions
    ) -> tuple[Target | None, list[str]]:
        import pandas as pd

        if pd.api.types.is_float_dtype(values.dtype) and bool((values % 1 == 0).all()):
            values = values.astype("int64")  # whole numbers a gap made floats: 3, not 3.0
        counts = values.value_counts()
        numbers = pd.api.types.is_numeric_dtype(values.dtype)  # 2 before 10; text as text
        classes = sorted(counts.index.tolist(), key=None if numbers else str)
        if len(classes) < 2:
            return None, [
                f"target {column!r} has one class ({classes[0]!r}) in every row; "
                "a classifier needs at least two"
            ]
        dtype = values.dtype
        numeric = pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)
        if len(classes) > options.max_classes:
            if numeric:
                return None, [
                    f"target {column!r} looks continuous: {len(classes):,} distinct numeric "
                    "values for a classifier; set task: regression (or, if these really are "
                    f"{len(classes):,} classes, data.max_classes: {len(classes)})"
                ]
            return None, [
                f"target {column!r} has {len(classes):,} classes, more than data.max_classes "
                f"({options.max_classes}); set data.max_classes: {len(classes)} to train a "
                "classifier over all of them"
            ]
        positive, problems = _positive(values, counts, classes, column, options)
        if problems:
            return None, problems
        notes: list[str] = []
        metric = None
        if positive is not None:  # binary: the positive class is the second code
            classes = [c for c in classes if c != positive] + [positive]
            share = counts[positive] / counts.sum()
            why = (
                "data.positive_class"
                if options.positive_class is not None
                else ("the true/1 value" if _is_flag(classes) else "the minority class")
            )
            notes.append(f"positive class: {_label(positive)} ({why}; {share:.1%} of rows)")
            if share < IMBALANCED:
                notes.append(
                    f"imbalanced: the positive class is {share:.1%} of rows; the primary "
                    "metric defaults to pr_auc (set search.metric to choose another), and "
                    "class_weight: balanced in a model's params weighs the classes evenly"
                )
                metric = "pr_auc"
        if few := _too_few(counts):
            notes.append(few)
        lookup = {c: i for i, c in enumerate(classes)}
        y = values.map(lookup).to_numpy(dtype=np.int64)
        labels = [c.item() if hasattr(c, "item") else c for c in classes]
        return Target(y, labels, tuple(notes), metric), []

    def stratify(self, y: Array) -> Array | None:
        return y if np.bincount(y).min() >= MIN_PER_CLASS else None

    def undefined(
        self, metric: Metric, y: Array, classes: list[Any] | None, target: str
    ) -> str | None:
        assert classes is not None
        rows = f"{len(y):,} labelled rows"
        present = np.unique(y)
        if metric.name in ("roc_auc", "pr_auc") and len(present) < 2:
            need = "both classes" if len(classes) == 2 else "at least two classes"
            return f"the {rows} are all {str(classes[present[0]])!r}; {metric.name} needs {need}"
        if metric.name == "f1" and len(classes) == 2 and 1 not in present:
            return (
                f"none of the {rows} is {str(classes[1])!r}; f1 needs some, or it is 0 "
                "whatever the model predicts"
            )
        return None

    def decode(
        self, raw: Array, present: Array | None, n_classes: int | None
    ) -> tuple[Array, Array | None]:
        raw = np.asarray(raw, dtype=float)
        k = n_classes or raw.shape[1]
        proba = np.zeros((raw.shape[0], k))
        proba[:, np.arange(raw.shape[1]) if present is None else np.asarray(present, int)] = raw
        return proba.argmax(axis=1), proba

    def decide(
        self, pred: Array, proba: Array | None, threshold: float | None
    ) -> tuple[Array, Array | None]:
        if threshold is None or proba is None or proba.shape[1] != 2:
            return pred, proba
        return (proba[:, 1] >= threshold).astype(np.int64), proba

    def raw_output(self, estimator: Any) -> Callable[[Any], Array]:
        return estimator.predict_proba  # type: ignore[no-any-return]

    def raw_score(
        self, classes: list[Any] | None, present: Array | None, outputs: int
    ) -> tuple[str, list[str] | None]:
        assert classes is not None
        codes = list(range(len(classes))) if present is None else [int(c) for c in present]
        if outputs == 1:  # a binary model scores the second class against the first
            return f"log-odds of {str(classes[codes[-1]])!r}", None
        return "raw score of each class (before the softmax)", [str(classes[c]) for c in codes]

    def output_columns(self, classes: list[Any] | None) -> list[OutputColumn]:
        assert classes is not None
        labels = np.asarray(classes)
        columns = [OutputColumn("prediction", "prediction", labels.dtype)]
        columns += [
            OutputColumn(f"{PROBABILITY_PREFIX}{label}", "probability", np.dtype(float), label)
            for label in classes
        ]
        return columns

    def outputs(
        self, pred: Array, proba: Array | None, classes: list[Any] | None
    ) -> dict[str, Array]:
        assert classes is not None and proba is not None
        columns = {"prediction": np.asarray(classes, dtype=object)[np.asarray(pred)]}
        for i, label in enumerate(classes):
            columns[f"{PROBABILITY_PREFIX}{label}"] = np.ascontiguousarray(proba[:, i])
        return columns

    def prediction_values(
        self, pred: Array, proba: Array | None, classes: list[Any] | None
    ) -> tuple[Array, Literal["numeric", "categorical"]]:
        assert classes is not None and proba is not None
        if len(classes) == 2:  # the positive class's probability
            return np.asarray(proba[:, 1], dtype=float), "numeric"
        names = np.asarray([str(c) for c in classes], dtype=object)
        return names[np.asarray(pred, dtype=int)], "categorical"  # the class, by name

    def encode_labels(self, labels: pd.Series, classes: list[Any] | None) -> Array:
        assert classes is not None
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

    def diagnostics(
        self,
        y: Array,
        pred: Array,
        proba: Array | None,
        classes: list[Any] | None,
        metrics: dict[str, float],
        threshold: float | None = None,
        rows: pd.DataFrame | None = None,
    ) -> list[Diagnostic]:
        y = np.asarray(y).astype(int)
        proba = np.asarray(proba, dtype=float)
        names = [str(c) for c in classes or []]
        labels = names if len(names) == proba.shape[1] else [str(i) for i in range(proba.shape[1])]
        labels = [n if len(n) <= 18 else n[:17] + "…" for n in labels]
        hard = np.asarray(pred).astype(int)
        decided = "most probable" if threshold is None else f"P({labels[1]}) ≥ {threshold:.3g}"
        caption = f"Rows: actual class; colour: share of the row; predicted = {decided}."
        if proba.shape[1] > MAX_CLASSES:
            caption += f" The {MAX_CLASSES} most frequent classes in test; the rest are 'other'."
        confusion: Diagnostic = ("Confusion matrix", caption, lambda: _confusion(y, hard, labels))
        bins = f"in {CALIBRATION_BINS} bins; marker size shows the rows in a bin."
        if proba.shape[1] > 2:
            return [
                ("ROC curves", "Each class against the rest.", lambda: _roc(y, proba, labels)),
                (
                    "Calibration of the predicted class",
                    f"Probability of the predicted class vs how often it is right, {bins}",
                    lambda: _calibration(
                        proba.max(axis=1), hard == y, "probability of predicted class"
                    ),
                ),
                confusion,
            ]
        positive = labels[1]
        ap = metrics.get("pr_auc")
        return [
            ("ROC curve", f"Positive class: {positive}.", lambda: _roc(y, proba, labels)),
            (
                "Precision-recall curve",
                f"Positive class: {positive}."
                + ("" if threshold is None else " The dot is the decision threshold."),
                lambda: _precision_recall(y, proba[:, 1], ap, threshold),
            ),
            (
                "Calibration",
                f"Predicted probability of {positive} vs how often it is {positive}, {bins}",
                lambda: _calibration(proba[:, 1], y == 1, f"P({positive})"),
            ),
            confusion,
        ]


def _is_flag(classes: list[Any]) -> bool:
    """A boolean target, or one of exactly 0 and 1."""
    return all(isinstance(c, bool | np.bool_) for c in classes) or sorted(
        float(c) for c in classes if isinstance(c, int | float | np.integer | np.floating)
    ) == [0.0, 1.0]


def _too_few(counts: pd.Series) -> str | None:
    """The classes with too few rows for train, validation and test to hold one each."""
    rare = sorted(counts[counts < MIN_PER_CLASS].items(), key=lambda cn: (cn[1], str(cn[0])))
    if not rare:
        return None
    listed = ", ".join(f"{_label(c)} ({n} row{'s' * (n > 1)})" for c, n in rare[:5])
    more = f" and {len(rare) - 5} more" if len(rare) > 5 else ""
    it, its = ("them", "their") if len(rare) > 1 else ("it", "its")
    return (
        f"too few rows: class{'es' * (len(rare) > 1)} {listed}{more} cannot be in train, "
        f"validation and test at once: a model may never learn {it} or be tested on {it}, "
        f"and a random split is not stratified; merge {it} into another class or leave "
        f"{its} rows out in data.sql"
    )


def _label(value: Any) -> str:
    return repr(value.item() if hasattr(value, "item") else value)


def _positive(
    values: pd.Series, counts: pd.Series, classes: list[Any], column: str, options: TargetOptions
) -> tuple[Any, list[str]]:
    """A binary target's positive class (None for more classes), or the problem with it."""
    wanted = options.positive_class
    if len(classes) != 2:
        if wanted is None:
            return None, []
        return None, [
            f"data.positive_class applies to a binary target; {column!r} has {len(classes)} classes"
        ]
    if wanted is not None:
        found = [c for c in classes if c == wanted or str(c) == str(wanted)]
        if not found:
            quote = (
                "; YAML reads an unquoted yes/no/on/off as true/false: quote the value"
                if isinstance(wanted, bool) and all(isinstance(c, str) for c in classes)
                else ""
            )
            return None, [
                f"data.positive_class {wanted!r} is not a value of target {column!r}; its "
                f"values are {[_label(c) for c in classes]}{quote}"
            ]
        return found[0], []
    if _is_flag(classes):
        return max(classes), []  # True, or 1
    # the minority class; on a tie, the second in sorted order (as before)
    return min(reversed(classes), key=lambda c: counts[c]), []


def _label_text(value: Any) -> str:
    """Labels as text; 1.0 read back from a CSV matches the class 1 (or True)."""
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# -- diagnostic plots ----------------------------------------------------------------------


def _shown_classes(y: Array, k: int) -> list[int]:
    """The most frequent classes in test, at most MAX_CLASSES, in class order."""
    counts = np.bincount(y, minlength=k)
    return sorted(int(i) for i in np.argsort(-counts, kind="stable")[:MAX_CLASSES])


def _roc(y: Array, proba: Array, labels: list[str]) -> Chart | None:
    from sklearn.metrics import auc, roc_curve

    from mlfactory.charts import GUIDE, Chart, Panel

    k = proba.shape[1]
    chart = Chart(width=756, height=414) if k > 6 else Chart(width=WIDTH, height=HEIGHT)
    ax = chart.add(
        Panel(xlabel="false positive rate", ylabel="true positive rate", xlim=(0, 1),
              ylim=(0, 1.02), legend="right" if k > 6 else "lower right")  # legend beside many
    )  # fmt: skip
    drawn = False
    for c in [1] if k == 2 else _shown_classes(y, k):
        positive = y == c
        if positive.all() or not positive.any():
            continue
        fpr, tpr, _ = roc_curve(positive, proba[:, c])
        name = "model" if k == 2 else labels[c]
        ax.line(fpr, tpr, label=f"{name} (AUC {auc(fpr, tpr):.3f})")
        drawn = True
    ax.line([0, 1], [0, 1], dash=True, width=1, color=GUIDE, label="chance")
    return chart if drawn else None


def _precision_recall(
    y: Array, score: Array, ap: float | None, threshold: float | None = None
) -> Chart | None:
    from sklearn.metrics import precision_recall_curve

    from mlfactory.charts import BLUE, RED, Chart, Panel

    if y.all() or not y.any():
        return None
    precision, recall, _ = precision_recall_curve(y, score)
    chart = Chart(width=WIDTH, height=HEIGHT)
    ax = chart.add(
        Panel(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02), legend="lower left")
    )
    label = "model" + (f" (AP {ap:.3f})" if ap is not None and not math.isnan(ap) else "")
    ax.step(recall, precision, color=BLUE, label=label)
    prevalence = float(np.mean(y))
    ax.hline(prevalence, label=f"prevalence {prevalence:.3f}")
    if threshold is not None:  # where the model decides: its precision and recall on test
        decided = score >= threshold
        hits = int((decided & (y == 1)).sum())
        if decided.any():
            at = (hits / int(y.sum()), hits / int(decided.sum()))
            ax.scatter([at[0]], [at[1]], radius=5, color=RED, label=f"threshold {threshold:.3g}")
    return chart


def _calibration(score: Array, hit: Array, xlabel: str) -> Chart:
    """Reliability diagram: mean predicted probability vs observed frequency per bin."""
    from mlfactory.charts import BLUE, GREY, GUIDE, Chart, Panel

    edges = np.linspace(0.0, 1.0, CALIBRATION_BINS + 1)
    bins = np.clip(np.digitize(score, edges) - 1, 0, CALIBRATION_BINS - 1)
    counts = np.bincount(bins, minlength=CALIBRATION_BINS)
    filled = counts > 0
    n = counts[filled]
    x = np.bincount(bins, weights=score, minlength=CALIBRATION_BINS)[filled] / n
    observed = np.bincount(bins, weights=hit.astype(float), minlength=CALIBRATION_BINS)[filled] / n
    chart = Chart(width=WIDTH, height=HEIGHT, rows=(3, 1), sharex=True)
    top = chart.add(
        Panel(ylabel="observed frequency", xlim=(0, 1), ylim=(-0.02, 1.02), legend="upper left")
    )
    top.line([0, 1], [0, 1], dash=True, width=1, color=GUIDE, label="perfectly calibrated")
    top.line(x, observed, width=1.4, color=BLUE, label="model")
    # marker area grows with the rows in the bin (matplotlib's s = 12 + 140 n / max pt²)
    top.scatter(x, observed, radius=0.62 * np.sqrt(12 + 140 * n / n.max()), color=BLUE, clip=False)
    bottom = chart.add(Panel(xlabel=xlabel, ylabel="rows"))
    bottom.histogram(edges, np.histogram(score, bins=edges)[0], color=GREY)
    return chart


def _confusion(y: Array, pred: Array, labels: list[str]) -> Chart:
    from mlfactory.charts import Chart, ColorBar, Panel, percent

    k = len(labels)
    shown = _shown_classes(y, k) if k > MAX_CLASSES else list(range(k))
    index = np.full(k, len(shown))  # classes not shown fall into "other"
    index[shown] = np.arange(len(shown))
    names = [labels[c] for c in shown] + (["other"] if len(shown) < k else [])
    n = len(names)
    matrix = np.zeros((n, n), dtype=int)
    np.add.at(matrix, (index[y], index[pred]), 1)
    totals = matrix.sum(axis=1, keepdims=True)
    share = np.divide(matrix, totals, out=np.zeros(matrix.shape), where=totals > 0)
    size = HEIGHT if n <= 6 else min(270 + 36 * n, 720)
    chart = Chart(width=size + 144, height=size)
    ticks = list(enumerate(names))
    ax = chart.add(
        Panel(xlabel="predicted", ylabel="actual", xticks=ticks, yticks=ticks, grid="none",
              invert_y=True, rotate_xticks=n > 3,
              colorbar=ColorBar("share of actual class", format=percent))
    )  # fmt: skip
    texts = [
        [f"{count:,}" + (f"\n{s:.0%}" if n <= 6 else "") for count, s in zip(*row, strict=True)]
        for row in zip(matrix, share, strict=True)
    ]
    ax.heatmap(share, texts, size=12.5 if n <= 6 else 11)  # shrunk to fit small cells
    return chart
