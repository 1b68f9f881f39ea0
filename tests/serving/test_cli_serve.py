"""`mlfactory serve`: the real command, a real port, two worker processes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from typing import Any

import httpx

from mlfactory.registry import Registry


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_serve_with_two_workers_answers_every_protocol(
    trained: Registry, rows: list[dict[str, Any]], cli_env: dict[str, str]
) -> None:
    port = free_port()
    command = [sys.executable, "-m", "mlfactory", "serve", "mroz@champion", "--port", str(port)]
    command += ["--workers", "2", "--registry", str(trained.path)]
    proc = subprocess.Popen(
        command,
        env=cli_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{base}/health/ready").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.monotonic() < deadline, "server did not become ready"
            time.sleep(0.2)
        native = httpx.post(f"{base}/v1/models/mroz/predict", json={"records": rows})
        assert native.status_code == 200 and native.json()["model_version"] == "1"
        mlflow = httpx.post(f"{base}/invocations", json={"dataframe_records": rows})
        assert mlflow.status_code == 200 and len(mlflow.json()["predictions"]) == 5
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def test_serve_an_unknown_model_exits_2(trained: Registry, cli_env: dict[str, str]) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mlfactory",
            "serve",
            "mroz@staging",
            "--registry",
            str(trained.path),
        ],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "mroz@staging does not exist" in " ".join(done.stderr.split())
