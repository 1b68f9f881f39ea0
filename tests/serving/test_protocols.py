"""The protocol table: a new protocol is one class that registers itself, nothing else edited."""

from __future__ import annotations

import ast
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from fastapi import APIRouter, Request, Response

from mlfactory import errors
from mlfactory.registry import Registry
from mlfactory.serving import protocols
from mlfactory.serving.protocols import PROTOCOLS, Call, Result, ServingProtocol, register
from mlfactory.serving.v2codec import V2Error

from .conftest import serve


def decode(call: Call) -> tuple[pd.DataFrame, str]:
    """CSV rows; the header ``X-Raise: ErrorClass`` raises that error instead."""
    raise_name = call.request.headers.get("x-raise")
    if raise_name == "V2Error":
        raise V2Error("raised by the echo protocol")
    if raise_name:
        error = getattr(errors, raise_name)
        raise error(419, "raised") if error is errors.ServingError else error("raised by echo")
    return pd.read_csv(io.BytesIO(call.body)), call.request.query_params.get("say", "hello")


def encode(greeting: str, result: Result) -> Response:
    lines = [f"{greeting} {p}" for p in result.scored.outputs["prediction"]]
    return Response("\n".join(lines), media_type="text/plain")


@pytest.fixture
def echo() -> Iterator[type[ServingProtocol]]:
    """A protocol defined here and nowhere else; it is gone from the table afterwards."""

    @register
    class Echo(ServingProtocol):
        name = "echo"
        title = "echo"

        def routes(self) -> APIRouter:
            router = APIRouter()

            @router.post("/echo/{name}")
            async def say(name: str, request: Request) -> Response:
                return await self.models.score(request, name, decode, encode)

            return router

    try:
        yield Echo
    finally:
        PROTOCOLS.pop("echo")


def _counted(base: str, series: str) -> float:
    lines = httpx.get(f"{base}/metrics").text.splitlines()
    return sum(float(line.rsplit(" ", 1)[1]) for line in lines if line.startswith(series))


def test_a_protocol_that_registers_itself_is_served_beside_the_others(
    echo: type[ServingProtocol], trained: Registry, rows: list[dict[str, Any]]
) -> None:
    assert list(PROTOCOLS) == ["mlfactory", "mlflow", "v2", "forecast", "echo"]
    csv = pd.DataFrame(rows).to_csv(index=False)
    with serve(["mroz@champion"], trained) as base:
        answer = httpx.post(f"{base}/echo/mroz?say=hi", content=csv)
        native = httpx.post(f"{base}/v1/models/mroz/predict", json={"records": rows}).json()
        assert answer.status_code == 200, answer.text
        assert answer.text.splitlines() == [f"hi {p}" for p in native["predictions"]]
        ok = 'mlfactory_requests_total{model="mroz",protocol="echo",status="200"}'
        assert _counted(base, ok) == 1
        described = httpx.get(f"{base}/openapi.json").json()["info"]["description"]
        served = (
            "mlfactory JSON, MLflow scoring, Open Inference Protocol V2, forecasts (many series)"
        )
        assert f"{served} and echo" in described


REFUSALS = [
    "BadInputError",
    "SpecError",
    "DataError",
    "ModelReferenceError",
    "RegistryLocationError",
    "MlfactoryError",
    "RegistryError",
    "TamperedArtifactError",
    "ServingError",
    "V2Error",
]


def test_every_error_is_answered_by_the_one_handler_with_its_status_and_kind(
    echo: type[ServingProtocol], trained: Registry
) -> None:
    with serve(["mroz@champion"], trained) as base:
        for name in REFUSALS:
            cls = V2Error if name == "V2Error" else getattr(errors, name)
            status, kind = (
                (cls.http_status, cls.kind)
                if cls is not errors.ServingError
                else (
                    419,
                    "bad_input",
                )
            )
            errors_series = f'mlfactory_errors_total{{kind="{kind}",model="mroz"}}'
            requests_series = (
                f'mlfactory_requests_total{{model="mroz",protocol="echo",status="{status}"}}'
            )
            before = _counted(base, errors_series), _counted(base, requests_series)
            answer = httpx.post(
                f"{base}/echo/mroz",
                content=b"k5\n1\n",
                headers={"X-Raise": name, "X-Request-ID": f"req-{name}"},
            )
            assert answer.status_code == status, (name, answer.text)
            body = answer.json()
            assert body["error"] == body["message"] and "raised" in body["message"]
            assert answer.headers["x-request-id"] == f"req-{name}"
            after = _counted(base, errors_series), _counted(base, requests_series)
            assert (after[0] - before[0], after[1] - before[1]) == (1, 1), name


def test_a_new_protocol_route_needs_the_token_like_every_other(
    echo: type[ServingProtocol], trained: Registry
) -> None:
    with serve(["mroz@champion"], trained, api_token="t") as base:
        refused = httpx.post(f"{base}/echo/mroz", content=b"k5\n1\n")
        assert refused.status_code == 401 and "bearer token" in refused.json()["error"]


def test_a_second_protocol_under_a_taken_name_is_refused() -> None:
    with pytest.raises(
        ValueError, match=r"protocol 'v2' is already .*\.V2; give .*Other another name"
    ):

        @register
        class Other(ServingProtocol):
            name = "v2"

    assert PROTOCOLS["v2"].__name__ == "V2"


def test_protocols_import_only_the_contract_never_the_server() -> None:
    """Imports point down: a protocol sees the server only as ``base.Models``."""
    imported = {}
    for path in sorted(Path(protocols.__file__).parent.glob("*.py")):
        tree = ast.parse(path.read_text())
        names = {
            node.module if isinstance(node, ast.ImportFrom) else alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.Import | ast.ImportFrom)
            for alias in node.names
        }
        imported[path.name] = {n for n in names if n and n.startswith("mlfactory.serving.")}
    assert len(imported) == 6  # __init__, base and the four protocols
    for name, modules in imported.items():
        assert "mlfactory.serving.server" not in modules, name
