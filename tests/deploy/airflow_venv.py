"""A real Airflow 3 in a venv of its own, built once and kept for later runs.

Airflow is never installed into the project's venv (its pins would fight ours): the venv is
``~/.cache/mlfactory/airflow-venv-<digest of airflow-constraints.txt>`` (or
``MLFACTORY_AIRFLOW_VENV``), built with ``pip install apache-airflow -c
airflow-constraints.txt`` under a file lock, so two test processes never build it at once,
and marked complete only at the end, so a killed build is built again. Airflow then runs
offline: ``AIRFLOW_HOME`` in a temporary folder, SQLite.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

CONSTRAINTS = Path(__file__).parent / "airflow-constraints.txt"
COMPLETE = ".mlfactory-complete"


def venv_folder() -> Path:
    if explicit := os.environ.get("MLFACTORY_AIRFLOW_VENV"):
        return Path(explicit)
    digest = hashlib.sha256(CONSTRAINTS.read_bytes()).hexdigest()[:12]
    return Path.home() / ".cache" / "mlfactory" / f"airflow-venv-{digest}"


def airflow_venv() -> Path:
    """The venv's folder, built first if it is not there whole."""
    folder = venv_folder()
    if (folder / COMPLETE).exists():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f"{folder.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be building it: wait
        if (folder / COMPLETE).exists():
            return folder
        shutil.rmtree(folder, ignore_errors=True)  # a build that was killed
        base = getattr(sys, "_base_executable", sys.executable)
        subprocess.run([base, "-m", "venv", str(folder)], check=True, timeout=120)
        pip = str(folder / "bin" / "pip")
        done = subprocess.run(
            [pip, "install", "--quiet", "apache-airflow", "-c", str(CONSTRAINTS)],
            capture_output=True,
            text=True,
            timeout=900,
        )
        if done.returncode != 0:
            raise RuntimeError(f"installing Airflow failed:\n{done.stdout}\n{done.stderr}")
        (folder / COMPLETE).write_text("")
    return folder


def airflow_env(home: Path, dags: Path) -> dict[str, str]:
    """The environment of an ``airflow`` command: its home and DAGs folder, no examples."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.pop("PYTHONPATH", None)  # the DAG's own imports: Airflow's venv, never mlfactory
    env.pop("MLFLOW_TRACKING_URI", None)
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(dags),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__UNIT_TEST_MODE="False",
        COLUMNS="200",
    )
    return env
