"""Fuzzing: no request body, however malformed, gets a 5xx or hangs."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlfactory.registry import Registry

from .conftest import serve

COLUMNS = ["k5", "k618", "age", "wc", "hc", "lwg", "inc", "extra"]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
records = st.lists(st.dictionaries(st.sampled_from(COLUMNS), json_values, max_size=8), max_size=6)
native = st.one_of(
    json_values,
    st.fixed_dictionaries({"records": st.one_of(records, json_values)}),
    st.fixed_dictionaries(
        {
            "columns": st.lists(st.sampled_from(COLUMNS), max_size=8),
            "data": st.lists(st.lists(json_values, max_size=8), max_size=4),
        }
    ),
)
mlflow = st.one_of(
    st.dictionaries(
        st.sampled_from(["dataframe_split", "dataframe_records", "instances", "inputs"]),
        st.one_of(
            records,
            json_values,
            st.dictionaries(st.sampled_from(COLUMNS), st.lists(json_values, max_size=3)),
        ),
        max_size=2,
    ),
    json_values,
)
tensor = st.fixed_dictionaries(
    {
        "name": st.sampled_from(COLUMNS),
        "shape": st.lists(st.integers(min_value=-2, max_value=4), max_size=3),
        "datatype": st.sampled_from(["FP64", "FP32", "INT64", "BYTES", "BOOL", "UINT8", "XX"]),
        "data": st.lists(json_values, max_size=5),
    }
)
v2 = st.one_of(
    st.fixed_dictionaries(
        {"inputs": st.lists(tensor, max_size=8)},
        optional={
            "outputs": st.lists(st.fixed_dictionaries({"name": st.text(max_size=12)}), max_size=2),
            "id": json_values,
        },
    ),
    json_values,
)

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def http(trained: Registry) -> Any:
    with (
        serve(["mroz@champion"], trained, max_rows=100) as base,
        httpx.Client(base_url=base, timeout=10) as client,
    ):
        yield client


def _check(answer: httpx.Response) -> None:
    assert answer.status_code < 500, answer.text
    if answer.status_code >= 400:
        assert answer.json()["error"]


@FUZZ
@given(body=native)
def test_native_json_never_5xx(http: httpx.Client, body: Any) -> None:
    _check(http.post("/v1/models/mroz/predict", json=body))


@FUZZ
@given(body=mlflow)
def test_mlflow_json_never_5xx(http: httpx.Client, body: Any) -> None:
    _check(http.post("/invocations", json=body))


@FUZZ
@given(body=v2)
def test_v2_json_never_5xx(http: httpx.Client, body: Any) -> None:
    _check(http.post("/v2/models/mroz/infer", json=body))


@FUZZ
@given(
    path=st.sampled_from(["/v1/models/mroz/predict", "/invocations", "/v2/models/mroz/infer"]),
    raw=st.binary(max_size=300),
    content_type=st.sampled_from(
        ["", "application/json", "text/csv", "text/plain", "application/octet-stream"]
    ),
    header_length=st.one_of(
        st.none(), st.integers(min_value=-5, max_value=400).map(str), st.text(max_size=5)
    ),
)
def test_raw_bytes_never_5xx(
    http: httpx.Client, path: str, raw: bytes, content_type: str, header_length: str | None
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    sendable = header_length is not None and header_length.isprintable()
    if sendable and header_length.isascii() and header_length == header_length.strip():
        headers["Inference-Header-Content-Length"] = header_length  # what an HTTP client sends
    _check(http.post(path, content=raw, headers=headers))


@pytest.fixture(scope="module")
def operations(http: httpx.Client) -> list[tuple[str, str]]:
    spec = http.get("/openapi.json").json()
    return [
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method in item
        if method in ("get", "post")
    ]


@FUZZ
@given(data=st.data())
def test_every_openapi_operation_never_5xx(
    http: httpx.Client, operations: list[tuple[str, str]], data: st.DataObject
) -> None:
    import re

    method, template = data.draw(st.sampled_from(operations))
    path = re.sub(
        r"\{[^}]+\}",
        lambda _: data.draw(
            st.one_of(
                st.just("mroz"),
                st.just("1"),
                st.text(
                    alphabet=st.characters(
                        min_codepoint=33, max_codepoint=126, exclude_characters="/?#%"
                    ),
                    min_size=1,
                    max_size=12,
                ),
            )
        ),
        template,
    )
    answer = http.get(path) if method == "GET" else http.post(path, json=data.draw(json_values))
    assert answer.status_code < 500, (method, path, answer.text)
