"""Forecasts over HTTP from a real uvicorn server: both request shapes, errors, the cache."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import yaml

from mlfactory.registry import Registry
from mlfactory.training import train
from servers import serve

from .test_train import pizza_spec


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("served")
    (folder / "factory.yaml").write_text(
        yaml.safe_dump(pizza_spec(models=["seasonal_naive", "auto_ets"]))
    )
    registry = Registry(path=folder / ".mlfactory")
    train(folder / "factory.yaml", registry=registry, progress=False)
    with serve(["pizzas@champion"], registry, api_token="s3cret") as base:
        yield base


def post(url: str, body: object, token: str = "s3cret") -> httpx.Response:
    return httpx.post(
        f"{url}/v1/models/pizzas/forecast", json=body, headers={"Authorization": f"Bearer {token}"}
    )


def test_one_store_comes_back_with_intervals(url: str) -> None:
    answer = post(url, {"ids": ["hawaiian"], "horizon": 7, "levels": [80, 95]})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["model_version"] == "1" and body["horizon"] == 7 and body["levels"] == [80, 95]
    [one] = body["forecasts"]
    assert one["id"] == "hawaiian" and len(one["dates"]) == 7
    assert one["dates"][0] == "2016-01-01T00:00:00"
    for low, mean, high in zip(one["lo_95"], one["mean"], one["hi_95"], strict=True):
        assert 0 <= low <= mean <= high
    assert all(a <= b for a, b in zip(one["lo_95"], one["lo_80"], strict=True))


def test_close_levels_keep_their_own_names_and_a_level_asked_twice_is_answered_once(
    url: str,
) -> None:
    levels = [99.99999, 99.999999, 80, 80.0, 30.000000000000004]
    answer = post(url, {"ids": ["hawaiian"], "horizon": 2, "levels": levels})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["levels"] == [99.99999, 99.999999, 80, 30.000000000000004]
    [one] = body["forecasts"]
    names = ("99.99999", "99.999999", "80", "30")  # not "100" twice: 99.99999 is no 100
    assert [k for k in one if k.startswith("lo_")] == [f"lo_{n}" for n in names]
    assert all(a <= b for a, b in zip(one["hi_99.99999"], one["hi_99.999999"], strict=True))


def test_a_horizon_written_as_a_whole_float_is_that_many_steps(url: str) -> None:
    as_float = post(url, {"ids": ["hawaiian"], "horizon": 3.0})
    assert as_float.status_code == 200, as_float.text
    assert as_float.json() == post(url, {"ids": ["hawaiian"], "horizon": 3}).json()


def test_an_id_asked_twice_is_answered_once(url: str) -> None:
    answer = post(url, {"ids": ["hawaiian", "big_meat", "hawaiian"], "horizon": 3})
    assert answer.status_code == 200, answer.text
    forecasts = answer.json()["forecasts"]
    assert [f["id"] for f in forecasts] == ["hawaiian", "big_meat"]  # in the order asked
    assert all(len(f["dates"]) == len(set(f["dates"])) == 3 for f in forecasts)


def test_the_books_request_shape_is_accepted(url: str) -> None:
    body = {"store_id": "big_meat", "begin_date": "2016-01-03", "end_date": "2016-01-05"}
    answer = post(url, body)
    assert answer.status_code == 200, answer.text
    [one] = answer.json()["forecasts"]
    assert one["dates"] == ["2016-01-03T00:00:00", "2016-01-04T00:00:00", "2016-01-05T00:00:00"]
    full = post(url, {"ids": ["big_meat"], "horizon": 5}).json()["forecasts"][0]
    assert one["mean"] == full["mean"][2:5]
    # the id column's own name works as well as the book's store_id
    same = post(url, {"name": "big_meat", "begin_date": "2016-01-03", "end_date": "2016-01-05"})
    assert same.json()["forecasts"][0]["mean"] == one["mean"]
    # dates written as the data may write them: an ISO week is its Monday
    week = post(url, {"name": "big_meat", "begin_date": "2016 W01", "end_date": "2016-01-05"})
    assert week.json()["forecasts"][0]["mean"] == one["mean"][1:]


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"ids": ["hawaiian", "pepperoni_xl"]}, 404, "'pepperoni_xl'"),
        ({"ids": ["hawaiian"], "horizon": 15}, 400, "outside 1..14"),
        ({"ids": ["hawaiian"], "horizon": "7"}, 422, "whole number"),
        ({"ids": ["hawaiian"], "horizon": 7.5}, 422, "whole number"),
        (
            {"store_id": "hawaiian", "begin_date": "2016-01-05", "end_date": "2016-01-03"},
            400,
            "begin_date 2016-01-05 is after end_date 2016-01-03",
        ),
        ({"ids": ["hawaiian"], "levels": [150]}, 400, "percentage"),
        ({"ids": []}, 422, "non-empty list"),
        ({"ids": [["a"]]}, 422, "text or a number"),
        ({"store_id": "hawaiian", "begin_date": "2016-01-03"}, 422, "end_date"),
        (
            {"store_id": "hawaiian", "begin_date": "2016-03-01", "end_date": "2016-03-02"},
            400,
            "outside this version's forecast",
        ),
        ({"store_id": "hawaiian", "begin_date": "soon", "end_date": "later"}, 400, "must be dates"),
        ([1, 2], 400, "JSON object"),
        # a key skipped without a word would answer another question: refused by name
        ({"ids": ["hawaiian"], "horizn": 3}, 422, "unknown key 'horizn' (did you mean 'horizon'?)"),
        (
            {"ids": ["bbq_ckn"], "store_id": "hawaiian", "begin_date": "2016-01-02"},
            422,
            "not both; got 'ids' and 'begin_date', 'store_id'",
        ),
        (
            {
                "store_id": "hawaiian",
                "begin_date": "2016-01-02",
                "end_date": "2016-01-03",
                "horizon": 2,
            },
            422,
            "leave out 'horizon'",
        ),
    ],
)
def test_bad_requests_are_4xx_naming_the_problem(
    url: str, body: object, status: int, words: str
) -> None:
    answer = post(url, body)
    assert answer.status_code == status, answer.text
    assert words in answer.json()["message"]


def test_the_token_and_the_body_limit_apply(url: str) -> None:
    assert post(url, {"ids": ["hawaiian"]}, token="wrong").status_code in (401, 403)
    huge = httpx.post(
        f"{url}/v1/models/pizzas/forecast",
        content=b'{"ids": [' + b'"x",' * 3_000_000 + b'"x"]}',
        headers={"Authorization": "Bearer s3cret", "Content-Type": "application/json"},
    )
    assert huge.status_code == 413


def test_a_repeated_request_is_answered_from_the_cache(url: str) -> None:
    body = {"ids": ["classic_dlx"], "horizon": 3, "levels": [90]}
    first, second = post(url, body), post(url, body)
    assert first.content == second.content
    assert first.headers["X-Model-Version"] == "1"
    # answered from the cache or not, each request is counted like any protocol's
    shown = httpx.get(f"{url}/metrics").text
    ok = 'mlfactory_requests_total{model="pizzas",protocol="forecast",status="200"}'
    assert ok in shown
    assert 'mlfactory_request_latency_seconds_count{model="pizzas",protocol="forecast"}' in shown


def test_rows_of_id_and_date_score_on_every_protocol(url: str) -> None:
    headers = {"Authorization": "Bearer s3cret"}
    rows = [{"name": "hawaiian", "date": "2016-01-02"}, {"name": "big_meat", "date": "2016-01-05"}]
    native = httpx.post(f"{url}/v1/models/pizzas/predict", json={"records": rows}, headers=headers)
    assert native.status_code == 200, native.text
    body = native.json()
    assert len(body["predictions"]) == 2 and set(body["intervals"]) == {
        "lo_80",
        "hi_80",
        "lo_95",
        "hi_95",
    }
    mlflow = httpx.post(
        f"{url}/invocations", json={"dataframe_records": rows}, headers=headers
    ).json()["predictions"]
    assert [r["prediction"] for r in mlflow] == body["predictions"]
    forecast = post(url, {"ids": ["hawaiian"], "horizon": 2}).json()["forecasts"][0]
    assert forecast["mean"][1] == body["predictions"][0]
    unknown = httpx.post(
        f"{url}/v1/models/pizzas/predict",
        json={"records": [{"name": "calzone", "date": "2016-01-02"}]},
        headers=headers,
    )
    assert unknown.status_code == 422 and "'calzone'" in str(unknown.json()["problems"])
    # a row without an id names no series (not one called 'nan')
    nameless = httpx.post(
        f"{url}/v1/models/pizzas/predict",
        json={"records": [{"name": None, "date": "2016-01-02"}]},
        headers=headers,
    )
    problems = nameless.json()["problems"]
    assert nameless.status_code == 422 and "1 row(s) name no series: a missing 'name'" in problems
    assert "nan" not in str(problems)


def test_several_id_columns_serve_by_object_joined_text_or_the_books_shape(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Sales per pizza type and size: a series is one (type, size). The server starts on
    it (its schema lists each id column's own values), and every request shape names a
    series by both columns."""
    folder = tmp_path_factory.mktemp("two-ids")
    spec = pizza_spec(models=["seasonal_naive", "seasonal_profile"])
    spec["data"] = dict(
        spec["data"],
        sql="SELECT type, size, CAST(date AS DATE) AS date, count(*) AS sold FROM data "
        "WHERE size IN ('S', 'L') GROUP BY ALL",
        id_column=["type", "size"],
    )
    (folder / "factory.yaml").write_text(yaml.safe_dump(spec))
    registry = Registry(path=folder / ".mlfactory")
    train(folder / "factory.yaml", registry=registry, progress=False)
    with serve(["pizzas@champion"], registry, api_token="s3cret") as url:
        by_object = post(url, {"ids": [{"type": "veggie", "size": "L"}], "horizon": 3})
        assert by_object.status_code == 200, by_object.text
        [one] = by_object.json()["forecasts"]
        assert one["id"] == "veggie|L" and len(one["dates"]) == 3
        joined = post(url, {"ids": ["veggie|L"], "horizon": 3}).json()["forecasts"][0]
        assert joined == one
        book = {"begin_date": "2016-01-02", "end_date": "2016-01-03"}
        named = post(url, {"type": "veggie", "size": "L", **book})
        assert named.status_code == 200, named.text
        assert named.json()["forecasts"][0]["mean"] == one["mean"][1:3]
        partial = post(url, {"type": "veggie", **book})
        assert partial.status_code == 422 and "every id column (type, size)" in partial.text
        listed = post(url, {"ids": [["veggie", "L"]]})
        assert listed.status_code == 422 and '{"type": ..., ...}' in listed.json()["message"]
        rows = [{"type": "veggie", "size": "L", "date": "2016-01-02"}]
        mlflow = httpx.post(
            f"{url}/invocations",
            json={"dataframe_records": rows},
            headers={"Authorization": "Bearer s3cret"},
        )
        assert mlflow.status_code == 200, mlflow.text
        assert mlflow.json()["predictions"][0]["prediction"] == one["mean"][1]
