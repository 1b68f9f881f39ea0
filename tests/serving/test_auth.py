"""The bearer token over real HTTP: every route needs it but the probes, and no header is a 500."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from mlfactory.registry import Registry

from .conftest import serve

TOKEN = "s3cret-token"
GOOD = b"Bearer s3cret-token"
OPEN = {  # answered without the token: the probes orchestrators call without credentials
    ("GET", "/health/live"),
    ("GET", "/health/ready"),
    ("GET", "/metrics"),
    ("GET", "/ping"),
    ("GET", "/v2"),
    ("GET", "/v2/health/live"),
    ("GET", "/v2/health/ready"),
    ("GET", "/v2/models/{name}/ready"),
    ("GET", "/v2/models/{name}/versions/{version}/ready"),
}
REFUSED: dict[str, dict[str, Any]] = {
    "no token": {},
    "wrong token": {"Authorization": "Bearer wrong"},
    "non-ASCII bytes": {"Authorization": b"Bearer \xff\xfe\x80s3cr\xe9t"},
}


@pytest.fixture(scope="module")
def base(trained: Registry) -> Any:
    with serve(["mroz@champion"], trained, api_token=TOKEN) as url:
        yield url


def _operations(base: str) -> list[tuple[str, str]]:
    paths = httpx.get(f"{base}/openapi.json").json()["paths"]
    return sorted((method.upper(), path) for path, item in paths.items() for method in item)


def _call(base: str, method: str, template: str, headers: dict[str, Any]) -> httpx.Response:
    values = {"name": "mroz", "version": "1"}  # a new path parameter must be added here
    path = re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], template)
    return httpx.request(method, f"{base}{path}", headers=headers, json={}, timeout=30)


@pytest.mark.parametrize("case", list(REFUSED))
def test_every_route_needs_the_token_except_the_probes(base: str, case: str) -> None:
    operations = _operations(base)
    assert len(operations) > len(OPEN)
    answered = {}
    for method, template in operations:
        answer = _call(base, method, template, REFUSED[case])
        assert answer.status_code < 500, (method, template, answer.text)
        answered[method, template] = answer
    assert {op for op, answer in answered.items() if answer.status_code != 401} == OPEN
    for op, answer in answered.items():
        if op not in OPEN:
            assert answer.json()["error_code"] == "UNAUTHENTICATED", op
            assert "bearer token" in answer.json()["message"]
            assert answer.headers["www-authenticate"].startswith("Bearer")


def test_the_token_opens_every_route(base: str) -> None:
    for method, template in _operations(base):
        answer = _call(base, method, template, {"Authorization": GOOD})
        assert answer.status_code not in (401, 403), (method, template, answer.text)
        assert answer.status_code < 500, (method, template, answer.text)


def test_without_a_token_only_admin_is_refused(trained: Registry) -> None:
    with serve(["mroz@champion"], trained) as url:
        refused = {}
        for method, template in _operations(url):
            answer = _call(url, method, template, {"Authorization": b"Bearer \xff"})
            assert answer.status_code < 500, (method, template, answer.text)
            if answer.status_code in (401, 403):
                refused[method, template] = answer
    assert list(refused) == [("POST", "/admin/reload")]
    assert refused["POST", "/admin/reload"].status_code == 403
    assert "admin endpoints are off" in refused["POST", "/admin/reload"].json()["message"]


def test_the_openapi_document_and_its_pages_are_open(base: str) -> None:
    for page in ("/openapi.json", "/docs", "/redoc"):
        assert httpx.get(f"{base}{page}").status_code == 200, page


@pytest.mark.parametrize(
    ("header", "status"),
    [
        (b"", 401),
        (b"Bearer", 401),
        (b"Basic " + TOKEN.encode(), 401),
        (b"Bearer" + TOKEN.encode(), 401),
        (b"Bearer " + TOKEN.encode()[:-1], 401),
        (GOOD + b"x", 401),
        (GOOD + b" extra", 401),
        (GOOD + b"\xe9", 401),
        (b"Bearer " + b"\xe9" * 8000, 401),
        (b"\xff\xfe", 401),
        (GOOD, 200),
        (b"bearer " + TOKEN.encode(), 200),
        (b"BEARER  \t " + TOKEN.encode(), 200),
    ],
)
def test_any_authorization_header_is_a_401_or_accepted(
    base: str, rows: list[dict[str, Any]], header: bytes, status: int
) -> None:
    answer = httpx.post(
        f"{base}/v1/models/mroz/predict", json={"records": rows}, headers={"Authorization": header}
    )
    assert answer.status_code == status, answer.text


def test_a_token_that_is_not_ascii_is_compared_as_its_utf8_bytes(
    trained: Registry, rows: list[dict[str, Any]]
) -> None:
    token = "s3crét-ключ"
    with serve(["mroz@champion"], trained, api_token=token) as url:
        for header, status in [
            (b"Bearer " + token.encode(), 200),
            (b"Bearer " + token.encode()[:-1], 401),  # cut inside a character
            (b"Bearer s3cr\xe9t-\xff", 401),
            (b"Bearer", 401),
        ]:
            answer = httpx.post(
                f"{url}/v1/models/mroz/predict",
                json={"records": rows},
                headers={"Authorization": header},
            )
            assert answer.status_code == status, (header, answer.text)


def test_refusals_are_counted_like_other_failed_requests(
    base: str, rows: list[dict[str, Any]]
) -> None:
    def scrape() -> dict[str, float]:
        wanted = {
            'mlfactory_requests_total{model="mroz",protocol="mlfactory",status="401"}',
            'mlfactory_requests_total{model="mroz",protocol="mlflow",status="401"}',
            'mlfactory_requests_total{model="unknown",protocol="mlfactory",status="401"}',
            'mlfactory_errors_total{kind="auth",model="mroz"}',
            'mlfactory_errors_total{kind="auth",model="unknown"}',
        }
        text = httpx.get(f"{base}/metrics").text
        found = dict(line.rsplit(" ", 1) for line in text.splitlines() if " " in line)
        return {series: float(found.get(series, 0)) for series in wanted}

    before = scrape()
    bad = {"Authorization": b"Bearer \xff"}
    httpx.post(f"{base}/v1/models/mroz/predict", json={"records": rows}, headers=bad)
    httpx.post(f"{base}/invocations", json={"dataframe_records": rows})
    httpx.get(f"{base}/v1/models")
    after = scrape()
    assert {k: after[k] - before[k] for k in after} == {
        'mlfactory_requests_total{model="mroz",protocol="mlfactory",status="401"}': 1,
        'mlfactory_requests_total{model="mroz",protocol="mlflow",status="401"}': 1,
        'mlfactory_requests_total{model="unknown",protocol="mlfactory",status="401"}': 1,
        'mlfactory_errors_total{kind="auth",model="mroz"}': 2,
        'mlfactory_errors_total{kind="auth",model="unknown"}': 1,
    }


def test_probes_do_not_describe_the_models(base: str) -> None:
    ready = httpx.get(f"{base}/health/ready").json()
    assert ready["models"] == [
        {"name": "mroz", "ref": "mroz@champion", "ready": True, "version": "1"}
    ]
    described = httpx.get(f"{base}/v1/models", headers={"Authorization": GOOD}).json()
    assert {c["name"] for c in described["models"][0]["inputs"]} >= {"age", "wc"}


def test_every_route_is_an_api_route_so_it_gets_the_dependency(trained: Registry) -> None:
    from fastapi.routing import APIRoute

    from mlfactory.serving import create_app

    def flat(routes: list[Any]) -> list[Any]:  # FastAPI 0.165 keeps included routers whole
        out = []
        for route in routes:
            inner = getattr(route, "original_router", None)
            out += flat(inner.routes) if inner is not None else [route]
        return out

    routes = flat(create_app(["mroz@champion"], registry=trained).routes)
    others = {route.path for route in routes if not isinstance(route, APIRoute)}
    assert others == {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
    assert len(routes) - len(others) > len(OPEN)


def test_a_blank_token_is_refused_at_start(trained: Registry) -> None:
    from mlfactory.errors import BadInputError
    from mlfactory.serving import ServingConfig, create_app

    with pytest.raises(BadInputError, match="MLFACTORY_API_TOKEN is set but blank"):
        create_app(["mroz@champion"], registry=trained, config=ServingConfig(api_token=" \n"))
