"""A real uvicorn server on 127.0.0.1 serving real registered models."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from mlfactory.registry import Registry
from mlfactory.serving import ServingConfig, create_app
from mlfactory.spec import parse_spec
from mlfactory.training import train

from conftest import mroz_spec, read_only


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    """A registry with `mroz` v1 (champion) and v2 (challenger, another seed)."""
    registry = Registry(path=tmp_path_factory.mktemp("serving") / ".mlfactory")
    train(parse_spec(mroz_spec()), registry=registry, progress=False)
    other = mroz_spec(search={"trials": 2, "seed": 11}, gates={"champion_margin": 0.5})
    train(parse_spec(other), registry=registry, progress=False)
    return registry


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


@pytest.fixture
def rows() -> list[dict[str, Any]]:
    import pandas as pd

    frame = pd.read_csv(Path(__file__).parents[1] / "training" / "mroz_rows.csv")
    return frame.to_dict(orient="records")  # type: ignore[return-value]


def _bad_log_folder(case: str, tmp_path: Path) -> tuple[Path, str]:
    """A --prediction-log folder for model `mroz` the log cannot write, and the path to name."""
    folder = tmp_path / "predictions"
    if case == "a file":
        folder.write_text("not a folder")
        return folder, f"'{folder}' is a file, not a folder"
    if case == "inside a file":
        folder.write_text("not a folder")
        return folder / "log", f"cannot create or write the folder '{folder / 'log'}'"
    if case == "the model's folder is a file":
        (folder / "model=mroz").parent.mkdir()
        (folder / "model=mroz").write_text("not a folder")
        return folder, f"'{folder / 'model=mroz'}', where model 'mroz' logs, is a file"
    assert case == "read-only"
    folder.mkdir()
    return folder, f"cannot create or write the folder '{folder}'"


BAD_LOG_FOLDERS = ["a file", "inside a file", "the model's folder is a file", "read-only"]


@pytest.fixture(params=BAD_LOG_FOLDERS)
def bad_log_folder(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """Each way a prediction log folder can be unusable: (folder, what the error must say)."""
    folder, message = _bad_log_folder(request.param, tmp_path)
    if request.param != "read-only":
        yield folder, message
        return
    with read_only(folder):
        yield folder, message
