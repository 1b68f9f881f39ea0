"""`mlfactory batch` on a forecasting model: every series' forecast, or some, to Parquet parts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from batchfiles import read_parts
from mlfactory.batch import forecasts as batch_forecasts
from mlfactory.cli import main
from mlfactory.registry import Registry
from mlfactory.scoring import Scorer
from mlfactory.training import train

from .test_train import PIZZAS, pizza_spec


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("batch")
    (folder / "factory.yaml").write_text(
        yaml.safe_dump(pizza_spec(models=["seasonal_naive", "auto_ets"]))
    )
    train(folder / "factory.yaml", registry=Registry(path=folder / ".mlfactory"), progress=False)
    return folder / ".mlfactory"


def batch(registry: Path, *args: str) -> int:
    return main(["batch", "pizzas@champion", "--registry", str(registry), *args])


def test_every_series_forecast_is_written_as_served(registry: Path) -> None:
    assert batch(registry, "--output", "all", "--json", "run.json") == 0
    frame = read_parts(Path("all/model=pizzas"))
    assert sorted(frame["name"].unique()) == sorted(PIZZAS)
    assert len(frame) == len(PIZZAS) * 14
    assert list(frame.columns[:4]) == ["unique_id", "name", "step", "date"]
    assert {"mean", "lo_80", "hi_80", "lo_95", "hi_95", "_model", "_version"} <= set(frame)
    served = Scorer.load(Registry(path=registry), "pizzas@champion").package.pipeline
    expected = served.forecast(sorted(PIZZAS))
    merged = frame.merge(expected, left_on=["unique_id", "step"], right_on=["unique_id", "step"])
    assert (merged["mean_x"] == merged["mean_y"]).all()
    record = json.loads(Path("run.json").read_text())
    assert record["scored"] == len(PIZZAS) * 14 and record["exit_code"] == 0


def test_some_series_a_shorter_horizon_and_other_levels(registry: Path) -> None:
    code = batch(
        registry,
        "--output",
        "some",
        "--ids",
        "hawaiian,big_meat",
        "--horizon",
        "3",
        "--levels",
        "50,99",
    )
    assert code == 0
    frame = read_parts(Path("some/model=pizzas"))
    assert sorted(frame["name"].unique()) == ["big_meat", "hawaiian"] and len(frame) == 6
    assert {"lo_50", "hi_99"} <= set(frame) and "lo_80" not in frame


def test_a_rerun_resumes_and_another_request_is_refused(
    registry: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(batch_forecasts, "SERIES_PER_PART", 2)
    assert batch(registry, "--output", "out", "--json", "first.json") == 0
    parts = sorted(Path("out/model=pizzas").glob("part-*.parquet"))
    assert len(parts) == 3
    parts[-1].unlink()  # as if the run had been killed before its last part
    manifest = json.loads(Path("out/_batch.json").read_text())
    del manifest["parts"]["forecast-00002"]
    Path("out/_batch.json").write_text(json.dumps(manifest))
    assert batch(registry, "--output", "out", "--json", "second.json") == 0
    second = json.loads(Path("second.json").read_text())
    assert second["resumed"] == 2 and second["parts"] == 3
    frame = read_parts(Path("out/model=pizzas"))
    assert len(frame) == len(PIZZAS) * 14 and not frame.duplicated(["unique_id", "step"]).any()
    assert batch(registry, "--output", "out", "--horizon", "2") == 2  # another job: refused


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--ids", "hawaiian,nope"], "'nope'"),
        (["--horizon", "20"], "outside 1..14"),
        (["--levels", "eighty"], "percentages"),
        (["--levels", "0"], "not a percentage"),
        (["--ids", ",", "--horizon", "2"], "at least one series id"),
        (["--input", "x.csv", "--ids", "hawaiian"], "leave out --input"),
    ],
)
def test_bad_forecast_requests_exit_2_naming_the_problem(
    registry: Path, args: list[str], words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert batch(registry, "--output", "bad", *args) == 2
    assert words in capsys.readouterr().err.replace("\n", " ")
    assert not Path("bad/_batch.json").exists()  # a refused request leaves nothing to resume


def test_rows_of_id_and_date_are_scored_or_rejected_with_the_reason(registry: Path) -> None:
    Path("rows.csv").write_text(
        "name,date\nhawaiian,2016-01-02\ncalzone,2016-01-02\nbig_meat,2017-05-01\n"
        "big_meat,2016-01-03\n"
    )
    assert batch(registry, "--input", "rows.csv", "--output", "rows", "--json", "r.json") == 0
    scored = read_parts(Path("rows/model=pizzas"))
    assert list(scored["name"]) == ["hawaiian", "big_meat"]
    assert {"prediction", "lo_80", "hi_95"} <= set(scored)
    rejects = read_parts(Path("rows/rejects")).set_index("name")["_reason"]
    assert "has none of: 'calzone'" in rejects["calzone"]
    assert "does not forecast: it forecasts 'big_meat' from 2016-01-01" in rejects["big_meat"]
    assert json.loads(Path("r.json").read_text())["rejected"] == 2
