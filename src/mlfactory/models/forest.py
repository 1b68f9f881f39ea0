"""Random forests (scikit-learn), on one-hot encoded categories."""

from __future__ import annotations

from typing import Any

from mlfactory.models.base import Builder, CatalogEntry, SearchRange, register_model, same_space

__all__: list[str] = []


def _random_forest(estimator: str) -> Builder:
    def build(params: dict[str, Any], seed: int, categorical: list[int]) -> Any:
        from sklearn import ensemble

        base: dict[str, Any] = {"random_state": seed, "n_jobs": -1, "n_estimators": 100}
        base.update(params)
        return getattr(ensemble, estimator)(**base)

    return build


register_model(
    CatalogEntry(
        "random_forest",
        "onehot",
        {
            "classifier": _random_forest("RandomForestClassifier"),
            "regressor": _random_forest("RandomForestRegressor"),
        },
        same_space(
            {
                "max_depth": SearchRange(low=4, high=30, type="int"),
                "min_samples_leaf": SearchRange(low=1, high=50, log=True, type="int"),
                "max_features": SearchRange(low=0.2, high=1.0),
            }
        ),
    )
)
