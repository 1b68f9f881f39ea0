"""MLflow's scoring protocol: ``POST /invocations``, as ``mlflow models serve`` speaks it.

Accepts ``dataframe_split``, ``dataframe_records``, ``instances`` and ``inputs``
(JSON), or CSV with ``Content-Type: text/csv``; answers ``{"predictions": [...]}``
with one record per row (``prediction`` and ``proba_<class>`` columns). With
several models served, ``?model=NAME`` picks one; the default is the first.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request, Response

from mlfactory.errors import ServingError
from mlfactory.serving.frames import (
    Rows,
    dumps,
    from_column_lists,
    from_columns,
    from_records,
    parse_json,
)
from mlfactory.serving.protocols.base import Call, Result, ServingProtocol, register

if TYPE_CHECKING:
    import pandas as pd

KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")


def to_frame(body: bytes, content_type: str) -> pd.DataFrame | Rows:
    if content_type.startswith("text/csv"):
        import pandas as pd

        if not body.strip():
            raise ServingError(400, "the CSV body is empty")
        from mlfactory.data.formats import repeated_name_hint

        try:
            frame = pd.read_csv(stream := io.BytesIO(body))
            hint = repeated_name_hint(frame, stream)
        except Exception as exc:
            raise ServingError(400, f"the CSV body cannot be read: {exc}") from None
        if hint:
            raise ServingError(400, f"the CSV body cannot be read: {hint}")
        return frame
    if content_type and not content_type.startswith("application/json"):
        raise ServingError(
            415,
            f"Content-Type {content_type!r} is not supported; use application/json or text/csv",
            kind="content_type",
        )
    payload = parse_json(body)
    if not isinstance(payload, dict):
        raise ServingError(400, f"send a JSON object with one of the keys {', '.join(KEYS)}")
    found = [k for k in KEYS if k in payload]
    if len(found) != 1:
        raise ServingError(
            400, f"send exactly one of the keys {', '.join(KEYS)} (got {sorted(payload)[:10]})"
        )
    key = found[0]
    value = payload[key]
    if key == "dataframe_split":
        if not isinstance(value, dict):
            raise ServingError(400, "dataframe_split must be an object with columns and data")
        return from_columns(value.get("columns"), value.get("data"), "dataframe_split")
    if key == "dataframe_records":
        return from_records(value, "dataframe_records")
    if isinstance(value, dict):
        return from_column_lists(value, key)
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return from_records(value, key)
    raise ServingError(
        400,
        f"{key} must be a list of objects (rows) or an object of column -> values; "
        "tabular models need named columns",
    )


def decode(call: Call) -> tuple[pd.DataFrame | Rows, None]:
    content_type = call.request.headers.get("content-type", "application/json").lower()
    return to_frame(call.body, content_type), None


def encode(context: None, result: Result) -> Response:
    names = list(result.scored.outputs)
    values = [a.tolist() for a in result.scored.outputs.values()]
    records = [dict(zip(names, row, strict=True)) for row in zip(*values, strict=True)]
    return Response(
        dumps({"predictions": records}),
        media_type="application/json",
        headers={"X-Request-ID": result.request_id, "X-Model-Version": result.scored.version},
    )


@register
class MLflow(ServingProtocol):
    name = "mlflow"
    title = "MLflow scoring"

    def routes(self) -> APIRouter:
        models = self.models
        router = APIRouter(tags=["MLflow scoring protocol"])

        @router.get("/ping")
        async def ping() -> Response:
            return Response("\n", media_type="application/json")

        @router.post("/invocations")
        async def invocations(request: Request, model: str | None = None) -> Response:
            return await models.score(request, model or models.default_model, decode, encode)

        return router

    def model_of(self, request: Request) -> str | None:
        """``?model=NAME``, or the default model."""
        return super().model_of(request) or self.models.default_model
