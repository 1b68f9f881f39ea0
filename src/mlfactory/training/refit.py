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
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from mlfactory.spec import FactorySpec
    from mlfactory.training.prepare import Encoded, Prepared
    from mlfactory.training.search import Searched

__all__ = ["refit_step"]


def refit_step(
    spec: FactorySpec, prepared: Prepared, encoded: Encoded, searched: Searched
) -> Searched:
    """``searched`` with its best candidate refitted on train + validation rows."""
    from mlfactory.models import CATALOG

    best = searched.best
    entry = CATALOG[best.name]
    params: dict[str, Any] = dict(best.params)
    rounds = getattr(best.estimator, "best_iteration_", None) if entry.boosting else None
    if rounds:  # LightGBM: the rounds early stopping kept
        params["n_estimators"] = int(rounds)
    estimator = entry.build(prepared.task, params, spec.search.seed, encoded.categorical)
    m = encoded.matrices[entry.style].load()
    X = np.concatenate([m.X_train, m.X_val])
    y = np.concatenate([m.y_train, m.y_val])
    if entry.boosting:
        estimator.fit(X, y, categorical_feature=list(encoded.categorical) or "auto")
    else:
        estimator.fit(X, y)
    refitted = dataclasses.replace(best, estimator=estimator, params=params)
    candidates = [refitted if c is best else c for c in searched.candidates]
    return dataclasses.replace(searched, candidates=candidates, best=refitted)
