"""The ETML job end to end: dated, idempotent per date, backfills, and survives every LLM fault."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from etml.fake_llm import FakeLLM, closed_port_url
from mlfactory.errors import BadInputError, DataError, SpecError
from mlfactory.etml.dates import parse_date
from mlfactory.etml.job import run_days
from mlfactory.etml.output import read_day
from mlfactory.etml.spec import load_job
from mlfactory.registry import Registry

RIDES = Path(__file__).parents[2] / "examples" / "taxi_etml" / "data" / "rides"
DAY1, DAY2 = parse_date("2026-11-27"), parse_date("2026-11-28")


def job_spec(tmp_path: Path, **overrides: Any) -> Path:
    spec: dict[str, Any] = {
        "name": "taxi",
        "extract": {"source": f"{RIDES}/date={{date}}/*.parquet"},
        "transform": {"sql": "SELECT * EXCLUDE (is_anomaly) FROM rows"},
        "detect": {
            "id_column": "ride_id",
            "detector": {
                "name": "dbscan",
                "features": ["ride_dist", "ride_time"],
                "params": {"eps": 0.3, "min_samples": 10},
            },
        },
        "summarise": {"columns": ["traffic", "weather", "news"], "llm": {"model": "m"}},
        "load": {"output": "out"},
    }
    for key, value in overrides.items():
        if value is None:
            spec.pop(key, None)
        elif key == "extract":  # the rest replace the part whole
            spec[key] = {**spec[key], **value}
        else:
            spec[key] = value
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def with_llm(fake_url: str, **llm: Any) -> dict[str, Any]:
    return {"columns": ["traffic", "weather", "news"], "llm": {"base_url": fake_url,
                                                             "model": "m", **llm}}  # fmt: skip


def run(path: Path, *days: Any, registry: Registry | None = None) -> list[Any]:
    registry = registry or Registry(path=path.parent / ".mlfactory")
    return run_days(load_job(path), list(days), registry=registry)


def test_two_days_then_a_rerun_change_nothing_and_call_the_llm_no_more(
    tmp_path: Path, fake_llm: FakeLLM
) -> None:
    path = job_spec(tmp_path, summarise=with_llm(fake_llm.url))
    registry = Registry(path=tmp_path / ".mlfactory")
    first = run(path, DAY1, DAY2, registry=registry)
    assert [r.day for r in first] == [DAY1, DAY2]
    calls = fake_llm.calls
    # one prompt per flagged ride and one for the day, each day
    assert calls == sum(r.flagged + 1 for r in first) and calls > 2
    day2 = read_day(tmp_path / "out", DAY2)
    assert day2 is not None and set(day2) >= {"rows.parquet", "rows.jsonl", "summary.json",
                                              "report.html"}  # fmt: skip
    rows = pd.read_parquet(tmp_path / "out" / "date=2026-11-28" / "rows.parquet")
    assert len(rows) == first[1].rows == 3000 and rows["ride_id"].is_unique
    flagged = rows[rows["flag"]]
    assert len(flagged) == first[1].flagged > 0
    assert flagged["summary_source"].eq("llm").all()
    assert rows.loc[~rows["flag"], "summary"].isna().all()
    # the label the simulator planted: DBSCAN finds most of them
    truth = pd.read_parquet(RIDES / "date=2026-11-28")
    found = truth.set_index("ride_id").loc[flagged["ride_id"], "is_anomaly"]
    assert found.mean() > 0.7

    again = run(path, DAY2, registry=registry)[0]
    assert fake_llm.calls == calls  # every answer came from the cache
    assert again.usage.calls == 0 and again.usage.cached == first[1].flagged + 1
    assert read_day(tmp_path / "out", DAY2)["rows.parquet"] == day2["rows.parquet"]
    assert sorted(p.name for p in (tmp_path / "out").glob("*date=*")) == [
        "date=2026-11-27", "date=2026-11-28"]  # one folder a day, nothing left aside  # fmt: skip

    client = registry.client
    experiment = client.get_experiment_by_name("mlfactory/taxi")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 3  # one run per day run, the rerun too
    newest = runs[0]
    assert newest.data.tags["mlfactory.etml.date"] == "2026-11-28"
    assert newest.data.metrics["rows"] == 3000 and newest.data.metrics["llm_calls"] == 0
    assert newest.data.metrics["flag_rate"] == pytest.approx(again.flag_rate)


def test_the_cli_backfills_and_writes_json(tmp_path: Path, fake_llm: FakeLLM) -> None:
    path = job_spec(tmp_path, summarise=with_llm(fake_llm.url))
    done = subprocess.run(
        [sys.executable, "-m", "mlfactory", "etml", str(path), "--from", "2026-11-26",
         "--to", "2026-11-28", "--json", "-"],
        capture_output=True, text=True, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    days = json.loads(done.stdout)["days"]
    assert [d["date"] for d in days] == ["2026-11-26", "2026-11-27", "2026-11-28"]
    assert days[0]["rows"] == 0 and "no rows for 2026-11-26" in " ".join(days[0]["notes"])
    assert (tmp_path / "out" / "date=2026-11-26" / "rows.parquet").exists()
    assert days[2]["flagged"] > 0 and days[2]["llm"]["calls"] > 0


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (["--date", "2026-13-01"], "2026-13-01"),
        (["--date", "yesterday"], "YYYY-MM-DD"),
        (["--from", "2026-11-28", "--to", "2026-11-27"], "after"),
        (["--from", "2026-11-28"], "both --from and --to"),
    ],
)
def test_bad_dates_exit_2_with_a_message(
    tmp_path: Path, arguments: list[str], expected: str
) -> None:
    path = job_spec(tmp_path, summarise=None)
    done = subprocess.run(
        [sys.executable, "-m", "mlfactory", "etml", str(path), *arguments],
        capture_output=True, text=True, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert expected in done.stderr
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").glob("date=*"))


def test_no_rows_can_be_an_error_that_writes_nothing(tmp_path: Path) -> None:
    path = job_spec(tmp_path, extract={"on_empty": "fail"}, summarise=None)
    with pytest.raises(DataError, match="no rows for 2026-11-20"):
        run(path, parse_date("2026-11-20"))
    assert not list((tmp_path / "out").glob("date=*"))


def test_a_day_too_small_for_its_detector_is_an_error_naming_the_day(tmp_path: Path) -> None:
    # the transform keeps one ride of the second day: DBSCAN cannot be fitted on one row
    path = job_spec(
        tmp_path,
        transform={"sql": "SELECT * EXCLUDE (is_anomaly) FROM rows ORDER BY ride_id LIMIT "
                   "CASE WHEN DATE '{date}' = DATE '2026-11-28' THEN 1 ELSE 100000 END"},
        summarise=None,
    )  # fmt: skip
    with pytest.raises(DataError) as error:
        run(path, DAY1, DAY2)
    message = str(error.value)
    assert message.startswith("2026-11-28: the dbscan detector cannot be fitted on the day's 1")
    assert "detect.model" in message and "nothing was written for 2026-11-28" in message
    written = sorted(p.name for p in (tmp_path / "out").glob("date=*"))
    assert written == ["date=2026-11-27"]  # the day before is whole; the bad one absent


def test_rows_that_share_an_id_are_scored_and_noted(tmp_path: Path) -> None:
    path = job_spec(
        tmp_path,
        transform={"sql": "SELECT * EXCLUDE (is_anomaly) FROM rows UNION ALL "
                   "(SELECT * EXCLUDE (is_anomaly) FROM rows ORDER BY ride_id LIMIT 3)"},
        summarise=None,
    )  # fmt: skip
    result = run(path, DAY1)[0]
    assert result.rows == 3_003
    assert any(n.startswith("6 rows share their ride_id with another row") for n in result.notes)


def test_spec_mistakes_are_named_before_anything_runs(tmp_path: Path) -> None:
    path = job_spec(
        tmp_path,
        extract={"source": f"{RIDES}/all.parquet"},
        detect={"detector": {"name": "lightgbm"}},
        summarise={"columns": ["traffic"], "template": "Traffic {traffic}, weather {weather}"},
    )
    with pytest.raises(SpecError) as error:
        load_job(path)
    message = str(error.value)
    assert "holds no {date}" in message
    assert "'lightgbm' is not a detector" in message
    assert "weather" in message and "traffic" in message


def test_a_missing_text_column_is_named(tmp_path: Path) -> None:
    path = job_spec(tmp_path, summarise={"columns": ["traffic", "gossip"], "llm": {"model": "m"}})
    with pytest.raises(DataError, match="gossip"):
        run(path, DAY1)
    assert not list((tmp_path / "out").glob("date=*"))


def test_another_jobs_output_folder_is_refused(tmp_path: Path) -> None:
    run(job_spec(tmp_path, summarise=None), DAY1)
    other = job_spec(tmp_path, name="other-job", summarise=None)
    with pytest.raises(BadInputError, match="taxi"):
        run(other, DAY1)


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ("unreachable", "connect"),
        ("401", "401"),
        ("budget", "token budget"),
        ("429", "429"),
    ],
)
def test_every_llm_fault_leaves_a_complete_day_with_marked_fallbacks(
    tmp_path: Path, start_fake_llm: Any, fault: str, reason: str
) -> None:
    llm: dict[str, Any] = {"retries": 1, "timeout": 5}
    if fault == "unreachable":
        url = closed_port_url()
    else:
        fake = start_fake_llm(
            api_key="right" if fault == "401" else None,
            schedule=[429] * 1000 if fault == "429" else [],
            retry_after="0" if fault == "429" else None,
        )
        url = fake.url
        llm["token_budget"] = 100 if fault == "budget" else None
    path = job_spec(tmp_path, summarise=with_llm(url, **llm))
    result = run(path, DAY1)[0]
    assert result.flagged > 0 and result.usage.fallbacks == result.flagged + 1
    assert any(reason.lower() in r.lower() for r in result.usage.reasons), result.usage.reasons
    rows = pd.read_parquet(tmp_path / "out" / "date=2026-11-27" / "rows.parquet")
    flagged = rows[rows["flag"]]
    assert flagged["summary_source"].eq("extractive").all()
    assert flagged["summary"].str.len().gt(0).all()
    summary = json.loads((tmp_path / "out" / "date=2026-11-27" / "summary.json").read_text())
    assert summary["day_summary"]["source"] == "extractive"


def test_dbscan_eps_in_the_wrong_units_is_a_warning_with_the_flag_rate(tmp_path: Path) -> None:
    path = job_spec(
        tmp_path,
        detect={"id_column": "ride_id", "detector": {"name": "dbscan",
                "features": ["ride_dist", "ride_time"], "params": {"eps": 300}}},
        summarise=None,
    )  # fmt: skip
    result = run(path, DAY1)[0]
    assert result.flagged == 0
    assert any("eps=300" in n and "0.0%" in n for n in result.notes), result.notes


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["local", "dask"])
def test_a_registered_model_scores_each_day_the_same_on_every_engine(
    tmp_path: Path, engine: str, cluster: Any
) -> None:
    from mlfactory.training import train

    rides = pd.read_parquet(RIDES / "date=2026-11-27")
    rides.to_csv(tmp_path / "history.csv", index=False)
    (tmp_path / "factory.yaml").write_text(
        yaml.safe_dump(
            {
                "name": "taxi-odd",
                "task": "anomaly",
                "data": {
                    "source": "history.csv",
                    "id_column": "ride_id",
                    "label_column": "is_anomaly",
                    "features": ["ride_dist", "ride_time"],
                },
                "models": ["lof"],
                "search": {"trials": 1},
            }
        )
    )
    registry = Registry(path=tmp_path / ".mlfactory")
    train(tmp_path / "factory.yaml", registry=registry, progress=False)
    path = job_spec(
        tmp_path, detect={"model": "taxi-odd@champion", "id_column": "ride_id"}, summarise=None
    )
    job = load_job(path)
    running = cluster(engine) if engine != "local" else None
    import mlfactory.etml.detect as detect_module

    small = detect_module.PART_ROWS
    detect_module.PART_ROWS = 700  # several parts, so the workers share the day
    try:
        result = run_days(job, [DAY2], registry=registry, engine=running)[0]
    finally:
        detect_module.PART_ROWS = small
    rows = pd.read_parquet(tmp_path / "out" / "date=2026-11-28" / "rows.parquet")
    assert result.by == "taxi-odd v1" and len(rows) == 3000 and rows["score"].notna().all()
    package, _ = registry.load("taxi-odd@champion")
    expected = package.predict(rows[["ride_dist", "ride_time"]])
    assert (rows["flag"].to_numpy() == expected["prediction"].to_numpy()).all()
    assert rows["score"].to_numpy() == pytest.approx(expected["score"].to_numpy())
    truth = pd.read_parquet(RIDES / "date=2026-11-28").set_index("ride_id")["is_anomaly"]
    assert truth.loc[rows.loc[rows["flag"], "ride_id"]].mean() > 0.5
