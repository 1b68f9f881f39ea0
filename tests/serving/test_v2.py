"""Open Inference Protocol V2 over real HTTP, driven by the real tritonclient."""

from __future__ import annotations

from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from mlfactory.registry import Registry

from .conftest import serve


@pytest.fixture(scope="module")
def url(trained: Registry) -> Any:
    with serve(["mroz@champion"], trained) as base:
        yield base


def inputs_for(frame: pd.DataFrame, binary: bool) -> list[Any]:
    tensors = []
    for name in frame.columns:
        values = frame[name].to_numpy()
        if values.dtype == object:
            values = values.astype(np.object_)
            tensor = triton.InferInput(name, [len(values)], "BYTES")
        else:
            values = values.astype(np.float64)
            tensor = triton.InferInput(name, [len(values)], "FP64")
        tensor.set_data_from_numpy(values, binary_data=binary)
        tensors.append(tensor)
    return tensors


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_tritonclient_infers_and_reads_metadata(
    url: str, rows: list[dict[str, Any]], trained: Registry, binary: bool
) -> None:
    frame = pd.DataFrame(rows)
    client = triton.InferenceServerClient(url.removeprefix("http://"))
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("mroz")
    meta = client.get_model_metadata("mroz")
    assert meta["versions"] == ["1"]
    assert {i["name"]: i["datatype"] for i in meta["inputs"]}["wc"] == "BYTES"
    outputs = [
        triton.InferRequestedOutput(n, binary_data=binary) for n in ("prediction", "proba_yes")
    ]
    result = client.infer("mroz", inputs_for(frame, binary), outputs=outputs)
    expected = trained.load("mroz@champion")[0].predict(frame)
    assert result.as_numpy("proba_yes") == pytest.approx(expected.proba_yes.to_numpy())
    labels = [v.decode() if isinstance(v, bytes) else v for v in result.as_numpy("prediction")]
    assert labels == expected.prediction.tolist()
    assert result.get_response()["model_version"] == "1"
    versioned = client.infer("mroz", inputs_for(frame, binary), model_version="1")
    assert versioned.as_numpy("proba_no") is not None


def test_v2_errors_are_4xx_with_a_message(url: str, rows: list[dict[str, Any]]) -> None:
    client = triton.InferenceServerClient(url.removeprefix("http://"))
    frame = pd.DataFrame(rows)
    with pytest.raises(InferenceServerException, match="version 7 is not served"):
        client.infer("mroz", inputs_for(frame, True), model_version="7")
    with pytest.raises(InferenceServerException, match="no model named 'nope'"):
        client.infer("nope", inputs_for(frame, True))
    wrong_type = inputs_for(frame, True)
    wc = next(t for t in wrong_type if t.name() == "wc")
    wrong_type.remove(wc)
    bad = triton.InferInput("wc", [5], "FP64")
    bad.set_data_from_numpy(np.zeros(5))
    with pytest.raises(InferenceServerException, match="is categorical; send BYTES"):
        client.infer("mroz", [*wrong_type, bad])
    infer = f"{url}/v2/models/mroz/infer"
    wrong_shape = {
        "inputs": [{"name": "age", "shape": [2, 3], "datatype": "FP64", "data": [1, 2, 3, 4, 5, 6]}]
    }
    answer = httpx.post(infer, json=wrong_shape)
    assert answer.status_code == 400 and "[n] or [n, 1]" in answer.json()["error"]
    mismatch = {"inputs": [{"name": "age", "shape": [3], "datatype": "FP64", "data": [1, 2]}]}
    answer = httpx.post(infer, json=mismatch)
    assert answer.status_code == 400 and "age" in answer.json()["error"]
    too_long = httpx.post(
        infer, content=b'{"inputs": []}', headers={"Inference-Header-Content-Length": "99999"}
    )
    assert too_long.status_code == 400 and "99999" in too_long.json()["error"]
    missing = httpx.post(
        infer, json={"inputs": [{"name": "age", "shape": [1], "datatype": "FP64", "data": [40]}]}
    )
    assert missing.status_code == 422 and "column 'k5' is missing" in missing.json()["error"]
    assert httpx.get(f"{url}/v2/models/mroz/versions/3").status_code == 404
    assert httpx.get(f"{url}/v2").json()["extensions"] == ["binary_tensor_data"]


def test_a_bool_tensor_for_a_numeric_column_is_422(url: str, rows: list[dict[str, Any]]) -> None:
    """The JSON protocols' rule: true/false are no numbers for a column trained on numbers."""
    frame = pd.DataFrame(rows)
    tensors = [
        {"name": c, "shape": [5], "datatype": "BYTES" if c in ("wc", "hc") else "FP64",
         "data": frame[c].tolist()}
        for c in frame.columns
    ]  # fmt: skip
    infer = f"{url}/v2/models/mroz/infer"
    assert httpx.post(infer, json={"inputs": tensors}).status_code == 200
    age = next(t for t in tensors if t["name"] == "age")
    age.update(datatype="BOOL", data=[True] * 5)
    answer = httpx.post(infer, json={"inputs": tensors})
    assert answer.status_code == 422, answer.text
    assert (
        "column 'age' must be numeric; got True (true/false) in 5 row(s)" in answer.json()["error"]
    )
