"""A classifier's target: which class is positive, imbalance, and targets that are no classes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from mlfactory.cli import main
from mlfactory.registry import Registry
from mlfactory.spec import parse_spec
from mlfactory.tasks import TASKS, TargetOptions
from mlfactory.training import train

CLASSIFICATION = TASKS["classification"]


def target(values: list | pd.Series, **options: object):  # type: ignore[no-untyped-def]
    series = pd.Series(values)
    found, problems = CLASSIFICATION.prepare_target(series, "y", TargetOptions(**options))
    assert not problems, problems
    assert found is not None
    return found


@pytest.mark.parametrize(
    ("values", "positive", "why"),
    [
        (["good"] * 95 + ["bad"] * 5, "bad", "the minority class"),
        (["bad"] * 95 + ["good"] * 5, "good", "the minority class"),
        ([True] * 90 + [False] * 10, True, "the true/1 value"),  # the majority, but True
        ([0] * 30 + [1] * 70, 1, "the true/1 value"),
        ([0.0] * 30 + [1.0] * 70, 1, "the true/1 value"),  # whole floats: the numbers
        (["a"] * 50 + ["b"] * 50, "b", "the minority class"),  # a tie keeps the old order
    ],
)
def test_the_positive_class_is_second_and_said(values: list, positive: object, why: str) -> None:
    found = target(values)
    assert found.classes is not None and found.classes[1] == positive
    share = sum(1 for v in values if v == positive) / len(values)
    assert found.notes[0] == f"positive class: {positive!r} ({why}; {share:.1%} of rows)"
    assert (found.y == 1).sum() == sum(1 for v in values if v == positive)


def test_classes_too_rare_for_every_part_of_the_split_are_named() -> None:
    """A class of 1 or 2 rows cannot be in train, validation and test at once: the split
    was silently not stratified, and the model never saw the class it was tested on."""
    found = target(["a"] * 50 + ["b"] * 50 + ["c"])
    assert found.notes[-1].startswith(
        "too few rows: class 'c' (1 row) cannot be in train, validation and test at once: "
        "a model may never learn it"
    )
    many = target(["a"] * 50 + [f"r{i}" for i in range(7)] + ["b", "b", "b"] + ["r0"])
    assert "classes 'r1' (1 row), 'r2' (1 row)" in many.notes[-1]
    assert "'r0'" not in many.notes[-1] and "and 2 more" in many.notes[-1]  # 'r0' has 2 rows
    assert not any("too few" in n for n in target(["a"] * 50 + ["b"] * 3).notes)


def test_numeric_classes_are_in_numeric_order_and_whole_floats_are_whole() -> None:
    """Categories 1 to 12 of a column with gaps (read as floats): the report's confusion
    matrix and the served labels say 2 before 10, and 3, not 3.0."""
    values = [float(v) for v in range(1, 13)] * 10
    assert target(values).classes == list(range(1, 13))
    assert all(type(c) is int for c in target(values).classes)
    assert target([0.5, 1.5] * 20).classes == [0.5, 1.5]  # not whole: as they are
    assert target(["10", "2"] * 20).classes == ["10", "2"]  # text sorts as text


def test_data_positive_class_wins_and_matches_text_to_numbers() -> None:
    found = target(["good"] * 95 + ["bad"] * 5, positive_class="good")
    assert found.classes == ["bad", "good"]
    assert found.notes[0].endswith("(data.positive_class; 95.0% of rows)")
    assert found.metric is None  # 95% is not imbalanced
    assert target([0] * 30 + [1] * 70, positive_class="0").classes == [1, 0]


def test_a_rare_positive_class_is_called_imbalanced_and_asks_for_pr_auc() -> None:
    found = target(["ok"] * 960 + ["fraud"] * 40)
    assert found.metric == "pr_auc"
    assert found.notes[1].startswith("imbalanced: the positive class is 4.0% of rows")
    assert "class_weight: balanced" in found.notes[1]
    assert target(["ok"] * 900 + ["fraud"] * 100).metric is None  # 10% is not below 10%


@pytest.mark.parametrize(
    ("values", "options", "message"),
    [
        (["a", "b"] * 10, {"positive_class": "c"}, "data.positive_class 'c' is not a value"),
        (["no", "yes"] * 10, {"positive_class": True}, "YAML reads an unquoted yes/no/on/off"),
        (["a", "b", "c"] * 10, {"positive_class": "a"}, "applies to a binary target; 'y' has 3"),
        (
            list(np.random.default_rng(0).normal(size=5000)),
            {},
            "target 'y' looks continuous: 5,000 distinct numeric values",
        ),
        ([f"c{i}" for i in range(150)] * 2, {}, "has 150 classes, more than data.max_classes"),
    ],
)
def test_targets_that_cannot_be_classes_are_refused(
    values: list, options: dict, message: str
) -> None:
    found, problems = CLASSIFICATION.prepare_target(
        pd.Series(values), "y", TargetOptions(**options)
    )
    assert found is None and any(message in p for p in problems), problems


def test_more_than_100_classes_train_when_asked() -> None:
    found = target([f"c{i}" for i in range(150)] * 3, max_classes=150)
    assert found.classes is not None and len(found.classes) == 150 and not found.notes


def test_a_continuous_target_fails_validate_in_seconds_naming_regression(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"x": rng.normal(size=20_000)})
    frame["price"] = frame.x * 100 + rng.normal(size=len(frame))
    frame.to_csv(tmp_path / "prices.csv", index=False)
    spec = {
        "name": "prices",
        "task": "classification",
        "data": {"source": "prices.csv", "target": "price"},
    }
    (tmp_path / "factory.yaml").write_text(yaml.safe_dump(spec))
    assert main(["validate", str(tmp_path / "factory.yaml")]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "looks continuous: 20,000 distinct numeric values" in err
    assert "set task: regression" in err


def _imbalanced(path: Path) -> Path:
    """2,000 loans, 5% bad, where 'debt' tells them apart only roughly."""
    rng = np.random.default_rng(3)
    bad = rng.random(2000) < 0.05
    frame = pd.DataFrame(
        {
            "debt": rng.normal(size=2000) + 1.5 * bad,
            "region": rng.choice(["north", "south", "east"], 2000),
            "status": np.where(bad, "bad", "good"),
        }
    )
    frame.to_csv(path, index=False)
    return path


def test_an_imbalanced_target_trains_on_pr_auc_for_the_rare_class(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _imbalanced(tmp_path / "loans.csv")
    raw = {
        "name": "loans",
        "task": "classification",
        "data": {"source": str(source), "target": "status"},
        "models": [{"name": "lightgbm", "params": {"n_estimators": 50}}],
        "search": {"trials": 2},
        "evaluation": {"bootstrap": 50},
    }
    (tmp_path / "factory.yaml").write_text(yaml.safe_dump(raw))
    assert main(["validate", str(tmp_path / "factory.yaml")]) == 0
    said = " ".join(capsys.readouterr().out.split())
    assert "positive class: 'bad' (the minority class;" in said
    assert "imbalanced: the positive class is" in said and "primary metric pr_auc" in said

    result = train(parse_spec(raw), registry=Registry(path=tmp_path / ".mlfactory"), progress=False)
    assert result.metric == "pr_auc"
    prevalence = float(np.mean(result.evaluation.y_test == 1))
    assert prevalence < 0.1  # the code 1 is 'bad', the rare class
    assert result.baseline.metrics["pr_auc"] == pytest.approx(prevalence)  # not 0.95
    package, _ = Registry(path=tmp_path / ".mlfactory").load("loans@champion")
    assert package.manifest.metric == "pr_auc" and package.classes == ["good", "bad"]
    html = result.report_path.read_text()
    assert "Positive class: &#x27;bad&#x27; (the minority class;" in html  # HTML-escaped
    assert "Imbalanced: the positive class is" in html


def test_class_weight_balanced_is_documented_and_weighs_the_rare_class_up(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["schema"]) == 0
    assert "class_weight: balanced" in capsys.readouterr().out
    source = _imbalanced(tmp_path / "loans.csv")
    mean_bad = {}
    for weight in (None, "balanced"):
        params = {"class_weight": weight} if weight else {}
        raw = {
            "name": f"loans-{weight}",
            "task": "classification",
            "data": {"source": str(source), "target": "status"},
            "models": [{"name": "linear", "params": params}],
            "evaluation": {"bootstrap": 20},
        }
        registry = Registry(path=tmp_path / ".mlfactory")
        result = train(parse_spec(raw), registry=registry, progress=False)
        mean_bad[weight] = float(result.evaluation.proba[:, 1].mean())
    assert mean_bad[None] < 0.1 < 0.3 < mean_bad["balanced"]  # about even odds once balanced
