"""mlfactory JSON: ``POST /v1/models/{name}/predict``.

Request: ``{"records": [{...}, ...]}`` or ``{"columns": [...], "data": [[...], ...]}``.
Response: ``predictions`` (and ``classes`` + ``probabilities`` for classifiers),
``model_name``, ``model_version``, ``request_id``. When numbers were far outside
the training range (``scoring.scorer``), also ``out_of_range`` (each such column:
the positions of its rows) and ``warnings`` (a sentence per column).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from fastapi import APIRouter, Request, Response

from mlfactory.errors import ServingError
from mlfactory.serving.frames import Rows, dumps, from_columns, from_records, parse_json
from mlfactory.serving.protocols.base import Call, Result, ServingProtocol, register


def decode(call: Call) -> tuple[Rows, None]:
    payload = parse_json(call.body)
    if not isinstance(payload, dict):
        raise ServingError(400, "send a JSON object with 'records' or 'columns' + 'data'")
    if "records" in payload:
        return from_records(payload["records"], "records"), None
    if "columns" in payload or "data" in payload:
        return from_columns(payload.get("columns"), payload.get("data"), "body"), None
    raise ServingError(
        400, f"send 'records' or 'columns' + 'data' (got keys {sorted(payload)[:10]})"
    )


def encode(context: None, result: Result) -> Response:
    scored, request_id = result.scored, result.request_id
    out: dict[str, Any] = {
        "model_name": result.model,
        "model_version": scored.version,
        "request_id": request_id,
        "predictions": scored.outputs["prediction"].tolist(),  # labels may be objects
    }
    proba = [c for c in scored.columns if c.is_probability]
    if proba:
        out["classes"] = [str(c.label) for c in proba]
        out["probabilities"] = np.column_stack([scored.outputs[c.name] for c in proba])
    if scored.out_of_range:
        out["out_of_range"] = {far.column: far.rows.tolist() for far in scored.out_of_range}
        out["warnings"] = [far.warning for far in scored.out_of_range]
    return Response(
        dumps(out),
        media_type="application/json",
        headers={"X-Request-ID": request_id, "X-Model-Version": scored.version},
    )


@register
class Native(ServingProtocol):
    name = "mlfactory"
    title = "mlfactory JSON"

    def routes(self) -> APIRouter:
        models = self.models
        router = APIRouter(tags=["mlfactory JSON"])

        @router.get("/v1/models")
        async def list_models() -> Response:
            return Response(dumps({"models": models.describe()}), media_type="application/json")

        @router.get("/v1/models/{name}")
        async def model_metadata(name: str) -> Response:
            return Response(dumps(models.describe(name)[0]), media_type="application/json")

        @router.post(
            "/v1/models/{name}/predict",
            openapi_extra={
                "requestBody": {
                    "required": True,
                    "description": "Rows to score. A numeric column takes JSON numbers or null: "
                    'text such as "1400" is a 422, and so are true/false unless the column '
                    "was boolean in training.",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "records": {"type": "array", "items": {"type": "object"}},
                                    "columns": {"type": "array", "items": {"type": "string"}},
                                    "data": {"type": "array", "items": {"type": "array"}},
                                },
                            }
                        }
                    },
                }
            },
        )
        async def predict(name: str, request: Request) -> Response:
            return await models.score(request, name, decode, encode)

        return router
