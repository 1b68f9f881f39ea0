"""Hyperparameter search: one seeded Optuna TPE study per candidate model.

Boosting models get the validation set for early stopping, and report their
validation metric every few rounds so that the median pruner can stop hopeless
trials. The fitted estimator of the best trial is kept; nothing is refit.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from mlfactory.errors import SpecError
from mlfactory.metrics import METRICS
from mlfactory.models import CatalogEntry, SearchRange

if TYPE_CHECKING:
    from mlfactory.tasks import Task

__all__ = ["Candidate", "search_candidate"]

# our metric name -> LightGBM's name for the same quantity (used for pruning)
_LGB_METRICS = {"roc_auc": "auc", "log_loss": "binary_logloss", "rmse": "rmse", "mae": "l1"}
EARLY_STOPPING_ROUNDS = 50
REPORT_EVERY = 10


@dataclass
class Candidate:
    """The best estimator found for one catalog entry."""

    name: str
    estimator: Any
    params: dict[str, Any]
    validation_score: float
    trials: int = 0
    pruned: int = 0
    failed: int = 0


def _suggest(trial: Any, name: str, r: Any, default: SearchRange | None) -> Any:
    if r.choices is not None:
        return trial.suggest_categorical(name, r.choices)
    kind = r.type or (default.type if default is not None else None)
    if kind == "int":
        return trial.suggest_int(name, int(r.low), int(r.high), log=r.log)
    return trial.suggest_float(name, float(r.low), float(r.high), log=r.log)


def _fit(
    entry: CatalogEntry,
    estimator: Any,
    data: tuple[Any, Any, Any, Any],
    metric: str,
    n_classes: int | None,
    trial: Any | None,
    categorical: list[int],
) -> float | None:
    """Fit; for boosting, return the validation score LightGBM already computed, if it is ours."""
    X_train, y_train, X_val, y_val = data
    if not entry.boosting:
        estimator.fit(X_train, y_train)
        return None
    import lightgbm as lgb

    lgb_metric = _LGB_METRICS.get(metric)
    if lgb_metric == "binary_logloss" and n_classes and n_classes > 2:
        lgb_metric = "multi_logloss"
    if metric == "roc_auc" and n_classes and n_classes > 2:
        lgb_metric = None
    callbacks: list[Callable[[Any], None]] = [
        lgb.early_stopping(EARLY_STOPPING_ROUNDS, first_metric_only=True, verbose=False)
    ]
    if trial is not None and lgb_metric is not None:
        callbacks.append(_pruning_callback(trial, lgb_metric))
    if lgb_metric is not None:
        estimator.set_params(metric=lgb_metric)  # the one metric that stops and prunes
    estimator.fit(
        X_train,
        y_train,
        eval_X=(X_val,),
        eval_y=(y_val,),
        callbacks=callbacks,
        categorical_feature=categorical or "auto",
    )
    if lgb_metric is None:
        return None
    # the score at the best iteration, which is also the one predict() uses
    return float(estimator.best_score_["valid_0"][lgb_metric])


def _pruning_callback(trial: Any, lgb_metric: str) -> Callable[[Any], None]:
    import optuna

    def callback(env: Any) -> None:
        if env.iteration % REPORT_EVERY:
            return
        for _, name, value, _higher in env.evaluation_result_list:
            if name == lgb_metric:
                trial.report(float(value), step=env.iteration)
                if trial.should_prune():
                    raise optuna.TrialPruned(f"pruned at round {env.iteration}")

    return callback


@contextlib.contextmanager
def interruptible() -> Iterator[Callable[[], None]]:
    """A check that raises ``KeyboardInterrupt`` once Ctrl-C (SIGINT) has arrived.

    Python swallows a ``KeyboardInterrupt`` raised inside a finalizer, and a
    search frees a model's native objects in finalizers all the time: an
    interrupt landing there only prints "Exception ignored". The search calls the
    check after every trial, so one Ctrl-C still stops it. Only in the main thread,
    and only when SIGINT has Python's default handler.
    """
    received = threading.Event()

    def check() -> None:
        if received.is_set():
            raise KeyboardInterrupt

    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield check
        return

    def handler(signum: int, frame: Any) -> None:
        received.set()
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield check
    finally:
        signal.signal(signal.SIGINT, previous)


def search_candidate(
    entry: CatalogEntry,
    *,
    task: Task,
    params: dict[str, Any],
    space: dict[str, Any] | None,
    data: tuple[Any, Any, Any, Any],
    categorical: list[int],
    metric: str,
    n_classes: int | None,
    trials: int,
    timeout: float | None,
    seed: int,
    where: str,
    on_trial: Callable[[Candidate], None] = lambda c: None,
) -> Candidate:
    """Run the study for one catalog entry and return its best fitted estimator.

    ``where`` is the spec path of the model entry (for error messages).
    """
    import optuna

    m = METRICS[metric]
    X_val, y_val = data[2], data[3]
    defaults = entry.space(task)
    searched = defaults if space is None else space
    ranges = {k: r for k, r in searched.items() if k not in params}  # fixed params win
    best = Candidate(entry.name, None, {}, float("nan"))
    errors: list[str] = []

    def score(estimator: Any) -> float:
        pred, proba = task.predict(estimator, X_val, n_classes)
        return m.score(y_val, pred, proba)

    def better(value: float) -> bool:
        if np.isnan(best.validation_score):
            return not np.isnan(value)
        return (
            value > best.validation_score
            if m.greater_is_better
            else (value < best.validation_score)
        )

    if not ranges or trials <= 0:
        estimator = entry.build(task, dict(params), seed, categorical)
        try:
            known = _fit(entry, estimator, data, metric, n_classes, None, categorical)
        except Exception as exc:
            raise SpecError(f"{where}: {entry.name} failed to train: {exc}") from None
        best.estimator, best.params = estimator, dict(params)
        best.validation_score = score(estimator) if known is None else known
        best.trials = 1
        on_trial(best)
        return best

    def objective(trial: Any) -> float:
        sampled = {k: _suggest(trial, k, r, defaults.get(k)) for k, r in ranges.items()}
        merged = {**params, **sampled}
        estimator = entry.build(task, merged, seed, categorical)
        try:
            known = _fit(entry, estimator, data, metric, n_classes, trial, categorical)
        except optuna.TrialPruned:
            best.pruned += 1
            on_trial(best)
            raise
        except Exception as exc:
            best.failed += 1
            errors.append(f"{type(exc).__name__}: {exc}")
            on_trial(best)
            raise optuna.TrialPruned("failed") from None
        value = score(estimator) if known is None else known
        if better(value):
            best.estimator, best.params, best.validation_score = estimator, merged, value
        best.trials += 1
        on_trial(best)
        return value

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="maximize" if m.greater_is_better else "minimize",
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=50),
    )
    with interruptible() as stop_if_interrupted:
        after_each = [lambda study, trial: stop_if_interrupted()]
        study.optimize(objective, n_trials=trials, timeout=timeout, callbacks=after_each)
    if best.estimator is None:
        detail = errors[0] if errors else "every trial was pruned"
        raise SpecError(
            f"{where}: no trial of {entry.name} trained ({detail}); check its params and search."
        )
    return best
