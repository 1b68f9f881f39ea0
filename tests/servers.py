"""A real uvicorn server on 127.0.0.1 serving real registered models, for any test folder."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from mlfactory.registry import Registry
from mlfactory.serving import ServingConfig, create_app

__all__ = ["serve"]


@contextmanager
def serve(models: list[str], registry: Registry, **config: Any) -> Iterator[str]:
    """Run the app under uvicorn on a free loopback port; yield its base URL when ready."""
    import httpx
    import uvicorn

    app = create_app(models, registry=registry, config=ServingConfig(**config))
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped while starting"
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    while httpx.get(f"{url}/health/ready").status_code != 200:
        assert time.monotonic() < deadline, "models did not load"
        time.sleep(0.05)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=30)
