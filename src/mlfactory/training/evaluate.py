"""Test-set evaluation: every metric of the task with a bootstrap 95% interval."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from mlfactory.metrics import bootstrap_intervals, compute
from mlfactory.training.refits import refitted, with_refits

if TYPE_CHECKING:
    from mlfactory.registry.manifest import DecisionThreshold
    from mlfactory.spec import FactorySpec
    from mlfactory.tasks import Task
    from mlfactory.training.prepare import Encoded, Prepared
    from mlfactory.training.search import Searched

__all__ = ["Evaluated", "Evaluation", "Predict", "evaluate", "evaluate_step", "evaluate_with"]

MAX_TRAIN_ROWS_SCORED = 200_000
Predict = Callable[[str, Any], tuple[Any, Any | None]]  # (part, rows) -> encoded predictions


@dataclass
class Evaluation:
    metrics: dict[str, float]
    intervals: dict[str, tuple[float, float]]
    train_metrics: dict[str, float]
    y_test: Any
    pred: Any
    proba: Any | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "test": self.metrics,
            "test_ci95": {k: list(v) for k, v in self.intervals.items()},
            "train": self.train_metrics,
        }


def evaluate(
    estimator: Any,
    *,
    task: Task,
    n_classes: int | None,
    test: tuple[Any, Any],
    train: tuple[Any, Any],
    rounds: int,
    seed: int,
    intervals: bool = True,
    threshold: float | None = None,
) -> Evaluation:
    """Metrics on test (with intervals unless turned off) and on train (for the gap gate).

    ``threshold`` is the model's decision threshold (``Task.decide``); None: the
    most probable class.
    """
    matrices = {"test": test[0], "train": train[0]}
    metrics = task.metrics(n_classes)
    rounds_refit = max((m.refits for m in metrics), default=0)  # stability's
    fits = refitted(estimator, train[0], rounds_refit, seed) if rounds_refit else None

    def predict(part: str, rows: Any | None) -> tuple[Any, Any | None]:
        X = matrices[part] if rows is None else matrices[part][rows]
        pred, proba = task.predict(estimator, X, n_classes, threshold)
        return pred, with_refits(task, metrics, fits, X, proba, n_classes)

    return evaluate_with(
        predict,
        task=task,
        n_classes=n_classes,
        y_test=test[1],
        y_train=train[1],
        rounds=rounds,
        seed=seed,
        intervals=intervals,
    )


def evaluate_with(
    predict: Predict,
    *,
    task: Task,
    n_classes: int | None,
    y_test: Any,
    y_train: Any,
    rounds: int,
    seed: int,
    intervals: bool = True,
) -> Evaluation:
    """``evaluate`` for predictions made by ``predict(part, rows)`` (a model family's:
    each row by its group's model). ``rows`` are positions in the part, None: all."""
    metrics = task.metrics(n_classes)
    pred, proba = predict("test", None)
    scores = compute(metrics, y_test, pred, proba)
    bounds = (
        bootstrap_intervals(metrics, y_test, pred, proba, rounds=rounds, seed=seed)
        if intervals
        else {}
    )
    keep = None
    if len(y_train) > MAX_TRAIN_ROWS_SCORED:
        keep = np.random.default_rng(seed).choice(len(y_train), MAX_TRAIN_ROWS_SCORED, False)
        y_train = y_train[keep]
    train_pred, train_proba = predict("train", keep)
    return Evaluation(
        metrics=scores,
        intervals=bounds,
        train_metrics=compute(metrics, y_train, train_pred, train_proba),
        y_test=y_test,
        pred=pred,
        proba=proba,
    )


@dataclass(frozen=True)
class Evaluated:
    """The chosen model on the test rows (with intervals) and the dummy baseline (points)."""

    evaluation: Evaluation
    baseline: Evaluation
    threshold: DecisionThreshold | None = None  # the chosen model's, applied to its metrics
    baseline_name: str = "dummy baseline"  # what the gates call the baseline


def evaluate_step(
    spec: FactorySpec,
    prepared: Prepared,
    encoded: Encoded,
    searched: Searched,
    threshold: DecisionThreshold | None = None,
) -> Evaluated:
    """The evaluate step: the best candidate (deciding at ``threshold``) and the baseline
    (the most probable class) on the same test rows."""
    from mlfactory.models import CATALOG

    def of(estimator: Any, style: str, intervals: bool, at: float | None = None) -> Evaluation:
        m = encoded.matrices[style].load()
        return evaluate(
            estimator,
            task=prepared.task,
            n_classes=prepared.n_classes,
            test=(m.X_test, m.y_test),
            train=(m.X_train, m.y_train),
            rounds=spec.evaluation.bootstrap,
            seed=spec.search.seed,
            intervals=intervals,
            threshold=at,
        )

    best = searched.best
    at = None if threshold is None else threshold.value
    evaluation = of(best.estimator, CATALOG[best.name].style, True, at)
    baseline = of(searched.baseline, CATALOG["dummy"].style, False)  # shown as a point
    return Evaluated(evaluation, baseline, threshold)
