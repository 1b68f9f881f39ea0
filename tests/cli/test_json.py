"""`--json` on `mlfactory train` and `models show`: records a script or CI job can parse."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlfactory.cli.records import write_json

from conftest import Ran, mroz_spec


def mlfactory(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "mlfactory", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)


def strict(text: str) -> Any:
    """JSON as jq or a JavaScript client reads it: NaN and Infinity are not JSON."""

    def refuse(constant: str) -> None:
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_train_and_models_show_write_what_was_decided_and_why(
    write_spec: Callable[..., Path], cli: Callable[..., Ran], tmp_path: Path
) -> None:
    spec = str(write_spec(mroz_spec(search={"trials": 1}, threshold={"optimize": "f1"})))
    done = cli("train", spec, "--quiet", "--json", str(tmp_path / "first.json"))
    assert done.returncode == 0, done.stderr
    assert "promoted" in done.stdout  # the tables still print
    first = strict((tmp_path / "first.json").read_text())
    assert (first["name"], first["version"], first["decision"]) == ("mroz", "1", "promoted")
    assert (first["alias"], first["exit_code"], first["champion"]) == ("champion", 0, None)
    auc = first["metrics"]["roc_auc"]
    assert first["metric"] == "roc_auc" and auc["ci95"][0] <= auc["test"] <= auc["ci95"][1]
    assert auc["baseline"] == 0.5 and auc["train"] > auc["test"]
    assert all(check["passed"] for check in first["checks"]) and first["reason"] == (
        "promoted: " + "; ".join(check["detail"] for check in first["checks"])
    )
    assert Path(first["report"]).is_file()
    assert 0 < first["threshold"]["value"] < 1 and "best f1" in first["threshold"]["rule"]

    again = cli("train", spec, "--quiet", "--json", "-")
    assert again.returncode == 3, again.stderr
    second = strict(again.stdout)  # stdout holds the JSON alone; the tables went to stderr
    assert "held back" in again.stderr and "roc_auc (primary)" in again.stderr
    assert (second["version"], second["decision"], second["alias"]) == (
        "2",
        "held back",
        "challenger",
    )
    assert second["champion"]["version"] == "1" and second["exit_code"] == 3
    failed = [check for check in second["checks"] if not check["passed"]]
    assert [check["name"] for check in failed] == ["beats champion"]
    assert second["reason"] == f"held back: {failed[0]['detail']}"

    shown = cli("models", "show", "mroz", "--json", "-")
    assert shown.returncode == 0, shown.stderr
    record = strict(shown.stdout)
    assert record["aliases"] == {"champion": "1", "challenger": "2"}
    versions = {v["version"]: v for v in record["versions"]}
    for trained in (first, second):
        listed = versions[trained["version"]]
        assert listed["metrics"] == trained["metrics"]  # intervals included, from the package
        assert listed["threshold"] == trained["threshold"]
        assert (listed["decision"], listed["reason"]) == (trained["decision"], trained["reason"])
        assert listed["aliases"] == [trained["alias"]] and "problem" not in listed


def test_a_json_path_that_cannot_be_written_stops_before_training(
    write_spec: Callable[..., Path], cli_env: dict[str, str], tmp_path: Path
) -> None:
    target = str(tmp_path / "no-such-folder" / "result.json")
    done = mlfactory("train", str(write_spec()), "--json", target, env=cli_env)
    assert done.returncode == 2
    assert f"--json '{target}' is in" in " ".join(done.stderr.split())
    assert "rows read" not in done.stderr and not (tmp_path / ".mlfactory" / "mlflow.db").exists()


def test_a_metric_undefined_on_the_test_rows_is_null(tmp_path: Path) -> None:
    write_json(
        {"metrics": {"f1": {"test": float("nan"), "ci95": [0.1, float("inf")]}}},
        tmp_path / "r.json",
    )
    assert strict((tmp_path / "r.json").read_text()) == {
        "metrics": {"f1": {"test": None, "ci95": [0.1, None]}}
    }
