"""A stand-in for an LLM: a tiny OpenAI-compatible server on 127.0.0.1 for the demo.

No model weights can be downloaded here, so the demo talks to this server: it
speaks the Chat Completions API (POST /v1/chat/completions) like OpenAI, vLLM,
Ollama or llama.cpp, counts the calls it gets, and answers deterministically by
restating the prompt's lines. Point the job at a real endpoint instead with
MLFACTORY_LLM_BASE_URL, MLFACTORY_LLM_MODEL and OPENAI_API_KEY.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

_PLAIN = {"likely", "causes", "traffic", "weather", "news", "around", "light", "after"}


@dataclass
class StandIn:
    url: str = ""
    calls: int = 0


def _answer(user: str) -> str:
    """A row prompt: its lines restated. The day's prompt (a list of "- " summaries): a
    count and the words the summaries share most."""
    items = [line[2:] for line in user.splitlines() if line.startswith("- ")]
    if items:
        words = Counter(w for item in items for w in set(re.findall(r"[a-z]{5,}", item.lower())))
        common = [w for w, _ in words.most_common(12) if w not in _PLAIN][:4]
        return f"{len(items)} rides were flagged; common threads: {', '.join(common)}."
    facts = [line.split(":", 1) for line in user.splitlines() if ":" in line]
    parts = [f"{k.strip().lower()}: {v.strip().rstrip('.')}" for k, v in facts if v.strip()]
    if not parts:
        return "The records show nothing that explains the flag."
    return "Likely causes, " + "; ".join(parts) + "."


@contextmanager
def standin_llm() -> Iterator[StandIn]:
    """Serve the stand-in on a free loopback port until the block ends."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    state = StandIn()

    async def completions(request: Request) -> JSONResponse:
        body: dict[str, Any] = await request.json()
        state.calls += 1
        user = body["messages"][-1]["content"]
        text = _answer(user)
        words = sum(len(m["content"].split()) for m in body["messages"])
        return JSONResponse(
            {
                "id": "standin",
                "object": "chat.completion",
                "created": 0,
                "model": body.get("model", "standin"),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": words,
                    "completion_tokens": len(text.split()),
                    "total_tokens": words + len(text.split()),
                },
            }
        )

    app = Starlette(routes=[Route("/v1/chat/completions", completions, methods=["POST"])])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the stand-in LLM server did not start")
        time.sleep(0.02)
    state.url = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}/v1"
    try:
        yield state
    finally:
        server.should_exit = True
        thread.join(timeout=30)
