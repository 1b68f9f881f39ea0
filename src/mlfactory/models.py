"""The model catalog: names in ``factory.yaml`` mapped to estimators and search spaces.

Each entry is one small record: the input style its preprocessor needs, a
builder ``(task, params, seed, categorical) -> estimator`` and a default search
space. A new model is a new entry in ``CATALOG``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mlfactory.features import Style

__all__ = ["CATALOG", "CatalogEntry", "Range"]


@dataclass(frozen=True)
class Range:
    """A default search range (the spec's ``SearchRange`` has the same keys)."""

    low: float | None = None
    high: float | None = None
    log: bool = False
    type: str | None = None
    choices: list[Any] | None = None


Builder = Callable[[str, dict[str, Any], int, list[int]], Any]


@dataclass(frozen=True)
class CatalogEntry:
    name: str
    style: Style
    build: Builder
    spaces: dict[str, dict[str, Range]] = field(default_factory=dict)  # by task
    boosting: bool = False  # accepts an eval set: early stopping and pruning

    def space(self, task: str) -> dict[str, Range]:
        return self.spaces.get(task, {})


def _both(space: dict[str, Range]) -> dict[str, dict[str, Range]]:
    return {"classification": space, "regression": space}


def _lightgbm(task: str, params: dict[str, Any], seed: int, categorical: list[int]) -> Any:
    import lightgbm as lgb

    base: dict[str, Any] = {
        "n_estimators": 500,
        "random_state": seed,
        "deterministic": True,
        "force_col_wise": True,
        "subsample_freq": 1,
        "verbose": -1,
    }
    base.update(params)
    cls = lgb.LGBMClassifier if task == "classification" else lgb.LGBMRegressor
    return cls(**base)


def _hist_gradient_boosting(
    task: str, params: dict[str, Any], seed: int, categorical: list[int]
) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    base: dict[str, Any] = {
        "random_state": seed,
        "early_stopping": False,
        "categorical_features": categorical or None,
    }
    base.update(params)
    cls = (
        HistGradientBoostingClassifier
        if task == "classification"
        else HistGradientBoostingRegressor
    )
    return cls(**base)


def _random_forest(task: str, params: dict[str, Any], seed: int, categorical: list[int]) -> Any:
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

    base: dict[str, Any] = {"random_state": seed, "n_jobs": -1, "n_estimators": 100}
    base.update(params)
    cls = RandomForestClassifier if task == "classification" else RandomForestRegressor
    return cls(**base)


def _linear(task: str, params: dict[str, Any], seed: int, categorical: list[int]) -> Any:
    from sklearn.linear_model import LogisticRegression, Ridge

    if task == "classification":
        return LogisticRegression(**{"max_iter": 1000, "random_state": seed, **params})
    return Ridge(**{"random_state": seed, **params})


def _dummy(task: str, params: dict[str, Any], seed: int, categorical: list[int]) -> Any:
    from sklearn.dummy import DummyClassifier, DummyRegressor

    if task == "classification":
        return DummyClassifier(**{"strategy": "prior", **params})
    return DummyRegressor(**{"strategy": "mean", **params})


CATALOG: dict[str, CatalogEntry] = {
    e.name: e
    for e in [
        CatalogEntry(
            "lightgbm",
            "native",
            _lightgbm,
            _both(
                {
                    "learning_rate": Range(0.01, 0.3, log=True),
                    "num_leaves": Range(15, 255, log=True, type="int"),
                    "min_child_samples": Range(5, 200, log=True, type="int"),
                    "colsample_bytree": Range(0.5, 1.0),
                    "subsample": Range(0.5, 1.0),
                    "reg_lambda": Range(1e-3, 10.0, log=True),
                }
            ),
            boosting=True,
        ),
        CatalogEntry(
            "hist_gradient_boosting",
            "native",
            _hist_gradient_boosting,
            _both(
                {
                    "learning_rate": Range(0.01, 0.3, log=True),
                    "max_iter": Range(50, 400, log=True, type="int"),
                    "max_leaf_nodes": Range(15, 255, log=True, type="int"),
                    "min_samples_leaf": Range(5, 200, log=True, type="int"),
                    "l2_regularization": Range(1e-3, 10.0, log=True),
                }
            ),
        ),
        CatalogEntry(
            "random_forest",
            "onehot",
            _random_forest,
            _both(
                {
                    "max_depth": Range(4, 30, type="int"),
                    "min_samples_leaf": Range(1, 50, log=True, type="int"),
                    "max_features": Range(0.2, 1.0),
                }
            ),
        ),
        CatalogEntry(
            "linear",
            "scaled",
            _linear,
            {
                "classification": {"C": Range(1e-3, 100.0, log=True)},
                "regression": {"alpha": Range(1e-3, 100.0, log=True)},
            },
        ),
        CatalogEntry("dummy", "native", _dummy),
    ]
}
