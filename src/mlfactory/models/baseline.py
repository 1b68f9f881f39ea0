"""The dummy baseline every training fits: the class prior, the mean, or no anomaly."""

from __future__ import annotations

from typing import Any

from mlfactory.models.base import Builder, CatalogEntry, register_model

__all__: list[str] = []


def _dummy(estimator: str, strategy: str) -> Builder:
    def build(params: dict[str, Any], seed: int, categorical: list[int]) -> Any:
        from sklearn import dummy

        return getattr(dummy, estimator)(**{"strategy": strategy, **params})

    return build


class ConstantDetector:
    """The anomaly baseline: every row scores 0 and none is flagged (PR AUC = prevalence)."""

    threshold_ = 0.0

    def fit(self, X: Any, y: Any = None) -> ConstantDetector:
        return self

    def score_samples(self, X: Any) -> Any:
        import numpy as np

        return np.zeros(X.shape[0])

    def predict(self, X: Any) -> Any:
        import numpy as np

        return np.zeros(X.shape[0], dtype=np.int64)

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {}


register_model(
    CatalogEntry(
        "dummy",
        "native",
        {
            "classifier": _dummy("DummyClassifier", "prior"),
            "regressor": _dummy("DummyRegressor", "mean"),
            "detector": lambda params, seed, categorical: ConstantDetector(),
        },
    )
)
