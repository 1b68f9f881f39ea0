"""An anomaly model serves a score and a flag per row on every protocol, scores in batch, and
is monitored: its flag rate drifts like a prediction."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
import yaml

from mlfactory.monitoring import monitor
from mlfactory.registry import Registry
from mlfactory.training import train
from servers import serve

from .conftest import anomaly_spec, flights

pytestmark = pytest.mark.slow
COLUMNS = ["distance", "air_time", "dep_delay", "origin", "carrier"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Registry]:
    folder = tmp_path_factory.mktemp("anomaly")
    flights().to_csv(folder / "flights.csv", index=False)
    spec = anomaly_spec(source=str(folder / "flights.csv"), models=["isolation_forest"])
    (folder / "factory.yaml").write_text(yaml.safe_dump(spec))
    registry = Registry(path=folder / ".mlfactory")
    train(folder / "factory.yaml", registry=registry, progress=False)
    return folder, registry


@pytest.fixture(scope="module")
def url(trained: tuple[Path, Registry]) -> Iterator[str]:
    with serve(["flights-odd@champion"], trained[1]) as base:
        yield base


def rows() -> pd.DataFrame:
    """Two ordinary flights and one 100-mile hop that left 16 hours late and flew for 11."""
    frame = flights(rows=2, planted=0, seed=5)[COLUMNS]
    odd = frame.iloc[[0]].assign(distance=100, air_time=660.0, dep_delay=1000.0)
    return pd.concat([frame, odd], ignore_index=True)


def test_native_answers_a_flag_and_a_score_per_row(url: str) -> None:
    body = {"records": json.loads(rows().to_json(orient="records"))}
    answer = httpx.post(f"{url}/v1/models/flights-odd/predict", json=body)
    assert answer.status_code == 200, answer.text
    out = answer.json()
    assert out["predictions"] == [False, False, True]
    assert len(out["scores"]) == 3 and out["scores"][2] > max(out["scores"][:2])


def test_mlflow_invocations_and_v2_answer_the_same(url: str) -> None:
    frame = rows()
    native = httpx.post(
        f"{url}/v1/models/flights-odd/predict",
        json={"records": json.loads(frame.to_json(orient="records"))},
    ).json()
    split = json.loads(frame.to_json(orient="split", index=False))
    mlflow = httpx.post(f"{url}/invocations", json={"dataframe_split": split})
    assert mlflow.status_code == 200, mlflow.text
    predictions = mlflow.json()["predictions"]
    assert [p["prediction"] for p in predictions] == native["predictions"]
    assert np.allclose([p["score"] for p in predictions], native["scores"])
    inputs = [
        {
            "name": c,
            "shape": [3],
            "datatype": "BYTES" if frame[c].dtype == object else "FP64",
            "data": frame[c].tolist(),
        }
        for c in frame.columns
    ]
    v2 = httpx.post(f"{url}/v2/models/flights-odd/infer", json={"inputs": inputs})
    assert v2.status_code == 200, v2.text
    outputs = {o["name"]: o for o in v2.json()["outputs"]}
    assert outputs["prediction"]["datatype"] == "BOOL"
    assert outputs["prediction"]["data"] == native["predictions"]
    assert np.allclose(outputs["score"]["data"], native["scores"])


def test_bad_rows_get_a_4xx_with_a_message(url: str) -> None:
    missing = httpx.post(
        f"{url}/v1/models/flights-odd/predict", json={"records": [{"distance": 100.0}]}
    )
    assert missing.status_code == 422 and "air_time" in missing.text
    text = rows().astype({"air_time": object})
    text.loc[0, "air_time"] = "fast"
    typed = httpx.post(
        f"{url}/v1/models/flights-odd/predict",
        json={"records": json.loads(text.to_json(orient="records"))},
    )
    assert typed.status_code == 422 and "air_time" in typed.text


def test_batch_writes_flags_and_scores(trained: tuple[Path, Registry], tmp_path: Path) -> None:
    folder, _ = trained
    frame = flights(rows=500, planted=10, seed=11)
    frame.drop(columns="implausible").to_csv(tmp_path / "day.csv", index=False)
    run = subprocess.run(
        [
            sys.executable, "-m", "mlfactory", "batch", "flights-odd@champion",
            "--input", str(tmp_path / "day.csv"), "--output", str(tmp_path / "out"),
            "--json", "-",
        ],
        capture_output=True, text=True, cwd=folder,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["scored"] == 500
    parts = pd.read_parquet(tmp_path / "out" / "model=flights-odd")
    assert len(parts) == 500 and parts["flight_id"].is_unique
    assert parts["prediction"].dtype == bool and parts["score"].notna().all()


def test_the_flag_rate_drifts_like_a_prediction(trained: tuple[Path, Registry]) -> None:
    folder, registry = trained
    calm = flights().drop(columns="implausible")  # the training table: no drift by design
    calm.to_csv(folder / "calm.csv", index=False)
    stormy = flights().drop(columns="implausible")
    stormy.loc[:299, ["distance", "air_time"]] = [100.0, 2000.0]  # 3 mph
    stormy.to_csv(folder / "stormy.csv", index=False)
    quiet = monitor("flights-odd@champion", registry=registry, current=str(folder / "calm.csv"),
                    multivariate=False)  # fmt: skip
    assert quiet.prediction is not None and not quiet.prediction.drifted
    loud = monitor("flights-odd@champion", registry=registry, current=str(folder / "stormy.csv"),
                   multivariate=False)  # fmt: skip
    assert loud.prediction is not None and loud.prediction.drifted


def test_plain_mlflow_loads_it_and_answers_the_same(
    trained: tuple[Path, Registry], url: str
) -> None:
    import mlflow

    _, registry = trained
    mlflow.set_tracking_uri(registry.tracking_uri)
    model = mlflow.pyfunc.load_model("models:/flights-odd@champion")
    answer = model.predict(rows())
    native = httpx.post(
        f"{url}/v1/models/flights-odd/predict",
        json={"records": json.loads(rows().to_json(orient="records"))},
    ).json()
    assert answer["prediction"].tolist() == native["predictions"]
    assert np.allclose(answer["score"], native["scores"])
