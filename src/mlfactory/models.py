"""The model catalog: names in ``factory.yaml`` mapped to estimators and search spaces.

Each entry is one small record: the input style its preprocessor needs, a
builder ``(params, seed, categorical) -> estimator`` for each kind of estimator
it offers (``classifier``, ``regressor``: a task says which it needs, as
``Task.estimator``) and a default search space for each. A new model is a new
entry in ``CATALOG``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlfactory.errors import SpecError
from mlfactory.features import Style

if TYPE_CHECKING:
    from mlfactory.tasks import Task

__all__ = ["CATALOG", "CatalogEntry", "Range"]


@dataclass(frozen=True)
class Range:
    """A default search range (the spec's ``SearchRange`` has the same keys)."""

    low: float | None = None
    high: float | None = None
    log: bool = False
    type: str | None = None
    choices: list[Any] | None = None


Builder = Callable[[dict[str, Any], int, list[int]], Any]


@dataclass(frozen=True)
class CatalogEntry:
    name: str
    style: Style
    builders: dict[str, Builder]  # by the kind of estimator: "classifier", "regressor"
    spaces: dict[str, dict[str, Range]] = field(default_factory=dict)  # by the same kinds
    boosting: bool = False  # accepts an eval set: early stopping and pruning

    def build(self, task: Task, params: dict[str, Any], seed: int, categorical: list[int]) -> Any:
        """An unfitted estimator of the kind ``task`` needs."""
        builder = self.builders.get(task.estimator)
        if builder is None:
            raise SpecError(
                f"model {self.name!r} has no {task.estimator} for task {task.name!r}; it offers "
                f"{', '.join(self.builders)}"
            )
        return builder(params, seed, categorical)

    def space(self, task: Task) -> dict[str, Range]:
        return self.spaces.get(task.estimator, {})


def _both(space: dict[str, Range]) -> dict[str, dict[str, Range]]:
    return {"classifier": space, "regressor": space}


def _lightgbm(estimator: str) -> Builder:
    def build(params: dict[str, Any], seed: int, categorical: list[int]) -> Any:
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
        return getattr(lgb, estimator)(**base)

    return build


def _hist_gradient_boosting(estimator: str) -> Builder:
    def build(params: dict[str, Any], seed: int, categorical: list[int]) -> Any:
        from sklearn import ensemble

        base: dict[str, Any] = {
            "random_state": seed,
            "early_stopping": False,
            "categorical_features": categorical or None,
        }
        base.update(params)
        return getattr(ensemble, estimator)(**base)

    return build


def _random_forest(estimator: str) -> Builder:
    def build(params: dict[str, Any], seed: int, categorical: list[int]) -> Any:
        from sklearn import ensemble

        base: dict[str, Any] = {"random_state": seed, "n_jobs": -1, "n_estimators": 100}
        base.update(params)
        return getattr(ensemble, estimator)(**base)

    return build


def _logistic(params: dict[str, Any], seed: int, categorical: list[int]) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(**{"max_iter": 1000, "random_state": seed, **params})


def _ridge(params: dict[str, Any], seed: int, categorical: list[int]) -> Any:
    from sklearn.linear_model import Ridge

    return Ridge(**{"random_state": seed, **params})


def _dummy(estimator: str, strategy: str) -> Builder:
    def build(params: dict[str, Any], seed: int, categorical: list[int]) -> Any:
        from sklearn import dummy

        return getattr(dummy, estimator)(**{"strategy": strategy, **params})

    return build


CATALOG: dict[str, CatalogEntry] = {
    e.name: e
    for e in [
        CatalogEntry(
            "lightgbm",
            "native",
            {"classifier": _lightgbm("LGBMClassifier"), "regressor": _lightgbm("LGBMRegressor")},
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
            {
                "classifier": _hist_gradient_boosting("HistGradientBoostingClassifier"),
                "regressor": _hist_gradient_boosting("HistGradientBoostingRegressor"),
            },
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
            {
                "classifier": _random_forest("RandomForestClassifier"),
                "regressor": _random_forest("RandomForestRegressor"),
            },
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
            {"classifier": _logistic, "regressor": _ridge},
            {
                "classifier": {"C": Range(1e-3, 100.0, log=True)},
                "regressor": {"alpha": Range(1e-3, 100.0, log=True)},
            },
        ),
        CatalogEntry(
            "dummy",
            "native",
            {
                "classifier": _dummy("DummyClassifier", "prior"),
                "regressor": _dummy("DummyRegressor", "mean"),
            },
        ),
    ]
}
