"""Two hosts training one new model against one MLflow server: champion is decided once.

The hosts are two processes with their own temp (and so lock) folders, talking to
a real `mlflow server` on 127.0.0.1. A barrier holds each right after its
version is created, so both have read "no champion yet" before either moves the
alias: exactly the interleaving in which local locks cannot help.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

import zygote
from mlfactory.registry import Registry

from conftest import mroz_spec

BARRIER = """
import os, time
from pathlib import Path
from mlflow import MlflowClient

barrier = Path(os.environ["BARRIER"])
original = MlflowClient.create_model_version


def create_model_version(self, *args, **kwargs):
    version = original(self, *args, **kwargs)
    (barrier / str(os.getpid())).touch()
    deadline = time.monotonic() + 120
    while len(list(barrier.iterdir())) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    return version


MlflowClient.create_model_version = create_model_version
"""


@pytest.fixture
def mlflow_server(tmp_path: Path) -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [
            sys.executable, "-m", "mlflow", "server",
            "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}",
            "--artifacts-destination", str(tmp_path / "server-artifacts"),
            "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, "mlflow server exited"
            assert time.monotonic() < deadline, "mlflow server did not start"
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        yield url
    finally:
        os.killpg(server.pid, 9)
        server.wait()


def test_two_hosts_training_a_new_model_at_once_promote_at_most_one_without_comparing(
    mlflow_server: str, tmp_path: Path
) -> None:
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    procs = []
    for host in ("host-a", "host-b"):
        folder = tmp_path / host
        (folder / "tmp").mkdir(parents=True)
        (folder / "factory.yaml").write_text(yaml.safe_dump(mroz_spec(search={"trials": 1})))
        env = {**os.environ, "MLFLOW_TRACKING_URI": mlflow_server, "BARRIER": str(barrier)}
        env["TMPDIR"] = str(folder / "tmp")  # its own lock folder, as on another machine
        train = ["train", "factory.yaml", "--quiet"]
        procs.append(zygote.spawn(train, cwd=folder, env=env, prelude=BARRIER))
    codes = sorted(p.wait(timeout=300) for p in procs)
    outputs = [(p.stdout, p.stderr) for p in procs]
    assert codes == [0, 3], outputs  # one champion; the same model cannot beat itself

    registry = Registry(tracking_uri=mlflow_server)
    versions = registry.versions("mroz")
    assert [v.version for v in versions] == ["1", "2"]
    first = [v for v in versions if "no champion yet" in v.reason]
    assert len(first) == 1, [v.reason for v in versions]  # the other faced a champion
    other = next(v for v in versions if v is not first[0])
    assert f"vs champion v{first[0].version}'s" in other.reason
    assert registry.resolve("mroz@champion").version == first[0].version
    assert registry.resolve("mroz@challenger").version == other.version
    champions = [e for e in registry.alias_history("mroz") if e["alias"] == "champion"]
    assert [(e["version"], e["previous"]) for e in champions] == [(first[0].version, None)]
    assert all(v.registering is None for v in versions)
