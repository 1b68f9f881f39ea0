"""Open Inference Protocol V2 (KServe / Triton REST), with the binary tensor extension.

A tabular model takes one input tensor per column, named after the column, of
shape ``[-1]`` (``[n]`` or ``[n, 1]`` in a request), BYTES for categorical
columns and a numeric datatype for numeric ones, as MLServer's pandas codec
does. Each output column (``prediction``, ``proba_<class>``) is one output
tensor. Bodies are read raw: tritonclient sends no Content-Type.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from fastapi import APIRouter, Request, Response

from mlfactory.errors import ServingError
from mlfactory.serving.frames import dumps
from mlfactory.serving.protocols.base import Call, Result, ServingProtocol, register
from mlfactory.serving.v2codec import (
    InferRequest,
    Tensor,
    datatype_of,
    decode_request,
    encode_response,
)
from mlfactory.versions import __version__

if TYPE_CHECKING:
    import pandas as pd

    from mlfactory.serving.host import ModelHost

_ELEMENTS_PER_ROW = 1024  # the decoder's element budget per allowed row


def _json(value: Any, status: int = 200) -> Response:
    return Response(dumps(value), status_code=status, media_type="application/json")


def _input_datatype(kind: str) -> str:
    return "BYTES" if kind == "categorical" else ("FP64" if kind == "numeric" else "BYTES")


def metadata(host: ModelHost) -> dict[str, Any]:
    served = host.current
    out: dict[str, Any] = {"name": host.name, "platform": "mlfactory", "versions": []}
    if served is None:
        return out
    schema = served.package.schema
    out["versions"] = [served.version]
    out["inputs"] = [
        {"name": c.name, "datatype": _input_datatype(c.kind), "shape": [-1]} for c in schema.columns
    ]
    outputs = [
        {"name": c.name, "datatype": datatype_of(np.empty(0, dtype=c.dtype)), "shape": [-1]}
        for c in served.package.output_columns
    ]
    out["outputs"] = outputs
    return out


def to_frame(request: InferRequest, host: ModelHost) -> pd.DataFrame:
    """Input tensors as columns, checked against the kinds the model was trained on."""
    import pandas as pd

    served = host.current
    kinds = {c.name: c.kind for c in served.package.schema.columns} if served else {}
    if not request.inputs:
        raise ServingError(400, "the request has no inputs; send one tensor per column")
    columns: dict[str, Any] = {}
    rows: int | None = None
    for tensor in request.inputs:
        where = f"input {tensor.name!r}"
        shape = tensor.shape
        if not (len(shape) == 1 or (len(shape) == 2 and shape[1] == 1)):
            raise ServingError(400, f"{where} has shape {list(shape)}; a column is [n] or [n, 1]")
        values = tensor.data.reshape(-1)
        if rows is None:
            rows = len(values)
        elif len(values) != rows:
            raise ServingError(
                400,
                f"{where} has {len(values)} rows but the first input has {rows}; "
                "every column needs the same number of rows",
            )
        kind = kinds.get(tensor.name)
        if tensor.datatype == "BYTES":
            if kind == "numeric":
                raise ServingError(
                    400,
                    f"{where} is BYTES but column {tensor.name!r} is "
                    "numeric; send FP64, FP32 or an integer datatype",
                )
            try:
                values = np.array([v.decode("utf-8") for v in values], dtype=object)
            except UnicodeDecodeError:
                raise ServingError(400, f"{where} holds bytes that are not UTF-8 text") from None
        elif kind == "categorical":
            raise ServingError(
                400,
                f"{where} is {tensor.datatype} but column "
                f"{tensor.name!r} is categorical; send BYTES",
            )
        columns[tensor.name] = values
    if rows == 0:
        raise ServingError(400, "the inputs have 0 rows; send at least one")
    return pd.DataFrame(columns)


def to_outputs(outputs: dict[str, Any], wanted: list[str] | None) -> list[Tensor]:
    names = list(outputs)
    if wanted is not None:
        unknown = [n for n in wanted if n not in names]
        if unknown:
            raise ServingError(400, f"unknown output(s) {unknown}; this model has {names}")
        names = wanted
    tensors = []
    for name in names:
        values = np.asarray(outputs[name])
        if values.dtype == object:  # labels: bool, int and float stay typed, the rest is text
            typed = np.asarray(values.tolist())
            values = (
                typed
                if typed.dtype.kind in "bif"
                else np.array([str(v) for v in values], dtype=object)
            )
        tensors.append(Tensor(name, datatype_of(values), (len(values),), values))
    return tensors


def served_version(host: ModelHost, version: str | None) -> ModelHost:
    """``host``, if it serves ``version`` (None: any); else ``ServingError`` 404."""
    if version is not None and (host.current is None or host.current.version != version):
        serving = host.current.version if host.current else "none yet"
        raise ServingError(
            404,
            f"{host.name} version {version} is not served here (serving version {serving})",
            kind="unknown_model",
        )
    return host


@register
class V2(ServingProtocol):
    name = "v2"
    title = "Open Inference Protocol V2"

    def decode(self, call: Call) -> tuple[pd.DataFrame, InferRequest]:
        host = served_version(call.host, call.request.path_params.get("version"))
        infer_request = decode_request(  # a malformed request: V2Error, a 400
            call.body,
            call.request.headers,
            max_elements=self.models.max_rows * _ELEMENTS_PER_ROW,
            max_body_bytes=self.models.max_body_bytes,
        )
        return to_frame(infer_request, host), infer_request

    def encode(self, infer_request: InferRequest, result: Result) -> Response:
        body, headers = encode_response(
            model_name=result.model,
            model_version=result.scored.version,
            request_id=infer_request.id or result.request_id,
            outputs=to_outputs(result.scored.outputs, infer_request.outputs),
            binary=infer_request.binary_outputs,
        )
        headers["X-Request-ID"] = result.request_id
        return Response(body, headers=headers)

    def routes(self) -> APIRouter:
        models = self.models
        router = APIRouter(prefix="/v2", tags=["Open Inference Protocol V2"])

        @router.get("")
        async def server_metadata() -> Response:
            return _json(
                {"name": "mlfactory", "version": __version__, "extensions": ["binary_tensor_data"]}
            )

        @router.get("/health/live")
        async def live() -> Response:
            return _json({"live": True})

        @router.get("/health/ready")
        async def ready() -> Response:
            return _json({"ready": models.ready}, 200 if models.ready else 503)

        async def model_metadata(name: str, version: str | None = None) -> Response:
            return _json(metadata(served_version(models.host(name), version)))

        async def model_ready(name: str, version: str | None = None) -> Response:
            host = served_version(models.host(name), version)
            return _json({"name": name, "ready": host.ready}, 200 if host.ready else 503)

        async def infer(request: Request, name: str, version: str | None = None) -> Response:
            # decode checks the version (an unknown one is a 404 after the model's 404 and 503)
            return await models.score(request, name, self.decode, self.encode)

        add = router.add_api_route
        add("/models/{name}", model_metadata, methods=["GET"])
        add("/models/{name}/versions/{version}", model_metadata, methods=["GET"])
        add("/models/{name}/ready", model_ready, methods=["GET"])
        add("/models/{name}/versions/{version}/ready", model_ready, methods=["GET"])
        add("/models/{name}/infer", infer, methods=["POST"])
        add("/models/{name}/versions/{version}/infer", infer, methods=["POST"])
        return router
