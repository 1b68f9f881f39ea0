"""A real OpenAI-compatible server on 127.0.0.1 for the LLM tests: canned answers, faults on cue.

``POST /v1/chat/completions`` answers ``"summary <hash>: <start of the user message>"``
(deterministic) with a usage block: prompt tokens are the words of the messages,
completion tokens the words of the answer, unless ``usage`` fixes both.

Faults come from the user message or from a schedule:

- ``[status=503]`` in the text: always answer 503 (any status);
- ``[fail=2x500]``: the first 2 requests carrying this text answer 500, then succeed;
- ``[sleep=1.5]``: wait 1.5 s before answering;
- ``[retry-after=1]``: send ``Retry-After: 1`` with the faults of that text;
- ``schedule``: the statuses the first requests of any text get, in order (``[429, 429]``),
  with ``Retry-After: <retry_after>`` when that is set;
- ``api_key``: when set, a request without ``Authorization: Bearer <api_key>`` gets 401.

It records every request body, the ``Authorization`` header, the times requests came and
the most requests it was handling at once.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

CUE = re.compile(r"\[(status|fail|sleep|retry-after)=([^\]]+)\]")


def answer_for(user: str) -> str:
    """The canned answer to a user message."""
    return f"summary {hashlib.sha256(user.encode()).hexdigest()[:8]}: {user[:40].strip()}"


@dataclass
class FakeLLM:
    url: str = ""
    api_key: str | None = None
    schedule: list[int] = field(default_factory=list)
    retry_after: str | None = None
    usage: tuple[int, int] | None = None
    bodies: list[dict[str, Any]] = field(default_factory=list)
    authorizations: list[str | None] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    seen: Counter[str] = field(default_factory=Counter)

    @property
    def calls(self) -> int:
        return len(self.bodies)

    def sent(self) -> str:
        """Everything the client sent, as one string (to assert what left the machine)."""
        return "\n".join(str(body) for body in self.bodies)

    async def handle(self, body: dict[str, Any], authorization: str | None) -> tuple[int, Any]:
        self.bodies.append(body)
        self.authorizations.append(authorization)
        self.times.append(time.monotonic())
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return await self._reply(body, authorization)
        finally:
            self.in_flight -= 1

    async def _reply(self, body: dict[str, Any], authorization: str | None) -> tuple[int, Any]:
        user = next(m["content"] for m in reversed(body["messages"]) if m["role"] == "user")
        cues = dict(CUE.findall(user))
        self.seen[user] += 1
        if "sleep" in cues:
            await asyncio.sleep(float(cues["sleep"]))
        status = 200
        if self.api_key is not None and authorization != f"Bearer {self.api_key}":
            status = 401
        elif self.schedule:
            status = self.schedule.pop(0)
        elif "status" in cues:
            status = int(cues["status"])
        elif "fail" in cues:
            times, code = cues["fail"].split("x")
            if self.seen[user] <= int(times):
                status = int(code)
        self.statuses.append(status)
        if status != 200:
            error = {"error": {"message": f"fake fault {status}", "type": "fake", "code": None}}
            return status, error
        text = answer_for(user)
        words = sum(len(m["content"].split()) for m in body["messages"])
        prompt_tokens, completion_tokens = self.usage or (words, len(text.split()))
        return 200, {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": 0,
            "model": body["model"],
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }


@contextmanager
def serve_fake_llm(**options: Any) -> Iterator[FakeLLM]:
    """Run a FakeLLM under uvicorn on a free loopback port; ``url`` is its base URL (…/v1)."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    fake = FakeLLM(**options)

    async def completions(request: Request) -> JSONResponse:
        body = await request.json()
        status, payload = await fake.handle(body, request.headers.get("authorization"))
        user = body["messages"][-1]["content"]
        headers = {}
        after = dict(CUE.findall(user)).get("retry-after") or fake.retry_after
        if status != 200 and after:
            headers["retry-after"] = after
        return JSONResponse(payload, status_code=status, headers=headers)

    app = Starlette(routes=[Route("/v1/chat/completions", completions, methods=["POST"])])
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=0, log_level="warning", timeout_graceful_shutdown=1
        )
    )
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive(), "the fake LLM stopped while starting"
        assert time.monotonic() < deadline, "the fake LLM did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    fake.url = f"http://127.0.0.1:{port}/v1"
    try:
        yield fake
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def closed_port_url() -> str:
    """A loopback URL nothing listens on: a port the OS gave and we closed again."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"
