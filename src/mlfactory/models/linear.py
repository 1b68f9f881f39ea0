"""Linear models on scaled inputs: logistic regression and ridge, as one ``linear``."""

from __future__ import annotations

from typing import Any

from mlfactory.models.base import CatalogEntry, SearchRange, register_model

__all__: list[str] = []


def _logistic(params: dict[str, Any], seed: int, categorical: list[int]) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(**{"max_iter": 1000, "random_state": seed, **params})


def _ridge(params: dict[str, Any], seed: int, categorical: list[int]) -> Any:
    from sklearn.linear_model import Ridge

    return Ridge(**{"random_state": seed, **params})


register_model(
    CatalogEntry(
        "linear",
        "scaled",
        {"classifier": _logistic, "regressor": _ridge},
        {
            "classifier": {"C": SearchRange(low=1e-3, high=100.0, log=True)},
            "regressor": {"alpha": SearchRange(low=1e-3, high=100.0, log=True)},
        },
    )
)
