"""`mlfactory serve`: the real command, a real port, two worker processes."""

from __future__ import annotations

import os
import re
import signal
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

import zygote
from mlfactory.registry import Registry


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def serving(
    command: list[str], env: dict[str, str], port: int, said: list[str] | None = None
) -> Iterator[str]:
    """Run ``mlfactory serve`` (its own process group); yield its URL once it is ready.

    Its stderr (a file: a full pipe would stop the server) is in ``said``, a line
    each, once the block is left.
    """
    lines = said if said is not None else []
    proc = zygote.spawn(command, env=env, new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{base}/health/ready").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None:
                raise AssertionError(proc.stderr)
            assert time.monotonic() < deadline, "server did not become ready"
            time.sleep(0.2)
        yield base
    finally:
        if proc.poll() is None:  # (one that exited has said why above)
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        lines.extend(proc.stderr.splitlines(keepends=True))


def test_serve_with_two_workers_answers_every_protocol(
    trained: Registry, rows: list[dict[str, Any]], cli_env: dict[str, str]
) -> None:
    port = free_port()
    command = ["serve", "mroz@champion", "--port", str(port)]
    command += ["--workers", "2", "--registry", str(trained.path)]
    with serving(command, cli_env, port) as base:
        native = httpx.post(f"{base}/v1/models/mroz/predict", json={"records": rows})
        assert native.status_code == 200 and native.json()["model_version"] == "1"
        mlflow = httpx.post(f"{base}/invocations", json={"dataframe_records": rows})
        assert mlflow.status_code == 200 and len(mlflow.json()["predictions"]) == 5
        for _ in range(20):  # new connections, so both workers answer some
            httpx.post(f"{base}/v1/models/mroz/predict", json={"records": rows[:1]})
        # whichever worker answers a scrape, the counters are the sum over both workers
        for _ in range(6):
            scraped = httpx.get(f"{base}/metrics").text
            assert _sample(scraped, 'mlfactory_requests_total{model="mroz",protocol="mlfactory",'
                           'status="200"}') == 21  # fmt: skip
            assert _sample(scraped, 'mlfactory_requests_total{model="mroz",protocol="mlflow",'
                           'status="200"}') == 1  # fmt: skip
            assert _sample(scraped, 'mlfactory_model_version{model="mroz",version="1"}') == 1


def _sample(exposition: str, series: str) -> float:
    """The value of one series in a Prometheus text exposition (it must appear once)."""
    values = [line.rsplit(" ", 1)[1] for line in exposition.splitlines() if line.startswith(series)]
    assert len(values) == 1, f"{series}: {values}"
    return float(values[0])


def test_serve_an_unknown_model_exits_2(trained: Registry, cli_env: dict[str, str]) -> None:
    done = zygote.run(
        [
            "serve",
            "mroz@staging",
            "--registry",
            str(trained.path),
        ],
        env=cli_env,
        timeout=60,
    )
    assert done.returncode == 2
    assert "mroz@staging does not exist" in " ".join(done.stderr.split())


@pytest.mark.parametrize(
    ("option", "words"),
    [
        (["--port", "70000"], "'--port': Input should be less than or equal to 65535"),
        (["--port", "-1"], "'--port': Input should be greater than or equal to 1"),
        (["--poll-seconds", "-3"], "'--poll-seconds': Input should be greater than or equal"),
    ],
)
def test_a_port_no_socket_can_have_exits_2_before_serving(
    trained: Registry, cli_env: dict[str, str], option: list[str], words: str
) -> None:
    """Port 70000 used to print "serving on 127.0.0.1:70000" and hang; -1 to fail in uvicorn."""
    command = ["serve", "mroz@champion", *option]
    done = zygote.run(
        [*command, "--registry", str(trained.path)],
        env=cli_env,
        timeout=60,
    )
    assert done.returncode == 2 and "serving" not in done.stderr
    assert words in " ".join(done.stderr.split())


def test_a_missing_prometheus_folder_exits_2(
    trained: Registry, cli_env: dict[str, str], tmp_path: Any
) -> None:
    env = {**cli_env, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "nowhere")}
    command = ["serve", "mroz@champion", "--workers", "2"]
    command += ["--registry", str(trained.path)]
    done = zygote.run(command, env=env, timeout=60)
    assert done.returncode == 2
    assert "PROMETHEUS_MULTIPROC_DIR" in done.stderr and "is not a folder" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_blank_api_token_exits_2_before_serving(
    trained: Registry, cli_env: dict[str, str]
) -> None:
    """A token variable set to spaces would otherwise leave the server open or half-started."""
    env = {**cli_env, "MLFACTORY_API_TOKEN": "  "}
    command = ["serve", "mroz@champion", "--workers", "2"]
    command += ["--port", str(free_port()), "--registry", str(trained.path)]
    done = zygote.run(command, env=env, timeout=60)
    assert done.returncode == 2
    assert "MLFACTORY_API_TOKEN is set but blank" in done.stderr
    assert "serving mroz@champion" not in done.stderr and "Traceback" not in done.stderr


def test_a_prediction_log_that_cannot_be_written_exits_2_before_serving(
    trained: Registry, cli_env: dict[str, str], bad_log_folder: tuple[Path, str]
) -> None:
    """Served anyway, such a log would drop every row; `serve` stops before listening."""
    folder, message = bad_log_folder
    command = ["serve", "mroz@champion"]
    command += ["--port", str(free_port()), "--registry", str(trained.path)]
    done = zygote.run(
        [*command, "--prediction-log", str(folder)],
        env=cli_env,
        timeout=60,
    )
    assert done.returncode == 2
    assert message in " ".join(done.stderr.split())
    assert "serving mroz@champion" not in done.stderr and "Traceback" not in done.stderr


def test_serve_takes_its_protocols_from_the_table(
    trained: Registry, rows: list[dict[str, Any]], cli_env: dict[str, str]
) -> None:
    port = free_port()
    command = ["serve", "mroz@champion", "--port", str(port)]
    command += ["--registry", str(trained.path), "--protocol", "v2", "--protocol", "mlflow"]
    with serving(command, cli_env, port) as base:
        assert httpx.get(f"{base}/v2/models/mroz/ready").status_code == 200
        mlflow = httpx.post(f"{base}/invocations", json={"dataframe_records": rows})
        assert mlflow.status_code == 200
        native = httpx.post(f"{base}/v1/models/mroz/predict", json={"records": rows})
        assert native.status_code == 404  # not served

    command = ["serve", "mroz@champion", "--port", str(port)]
    command += ["--registry", str(trained.path), "--protocol", "grpc"]
    done = zygote.run(command, env=cli_env, timeout=60)
    assert done.returncode == 2
    assert "unknown protocol(s) 'grpc'; serve one or more of mlfactory, mlflow, v2" in done.stderr
    assert "serving mroz@champion" not in done.stderr and "Traceback" not in done.stderr


def test_serve_logs_one_access_line_per_request_unless_told_not_to(
    trained: Registry, rows: list[dict[str, Any]], cli_env: dict[str, str]
) -> None:
    port = free_port()
    command = ["serve", "mroz@champion", "--port", str(port)]
    command += ["--registry", str(trained.path)]
    said: list[str] = []
    with serving(command, cli_env, port, said) as base:
        scored = httpx.post(f"{base}/v1/models/mroz/predict?explain=true", json={"records": rows})
        refused = httpx.post(f"{base}/invocations", json={"dataframe_records": [{"age": 40}]})
        live = httpx.get(f"{base}/health/live")
    assert (scored.status_code, refused.status_code, live.status_code) == (200, 422, 200)
    lines = [line.rstrip("\n") for line in said if ' - "' in line]
    waited = [line for line in lines if "/health/ready" in line]  # serving() waits for ready
    start = r'INFO: +127\.0\.0\.1:\d+ - "'
    expected = [
        start + r'POST /v1/models/mroz/predict\?explain=true HTTP/1\.1" 200 OK \d+\.\d ms mroz/1',
        start + r'POST /invocations HTTP/1\.1" 422 Unprocessable \w+ \d+\.\d ms mroz/1',
        start + r'GET /health/live HTTP/1\.1" 200 OK \d+\.\d ms -',
    ]
    ready = start + r'GET /health/ready HTTP/1\.1" 200 OK \d+\.\d ms -'
    assert waited and re.fullmatch(ready, waited[-1])
    assert len(lines) - len(waited) == 3, lines  # one line per request
    for line, pattern in zip(lines[len(waited) :], expected, strict=True):
        assert re.fullmatch(pattern, line), (line, pattern)

    port = free_port()
    quiet = [*command[:3], str(port), *command[4:], "--no-access-log"]
    said = []
    with serving(quiet, cli_env, port, said) as base:
        assert httpx.post(f"{base}/v1/models/mroz/predict", json={"records": rows}).is_success
    assert said and not [line for line in said if ' - "' in line]  # it did say it was serving
