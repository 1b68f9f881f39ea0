"""No code runs when a model is loaded, on any path that loads one.

An attacker who can write the artifact store and the registry's tags replaces
``pipeline.skops`` of a registered version with a file whose nodes call
``builtins.exec``, ``numpy.load(path, None, True)`` or ``os.system``, rewrites the
digests to match and sets the version's digest tag. Every loader refuses the file,
names the refused type and the file in the store, and the payload never runs.
"""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path
from urllib.parse import urlparse

import pytest

import mlfactory
import zygote
from mlfactory.errors import TamperedArtifactError
from mlfactory.registry import Registry
from mlfactory.spec import parse_spec
from mlfactory.training import train
from tampering import ATTACKS, NAMES, reseal, retag, tamper

from conftest import mroz_spec

ROWS = Path(__file__).parents[1] / "training" / "mroz_rows.csv"


class Attacked:
    """A registry whose versions 2.. each carry one attack (version 1 is clean)."""

    def __init__(self, registry: Registry, markers: Path) -> None:
        self.registry, self.markers = registry, markers
        self.version = {attack: str(i) for i, attack in enumerate(ATTACKS, start=2)}

    def marker(self, attack: str) -> Path:
        return self.markers / attack

    def stored(self, attack: str) -> str:
        """Where the version's pipeline sits in the artifact store."""
        info = self.registry.resolve(f"mroz/{self.version[attack]}")
        return f"{info.source}/data/package/pipeline.skops"


def model_folder(registry: Registry, version: str) -> Path:
    return Path(urlparse(registry.resolve(f"mroz/{version}").source).path)


@pytest.fixture(scope="module")
def attacked(tmp_path_factory: pytest.TempPathFactory) -> Attacked:
    base = tmp_path_factory.mktemp("attacked")
    registry = Registry(path=base / ".mlfactory")
    spec = parse_spec(mroz_spec(search={"trials": 1}))
    for _ in range(1 + len(ATTACKS)):
        train(spec, registry=registry, progress=False)
    (base / "markers").mkdir()
    found = Attacked(registry, base / "markers")
    for attack, version in found.version.items():
        folder = model_folder(registry, version)
        tamper(folder / "data" / "package" / "pipeline.skops", attack, found.marker(attack))
        retag(registry.tracking_uri, "mroz", version, reseal(folder))
    return found


@pytest.mark.parametrize("attack", ATTACKS)
def test_mlfactory_load_model_refuses_and_nothing_runs(attacked: Attacked, attack: str) -> None:
    ref = f"mroz/{attacked.version[attack]}"
    with pytest.raises(TamperedArtifactError, match=NAMES[attack]) as refused:
        mlfactory.load_model(ref, path=attacked.registry.path)
    assert str(refused.value).startswith(attacked.stored(attack))  # the store, not a temp copy
    assert not attacked.marker(attack).exists()


@pytest.mark.parametrize("attack", ATTACKS)
def test_mlflow_pyfunc_refuses_and_nothing_runs(
    attacked: Attacked, attack: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow.pyfunc
    import pandas as pd

    monkeypatch.setenv("MLFLOW_TRACKING_URI", attacked.registry.tracking_uri)
    clean = mlflow.pyfunc.load_model("models:/mroz/1")
    assert len(clean.predict(pd.read_csv(ROWS))) == 5
    with pytest.raises(TamperedArtifactError, match=NAMES[attack]):
        mlflow.pyfunc.load_model(f"models:/mroz/{attacked.version[attack]}")
    assert not attacked.marker(attack).exists()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _command(name: str, attack: str, ref: str, registry: Path, tmp_path: Path) -> list[str]:
    common = ["--registry", str(registry)]
    if name == "predict":
        return ["predict", ref, "--input", str(ROWS), "--output", str(tmp_path / "o.csv"), *common]
    if name == "monitor":
        return ["monitor", ref, "--current", str(ROWS), "--no-record", *common]
    workers = "2" if attack == "numpy-load" else "1"  # a supervisor and its workers, too
    return ["serve", ref, "--port", str(_free_port()), "--workers", workers, *common]


@pytest.mark.parametrize("command", ["predict", "monitor", "serve"])
def test_every_command_refuses_and_nothing_runs(
    attacked: Attacked, command: str, cli_env: dict[str, str], tmp_path: Path
) -> None:
    """One process per attack, all at once; each must exit with the refusal alone."""
    for attack in ATTACKS:
        (tmp_path / attack).mkdir()
    running = {
        attack: zygote.spawn(
            _command(command, attack, f"mroz/{v}", attacked.registry.path, tmp_path / attack),
            env=cli_env,
            new_session=True,  # a server that did start is stopped with its workers
        )
        for attack, v in attacked.version.items()
    }
    finished: dict[str, tuple[int, str]] = {}
    try:
        for attack, proc in running.items():
            finished[attack] = (proc.wait(timeout=120), proc.stderr)
    finally:
        for proc in running.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    for attack, (returncode, stderr) in finished.items():
        assert returncode == 1, stderr
        lines = stderr.splitlines()
        errors = [line for line in lines if line.startswith("error")]
        assert len(errors) == 1, stderr
        prefix = "error (RegistryError): cannot serve: mroz/" if command == "serve" else "error"
        assert errors[0].startswith(prefix), stderr
        assert f"{attacked.stored(attack)} holds {NAMES[attack]}" in errors[0], stderr
        # the message alone: no traceback, no log lines from uvicorn
        assert all(line in errors or line.startswith("serving ") for line in lines), stderr
        assert not attacked.marker(attack).exists()
