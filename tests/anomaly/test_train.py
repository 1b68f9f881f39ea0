"""task: anomaly trains, is judged on known anomalies or its own stability, gates, registers."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from mlfactory.errors import DataError, SpecError
from mlfactory.registry import Registry
from mlfactory.spec import load_spec
from mlfactory.training import train

from .conftest import anomaly_spec, flights

pytestmark = pytest.mark.slow


def test_labelled_detectors_are_tuned_on_pr_auc_and_find_planted_anomalies(
    flights_csv: Path, write_spec: Callable[..., Path], tmp_path: Path
) -> None:
    registry = Registry(path=tmp_path / ".mlfactory")
    result = train(write_spec(anomaly_spec()), registry=registry, progress=False)
    assert result.metric == "pr_auc"
    test = result.evaluation.metrics
    assert set(test) == {"pr_auc", "precision_at_k", "recall_at_k", "flag_rate", "stability"}
    # 40 planted in 3,000 rows: a constant score ranks them at the prevalence (~0.013)
    assert test["pr_auc"] > 10 * result.baseline.metrics["pr_auc"]
    assert 0 < test["flag_rate"] < 0.2
    low, high = result.evaluation.intervals["pr_auc"]
    assert low <= test["pr_auc"] <= high
    assert result.decision.promoted
    package, _ = registry.load("flights-odd@champion")
    answer = package.predict(flights(rows=200, planted=0, seed=9).drop(columns="implausible"))
    assert list(answer.columns) == ["prediction", "score"]
    assert answer["prediction"].dtype == bool and answer["score"].notna().all()
    # the labels never fit the detector and are no input of the served model
    assert "implausible" not in package.schema.names
    assert "flight_id" not in package.schema.names
    html = result.report_path.read_text()
    for title in ("Anomaly scores", "Precision and recall", "Top anomalies", "2-D projection"):
        assert title in html


def test_without_labels_the_gates_see_flag_rate_and_stability(
    flights_csv: Path, write_spec: Callable[..., Path], tmp_path: Path
) -> None:
    spec = anomaly_spec(
        models=["isolation_forest"],
        anomaly={"contamination": 0.02},
        gates={"max": {"flag_rate": 0.001}},
    )
    del spec["data"]["label_column"]
    spec["data"]["exclude"] = ["implausible"]
    registry = Registry(path=tmp_path / ".mlfactory")
    result = train(write_spec(spec), registry=registry, progress=False)
    assert result.metric == "stability"
    assert set(result.evaluation.metrics) == {"flag_rate", "stability"}
    # contamination 0.02: about 2% of the held-out rows are flagged too
    assert 0.005 < result.evaluation.metrics["flag_rate"] < 0.05
    assert 0 < result.evaluation.metrics["stability"] <= 1
    assert not result.decision.promoted
    assert "flag_rate" in result.decision.reason and "above 0.001" in result.decision.reason


def test_train_cli_holds_back_on_a_flag_rate_gate(
    flights_csv: Path, write_spec: Callable[..., Path], cli_env: dict[str, str]
) -> None:
    spec = anomaly_spec(models=["robust_z"], gates={"max": {"flag_rate": 0.0001}})
    run = subprocess.run(
        [sys.executable, "-m", "mlfactory", "train", str(write_spec(spec)), "--json", "-"],
        capture_output=True,
        text=True,
        env=cli_env,
    )
    assert run.returncode == 3, run.stderr
    record = json.loads(run.stdout)
    assert record["decision"] == "held back" and "flag_rate" in record["reason"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda s: s["data"].update(target="implausible"), "has no target"),
        (lambda s: s.update(anomaly={"contamination": 0.6}), "contamination"),
        (lambda s: s.update(anomaly={"contamination": 0.1, "threshold": 2}), "not both"),
        (lambda s: s.update(models=["lightgbm"]), "has no detector"),
        (lambda s: s.update(search={"metric": "roc_auc"}), "not a anomaly metric"),
        (lambda s: s.update(group_by=["origin"]), "group_by"),
    ],
)
def test_spec_mistakes_are_named(
    change: Callable[[dict[str, object]], None], expected: str, write_spec: Callable[..., Path]
) -> None:
    spec = anomaly_spec()
    change(spec)
    with pytest.raises(SpecError, match=expected):
        load_spec(write_spec(spec))


def test_other_tasks_refuse_the_anomaly_keys(write_spec: Callable[..., Path]) -> None:
    spec = anomaly_spec(task="classification", anomaly={"contamination": 0.01})
    with pytest.raises(SpecError) as error:
        load_spec(write_spec(spec))
    message = str(error.value)
    assert "data.target: task classification needs it" in message
    assert "data.label_column: applies to task: anomaly" in message
    assert "anomaly: applies to task: anomaly" in message


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ([0, 1, None], "missing in 100 rows"),
        (["ok", "bad", "ok"], r"holds \['bad', 'ok'\]"),
    ],
)
def test_bad_labels_are_refused_before_anything_is_fitted(
    labels: list[object],
    expected: str,
    write_spec: Callable[..., Path],
    tmp_path: Path,
) -> None:
    frame = flights(rows=300, planted=3)
    frame["implausible"] = (labels * 100)[:300]
    frame.to_csv(tmp_path / "flights.csv", index=False)
    registry = Registry(path=tmp_path / ".mlfactory")
    with pytest.raises(DataError, match=expected):
        train(write_spec(anomaly_spec()), registry=registry, progress=False)
    assert registry.versions("flights-odd") == []


def test_text_labels_with_a_positive_class(write_spec: Callable[..., Path], tmp_path: Path) -> None:
    frame = flights(rows=1500, planted=20)
    frame["implausible"] = frame["implausible"].map({0: "fine", 1: "odd"})
    frame.to_csv(tmp_path / "flights.csv", index=False)
    spec = anomaly_spec(models=["isolation_forest"])
    spec["data"]["positive_class"] = "odd"
    result = train(write_spec(spec), registry=Registry(path=tmp_path / ".r"), progress=False)
    assert result.metric == "pr_auc" and result.evaluation.metrics["pr_auc"] > 0.1
    assert pd.notna(result.evaluation.metrics["recall_at_k"])


def test_dbscan_eps_in_the_wrong_units_is_a_warning_with_the_flag_rate(
    flights_csv: Path, write_spec: Callable[..., Path], tmp_path: Path
) -> None:
    spec = anomaly_spec(models=[{"name": "dbscan", "params": {"eps": 0.0001}}])
    events: list[str] = []
    result = train(
        write_spec(spec),
        registry=Registry(path=tmp_path / ".mlfactory"),
        on_event=lambda event: events.append(str(getattr(event, "message", ""))),
    )
    warned = [e for e in events if "eps=0.0001" in e]
    assert warned and "flagged 100.0% of the training rows" in warned[0]
    assert any("eps=0.0001" in note for note in result.report_path.read_text().split("<"))
    assert len(result.warnings) == 1 and "eps=0.0001" in result.warnings[0]  # and in --json


def test_the_labelled_flag_rule_is_the_one_stability_refits_use(
    flights_csv: Path, write_spec: Callable[..., Path], tmp_path: Path
) -> None:
    """Without an anomaly: section the detector flags the labelled share; its refits must
    flag by that rule too, or stability compares different thresholds (it read ~0.3)."""
    labelled = train(
        write_spec(anomaly_spec(models=["isolation_forest"])),
        registry=Registry(path=tmp_path / ".a"),
        progress=False,
    )
    share = float(flights()["implausible"].mean())
    explicit = train(
        write_spec(anomaly_spec(models=["isolation_forest"], anomaly={"contamination": share})),
        registry=Registry(path=tmp_path / ".b"),
        progress=False,
    )
    assert labelled.evaluation.metrics["stability"] == pytest.approx(
        explicit.evaluation.metrics["stability"], abs=0.1
    )
    assert labelled.evaluation.metrics["stability"] > 0.5
