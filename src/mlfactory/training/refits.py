"""Refits on bootstrap resamples of the training rows, for metrics that compare them.

A metric with ``refits`` (``stability``) asks how far a model's decisions
survive fitting it again on other samples of the same rows. ``with_refits``
fits that many clones of a fitted estimator, each on a seeded bootstrap
resample of the training matrix, and gives the task their decisions on the
scored rows to append to its output (``Task.with_refits``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from mlfactory.metrics import Metric

if TYPE_CHECKING:
    from mlfactory.tasks import Task

__all__ = ["MAX_ROWS", "refitted", "with_refits"]

MAX_ROWS = 100_000  # a resample holds at most this many rows


def refitted(estimator: Any, X_train: Any, rounds: int, seed: int) -> list[Any]:
    """``rounds`` clones of ``estimator``, each fitted on a bootstrap resample of ``X_train``."""
    from sklearn.base import clone

    rng = np.random.default_rng(seed)
    n = X_train.shape[0]
    fits = []
    for _ in range(rounds):
        rows = np.sort(rng.choice(n, min(n, MAX_ROWS), replace=True))
        fits.append(clone(estimator).fit(X_train[rows]))
    return fits


def with_refits(
    task: Task,
    metrics: list[Metric],
    fits: list[Any] | None,
    X: Any,
    proba: Any,
    n_classes: int | None,
) -> Any:
    """``proba`` with the refits' decisions on ``X`` appended when a metric needs them."""
    if not fits or not any(m.refits for m in metrics):
        return proba
    flags = np.column_stack([task.predict(fit, X, n_classes)[0] for fit in fits])
    return task.with_refits(proba, flags)
