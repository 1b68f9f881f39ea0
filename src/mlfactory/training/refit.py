"""The refit step (``refit: true``): the chosen parameters fitted again on train + validation.

The search fits every trial on the training rows and scores it on the
validation rows. With ``refit`` the winner is fitted once more on both, so the
served model has seen more data; the test rows stay unseen, and the evaluation
and the decision threshold are unchanged in kind (the threshold is chosen on the
validation rows before the refit, while they are still unseen). A boosting
model keeps the number of rounds early stopping found, since there are no
held-out rows left to stop on. The preprocessors stay fitted on the training rows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from mlfactory.spec import FactorySpec
    from mlfactory.tasks import Task
    from mlfactory.training.prepare import Encoded, Prepared
    from mlfactory.training.search import Searched

__all__ = ["refit", "refit_step"]


def refit_step(
    spec: FactorySpec, prepared: Prepared, encoded: Encoded, searched: Searched
) -> Searched:
    """``searched`` with its best candidate refitted on train + validation rows."""
    from mlfactory.models import CATALOG

    best = searched.best
    m = encoded.matrices[CATALOG[best.name].style].load()
    estimator, params = refit(
        best.name,
        best.estimator,
        best.params,
        task=prepared.task,
        seed=spec.search.seed,
        categorical=encoded.categorical,
        X=np.concatenate([m.X_train, m.X_val]),
        y=np.concatenate([m.y_train, m.y_val]),
    )
    refitted = dataclasses.replace(best, estimator=estimator, params=params)
    candidates = [refitted if c is best else c for c in searched.candidates]
    return dataclasses.replace(searched, candidates=candidates, best=refitted)


def refit(
    model: str,
    fitted: Any,
    params: dict[str, Any],
    *,
    task: Task,
    seed: int,
    categorical: Sequence[int],
    X: Any,
    y: Any,
) -> tuple[Any, dict[str, Any]]:
    """The catalog ``model`` with ``params`` fitted on ``X``, ``y``, and the params used.

    ``fitted`` is the model fitted with early stopping, whose rounds a boosting
    model keeps (also for a family member on its group's rows).
    """
    from mlfactory.models import CATALOG

    entry = CATALOG[model]
    params = dict(params)
    rounds = getattr(fitted, "best_iteration_", None) if entry.boosting else None
    if rounds:  # LightGBM: the rounds early stopping kept
        params["n_estimators"] = int(rounds)
    estimator = entry.build(task, params, seed, list(categorical))
    if entry.boosting:
        estimator.fit(X, y, categorical_feature=list(categorical) or "auto")
    else:
        estimator.fit(X, y)
    return estimator, params
