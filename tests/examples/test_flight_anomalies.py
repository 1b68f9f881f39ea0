"""examples/flight_anomalies: its spec trains on real flights without labels, ranks first the
flights that spent an implausible time in the air for their distance, serves, scores another
month in batch, and monitors that month."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import httpx
import numpy as np
import pandas as pd
import pytest
import yaml

from mlfactory.monitoring import monitor
from mlfactory.registry import Registry
from mlfactory.spec import load_spec
from mlfactory.training import TrainResult, train
from servers import serve

EXAMPLE = Path(__file__).parents[2] / "examples" / "flight_anomalies"
MODEL = "flight-anomalies"
JULY_FLIGHTS = 28_293  # flown (air time recorded) in July 2013


@pytest.fixture(scope="module")
def demo() -> ModuleType:
    spec = importlib.util.spec_from_file_location("flight_anomalies_demo", EXAMPLE / "demo.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_spec_is_an_unlabelled_anomaly_spec_and_the_demo_reuses_its_query(
    demo: ModuleType,
) -> None:
    spec = load_spec(EXAMPLE / "factory.yaml")
    assert spec.task == "anomaly" and spec.data.label_column is None
    assert spec.metric == "stability"
    assert spec.anomaly is not None and spec.anomaly.contamination == 0.005
    july = demo.spec_sql(7)
    assert "month = 7" in july and demo.TRAINED_MONTHS not in july
    assert july.replace("month = 7", demo.TRAINED_MONTHS) == spec.data.sql


@pytest.fixture(scope="module")
def trained(
    tmp_path_factory: pytest.TempPathFactory, demo: ModuleType
) -> tuple[Path, Registry, TrainResult]:
    """The example's spec (its query, feature, detectors, threshold and gates) on June alone:
    27,075 flights instead of January-June's 160,678."""
    folder = tmp_path_factory.mktemp("flight_anomalies")
    spec = yaml.safe_load((EXAMPLE / "factory.yaml").read_text())
    spec["data"]["sql"] = demo.spec_sql(6)
    (folder / "factory.yaml").write_text(yaml.safe_dump(spec))
    registry = Registry(path=folder / ".mlfactory")
    result = train(folder / "factory.yaml", registry=registry, progress=False)
    return folder, registry, result


@pytest.fixture(scope="module")
def july(trained: tuple[Path, Registry, TrainResult], demo: ModuleType) -> Path:
    """July's flights through the spec's query, scored by `mlfactory batch` as the demo does."""
    folder, _, _ = trained
    demo.month_rows(7).to_parquet(folder / "july.parquet", index=False)
    run = subprocess.run(
        [
            sys.executable, "-m", "mlfactory", "batch", f"{MODEL}@champion",
            "--input", str(folder / "july.parquet"), "--output", str(folder / "july-scored"),
            "--json", "-",
        ],
        capture_output=True, text=True, cwd=folder,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["scored"] == JULY_FLIGHTS
    return folder / "july-scored"


@pytest.mark.slow
def test_it_trains_without_labels_and_passes_its_gates(
    trained: tuple[Path, Registry, TrainResult],
) -> None:
    _, _, result = trained
    assert result.metric == "stability"
    metrics = result.evaluation.metrics
    assert set(metrics) == {"flag_rate", "stability"}
    assert 0.001 < metrics["flag_rate"] < 0.02  # contamination 0.005 of the training rows
    assert metrics["stability"] >= 0.6
    assert result.decision.promoted, result.decision.reason


@pytest.mark.slow
def test_the_top_scored_flights_of_another_month_flew_implausibly_long_or_fast(july: Path) -> None:
    rows = pd.read_parquet(july / f"model={MODEL}")
    assert len(rows) == JULY_FLIGHTS and rows["flight_id"].is_unique
    route = rows["flight_id"].str.rsplit(" ", n=1).str[1]
    usual = rows.groupby(route)["air_time"].transform("median")
    # how far each flight's speed is from its route's usual one, as a factor (log)
    off = np.abs(np.log(rows["air_time"] / usual))
    top = off[rows["score"].rank(ascending=False, method="first") <= 20]
    assert top.median() > 10 * off.median()  # about 0.66 (1.9 times) against 0.04
    flagged = rows["prediction"]
    assert 0.001 < flagged.mean() < 0.02
    assert (off[flagged] > np.log(1.5)).mean() > 0.4  # against 0.2% of July's flights
    assert rows.loc[rows["mph"] > 550, "prediction"].all()  # the one faster than 550 mph


@pytest.mark.slow
def test_a_served_flight_is_flagged_when_its_air_time_is_impossible(
    trained: tuple[Path, Registry, TrainResult], demo: ModuleType
) -> None:
    _, registry, _ = trained
    rows = demo.flight_rows(demo.FLIGHTS, 2013, 7, 23)  # ordinary, 96 min to Boston, 990 mph
    records = json.loads(rows.to_json(orient="records"))
    with serve([f"{MODEL}@champion"], registry) as url:
        answer = httpx.post(f"{url}/v1/models/{MODEL}/predict", json={"records": records})
    assert answer.status_code == 200, answer.text
    out = answer.json()
    assert out["predictions"] == [False, True, True]
    assert out["scores"][0] < min(out["scores"][1:])


@pytest.mark.slow
def test_monitoring_the_month_checks_its_rows_and_the_scores(
    trained: tuple[Path, Registry, TrainResult], july: Path
) -> None:
    _, registry, _ = trained
    result = monitor(f"{MODEL}@champion", registry=registry, current=str(july),
                     multivariate=False)  # fmt: skip
    assert result.data.n_current == JULY_FLIGHTS
    assert [c.column for c in result.data.columns] == ["log2_time_ratio"]
    assert result.prediction is not None and result.prediction.kind == "numeric"
