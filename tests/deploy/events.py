"""Lambda events for a request, built on the recorded shapes in ``events/``."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

__all__ = ["KINDS", "event"]

FOLDER = Path(__file__).parent / "events"
KINDS = {
    "rest-v1": "api_gateway_rest_v1.json",
    "http-api-v2": "http_api_v2.json",
    "function-url": "function_url.json",
}


def event(
    kind: str,
    method: str,
    path: str,
    *,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    query: str = "",
    base64_body: bool = False,
) -> dict[str, Any]:
    """The ``kind`` event of ``method path`` with ``body``, as API Gateway or Lambda sends it."""
    shape: dict[str, Any] = json.loads((FOLDER / KINDS[kind]).read_text())
    sent = copy.deepcopy(shape)
    text = None
    if body is not None:
        text = base64.b64encode(body).decode() if base64_body else body.decode()
    sent["body"] = text
    sent["isBase64Encoded"] = base64_body
    extra = dict(headers or {})
    if body is not None:
        extra.setdefault("content-length", str(len(body)))
    if kind == "rest-v1":  # resource /{proxy+}: the path, and the stage in the context's
        sent["path"] = path
        sent["httpMethod"] = method
        sent["pathParameters"] = {"proxy": path.lstrip("/")}
        sent["requestContext"]["httpMethod"] = method
        sent["requestContext"]["path"] = f"/{sent['requestContext']['stage']}{path}"
        for name, value in extra.items():
            sent["headers"][name] = value
            sent["multiValueHeaders"][name] = [value]
        parsed = parse_qs(query)
        sent["queryStringParameters"] = {k: v[-1] for k, v in parsed.items()} or None
        sent["multiValueQueryStringParameters"] = parsed or None
    else:  # payload format 2.0: HTTP API and function URL
        sent["rawPath"] = path
        sent["rawQueryString"] = query
        sent["requestContext"]["http"]["method"] = method
        sent["requestContext"]["http"]["path"] = path
        if kind == "http-api-v2":
            sent["pathParameters"] = {"proxy": path.lstrip("/")}
        sent["headers"].update({k.lower(): v for k, v in extra.items()})
        parsed = parse_qs(query)
        if parsed:
            sent["queryStringParameters"] = {k: ",".join(v) for k, v in parsed.items()}
    return sent
