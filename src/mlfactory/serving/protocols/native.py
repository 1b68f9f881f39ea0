"""mlfactory JSON: ``POST /v1/models/{name}/predict``.

Request: ``{"records": [{...}, ...]}`` or ``{"columns": [...], "data": [[...], ...]}``,
and ``"explain": true`` (or ``?explain=true``) for each row's contributions; any
other key is a 422 naming it.
Response: ``predictions`` (and ``classes`` + ``probabilities`` for classifiers,
``intervals`` (``lo_80``: [...], ...) for a forecast's rows of id and date),
``model_name``, ``model_version``, ``request_id``. When numbers were far outside
the training range (``scoring.scorer``), also ``out_of_range`` (each such column:
the positions of its rows) and ``warnings`` (a sentence per column). With
``explain``, also ``explanation`` (``Explanation.to_json``): ``scale`` (what the
raw score is), ``columns`` (the input columns), ``base_value`` and
``contributions`` (per row, one value per column), which add up to the raw
score; for a multiclass model also ``classes``, and a base value and a list of
contributions per class.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from fastapi import APIRouter, Request, Response

from mlfactory.errors import ServingError, did_you_mean
from mlfactory.serving.frames import Rows, dumps, from_columns, from_records, parse_json
from mlfactory.serving.protocols.base import Call, Result, ServingProtocol, register

KEYS = ("records", "columns", "data", "explain")  # anything else is refused by name


@dataclass(frozen=True)
class Asked:
    """What a request asks for besides its predictions."""

    explain: bool = False


def decode(call: Call) -> tuple[Rows, Asked]:
    payload = parse_json(call.body)
    if not isinstance(payload, dict):
        raise ServingError(400, "send a JSON object with 'records' or 'columns' + 'data'")
    if unknown := [k for k in payload if k not in KEYS]:  # skipped, it would answer another
        word = unknown[0]  # question: "explian": true, no explanation, and no word of why
        raise ServingError(
            422,
            f"unknown key {word!r}{did_you_mean(word, KEYS)}; send 'records' or 'columns' + "
            "'data', and 'explain' if you want contributions",
        )
    if "records" in payload and ("columns" in payload or "data" in payload):
        raise ServingError(400, "send 'records' or 'columns' + 'data', not both")
    asked = Asked(explain=_explain(payload, call.request.query_params.get("explain")))
    if "records" in payload:
        return from_records(payload["records"], "records"), asked
    if "columns" in payload or "data" in payload:
        return from_columns(payload.get("columns"), payload.get("data"), "body"), asked
    raise ServingError(
        400, f"send 'records' or 'columns' + 'data' (got keys {sorted(payload)[:10]})"
    )


def _explain(payload: dict[str, Any], query: str | None) -> bool:
    """``"explain": true`` in the body or ``?explain=true``; anything but a boolean is a 422."""
    asked = payload.get("explain", False)
    if not isinstance(asked, bool):
        raise ServingError(422, f"'explain' must be true or false (a JSON boolean); got {asked!r}")
    if query is None:
        return asked
    flag = {"true": True, "1": True, "false": False, "0": False}.get(query.lower())
    if flag is None:
        raise ServingError(422, f"?explain= must be true or false; got {query!r}")
    return asked or flag


def explained(asked: Asked) -> bool:
    return asked.explain


def encode(context: Asked, result: Result) -> Response:
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
    scores = [c for c in scored.columns if c.role == "score"]  # an anomaly model's
    if scores:
        out["scores"] = scored.outputs[scores[0].name]
    intervals = [c for c in scored.columns if c.role == "interval"]  # a forecast's
    if intervals:
        out["intervals"] = {c.name: scored.outputs[c.name] for c in intervals}
    if scored.out_of_range:
        out["out_of_range"] = {far.column: far.rows.tolist() for far in scored.out_of_range}
        out["warnings"] = [far.warning for far in scored.out_of_range]
    if scored.explanation is not None:
        out["explanation"] = scored.explanation.to_json()
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
                "parameters": [
                    {
                        "name": "explain",
                        "in": "query",
                        "required": False,
                        "description": "Also answer each row's contributions, as the body's "
                        "explain does (LightGBM and linear models).",
                        "schema": {"type": "boolean", "default": False},
                    }
                ],
                "requestBody": {
                    "required": True,
                    "description": "Rows to score. A numeric column takes JSON numbers or null: "
                    'text such as "1400" is a 422, and so are true/false unless the column '
                    "was boolean in training. With explain: true, the answer also holds each "
                    "row's contribution of each input column to the raw score.",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "records": {"type": "array", "items": {"type": "object"}},
                                    "columns": {"type": "array", "items": {"type": "string"}},
                                    "data": {"type": "array", "items": {"type": "array"}},
                                    "explain": {"type": "boolean", "default": False},
                                },
                            }
                        }
                    },
                },
            },
        )
        async def predict(name: str, request: Request) -> Response:
            return await models.score(request, name, decode, encode, explain=explained)

        return router
