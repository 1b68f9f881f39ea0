"""Anomaly detection: no target; each row gets an anomaly score and a flag.

A detector (``models/anomaly.py``, classes in ``detectors.py``) is fitted on
the feature rows alone. Its score is higher for more anomalous rows, and its
flag is the score above the detector's threshold (``anomaly.contamination`` or
``anomaly.threshold`` in the spec, else the detector's own). The answer has
``prediction`` (the flag, a boolean) and ``score``.

``data.label_column`` may name known anomalies (booleans, 0/1, or the value
``data.positive_class``). Labels are never features and never fit the detector;
they evaluate it (``pr_auc``, ``precision_at_k``, ``recall_at_k``) and, when
there are enough, stratify the split and steer the search (PR AUC on the
validation rows). Without labels there is nothing to be right about, so the
search and the gates see ``flag_rate`` and ``stability`` (metrics/anomaly.py).

Encoded predictions are the flags (0/1) and an ``(n, 2)`` score matrix
``[-score, score]``, so the ranking metrics read column 1 as they read a
binary classifier's positive class; ``with_refits`` appends the flags of
bootstrap refits for ``stability``. Monitoring follows the score like a
prediction: more rows flagged move its top bins (the flag alone is one rare
cell, too small for the drift test on a day's rows).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np

from mlfactory.errors import DataError
from mlfactory.metrics import METRICS
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

__all__ = ["Anomaly"]

Array = Any
LABELLED = ("pr_auc", "precision_at_k", "recall_at_k")  # need known anomalies
MIN_TO_STRATIFY = 3  # known anomalies needed to keep their share in every part
TOP = 12  # rows of the top-anomalies plot
MAX_COLUMNS = 10  # columns of it: the most unusual among the top rows
MAX_POINTS = 5000  # the projection draws a seeded sample of this many rows, flagged ones first
_TRUE = {"1", "true", "yes", "anomaly", "outlier"}
_FALSE = {"0", "false", "no", "normal", "inlier"}


class Anomaly(Task):
    name: ClassVar[str] = "anomaly"
    estimator: ClassVar[str] = "detector"
    metric_names: ClassVar[tuple[str, ...]] = (*LABELLED, "flag_rate", "stability")
    default_metric: ClassVar[str] = "stability"
    needs_target: ClassVar[bool] = False
    default_models: ClassVar[tuple[str, ...]] = ("isolation_forest",)

    # -- labels (the target's place) -----------------------------------------------------

    def prepare_target(
        self, values: pd.Series, column: str, options: TargetOptions
    ) -> tuple[Target | None, list[str]]:
        """Known anomalies as 1, the rest 0; PR AUC becomes the primary metric."""
        positive = options.positive_class
        if positive is not None:
            y = (values.astype(str) == str(positive)).to_numpy(dtype=np.int64)
            if not y.any():
                return None, [
                    f"data.positive_class {positive!r} is not a value of label column "
                    f"{column!r} (it has {sorted(map(str, values.unique()))[:5]})"
                ]
        else:
            text = values.map(lambda v: str(v).strip().lower().removesuffix(".0"))
            unknown = sorted(set(text) - _TRUE - _FALSE)
            if unknown:
                return None, [
                    f"label column {column!r} holds {unknown[:5]}; labels are booleans, 0/1, or "
                    "any values with data.positive_class naming the anomalies' value"
                ]
            y = text.isin(_TRUE).to_numpy(dtype=np.int64)
        notes = (
            f"{int(y.sum()):,} known anomalies in {len(y):,} rows ({y.mean():.2%}) in "
            f"{column!r}: used to evaluate and tune, never to fit",
        )
        return Target(y, classes=[False, True], notes=notes, metric="pr_auc"), []

    def unlabelled(self, rows: int) -> Target:
        """What a detector learns from when the spec names no label column: no labels."""
        notes = (
            "no data.label_column: detectors are compared on flag stability and their flag "
            "rate, with nothing to tune against; add known anomalies to tune on PR AUC",
        )
        return Target(np.zeros(rows, dtype=np.int64), notes=notes)

    def stratify(self, y: Array) -> Array | None:
        return y if int(np.sum(y)) >= MIN_TO_STRATIFY else None

    def metrics(self, n_classes: int | None = None) -> list[Metric]:
        names = self.metric_names if n_classes == 2 else ("flag_rate", "stability")
        return [METRICS[name] for name in names]

    def undefined(
        self, metric: Metric, y: Array, classes: list[Any] | None, target: str
    ) -> str | None:
        if metric.name in LABELLED and not np.any(y == 1):
            return f"none of the {len(y):,} rows is a known anomaly in {target}"
        return None

    # -- model output --------------------------------------------------------------------

    def raw_output(self, estimator: Any) -> Callable[[Any], Array]:
        """Scores and flags in one pass: ``(n, 2)`` of score, flag."""
        final = estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator

        def output(X: Any) -> Array:
            score = np.asarray(estimator.score_samples(X), dtype=float)
            return np.column_stack([score, score > final.threshold_])

        return output

    def decode(
        self, raw: Array, present: Array | None, n_classes: int | None
    ) -> tuple[Array, Array | None]:
        raw = np.asarray(raw, dtype=float)
        score = raw[:, 0]
        return raw[:, 1].astype(np.int64), np.column_stack([-score, score])

    def with_refits(self, proba: Array, flags: Array) -> Array:
        """The score matrix with each refit's flags appended (``stability`` reads them)."""
        return np.column_stack([proba, np.asarray(flags, dtype=float)])

    def raw_score(
        self, classes: list[Any] | None, present: Array | None, outputs: int
    ) -> tuple[str, list[str] | None]:
        return "the anomaly score", None

    def output_columns(self, classes: list[Any] | None) -> list[OutputColumn]:
        return [
            OutputColumn("prediction", "prediction", np.dtype(bool)),
            OutputColumn("score", "score", np.dtype(float)),
        ]

    def outputs(
        self, pred: Array, proba: Array | None, classes: list[Any] | None
    ) -> dict[str, Array]:
        assert proba is not None
        return {"prediction": np.asarray(pred) == 1, "score": np.asarray(proba[:, 1], dtype=float)}

    # -- monitoring ----------------------------------------------------------------------

    def prediction_values(
        self, pred: Array, proba: Array | None, classes: list[Any] | None
    ) -> tuple[Array, Literal["numeric", "categorical"]]:
        # the score, not the flag: a rare flag's cell is too small for the drift test
        # below thousands of rows, while a rising flag rate moves the score's top bins
        assert proba is not None
        return np.asarray(proba[:, 1], dtype=float), "numeric"

    def encode_labels(self, labels: pd.Series, classes: list[Any] | None) -> Array:
        target, problems = self.prepare_target(labels, "labels", TargetOptions())
        if target is None:
            raise DataError(problems[0])
        return target.y

    # -- the report ----------------------------------------------------------------------

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
        assert proba is not None
        score, flags = np.asarray(proba[:, 1], dtype=float), np.asarray(pred) == 1
        at = float(score[flags].min()) if flags.any() else None  # where flagging starts
        rate = f"{flags.mean():.2%} of the {len(flags):,} test rows are flagged."
        known = None if classes is None else np.asarray(y) == 1
        plots: list[Diagnostic] = []
        if known is None:
            plots.append(("Anomaly scores", rate, lambda: _scores(score, flags, None, at)))
        else:
            found = f" {int((known & flags).sum()):,} of {int(known.sum()):,} known anomalies."
            plots += [
                ("Anomaly scores", rate + found, lambda: _scores(score, flags, known, at)),
                (
                    "Precision and recall",
                    "Rows ranked by score, known anomalies as positives; the dot is the flag.",
                    lambda: _precision_recall(score, known, flags),
                ),
            ]
        if rows is not None and len(rows):
            numbers = _numbers(rows)
            if numbers.shape[1]:
                top = np.argsort(-score, kind="stable")[:TOP]
                plots.append(
                    (
                        "Top anomalies",
                        f"The {len(top)} highest-scoring test rows (rows) and how unusual each "
                        "numeric value is among the test rows (robust z: distance from the "
                        "median in IQRs); the cell text is the value.",
                        lambda: _top(rows, numbers, top, score),
                    )
                )
                plots.append(
                    (
                        "2-D projection",
                        "The test rows' numeric columns, robustly scaled, on their first two "
                        "principal components; flagged rows in red"
                        + ("" if known is None else ", known anomalies circled")
                        + ".",
                        lambda: _projection(numbers, flags, known),
                    )
                )
        return plots


def _scores(score: Array, flags: Array, known: Array | None, at: float | None) -> Chart:
    """Histograms of the scores: of all rows, and of the flagged (or known anomalous) ones."""
    from mlfactory.charts import BLUE, GREY, RED, Chart, Panel

    chart = Chart(width=WIDTH, height=HEIGHT)
    ax = chart.add(Panel(xlabel="anomaly score", ylabel="rows (square-root scale)"))
    finite = score[np.isfinite(score)]
    edges = np.histogram_bin_edges(finite, bins=40) if len(finite) else np.array([0.0, 1.0])
    counts, _ = np.histogram(finite, bins=edges)
    ax.histogram(edges, np.sqrt(counts), color=GREY)
    marked = flags if known is None else known
    label = "flagged rows" if known is None else "known anomalies"
    part, _ = np.histogram(score[marked & np.isfinite(score)], bins=edges)
    ax.stairs(np.sqrt(part), edges, color=RED if known is None else BLUE, label=label)
    if at is not None:
        ax.vline(at, label="lowest flagged score")
    return chart


def _precision_recall(score: Array, known: Array, flags: Array) -> Chart:
    from mlfactory.charts import BLUE, GUIDE, RED, Chart, Panel

    order = np.argsort(-score, kind="stable")
    hits = np.cumsum(known[order])
    ranks = np.arange(1, len(score) + 1)
    total = max(int(known.sum()), 1)
    chart = Chart(width=WIDTH, height=HEIGHT)
    ax = chart.add(
        Panel(
            xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02), legend="upper right"
        )
    )
    ax.line(hits / total, hits / ranks, color=BLUE, label="ranked by score")
    ax.hline(known.mean(), color=GUIDE, label="share of known anomalies")
    k = int(flags.sum())
    if k:
        ax.scatter([hits[k - 1] / total], [hits[k - 1] / k], radius=4, color=RED, label="flag")
    return chart


def _numbers(rows: pd.DataFrame) -> Any:
    """The rows' numeric and boolean columns as robust z-scores (median, IQR/1.349)."""
    import pandas as pd

    names = [
        c
        for c in rows.columns
        if pd.api.types.is_numeric_dtype(rows[c]) or pd.api.types.is_bool_dtype(rows[c])
    ]
    values = rows[names].astype(float).to_numpy()
    with np.errstate(all="ignore"):
        median = np.nanmedian(values, axis=0) if len(values) else np.zeros(len(names))
        q1, q3 = np.nanpercentile(values, [25, 75], axis=0) if len(values) else (median, median)
        spread = (q3 - q1) / 1.349
        spread = np.where(spread > 0, spread, np.nanstd(values, axis=0))
        z = np.divide(values - median, spread, out=np.zeros_like(values), where=spread > 0)
    z = np.nan_to_num(z, nan=0.0, posinf=0.0, neginf=0.0)
    frame = pd.DataFrame(z, columns=names, index=rows.index)
    return frame


def _top(rows: pd.DataFrame, numbers: Any, top: Array, score: Array) -> Chart:
    from mlfactory.charts import Chart, Panel

    z = numbers.to_numpy()[top]
    order = np.argsort(-np.abs(z).max(axis=0), kind="stable")[:MAX_COLUMNS]
    names = [str(numbers.columns[j]) for j in order]
    cells = np.abs(z[:, order])
    texts = [[_short(rows[n].iloc[i]) for n in names] for i in top]
    chart = Chart(width=WIDTH, height=max(HEIGHT, 26 * len(top) + 120))
    ax = chart.add(
        Panel(
            xticks=[(j, n if len(n) <= 12 else n[:11] + "…") for j, n in enumerate(names)],
            yticks=[(i, f"score {score[r]:.3g}") for i, r in enumerate(top)],
            rotate_xticks=True,
            grid="none",
            invert_y=True,
        )
    )
    ax.heatmap(np.minimum(cells, 10.0) / 10.0, texts)
    return chart


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    text = str(value)
    return text if len(text) <= 8 else text[:7] + "…"


def _projection(numbers: Any, flags: Array, known: Array | None) -> Chart | None:
    from mlfactory.charts import BLUE, GREY, RED, Chart, Panel

    z = np.clip(numbers.to_numpy(), -20, 20)
    if z.shape[1] < 2:
        return None
    keep = np.arange(len(z))
    if len(z) > MAX_POINTS:  # every flagged row, then a seeded sample of the rest
        rest = np.flatnonzero(~flags)
        sample = np.random.default_rng(0).choice(rest, max(MAX_POINTS - flags.sum(), 0), False)
        keep = np.sort(np.concatenate([np.flatnonzero(flags), sample]))
    centred = z - z.mean(axis=0)
    _, _, vt = np.linalg.svd(centred[keep] if len(keep) < len(z) else centred, full_matrices=False)
    xy = centred[keep] @ vt[:2].T
    chart = Chart(width=WIDTH, height=HEIGHT)
    ax = chart.add(Panel(xlabel="component 1", ylabel="component 2", legend="upper right"))
    normal = ~flags[keep]
    ax.scatter(xy[normal, 0], xy[normal, 1], radius=1.8, alpha=0.35, color=GREY, label="normal")
    ax.scatter(xy[~normal, 0], xy[~normal, 1], radius=2.6, color=RED, label="flagged")
    if known is not None and known[keep].any():
        k = known[keep]
        ax.scatter(xy[k, 0], xy[k, 1], radius=4.5, alpha=0.5, color=BLUE, label="known anomaly")
    return chart
