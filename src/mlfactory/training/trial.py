"""One trial: fit one candidate with one set of parameters and score it on validation rows.

``run_trial(trial)`` is a pure function of a picklable ``Trial`` (the catalog
model and task by name, the parameters, and a ``MatrixRef`` to the encoded
data), so a search can run it in this process, another process or on another
machine and get the same score. The fitted estimator comes back with the score;
nothing is refit.

Boosting models get the validation set for early stopping. When the caller
gives ``report``, they also report their validation metric every few rounds
and stop early when it answers True (the search's pruner); a trial run
elsewhere simply runs to the end.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mlfactory.metrics import METRICS
from mlfactory.models import CATALOG, CatalogEntry
from mlfactory.tasks import task_named
from mlfactory.training.matrices import MatrixRef
from mlfactory.training.refits import refitted, with_refits

__all__ = ["Pruned", "Report", "Trial", "TrialResult", "run_trial"]

# our metric name -> LightGBM's name for the same quantity (used for pruning)
_LGB_METRICS = {"roc_auc": "auc", "log_loss": "binary_logloss", "rmse": "rmse", "mae": "l1"}
EARLY_STOPPING_ROUNDS = 50
REPORT_EVERY = 10

Report = Callable[[int, float], bool]  # (round, validation value) -> stop now?


class Pruned(Exception):
    """The trial was stopped early: its validation metric was hopeless."""


@dataclass(frozen=True)
class Trial:
    """Everything one trial needs, by value or by reference (picklable)."""

    model: str  # catalog name
    task: str  # task name
    params: dict[str, Any]
    seed: int
    metric: str
    n_classes: int | None
    categorical: tuple[int, ...]
    data: MatrixRef
    number: int = 0  # the trial's number in its study


@dataclass(frozen=True)
class TrialResult:
    score: float  # the validation metric
    estimator: Any = field(repr=False)  # fitted


def run_trial(trial: Trial, report: Report | None = None) -> TrialResult:
    """Fit and score ``trial``; ``Pruned`` when ``report`` stopped it early."""
    entry = CATALOG[trial.model]
    task = task_named(trial.task)
    data = trial.data.load()
    estimator = entry.build(task, dict(trial.params), trial.seed, list(trial.categorical))
    known = _fit(entry, estimator, data, trial, report)
    if known is not None:
        return TrialResult(known, estimator)
    metric = METRICS[trial.metric]
    pred, proba = task.predict(estimator, data.X_val, trial.n_classes)
    if metric.refits:  # stability: the decisions of refits on resampled training rows
        fits = refitted(estimator, data.X_train, metric.refits, trial.seed)
        proba = with_refits(task, [metric], fits, data.X_val, proba, trial.n_classes)
    return TrialResult(metric.score(data.y_val, pred, proba), estimator)


def _fit(
    entry: CatalogEntry, estimator: Any, data: Any, trial: Trial, report: Report | None
) -> float | None:
    """Fit; for boosting, return the validation score LightGBM already computed, if it is ours."""
    if not entry.boosting:
        estimator.fit(data.X_train, data.y_train)
        return None
    import lightgbm as lgb

    n_classes = trial.n_classes
    lgb_metric = _LGB_METRICS.get(trial.metric)
    if lgb_metric == "binary_logloss" and n_classes and n_classes > 2:
        lgb_metric = "multi_logloss"
    if trial.metric == "roc_auc" and n_classes and n_classes > 2:
        lgb_metric = None
    callbacks: list[Callable[[Any], None]] = [
        lgb.early_stopping(EARLY_STOPPING_ROUNDS, first_metric_only=True, verbose=False)
    ]
    if report is not None and lgb_metric is not None:
        callbacks.append(_reporting(report, lgb_metric))
    if lgb_metric is not None:
        estimator.set_params(metric=lgb_metric)  # the one metric that stops and prunes
    estimator.fit(
        data.X_train,
        data.y_train,
        eval_X=(data.X_val,),
        eval_y=(data.y_val,),
        callbacks=callbacks,
        categorical_feature=list(trial.categorical) or "auto",
    )
    if lgb_metric is None:
        return None
    # the score at the best iteration, which is also the one predict() uses
    return float(estimator.best_score_["valid_0"][lgb_metric])


def _reporting(report: Report, lgb_metric: str) -> Callable[[Any], None]:
    def callback(env: Any) -> None:
        if env.iteration % REPORT_EVERY:
            return
        for _, name, value, _higher in env.evaluation_result_list:
            if name == lgb_metric and report(env.iteration, float(value)):
                raise Pruned(f"pruned at round {env.iteration}")

    return callback
