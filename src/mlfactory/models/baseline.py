"""The dummy baseline every training fits: the class prior, or the mean."""

from __future__ import annotations

from typing import Any

from mlfactory.models.base import Builder, CatalogEntry, register_model

__all__: list[str] = []


def _dummy(estimator: str, strategy: str) -> Builder:
    def build(params: dict[str, Any], seed: int, categorical: list[int]) -> Any:
        from sklearn import dummy

        return getattr(dummy, estimator)(**{"strategy": strategy, **params})

    return build


register_model(
    CatalogEntry(
        "dummy",
        "native",
        {
            "classifier": _dummy("DummyClassifier", "prior"),
            "regressor": _dummy("DummyRegressor", "mean"),
        },
    )
)
