"""The Lambda handler invoked in-process with real event shapes, as the Lambda runtime calls it.

Each request goes through an API Gateway REST (v1) event, an HTTP API (v2) event and a
function URL event (tests/deploy/events/), to the model `mlfactory export lambda` baked
into its folder, trained for real on Mroz.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from deploy.events import KINDS, event
from mlfactory.deploy.aws_lambda import LambdaExport
from mlfactory.errors import BadInputError, MlfactoryError, ModelReferenceError, RegistryError
from mlfactory.registry import ModelPackage, Registry
from mlfactory.serving import lambda_handler
from mlfactory.serving.lambda_handler import LambdaHandler, app_for_lambda
from mlfactory.serving.server import CONFIG_ENV

TOKEN = "a-token-of-sixteen-chars"


def _bake_env(monkeypatch: pytest.MonkeyPatch, exported: LambdaExport) -> None:
    """The environment the exported Dockerfile sets."""
    monkeypatch.setenv("MLFACTORY_MODEL_DIR", str(exported.output))
    monkeypatch.setenv("MLFACTORY_MODEL", exported.ref)
    monkeypatch.setenv("MLFACTORY_MODEL_DIGEST", exported.digest)


@pytest.fixture
def handler(monkeypatch: pytest.MonkeyPatch, exported: LambdaExport) -> Iterator[LambdaHandler]:
    _bake_env(monkeypatch, exported)
    made = LambdaHandler(app_for_lambda())
    yield made
    made.close()


def _json(response: dict[str, Any]) -> Any:
    assert response["isBase64Encoded"] is False
    return json.loads(response["body"])


def _headers(response: dict[str, Any]) -> dict[str, str]:
    return {k.lower(): v for k, v in response["headers"].items()}


def _post(kind: str, path: str, payload: Any, **kw: Any) -> dict[str, Any]:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = {"content-type": "application/json", **kw.pop("headers", {})}
    return event(kind, "POST", path, body=body, headers=headers, **kw)


@pytest.mark.parametrize("kind", KINDS)
def test_a_prediction_on_each_protocol_is_the_registered_models(
    kind: str, handler: LambdaHandler, rows: list[dict[str, Any]], trained: Registry
) -> None:
    expected = trained.load("mroz@champion")[0].predict(pd.DataFrame(rows))
    native = handler(_post(kind, "/v1/models/mroz/predict", {"records": rows}), {})
    assert native["statusCode"] == 200, native["body"]
    body = _json(native)
    assert body["model_version"] == "1" and _headers(native)["x-model-version"] == "1"
    assert body["predictions"] == expected.prediction.tolist()
    assert [p[1] for p in body["probabilities"]] == pytest.approx(expected.proba_yes.tolist())
    split = {"columns": list(rows[0]), "data": [list(r.values()) for r in rows]}
    mlflow = handler(_post(kind, "/invocations", {"dataframe_split": split}), {})
    assert mlflow["statusCode"] == 200, mlflow["body"]
    answered = _json(mlflow)["predictions"]
    assert [a["prediction"] for a in answered] == expected.prediction.tolist()


@pytest.mark.parametrize("kind", KINDS)
def test_a_base64_body_is_decoded(
    kind: str, handler: LambdaHandler, rows: list[dict[str, Any]]
) -> None:
    plain = _json(handler(_post(kind, "/v1/models/mroz/predict", {"records": rows}), {}))
    sent = _post(kind, "/v1/models/mroz/predict", {"records": rows}, base64_body=True)
    assert sent["isBase64Encoded"] is True and not sent["body"].startswith("{")
    encoded = handler(sent, {})
    assert encoded["statusCode"] == 200, encoded["body"]
    assert _json(encoded)["probabilities"] == plain["probabilities"]
    csv = pd.DataFrame(rows).to_csv(index=False).encode()
    as_csv = event(
        kind,
        "POST",
        "/invocations",
        body=csv,
        headers={"content-type": "text/csv"},
        base64_body=True,
    )
    answer = handler(as_csv, {})
    assert answer["statusCode"] == 200 and len(_json(answer)["predictions"]) == len(rows)


@pytest.mark.parametrize("kind", KINDS)
def test_bad_requests_get_the_servers_4xx_bodies(
    kind: str, handler: LambdaHandler, rows: list[dict[str, Any]]
) -> None:
    broken = handler(_post(kind, "/invocations", b"{not json"), {})
    assert broken["statusCode"] == 400
    assert "not valid JSON" in _json(broken)["message"]
    no_k5 = [{k: v for k, v in r.items() if k != "k5"} for r in rows]
    missing = handler(_post(kind, "/v1/models/mroz/predict", {"records": no_k5}), {})
    assert missing["statusCode"] == 422
    answer = _json(missing)
    assert answer["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "column 'k5' is missing" in answer["problems"]
    unknown = handler(_post(kind, "/v1/models/nope/predict", {"records": rows}), {})
    assert unknown["statusCode"] == 404 and "served: mroz" in _json(unknown)["message"]


@pytest.mark.parametrize("kind", KINDS)
def test_with_a_token_set_a_request_without_it_is_401_and_health_stays_open(
    kind: str,
    monkeypatch: pytest.MonkeyPatch,
    exported: LambdaExport,
    rows: list[dict[str, Any]],
) -> None:
    _bake_env(monkeypatch, exported)
    monkeypatch.setenv("MLFACTORY_API_TOKEN", TOKEN)
    guarded = LambdaHandler(app_for_lambda())
    try:
        refused = guarded(_post(kind, "/v1/models/mroz/predict", {"records": rows}), {})
        assert refused["statusCode"] == 401
        assert _headers(refused)["www-authenticate"].startswith("Bearer")
        assert _json(refused)["error_code"] == "UNAUTHENTICATED"
        payload = {"dataframe_records": rows}
        wrong = {"authorization": "Bearer not-the-token"}
        denied = guarded(_post(kind, "/invocations", payload, headers=wrong), {})
        assert denied["statusCode"] in (401, 403)
        right = {"authorization": f"Bearer {TOKEN}"}
        allowed = guarded(_post(kind, "/invocations", payload, headers=right), {})
        assert allowed["statusCode"] == 200, allowed["body"]
        assert guarded(event(kind, "GET", "/health/ready"), {})["statusCode"] == 200
    finally:
        guarded.close()


@pytest.mark.parametrize("kind", KINDS)
def test_health_check_names_the_served_version(kind: str, handler: LambdaHandler) -> None:
    ready = handler(event(kind, "GET", "/health/ready"), {})
    assert ready["statusCode"] == 200
    assert _json(ready) == {
        "status": "ready",
        "models": [{"name": "mroz", "ref": "mroz@champion", "ready": True, "version": "1"}],
    }
    assert _json(handler(event(kind, "GET", "/health/live"), {})) == {"status": "live"}
    described = handler(event(kind, "GET", "/v1/models/mroz"), {})
    assert _json(described)["version"] == "1"


def test_the_model_is_loaded_once_per_container_not_per_request(
    monkeypatch: pytest.MonkeyPatch, exported: LambdaExport, rows: list[dict[str, Any]]
) -> None:
    """Mangum's own lifespan would start the app, and load the model, for every event."""
    loads: list[Path] = []
    real = ModelPackage.load.__func__  # type: ignore[attr-defined]

    def counted(cls: type[ModelPackage], directory: Path, **kw: Any) -> ModelPackage:
        loads.append(directory)
        return real(cls, directory, **kw)  # type: ignore[no-any-return]

    monkeypatch.setattr(ModelPackage, "load", classmethod(counted))
    _bake_env(monkeypatch, exported)
    made = LambdaHandler(app_for_lambda())
    try:
        assert len(loads) == 1  # in the init phase, before any event
        for kind in [*KINDS, *KINDS]:
            answer = made(_post(kind, "/v1/models/mroz/predict", {"records": rows}), {})
            assert answer["statusCode"] == 200
        assert len(loads) == 1
    finally:
        made.close()


def test_serve_settings_serve_from_a_registry(
    monkeypatch: pytest.MonkeyPatch, trained: Registry, rows: list[dict[str, Any]]
) -> None:
    """MLFACTORY_SERVE_CONFIG, as `mlfactory serve` writes it, serves from the registry."""
    settings = {
        "models": ["mroz@champion"],
        "registry_path": str(trained.path),
        "batching": {"enabled": False, "max_batch_rows": 256, "max_wait_ms": 1.0},
        "poll_seconds": 0,
        "prediction_log": None,
        "protocols": ["mlfactory", "mlflow"],
    }
    monkeypatch.setenv(CONFIG_ENV, json.dumps(settings))
    made = LambdaHandler(app_for_lambda())
    try:
        answer = made(_post("http-api-v2", "/v1/models/mroz/predict", {"records": rows}), {})
        assert answer["statusCode"] == 200 and _json(answer)["model_version"] == "1"
        v2 = made(_post("function-url", "/v2/models/mroz/infer", {"inputs": []}), {})
        assert v2["statusCode"] == 404  # the V2 protocol was left out, as configured
    finally:
        made.close()


def test_a_model_folder_that_differs_from_its_digest_refuses_to_start(
    monkeypatch: pytest.MonkeyPatch, exported: LambdaExport, tmp_path: Path
) -> None:
    import shutil

    copy = tmp_path / "out"
    shutil.copytree(exported.output, copy)
    _bake_env(monkeypatch, exported)
    monkeypatch.setenv("MLFACTORY_MODEL_DIR", str(copy))
    monkeypatch.setenv("MLFACTORY_MODEL_DIGEST", "0" * 64)  # the template names another model
    with pytest.raises(RegistryError, match=r"TamperedArtifactError: .*digests\.json differs"):
        LambdaHandler(app_for_lambda())
    monkeypatch.setenv("MLFACTORY_MODEL_DIGEST", exported.digest)
    manifest = copy / "model" / "data" / "package" / "manifest.json"
    manifest.write_text(manifest.read_text().replace('"mroz"', '"mroz2"', 1))
    with pytest.raises(RegistryError, match=r"TamperedArtifactError: .*manifest\.json"):
        LambdaHandler(app_for_lambda())


def test_a_reference_the_image_does_not_hold_is_refused_naming_what_it_holds(
    monkeypatch: pytest.MonkeyPatch, exported: LambdaExport
) -> None:
    _bake_env(monkeypatch, exported)
    monkeypatch.setenv("MLFACTORY_MODEL", "mroz@challenger")
    with pytest.raises(MlfactoryError, match=r"mroz/1, mroz@champion"):
        LambdaHandler(app_for_lambda())
    baked = lambda_handler.BakedModel(exported.output, digest=exported.digest)
    with pytest.raises(ModelReferenceError, match="not in this image"):
        baked.resolve("flights@champion")


def test_without_a_model_or_settings_it_says_what_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MLFACTORY_MODEL_DIR", CONFIG_ENV):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(BadInputError, match=r"MLFACTORY_MODEL_DIR .* or MLFACTORY_SERVE_CONFIG"):
        app_for_lambda()
    monkeypatch.setenv("MLFACTORY_MODEL_DIR", "/nowhere")
    with pytest.raises(BadInputError, match="MLFACTORY_MODEL_DIGEST"):
        app_for_lambda()


def test_without_the_lambda_extra_it_names_the_pip_command(
    monkeypatch: pytest.MonkeyPatch, exported: LambdaExport
) -> None:
    _bake_env(monkeypatch, exported)
    monkeypatch.setitem(sys.modules, "mangum", None)  # as if not installed
    with pytest.raises(MlfactoryError, match=r"pip install 'mlfactory\[lambda\]'"):
        LambdaHandler(app_for_lambda())


def test_the_runtime_finds_the_handler_at_init_without_mlflow(
    exported: LambdaExport, tmp_path: Path
) -> None:
    """As Lambda's runtime does: import the module, look `handler` up, call it per event."""
    script = f"""
import importlib, json, sys
module = importlib.import_module("mlfactory.serving.lambda_handler")
handler = getattr(module, "handler")
assert getattr(module, "handler") is handler  # built once
event = json.load(open({str(Path(__file__).parent / "events" / "function_url.json")!r}))
answer = handler(event, None)
print(json.dumps({{"status": answer["statusCode"], "mlflow": "mlflow" in sys.modules}}))
"""
    env = {
        **os.environ,
        "MLFACTORY_MODEL_DIR": str(exported.output),
        "MLFACTORY_MODEL": exported.ref,
        "MLFACTORY_MODEL_DIGEST": exported.digest,
    }
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"status": 200, "mlflow": False}


def test_base64_events_are_real_base64() -> None:
    """The fixture builder sends what API Gateway sends for a binary body."""
    sent = event("rest-v1", "POST", "/invocations", body=b"\x00\x01", base64_body=True)
    assert base64.b64decode(sent["body"]) == b"\x00\x01"
